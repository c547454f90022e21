// A live list of Kubernetes objects: `POST /v1/ops/kubernetes/watch`, then the session's
// events (a JSON line each, several to a message when they were ready together) applied to a
// map, rendered at most once a frame: the listed objects as ADDED, then
// SYNCED, then ADDED / MODIFIED / DELETED; RESYNC (an expired resourceVersion) starts the list over.
// No polling: a dropped connection resumes through EventSource's Last-Event-ID; a watch the
// runner ended is started again.

import { useEffect, useState } from 'preact/hooks';
import * as api from './api.js';
import { openEvents } from './sse.js';

/** While a list arrives, how often the partial list is drawn (ms). */
const LISTING_DRAW_MS = 250;
/** Past this many objects, changes are drawn at most every LARGE_DRAW_MS. */
const LARGE_LIST = 1000;
const LARGE_DRAW_MS = 100;

const keyOf = (o) => `${o.metadata?.namespace || ''}/${o.metadata?.name}`;

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
    let gap = 0;
    let retry = 0;
    let timer = 0;
    let fresh = false;
    // While a list arrives (until SYNCED), the table is drawn at its first events, then once
    // it is whole or every LISTING_DRAW_MS for a list that takes longer: not at every frame,
    // each a sort of everything so far that only slows the rest of the list down.
    let listing = true;
    let drawnAt = 0;
    let members = 0;

    // A list started over (RESYNC, a new session) keeps the rows drawn until its first events:
    // no empty table in between.
    const waitingForList = () => listing && objects.size === 0;
    const flush = () => {
      frame = 0;
      if (waitingForList()) return;
      drawnAt = performance.now();
      setState((s) => ({ ...s, listed: s.listed || !listing, listing, members, items: [...objects.values()] }));
    };
    // A large list is drawn at most every LARGE_DRAW_MS: each drawing goes over every object.
    const minGap = () => (listing ? LISTING_DRAW_MS : objects.size > LARGE_LIST ? LARGE_DRAW_MS : 0);
    const changed = () => {
      if (frame || gap || waitingForList()) return;
      const wait = minGap() - (performance.now() - drawnAt);
      if (wait > 0) {
        gap = setTimeout(() => {
          gap = 0;
          frame = requestAnimationFrame(flush);
        }, wait);
      } else frame = requestAnimationFrame(flush);
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
              members++;
              fresh = false;
              listing = true;
              // The list's first events are drawn at once (the first screen of a large list
              // arrives in its first chunk), the rest every LISTING_DRAW_MS until it is whole.
              drawnAt = -Infinity;
            }
            // One message carries the events that were ready together, a JSON line each.
            for (const line of data.split('\n')) {
              if (!line) continue;
              const ev = JSON.parse(line);
              if (ev.type === 'SYNCED') {
                // The list is whole: drawn now.
                listing = false;
                clearTimeout(gap);
                gap = 0;
                drawnAt = -Infinity;
              }
              else if (ev.type === 'RESYNC') {
                objects.clear();
                listing = true;
                drawnAt = -Infinity;
                members++;
              } else if (ev.type === 'DELETED') {
                if (objects.delete(keyOf(ev.object))) members++;
              } else if (ev.object) {
                const key = keyOf(ev.object);
                if (!objects.has(key)) members++;
                objects.set(key, ev.object);
              }
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
      clearTimeout(gap);
      stream?.close();
      api.cancelSession(session);
    };
  }, [targetKey, kind, labelSelector]);

  return state;
}
