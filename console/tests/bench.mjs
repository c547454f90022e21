// bench-console's browser half (loadtest/src/console.rs starts the sandbox and runs this):
// the resource page's Kubernetes tab and the Resource browser's pod list at PODS pods in
// Chromium, each measurement beside its floor in the same page and run.
//
//   1. navigation → the pod table's first rows painted (first paint: a large list is drawn at
//      its first chunk, as kubectl prints one), and → every pod listed and counted, on the
//      resource page and in the Resource browser; beside: watch op + SSE until the first
//      screen's pods arrived, and until every pod arrived
//   2. PODS pods change at once → the table's data holds every change (its restart total) and
//      the rows in view show it; beside: a raw SSE watch receiving the same changes in another
//      page (a browser context of its own, so not on the measured main thread); plus the
//      longest main-thread task of the console's page meanwhile.
//
// Large tables are windowed (console/src/screens/pods-table.js): only the rows in view are in
// the DOM, so "painted" is the first screen of rows with the total, not PODS rows.
//
// Environment: CONSOLE_URL API_KEY KUBE_URL RESOURCE NAMESPACE CONNECTION PODS ITERATIONS CHROMIUM
// PROFILE=DIR (optional): where the first burst's time went, printed (the functions with the
// most self time, and the longest animation frames by script) and kept as DIR/burst.cpuprofile
// (open it in Chromium's DevTools, Performance panel).
// BREAKDOWN=1 (optional): where the last navigation to each page went (`navigationProfile`).

import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const need = (k) => process.env[k] || (console.error(`bench: set ${k}`), process.exit(2));
const CONSOLE_URL = need('CONSOLE_URL').replace(/\/$/, '');
const KUBE_URL = need('KUBE_URL').replace(/\/$/, '');
const RESOURCE = need('RESOURCE');
const NAMESPACE = need('NAMESPACE');
const PODS = Number(need('PODS'));
if (!(PODS >= 1)) throw new Error(`bench: PODS must be at least 1, not ${process.env.PODS}`);
const ITERATIONS = Number(need('ITERATIONS'));

const CONNECTION = need('CONNECTION');
const pageUrl = `${CONSOLE_URL}/resources/${RESOURCE.split('/').map(encodeURIComponent).join('/')}?tab=kubernetes`;
const browserUrl = `${CONSOLE_URL}/browse?connection=${encodeURIComponent(CONNECTION)}&namespace=${encodeURIComponent(NAMESPACE)}&kind=pods`;

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
let closing = false;
browser.on('disconnected', () => closing || console.error('the browser went away (its process exited or crashed)'));

/** A browser context signed in to the console: its page, and the CSRF token of its session. */
async function signedIn() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const login = await context.request.post(`${CONSOLE_URL}/v1/console/login`, { data: { api_key: need('API_KEY') } });
  if (!login.ok()) throw new Error(`sign-in failed: ${login.status()} ${await login.text()}`);
  const page = await context.newPage();
  // A renderer that dies says so (otherwise the next evaluate fails with "Target page … closed").
  page.on('crash', () => console.error(`the page ${page.url()} crashed (its renderer process died)`));
  return { page, csrf: (await login.json()).csrf };
}
const { page, csrf } = await signedIn();
// The floor of a burst is received in a context of its own (its own renderer process), so that
// its parsing does not run on the console page's main thread, whose longest task is measured.
const floorSide = await signedIn();
await floorSide.page.goto(`${CONSOLE_URL}/v1/console/session`);

/**
 * In the page: the watch op and its SSE stream until `n` events of `type` arrived (ms), and
 * until the first `first` of them had (firstMs).
 */
function rawWatch({ resource, csrf, n, type, first = 1 }) {
  return new Promise(async (resolve, reject) => {
    const t0 = performance.now();
    const r = await fetch('/v1/ops/kubernetes/watch', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify({ resource, kind: 'pods' }),
    });
    if (!r.ok) return reject(new Error(`watch: ${r.status} ${await r.text()}`));
    const { events, session } = await r.json();
    const es = new EventSource(events);
    let seen = 0;
    let firstMs = 0;
    es.onmessage = (e) => {
      for (const line of e.data.split('\n')) {
        const ev = JSON.parse(line);
        // Ready once the list is whole: a change made while the list still arrives comes in
        // the list, not as an event of `type`, and would never be counted.
        if (ev.type === 'SYNCED') window.__rawReady = true;
        if (ev.type !== type) continue;
        if (++seen === first) firstMs = performance.now() - t0;
        if (seen === n) {
          const ms = performance.now() - t0;
          es.close();
          fetch(`/v1/sessions/${session}`, { method: 'DELETE', headers: { 'X-CSRF-Token': csrf } });
          return resolve({ ms, firstMs, doneAt: performance.now() });
        }
      }
    };
    es.onerror = () => reject(new Error('raw watch stream failed'));
  });
}

const BREAKDOWN = process.env.BREAKDOWN ? 1 : 0;
// With BREAKDOWN, every navigation records when each event stream was opened, connected and
// first heard (a listener more per stream; the figures of such a run say so).
if (BREAKDOWN) await page.addInitScript(recordStreams);

/**
 * BREAKDOWN=1: where the last navigation to each page went. Starts a CPU profile; answers the
 * function that stops it once the table is painted and prints the functions with the most self
 * time, the busy milliseconds of each 50 ms, and the page's requests (start → first byte → end).
 */
async function navigationProfile() {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 100 });
  await cdp.send('Profiler.start');
  return async (where, firstRowsMs) => {
    const { profile } = await cdp.send('Profiler.stop');
    await cdp.detach();
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const self = new Map();
    const busy = new Map();
    let t = profile.startTime;
    profile.samples.forEach((id, k) => {
      const dt = profile.timeDeltas[k] || 0;
      t += dt;
      const f = byId.get(id).callFrame;
      const key = `${f.functionName || '(anonymous)'} ${f.url ? `${f.url.split('/').pop()}:${f.lineNumber + 1}` : ''}`.trim();
      self.set(key, (self.get(key) || 0) + dt / 1000);
      const slice = Math.floor((t - profile.startTime) / 50000) * 50;
      if (key !== '(idle)') busy.set(slice, (busy.get(slice) || 0) + dt / 1000);
    });
    console.log(`\n${where}: the navigation's CPU self time by function (ms; profiled, so slower than the figures below)`);
    for (const [k, ms] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`  ${ms.toFixed(1).padStart(7)}  ${k}`);
    console.log(`  busy ms in each 50 ms: ${[...busy.entries()].sort((a, b) => a[0] - b[0]).map(([s, ms]) => `${s}:${ms.toFixed(0)}`).join(' ')}`);
    const requests = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const ms = (x) => x.toFixed(0);
      return [
        `document ${ms(nav.startTime)} → ${ms(nav.responseStart)} → ${ms(nav.responseEnd)}, the previous page unloaded ${ms(nav.unloadEventEnd)}, interactive ${ms(nav.domInteractive)}`,
        ...performance
          .getEntriesByType('resource')
          .map((r) => `${r.initiatorType} ${r.name.replace(location.origin, '').slice(0, 64)} ${ms(r.startTime)} → ${ms(r.responseStart)} → ${ms(r.responseEnd)}`),
      ];
    });
    console.log(`  requests (ms since navigation: start → first byte → end):\n    ${requests.join('\n    ')}`);
    const streams = await page.evaluate(() => (window.__streams || []).map((r) => `${r.url} ${r.created.toFixed(0)} → open ${r.open.toFixed(0)} → first message ${r.first.toFixed(0)}`));
    console.log(`  event streams (ms since navigation: created → open → first message):\n    ${streams.join('\n    ')}`);
    const marks = await page.evaluate(() => performance.getEntriesByType('mark').map((m) => `${m.name} ${m.startTime.toFixed(0)}`));
    console.log(`  marks (ms since navigation): ${marks.join(', ')}`);
    console.log(`  the first ${SCREEN} rows painted at ${firstRowsMs.toFixed(0)} ms`);
  };
}

/** Injected before the page's scripts: records each EventSource's creation, open and first message. */
function recordStreams() {
  const Original = window.EventSource;
  window.__streams = [];
  window.EventSource = function EventSource(url, options) {
    const es = new Original(url, options);
    const r = { url: String(url).replace(location.origin, '').slice(0, 48), created: performance.now(), open: 0, first: 0 };
    window.__streams.push(r);
    es.addEventListener('open', () => (r.open ||= performance.now()));
    es.addEventListener('message', () => (r.first ||= performance.now()));
    return es;
  };
  window.EventSource.prototype = Original.prototype;
  Object.assign(window.EventSource, { CONNECTING: 0, OPEN: 1, CLOSED: 2 });
}

// The first screen of the pod table: this many rows (the first chunk holds them).
const SCREEN = Math.min(PODS, 10);
// Each check answers the time it first held, read in the page at the frame where it held (not
// after the round trips to this process that resolving the wait and another evaluate take).
// The pod table shows its first screen of rows (first paint).
const firstRows = (n) => document.querySelectorAll('tr.pod-row').length >= n && performance.now();
// The pod table has every one of `n` pods, counted, and shows the first screen of them.
const painted = ([n, screen]) => {
  const total = document.querySelector('[data-total]');
  const done = total?.dataset.total === String(n) && !('listing' in total.dataset) && document.querySelectorAll('tr.pod-row').length >= screen;
  return done && performance.now();
};
/** Waits for `check` to hold in the page; answers the page's time when it did (ms since navigation). */
const when = async (check, arg) => (await page.waitForFunction(check, arg, { timeout: 30000, polling: 'raf' })).jsonValue();

// 1. First paint and the whole list, on the resource page and in the Resource browser.
const paint = { resource: [], browser: [] };
const whole = { resource: [], browser: [] };
const paintFloor = [];
const wholeFloor = [];
for (const [where, url] of [['resource', pageUrl], ['browser', browserUrl]]) {
  // A warm-up, the measured navigations, and with BREAKDOWN one more, profiled and not counted.
  for (let i = 0; i < ITERATIONS + 1 + BREAKDOWN; i++) {
    const profiled = i > ITERATIONS;
    const breakdown = profiled ? await navigationProfile() : null;
    await page.goto(url, { waitUntil: 'commit' });
    const firstMs = await when(firstRows, SCREEN);
    const ms = await when(painted, [PODS, SCREEN]);
    await breakdown?.(where, firstMs);
    if (profiled) continue;
    if (i > 0) {
      paint[where].push(firstMs);
      whole[where].push(ms);
    }
    if (i > 0 && where === 'resource') {
      const f = await page.evaluate(rawWatch, { resource: RESOURCE, csrf, n: PODS, type: 'ADDED', first: SCREEN });
      paintFloor.push(f.firstMs);
      wholeFloor.push(f.ms);
    }
  }
}
const drawn = await page.locator('tr.pod-row').count();
console.log(`rows in the DOM for ${PODS} pods: ${drawn}${drawn < PODS ? ' (windowed)' : ''}`);
await page.goto(pageUrl);
await page.waitForFunction(painted, [PODS, SCREEN], { timeout: 30000, polling: 'raf' });

// 2. Every pod changes at once.
const list = await (await fetch(`${KUBE_URL}/api/v1/namespaces/${NAMESPACE}/pods`)).json();
let round = 0;
async function burst() {
  round++;
  const pods = list.items;
  const finishedAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  for (let i = 0; i < pods.length; i += 50) {
    await Promise.all(
      pods.slice(i, i + 50).map(async (p) => {
        const fresh = await (await fetch(`${KUBE_URL}/api/v1/namespaces/${NAMESPACE}/pods/${p.metadata.name}`)).json();
        const cs = fresh.status.containerStatuses[0];
        cs.restartCount = round;
        cs.lastState = { terminated: { exitCode: 1, reason: 'Error', finishedAt } };
        const r = await fetch(`${KUBE_URL}/api/v1/namespaces/${NAMESPACE}/pods/${p.metadata.name}`, {
          method: 'PUT',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(fresh),
        });
        if (!r.ok) throw new Error(`PUT pod: ${r.status} ${await r.text()}`);
      }),
    );
  }
}

/** Starts a CPU profile and records long animation frames; answers the function that stops both. */
async function profileStart() {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 250 });
  await cdp.send('Profiler.start');
  return async () => {
    const { profile } = await cdp.send('Profiler.stop');
    mkdirSync(PROFILE, { recursive: true });
    writeFileSync(join(PROFILE, 'burst.cpuprofile'), JSON.stringify(profile));
    // Self time per function (url:line), from the samples.
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const self = new Map();
    profile.samples.forEach((id, i) => {
      const f = byId.get(id).callFrame;
      const key = `${f.functionName || '(anonymous)'} ${f.url ? `${f.url.split('/').pop()}:${f.lineNumber + 1}` : ''}`.trim();
      self.set(key, (self.get(key) || 0) + (profile.timeDeltas[i] || 0) / 1000);
    });
    console.log('\nthe first burst, CPU self time by function (ms):');
    for (const [k, ms] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`  ${ms.toFixed(0).padStart(7)}  ${k}`);
    await printFrames('the first burst');
    await cdp.detach();
  };
}
const PROFILE = process.env.PROFILE || '';

/** Records the page's long animation frames (over 50 ms) with the scripts they ran, from now. */
async function framesStart() {
  await page.evaluate(() => {
    window.__loaf = [];
    window.__loafObserver?.disconnect();
    window.__loafObserver = new PerformanceObserver((l) => {
      for (const e of l.getEntries()) {
        const tail = (t) => (t ? e.startTime + e.duration - t : 0);
        window.__loaf.push({
          duration: e.duration,
          blocking: e.blockingDuration,
          styleAndLayout: tail(e.styleAndLayoutStart),
          scripts: e.scripts.map((s) => ({
            ms: s.duration,
            forcedLayout: s.forcedStyleAndLayoutDuration,
            what: `${s.invokerType} ${s.invoker} ${s.sourceFunctionName || ''}`.trim(),
          })),
        });
      }
    });
    window.__loafObserver.observe({ type: 'long-animation-frame' });
  });
}

/** The longest animation frames recorded since framesStart: where a long task went. */
async function printFrames(what) {
  const frames = (await page.evaluate(() => window.__loaf)).sort((a, b) => b.duration - a.duration).slice(0, 4);
  console.log(`${what}: the longest animation frames (ms): total, blocking, style and layout, then its scripts (ms, of which forced layout)`);
  for (const f of frames) {
    const scripts = f.scripts.sort((a, b) => b.ms - a.ms).slice(0, 4).map((s) => `${s.ms.toFixed(0)} (${s.forcedLayout.toFixed(0)}) ${s.what}`);
    console.log(`  ${f.duration.toFixed(0).padStart(5)} ${f.blocking.toFixed(0).padStart(5)} ${f.styleAndLayout.toFixed(0).padStart(5)}  ${scripts.join(' | ') || '(no script: rendering, or the engine itself, e.g. garbage collection)'}`);
  }
}

const update = [];
const updateFloor = [];
const longest = [];
for (let i = 0; i < ITERATIONS; i++) {
  const profileStop = PROFILE && i === 0 ? await profileStart() : null;
  await framesStart();
  await page.evaluate(() => {
    window.__long = [];
    window.__rawReady = false;
    window.__longObserver?.disconnect();
    window.__longObserver = new PerformanceObserver((l) => window.__long.push(...l.getEntries().map((e) => e.duration)));
    window.__longObserver.observe({ type: 'longtask' });
  });
  await floorSide.page.evaluate(() => {
    window.__rawReady = false;
  });
  const floor = floorSide.page.evaluate(rawWatch, { resource: RESOURCE, csrf: floorSide.csrf, n: PODS, type: 'MODIFIED' });
  // The raw watch first receives the current pods; start the burst once they are all there.
  await floorSide.page.waitForFunction(() => window.__rawReady);
  await page.waitForTimeout(300);
  const [t0, t0Floor] = await Promise.all([page, floorSide.page].map((p) => p.evaluate(() => performance.now())));
  await burst();
  const want = String(round);
  // Every pod has one container: the data holds every change when the restarts add up, and
  // the rows in view show them.
  await page.waitForFunction(
    ([total, want]) =>
      document.querySelector('[data-restarts]')?.dataset.restarts === String(total) &&
      [...document.querySelectorAll('tr.pod-row td[data-col="restarts"]')].every((td) => td.textContent.trim().split(' ')[0] === want),
    [PODS * round, want],
    { timeout: 60000, polling: 'raf' },
  );
  const uiDone = await page.evaluate(() => performance.now());
  const f = await Promise.race([
    floor,
    new Promise((_, reject) => setTimeout(() => reject(new Error('the floor missed changes of the burst: not all of them arrived within 60 s')), 60000)),
  ]);
  update.push(uiDone - t0);
  // The two pages' clocks start at their own navigations: the floor's is the time from its
  // own reading at the burst's start.
  updateFloor.push(f.doneAt - t0Floor);
  longest.push(await page.evaluate(() => Math.max(0, ...window.__long)));
  await profileStop?.();
  // A burst with a task over the 50 ms target says where it went.
  if (longest.at(-1) > 50) await printFrames(`burst ${i + 1}: a task of ${longest.at(-1).toFixed(0)} ms`);
}
const version = browser.version();
closing = true;
await browser.close();

const p50 = (v) => [...v].sort((a, b) => a - b)[Math.floor((v.length - 1) / 2)];
const max = (v) => Math.max(...v);
const line = (name, v) => console.log(`${name.padEnd(72)} ${p50(v).toFixed(0).padStart(8)} ${max(v).toFixed(0).padStart(8)}`);
console.log(`bench-console: ${PODS} pods, ${ITERATIONS} iterations, Chromium ${version}, 1280×800${BREAKDOWN ? ', BREAKDOWN (event streams recorded in every navigation)' : ''}\n`);
console.log(`${'path'.padEnd(72)} ${'p50 ms'.padStart(8)} ${'max ms'.padStart(8)}`);
line(`resource page: navigation → the first ${SCREEN} rows painted (first paint)`, paint.resource);
line(`Resource browser, pods: navigation → the first ${SCREEN} rows painted`, paint.browser);
line(`floor: watch op + SSE until the first ${SCREEN} pods arrived (same page, no rendering)`, paintFloor);
line('resource page: navigation → every pod listed and counted', whole.resource);
line('Resource browser, pods: navigation → every pod listed and counted', whole.browser);
line('floor: watch op + SSE until every pod arrived (same page, no rendering)', wholeFloor);
line(`${PODS} pods change at once → every row updated in place`, update);
line('floor: the same changes arriving over a raw SSE watch (another page)', updateFloor);
line('longest main-thread task during the update', longest);
console.log(
  `\nfirst paint / floor: p50 ${(p50(paint.resource) / p50(paintFloor)).toFixed(2)}× (browser ${(p50(paint.browser) / p50(paintFloor)).toFixed(2)}×)` +
    `   whole list / floor: p50 ${(p50(whole.resource) / p50(wholeFloor)).toFixed(2)}× (browser ${(p50(whole.browser) / p50(wholeFloor)).toFixed(2)}×)` +
    `   update / floor: p50 ${(p50(update) / p50(updateFloor)).toFixed(2)}×   targets: first paint ≤ 300 ms, no task > 50 ms`,
);
