// The gateway's JSON API: same origin, the session cookie, and the CSRF token on every
// mutating request. Every error body is {"error": {"code", "message"}}; it becomes an ApiError.

let csrf = '';
let onUnauthorized = () => {};

export class ApiError extends Error {
  constructor(status, code, message, detail = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.upstreamStatus = detail.upstream_status || 0;
    this.upstreamReason = detail.upstream_reason || '';
  }

  /** A replace with a stale resourceVersion (the Kubernetes API's 409). */
  get conflict() {
    return this.status === 409 || this.code === 'CONFLICT' || this.upstreamStatus === 409;
  }
}

export function setCsrf(token) {
  csrf = token || '';
}

/** Called on any 401: the session is gone, so the app goes back to sign-in. */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export function reportUnauthorized(err) {
  onUnauthorized(err);
}

export async function errorOf(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    // Not JSON (a proxy's error page): the status line is all there is.
  }
  const e = body && body.error;
  if (e && e.message) return new ApiError(res.status, e.code || '', e.message, e);
  return new ApiError(res.status, '', `${res.status} ${res.statusText || 'error'} from ${new URL(res.url).pathname}`);
}

/**
 * One request. `allow401` keeps a 401 from signing the user out (the sign-in form itself).
 * Answers the parsed JSON, or null for an empty body (204).
 */
export async function request(method, path, body, { allow401 = false, signal } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrf) headers['X-CSRF-Token'] = csrf;
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      signal,
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'NETWORK', `cannot reach the control plane (${e.message})`);
  }
  if (!res.ok) {
    const err = await errorOf(res);
    if (res.status === 401 && !allow401) reportUnauthorized(err);
    throw err;
  }
  if (res.status === 204) return null;
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

export const get = (path, opts) => request('GET', path, undefined, opts);
export const post = (path, body = {}, opts) => request('POST', path, body, opts);
export const put = (path, body = {}, opts) => request('PUT', path, body, opts);
export const del = (path, opts) => request('DELETE', path, undefined, opts);

export const enc = encodeURIComponent;

/** `/v1/orgs/<org>/<rest>` */
export const orgPath = (org, rest) => `/v1/orgs/${enc(org)}/${rest}`;

/** Query string from an object, skipping empty values. */
export function qs(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

// ----------------------------------------------------------------------------- sessions

export const session = {
  load: () => get('/v1/console/session', { allow401: true }),
  login: (apiKey) => post('/v1/console/login', { api_key: apiKey }, { allow401: true }),
  logout: () => post('/v1/console/logout', {}),
  /** Whether the control plane offers sign-in through an identity provider. */
  oidc: () => get('/v1/auth/oidc', { allow401: true }),
};

// ----------------------------------------------------------------------------- Kubernetes ops

/**
 * A Kubernetes op's target. Developer mode: {resource: "org/env/Kind/name"} (connection and
 * namespace come from the catalog and must not be sent). Admin mode: {org, connection, namespace}.
 */
export function targetBody(target) {
  if (target.resource) return { resource: target.resource };
  const b = { org: target.org || '', connection: target.connection || '' };
  if (target.namespace) b.namespace = target.namespace;
  return b;
}

export const kube = (verb, target, extra = {}) => post(`/v1/ops/kubernetes/${verb}`, { ...targetBody(target), ...extra });

/** Cancels a streamed session (logs, exec, watch); best effort. */
export function cancelSession(id) {
  if (id) del(`/v1/sessions/${enc(id)}`).catch(() => {});
}
