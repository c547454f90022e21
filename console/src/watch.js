// A live list of Kubernetes objects: `POST /v1/ops/kubernetes/watch`, then the session's
// events (a JSON line each, several to a message when they were ready together) applied to a
// map, rendered at most once a frame: the listed objects as ADDED, then
// SYNCED, then ADDED / MODIFIED / DELETED; RESYNC (an expired resourceVersion) starts the list over.
// No polling: a dropped connection resumes through EventSource's Last-Event-ID; a watch the
// runner ended is started again.
//
// A large list or burst arrives as dozens of 64 KiB messages in a row. Each message is only
// queued when it arrives; the queue is parsed and applied in slices of SLICE_MS, each a task
// of its own, so that the page keeps drawing in between (the browser runs a frame only after
// the tasks queued before it). The first message of a list is applied and drawn at once: the
// first screen of rows is there before the rest of the list has arrived.

import { useLayoutEffect, useState } from 'preact/hooks';
import * as api from './api.js';
import { openEvents } from './sse.js';

/** While a list arrives, how often the partial list is drawn (ms). */
const LISTING_DRAW_MS = 250;
/** Past this many objects, changes are drawn at most every LARGE_DRAW_MS. */
const LARGE_LIST = 1000;
const LARGE_DRAW_MS = 200;
/** How long one task applies queued messages before letting the page draw (ms). */
const SLICE_MS = 8;

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
  // No target (yet): nothing is watched.
  const targetKey = target ? JSON.stringify(api.targetBody(target)) : '';

  // Started as soon as the component is in the DOM (a layout effect), not after the browser
  // has painted once more: on a busy page that frame can come late, and the watch is what the
  // page waits for.
  useLayoutEffect(() => {
    if (!target) return undefined;
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
    // Messages not applied yet, and the channel that runs the next slice as a task of its own
    // (no timer clamping, unlike a chain of setTimeout).
    let queue = [];
    let sliced = false;
    const slices = new MessageChannel();
    const nextSlice = () => {
      sliced = true;
      slices.port2.postMessage(0);
    };

    // A list started over (RESYNC, a new session) keeps the rows drawn until its first events:
    // no empty table in between.
    const waitingForList = () => listing && objects.size === 0;
    const flush = () => {
      frame = 0;
      if (waitingForList()) return;
      // In the browser's performance timeline (DevTools, bench-console's BREAKDOWN).
      if (drawnAt === -Infinity) performance.mark(`watch ${kind}: ${listing ? 'first objects' : 'whole list'} drawn`);
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

    // One message: the events that were ready together, a JSON line each.
    const apply = (data) => {
      for (const line of data.split('\n')) {
        if (!line) continue;
        const ev = JSON.parse(line);
        if (ev.type === 'SYNCED') {
          // The list is whole: drawn now.
          listing = false;
          clearTimeout(gap);
          gap = 0;
          drawnAt = -Infinity;
        } else if (ev.type === 'RESYNC') {
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
    };
    // Applies queued messages for up to SLICE_MS, then lets the page draw before the next slice.
    const slice = () => {
      sliced = false;
      if (stopped || !queue.length) return;
      const until = performance.now() + SLICE_MS;
      try {
        do apply(queue.shift());
        while (queue.length && performance.now() < until);
      } finally {
        // (A message that does not parse is dropped, not tried again.)
        if (queue.length) nextSlice();
        changed();
      }
    };
    slices.port1.onmessage = slice;
    const received = (data) => {
      // A list's first message is applied and drawn at once: its first screen of rows.
      if (listing && objects.size === 0 && !queue.length && !sliced) {
        apply(data);
        cancelAnimationFrame(frame);
        clearTimeout(gap);
        gap = 0;
        if (objects.size) return flush();
        return changed();
      }
      queue.push(data);
      if (!sliced) nextSlice();
    };

    const again = (why) => {
      if (stopped) return;
      queue = [];
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
              queue = [];
              members++;
              fresh = false;
              listing = true;
              // The list's first events are drawn at once (the first screen of a large list
              // arrives in its first chunk), the rest every LISTING_DRAW_MS until it is whole.
              drawnAt = -Infinity;
            }
            received(data);
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
      slices.port1.close();
      stream?.close();
      api.cancelSession(session);
    };
  }, [targetKey, kind, labelSelector]);

  return state;
}
