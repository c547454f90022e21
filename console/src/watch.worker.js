// One watch session's event stream, read off the page's main thread (console/src/watch.js):
// EventSource's parsing and the JSON of every event happen here. A burst of 5,000 pods
// changing at once is megabytes of events, which on the main thread made frames of 50-150 ms.
//
// In: {url} once. Out, in order:
//   {type: 'open'}          connected (also after each reconnect)
//   {type: 'batch', reset, listing, membersChanged, changes: [[key, object|null], …]}
//       the objects that changed since the last batch (null: deleted); reset: drop every object
//       held before applying these (a list started over); listing: the objects held are a list
//       still arriving; membersChanged: how many times an object came or went. Posted at most
//       once per draw: the first events of a list at once, then every LISTING_DRAW_MS until it
//       is whole; past LARGE_LIST objects, every LARGE_DRAW_MS.
//   {type: 'reconnecting'}  the connection dropped; EventSource is retrying with Last-Event-ID
//   {type: 'end', why}      the session is over
//   {type: 'failed'}        the stream was refused (the page asks the endpoint why)

const LISTING_DRAW_MS = 250;
const LARGE_LIST = 1000;
const LARGE_DRAW_MS = 100;

const keyOf = (o) => `${o.metadata?.namespace || ''}/${o.metadata?.name}`;

/** The keys held: what counts members and tells a large list (the page holds the objects). */
const keys = new Set();
let pending = new Map();
// A new session lists every object again: the page drops the previous session's objects at
// this session's first batch (not before, so that no empty table shows in between).
let reset = true;
let listing = true;
let membersChanged = 0;
let postedAt = -Infinity;
let timer = 0;

const waitingForList = () => listing && keys.size === 0;

function post() {
  timer = 0;
  if (waitingForList()) return;
  postedAt = performance.now();
  self.postMessage({ type: 'batch', reset, listing, membersChanged, changes: [...pending] });
  pending = new Map();
  reset = false;
  membersChanged = 0;
}

function changed() {
  if (timer || waitingForList()) return;
  const gap = listing ? LISTING_DRAW_MS : keys.size > LARGE_LIST ? LARGE_DRAW_MS : 0;
  timer = setTimeout(post, Math.max(0, gap - (performance.now() - postedAt)));
}

function apply(ev) {
  if (ev.type === 'SYNCED') {
    // The list is whole: posted now.
    listing = false;
    clearTimeout(timer);
    timer = 0;
    postedAt = -Infinity;
  } else if (ev.type === 'RESYNC') {
    // An expired resourceVersion: the list starts over.
    keys.clear();
    pending.clear();
    reset = true;
    listing = true;
    postedAt = -Infinity;
    membersChanged++;
  } else if (ev.type === 'DELETED') {
    const key = keyOf(ev.object);
    if (keys.delete(key)) membersChanged++;
    pending.set(key, null);
  } else if (ev.object) {
    const key = keyOf(ev.object);
    if (!keys.has(key)) {
      keys.add(key);
      membersChanged++;
    }
    pending.set(key, ev.object);
  }
}

self.onmessage = ({ data: { url } }) => {
  const es = new EventSource(url, { withCredentials: true });
  let done = false;
  es.onopen = () => self.postMessage({ type: 'open' });
  // One message carries the events that were ready together, a JSON line each.
  es.onmessage = ({ data }) => {
    for (const line of data.split('\n')) if (line) apply(JSON.parse(line));
    changed();
  };
  es.addEventListener('end', ({ data }) => {
    done = true;
    es.close();
    clearTimeout(timer);
    post();
    self.postMessage({ type: 'end', why: data || 'eof' });
  });
  es.onerror = () => {
    if (done) return;
    if (es.readyState === EventSource.CONNECTING) {
      self.postMessage({ type: 'reconnecting' });
      return;
    }
    done = true;
    self.postMessage({ type: 'failed' });
  };
};
