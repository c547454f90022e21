// What the signed-in principal may do, from its grants, so that the console hides or disables
// what would be refused and says why. The server decides (and audits) every request anyway.
//
// A grant on the org covers everything in it; on an env, the catalog resources of that env
// (and admin-mode ops on a connection that is that env's default); on a resource, that resource;
// on a connection, admin-mode ops on it. viewer < operator < admin.

const RANK = { viewer: 1, operator: 2, admin: 3 };

/** A target's scope: {resource: "org/env/Kind/name"} | {connection} | {env} | {} (the org). */
function applies(grant, target, org, envDefaults) {
  const { scope_kind: kind, scope } = grant;
  if (kind === 'org') return scope === org;
  if (target.resource) {
    const [, env] = target.resource.split('/');
    return (kind === 'env' && scope === env) || (kind === 'resource' && scope === target.resource);
  }
  if (target.connection) {
    if (kind === 'connection') return scope === target.connection;
    return kind === 'env' && (envDefaults.get(target.connection) || new Set()).has(scope);
  }
  if (target.env) return kind === 'env' && scope === target.env;
  return false;
}

function label(target, org) {
  if (target.resource) return target.resource.split('/')[1];
  if (target.connection) return `connection ${target.connection}`;
  if (target.env) return `env ${target.env}`;
  return `org ${org}`;
}

/**
 * @param session  the login/session response ({principal, org, grants})
 * @param org      the org being worked in (a platform operator may switch)
 * @param envDefaults  Map connection name → Set of env names whose default it is
 */
export function makeAccess(session, org, envDefaults = new Map()) {
  const platform = !!session.principal.platform_operator;
  const ownOrg = session.org.name === org;
  const grants = ownOrg ? session.grants || [] : [];

  function roleFor(target = {}) {
    let best = '';
    for (const g of grants) {
      if ((RANK[g.role] || 0) > (RANK[best] || 0) && applies(g, target, org, envDefaults)) best = g.role;
    }
    return best;
  }

  /** null when allowed; else why not, e.g. "needs the operator role on prod (you have viewer)". */
  function need(role, target = {}) {
    if (platform) return null;
    const have = roleFor(target);
    if ((RANK[have] || 0) >= RANK[role]) return null;
    return `needs the ${role} role on ${label(target, org)} (you have ${have || 'no role'})`;
  }

  /** Whether admin mode on this connection is open to the principal (any role on it). */
  const onConnection = (name) => platform || !!roleFor({ connection: name });

  return { platform, roleFor, need, onConnection };
}

export const CLOUD_PROVIDERS = ['aws', 'gcp', 'azure'];

/**
 * What each page needs, so that navigation offers only what the principal can use:
 * null when usable, else why not (in words), or 'loading'. `connections`: undefined while
 * loading, null when they could not be read (the page itself then says why).
 */
export function pageNeed(page, access, connections) {
  const orgAdmin = access.need('admin');
  const usable = (pred) => (connections || []).some((c) => pred(c.provider) && access.onConnection(c.name));
  switch (page) {
    case '/browse':
    case '/graph':
      if (connections === null) return null;
      if (!connections) return 'loading';
      return usable((p) => p === 'kubernetes')
        ? null
        : 'works on a Kubernetes connection you hold a role on (a grant on the connection, or on an environment whose default connection it is); you hold none';
    case '/cloud':
      if (connections === null) return null;
      if (!connections) return 'loading';
      return usable((p) => CLOUD_PROVIDERS.includes(p))
        ? null
        : 'works on an AWS, GCP or Azure connection you hold a role on (a grant on the connection, or on an environment whose default connection it is); you hold none';
    case '/runners':
    case '/audit':
      return orgAdmin;
    default:
      return null;
  }
}
