// What the browser test checks on every screen, whoever looks and at whatever width: nothing
// wider than its container (a table scrolls inside its frame, never the page), row actions in
// view, no console error, no 5xx. Used by e2e.mjs.

/**
 * Layout problems on the current page, in words (at most 12). An element overflows when it is
 * wider than a container that does not scroll or clip it, or reaches past the window without
 * a scrolling container in between; row actions must be visible in their table's frame.
 */
export function layoutProblems(page) {
  return page.evaluate(() => {
    const out = [];
    const vw = document.documentElement.clientWidth;
    const name = (el) => {
      const id = el.id ? `#${el.id}` : '';
      const cls = typeof el.className === 'string' && el.className.trim() ? `.${el.className.trim().split(/\s+/).slice(0, 2).join('.')}` : '';
      const text = (el.innerText || el.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 40);
      return `<${el.tagName.toLowerCase()}${id}${cls}>${text ? ` "${text}"` : ''}`;
    };
    const sideways = document.documentElement.scrollWidth - vw;
    if (sideways > 1) out.push(`the page scrolls sideways by ${sideways}px`);
    const hidden = (el) => {
      const cs = getComputedStyle(el);
      return cs.display === 'none' || cs.visibility === 'hidden' || cs.position === 'fixed' || cs.position === 'absolute';
    };
    for (const el of document.querySelectorAll('#app *')) {
      if (out.length >= 12) break;
      if (hidden(el) || el.closest('svg, .xterm, .sr-only, dialog:not([open])')) continue;
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      let scroller = null;
      for (let p = el.parentElement; p && p.id !== 'app'; p = p.parentElement) {
        if (getComputedStyle(p).overflowX !== 'visible') {
          scroller = p;
          break;
        }
      }
      const parent = el.parentElement;
      const pr = parent.getBoundingClientRect();
      const pcs = getComputedStyle(parent);
      if (!scroller && r.right > vw + 1) out.push(`${name(el)} reaches ${Math.round(r.right)}px, past the window (${vw}px)`);
      else if (
        pcs.overflowX === 'visible' &&
        !pcs.display.startsWith('inline') &&
        !['TD', 'TH', 'TR', 'TBODY', 'THEAD', 'TABLE'].includes(parent.tagName) &&
        r.width > pr.width + 1 &&
        r.right > pr.right + 1
      ) {
        out.push(`${name(el)} (${Math.round(r.width)}px) is wider than its container ${name(parent)} (${Math.round(pr.width)}px)`);
      }
    }
    // A row's actions are reachable without scrolling its table sideways.
    for (const cell of document.querySelectorAll('.table-wrap td.actions')) {
      if (out.length >= 12) break;
      if (hidden(cell)) continue;
      const wrap = cell.closest('.table-wrap').getBoundingClientRect();
      const r = cell.getBoundingClientRect();
      if (r.right > wrap.right + 1 || r.left < wrap.left - 1) out.push(`the actions ${name(cell)} are outside the table's frame`);
    }
    return out;
  });
}

/** Collects console errors and 5xx answers of `page` into `sink`, labelled with `who`. */
export function watch(page, who, sink, allowed4xx) {
  page.on('pageerror', (e) => sink.push(`${who}: uncaught ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    // A 4xx a step provokes on purpose (a wrong key, a conflict) is logged by Chromium too, and
    // so is the session probe's 401 before anyone signed in (that is how it says "signed out").
    if (allowed4xx() && /Failed to load resource: the server responded with a status of 4\d\d/.test(text)) return;
    if (/status of 401/.test(text) && m.location()?.url?.endsWith('/v1/console/session')) return;
    sink.push(`${who}: console error ${text} (${m.location()?.url || ''})`);
  });
  page.on('response', (r) => {
    if (r.status() >= 500) sink.push(`${who}: ${r.status()} from ${r.request().method()} ${new URL(r.url()).pathname}`);
  });
}

/**
 * Visits each screen ({name, url, ready: selector}), waits for it to settle, checks its layout
 * and takes a screenshot `sweep-<who>-<width>-<name>.png`. Answers the problems found.
 */
export async function sweep(page, who, width, screens, shotDir, join) {
  const problems = [];
  await page.setViewportSize({ width, height: 800 });
  for (const s of screens) {
    await page.goto(s.url);
    try {
      await page.locator(s.ready).first().waitFor({ timeout: 20000 });
    } catch {
      problems.push(`${who} ${width}px ${s.name}: ${s.ready} never appeared`);
      continue;
    }
    await page.waitForTimeout(600);
    for (const p of await layoutProblems(page)) problems.push(`${who} ${width}px ${s.name}: ${p}`);
    await page.screenshot({ path: join(shotDir, `sweep-${who}-${width}-${s.name}.png`) });
  }
  return problems;
}
