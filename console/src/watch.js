// A live list of Kubernetes objects: `POST /v1/ops/kubernetes/watch`, then the session's
// events, read by a worker (watch.worker.js: EventSource and JSON off the main thread), which
// posts the objects that changed at most once per draw; they are applied to a map, rendered at
// most once a frame. The listed objects come first, then SYNCED, then ADDED / MODIFIED /
// DELETED; RESYNC (an expired resourceVersion) starts the list over.
// No polling: a dropped connection resumes through EventSource's Last-Event-ID; a watch the
// runner ended is started again.

import { useEffect, useState } from 'preact/hooks';
import * as api from './api.js';
import { whyClosed } from './sse.js';

/**
 * A session's watch events, read by a worker. Handlers: open(), batch({reset, listing,
 * membersChanged, changes}), reconnecting(), end(why), failed(message); see watch.worker.js.
 */
function openWatchEvents(url, on) {
  const worker = new Worker(new URL('./watch.worker.js', import.meta.url), { type: 'module' });
  let closed = false;
  worker.onmessage = async ({ data: m }) => {
    if (closed) return;
    if (m.type === 'batch') on.batch(m);
    else if (m.type === 'open') on.open();
    else if (m.type === 'reconnecting') on.reconnecting();
    else if (m.type === 'end') {
      closed = true;
      worker.terminate();
      on.end(m.why);
    } else if (m.type === 'failed') {
      closed = true;
      worker.terminate();
      on.failed(await whyClosed(url));
    }
  };
  worker.onerror = (e) => {
    if (closed) return;
    closed = true;
    worker.terminate();
    on.failed(`the console could not read the watch's events (${e.message || 'its worker failed'})`);
  };
  worker.postMessage({ url });
  return {
    close() {
      closed = true;
      worker.terminate();
    },
  };
}

/**
 * @returns {{items: object[], listed: boolean, listing: boolean, members: number,
 *            status: 'connecting'|'live'|'reconnecting'|'restarting', error: Error|string|null}}
 *   listed: the first list has arrived whole; listing: the items drawn are a list still
 *   arriving (the first one, or one started over); members: changes when an object comes or
 *   goes (not when one is modified), for what depends on which objects there are, not their state
 */
export function useWatch(target, kind, labelSelector = '') {
  const [state, setState] = useState({ items: [], listed: false, listing: true, members: 0, status: 'connecting', error: null });
  const targetKey = JSON.stringify(api.targetBody(target));

  useEffect(() => {
    const objects = new Map();
    let stream = null;
    let session = '';
    let stopped = false;
    let frame = 0;
    let retry = 0;
    let timer = 0;
    let listing = true;
    let members = 0;

    const flush = () => {
      frame = 0;
      setState((s) => ({ ...s, listed: s.listed || !listing, listing, members, items: [...objects.values()] }));
    };
    const status = (st, error = null) => setState((s) => ({ ...s, status: st, error }));

    const again = (why) => {
      if (stopped) return;
      api.cancelSession(session);
      status('restarting', why);
      const wait = Math.min(30000, 1000 * 2 ** retry++);
      timer = setTimeout(start, wait);
    };

    async function start() {
      try {
        const body = { kind };
        if (labelSelector) body.label_selector = labelSelector;
        const r = await api.kube('watch', target, body);
        if (stopped) return api.cancelSession(r.session);
        session = r.session;
        stream = openWatchEvents(r.events, {
          open: () => {
            retry = 0;
            status('live');
          },
          batch: (m) => {
            // A new session's first batch, or a list started over: its objects replace the
            // ones drawn.
            if (m.reset) objects.clear();
            for (const [key, o] of m.changes) {
              if (o) objects.set(key, o);
              else objects.delete(key);
            }
            listing = m.listing;
            members += m.membersChanged;
            if (!frame) frame = requestAnimationFrame(flush);
          },
          reconnecting: () => status('reconnecting'),
          end: (why) => again(`the watch ended (${why}); starting it again`),
          failed: (why) => again(why),
        });
      } catch (e) {
        if (stopped) return;
        // Refusals do not get better by retrying: say so and stop.
        if ([400, 403, 404].includes(e.status)) status('failed', e);
        else again(e);
      }
    }

    start();
    return () => {
      stopped = true;
      clearTimeout(timer);
      cancelAnimationFrame(frame);
      stream?.close();
      api.cancelSession(session);
    };
  }, [targetKey, kind, labelSelector]);

  return state;
}
