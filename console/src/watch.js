// A live list of Kubernetes objects: `POST /v1/ops/kubernetes/watch`, then the session's
// events (a JSON line each, several to a message when they were ready together) applied to a
// map, rendered at most once a frame: the listed objects as ADDED, then
// SYNCED, then ADDED / MODIFIED / DELETED; RESYNC (an expired resourceVersion) starts the list over.
// No polling: a dropped connection resumes through EventSource's Last-Event-ID; a watch the
// runner ended is started again.

import { useEffect, useState } from 'preact/hooks';
import * as api from './api.js';
import { openEvents } from './sse.js';

const keyOf = (o) => `${o.metadata?.namespace || ''}/${o.metadata?.name}`;

/**
 * @returns {{items: object[], status: 'connecting'|'live'|'reconnecting'|'restarting',
 *            error: Error|string|null}}
 */
export function useWatch(target, kind, labelSelector = '') {
  const [state, setState] = useState({ items: [], status: 'connecting', error: null });
  const targetKey = JSON.stringify(api.targetBody(target));

  useEffect(() => {
    const objects = new Map();
    let stream = null;
    let session = '';
    let stopped = false;
    let frame = 0;
    let retry = 0;
    let timer = 0;
    let fresh = false;

    const flush = () => {
      frame = 0;
      setState((s) => ({ ...s, items: [...objects.values()] }));
    };
    const changed = () => {
      if (!frame) frame = requestAnimationFrame(flush);
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
        fresh = true;
        stream = openEvents(r.events, {
          open: () => {
            retry = 0;
            status('live');
          },
          message: (data) => {
            // A new session lists the current objects again (ending with SYNCED, also when
            // there are none): start from those.
            if (fresh) {
              objects.clear();
              fresh = false;
            }
            // One message carries the events that were ready together, a JSON line each.
            for (const line of data.split('\n')) {
              if (!line) continue;
              const ev = JSON.parse(line);
              if (ev.type === 'RESYNC') objects.clear();
              else if (ev.type === 'DELETED') objects.delete(keyOf(ev.object));
              else if (ev.object) objects.set(keyOf(ev.object), ev.object);
            }
            changed();
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
