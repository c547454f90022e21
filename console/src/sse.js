// Server-sent events of a session (`/v1/sessions/<id>/events`). EventSource reconnects by itself
// after a dropped connection and sends Last-Event-ID, so the gateway continues right after the
// last event: nothing lost, nothing repeated. An `end` event closes the stream for good.

import { errorOf, reportUnauthorized } from './api.js';

/** Why the browser gave up on a stream (it does not tell): ask the endpoint once. */
async function whyClosed(url) {
  const abort = new AbortController();
  try {
    const res = await fetch(url, { credentials: 'same-origin', signal: abort.signal, headers: { Accept: 'text/event-stream' } });
    if (!res.ok) {
      const err = await errorOf(res);
      if (res.status === 401) reportUnauthorized(err);
      return err.message;
    }
    return 'the event stream closed';
  } catch (e) {
    return `cannot reach the control plane (${e.message})`;
  } finally {
    abort.abort();
  }
}

/**
 * Opens a session's events. Handlers (all optional):
 *   open()               connected (also after each reconnect)
 *   message(data, id)    a default event (a log line, a watch event)
 *   stdout(b64)/stderr(b64)  exec output
 *   end(reason)          the session is over ("eof", "exit: 3", "cancelled", "error: …")
 *   reconnecting()       the connection dropped; the browser is retrying
 *   failed(message)      the stream was refused (expired session, unknown id, …)
 */
export function openEvents(url, on) {
  const es = new EventSource(url, { withCredentials: true });
  let done = false;
  es.onopen = () => on.open?.();
  es.onmessage = (e) => on.message?.(e.data, e.lastEventId);
  for (const name of ['stdout', 'stderr']) {
    if (on[name]) es.addEventListener(name, (e) => on[name](e.data));
  }
  es.addEventListener('end', (e) => {
    done = true;
    es.close();
    on.end?.(e.data || 'eof');
  });
  es.onerror = async () => {
    if (done) return;
    if (es.readyState === EventSource.CONNECTING) {
      on.reconnecting?.();
      return;
    }
    done = true;
    on.failed?.(await whyClosed(url));
  };
  return {
    close() {
      done = true;
      es.close();
    },
  };
}

export function b64encodeBytes(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function b64decode(b64) {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** The exit code in an exec end marker ("exit: 3"), or null. */
export function exitCodeOf(end) {
  const m = /^exit:\s*(-?\d+)/.exec(end || '');
  return m ? Number(m[1]) : null;
}

/** How a session's end reads for a person. */
export function describeEnd(end) {
  const code = exitCodeOf(end);
  if (code !== null) return `exit code ${code}`;
  if (end === 'cancelled') return 'cancelled';
  if (end === 'eof') return 'the stream ended';
  return end || 'ended';
}
