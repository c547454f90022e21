// Pods, live: rows keyed by pod and updated in place as watch events arrive (status, ready,
// restarts, containers, age), with kubectl's columns. Large lists are windowed: only the rows
// in view (and a margin) are in the DOM, and a pod's cells are computed only when its row is
// drawn; filtering, sorting and the health counts read a small summary cached per pod object.

import { Component, createRef } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { age } from '../format.js';
import { containerStates, podHealth, podReady, podRestarts, podStatus } from '../kube.js';
import { Link } from '../router.js';
import { Action, Dot, html, useNow } from '../ui.js';

/** Rows at which the table starts windowing, and a row's fixed height then (px, as in CSS). */
const WINDOW_FROM = 150;
const ROW = 41;
const MARGIN = 12;

/** What filtering, sorting and counting need, once per pod object (an event replaces it). */
function summaryOf(p) {
  const status = podStatus(p);
  let restarts = 0;
  for (const c of p.status?.containerStatuses || []) restarts += c.restartCount || 0;
  return {
    key: `${p.metadata.namespace || ''}/${p.metadata.name}`,
    name: p.metadata.name,
    namespace: p.metadata.namespace || '',
    status,
    statusLower: status.toLowerCase(),
    health: podHealth(p, status),
    restarts,
    created: p.metadata.creationTimestamp || '',
    node: p.spec?.nodeName || '',
  };
}

/** One pod's cells, for a drawn row only. */
function cellsOf(p, now) {
  const [ready, total] = podReady(p);
  return {
    ready: `${ready}/${total}`,
    restartsText: podRestarts(p, now).text,
    containers: containerStates(p),
    ip: p.status?.podIP || '',
  };
}

/** At most this many rows flash at once: in a burst that changes every row, the first ones do. */
const FLASH_MAX = 8;
let flashing = 0;

/**
 * Flashes a row that changed: the Web Animations API on the row's overlay (styles.css,
 * `.pod-row::after`), whose opacity the compositor animates, where a background colour would
 * repaint the table at every frame.
 */
function flash(tr) {
  if (flashing >= FLASH_MAX) return;
  flashing++;
  const a = tr.animate([{ opacity: 1 }, { opacity: 0 }], { duration: 1600, easing: 'ease-out', pseudoElement: '::after' });
  a.onfinish = a.oncancel = () => flashing--;
}

/** A pod row that re-renders only when its pod or the clock changed; flashes when it changes. */
class PodRow extends Component {
  tr = createRef();
  shouldComponentUpdate(next) {
    return next.pod !== this.props.pod || next.now !== this.props.now || next.execReason !== this.props.execReason;
  }
  componentDidUpdate(prev) {
    const [a, b] = [prev.summary, this.props.summary];
    const readyChanged = this.drawn?.ready !== this.cells.ready;
    if (prev.pod !== this.props.pod && (a.status !== b.status || a.restarts !== b.restarts || readyChanged)) {
      flash(this.tr.current);
    }
  }
  render({ pod, summary: v, now, actions, execReason, onOpen, namespaces }) {
    const c = cellsOf(pod, now);
    this.drawn = this.cells;
    this.cells = c;
    return html`<tr ref=${this.tr} data-pod=${v.name} class=${`pod-row health-${v.health}`}>
      ${namespaces && html`<td class="mono small prio-3">${v.namespace}</td>`}
      <td><button type="button" class="link-button mono" onClick=${() => onOpen(v.name, v.namespace)}>${v.name}</button></td>
      <td data-col="ready" class="num prio-2">${c.ready}</td>
      <td data-col="status"><span class=${`status status-${v.health}`}><${Dot} health=${v.health} label="" />${v.status}</span></td>
      <td data-col="restarts" class="num prio-2">${c.restartsText}</td>
      <td data-col="containers" class="prio-2">
        <span class="chips">${c.containers.map(
          (x) => html`<span class=${`chip chip-${x.health}`} title=${x.detail}>${x.name}<span class="sr-only">: ${x.state}</span></span>`,
        )}</span>
      </td>
      <td class="hide-medium mono small">${v.node}</td>
      <td class="hide-medium mono small">${c.ip}</td>
      <td data-col="age" class="num prio-3">${age(v.created, now)}</td>
      <td class="actions col-sticky"><div class="row">${actions(v, execReason)}</div></td>
    </tr>`;
  }
}

// Plain comparisons: pod names are ASCII, and this runs on every watch event batch.
const byName = (a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
const SORTS = {
  name: byName,
  status: (a, b) => (a.status < b.status ? -1 : a.status > b.status ? 1 : byName(a, b)),
  restarts: (a, b) => b.restarts - a.restarts || byName(a, b),
  age: (a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : byName(a, b)),
};

/** The rows in view of a scrolled frame: [first, end) of `n`, from its scroll position. */
function useWindow(frame, n, enabled) {
  const [view, setView] = useState({ top: 0, height: 800 });
  useEffect(() => {
    const el = frame.current;
    if (!enabled || !el) return undefined;
    let raf = 0;
    const read = () => {
      raf = 0;
      setView((v) => (v.top === el.scrollTop && v.height === el.clientHeight ? v : { top: el.scrollTop, height: el.clientHeight }));
    };
    const onScroll = () => raf || (raf = requestAnimationFrame(read));
    const observer = new ResizeObserver(onScroll);
    el.addEventListener('scroll', onScroll, { passive: true });
    observer.observe(el);
    read();
    return () => {
      el.removeEventListener('scroll', onScroll);
      observer.disconnect();
      cancelAnimationFrame(raf);
    };
  }, [enabled]);
  if (!enabled) return [0, n];
  const first = Math.max(0, Math.floor(view.top / ROW) - MARGIN);
  return [first, Math.min(n, first + Math.ceil(view.height / ROW) + 2 * MARGIN)];
}

/**
 * @param pods        the watched pod objects
 * @param hrefs       {logs(pod), shell(pod)}: the row's Logs and Shell as links; else
 * @param onAction    (name, namespace, view) for the row's Logs and Shell buttons
 * @param onOpen      (name, namespace) when a pod's name is clicked
 * @param namespaces  whether to show the namespace column (pods of several namespaces)
 * @param listing     the list is still arriving (its first chunks are shown)
 */
export function PodsTable({ pods, hrefs, onAction, execReason, onOpen, namespaces = false, listing = false }) {
  const now = useNow(5000);
  const [filter, setFilter] = useState('');
  const [sort, setSort] = useState('name');
  const frame = useRef(null);
  const cache = useMemo(() => new WeakMap(), []);
  const rows = useMemo(() => {
    const f = filter.trim().toLowerCase();
    const out = [];
    for (const p of pods) {
      let s = cache.get(p);
      if (!s) {
        s = summaryOf(p);
        cache.set(p, s);
      }
      if (!f || s.name.includes(f) || s.statusLower.includes(f) || s.node.includes(f) || (namespaces && s.namespace.includes(f))) out.push([s, p]);
    }
    const by = SORTS[sort];
    return out.sort((a, b) => by(a[0], b[0]));
  }, [pods, filter, sort]);
  const counts = useMemo(() => {
    const c = { ok: 0, warning: 0, error: 0, restarts: 0 };
    for (const [s] of rows) {
      c[s.health]++;
      c.restarts += s.restarts;
    }
    return c;
  }, [rows]);
  const windowed = rows.length > WINDOW_FROM;
  const [first, end] = useWindow(frame, rows.length, windowed);
  const actions = (v, reason) => {
    const shell = reason
      ? html`<${Action} class="btn btn-small" reason=${reason}>Shell<//>`
      : hrefs
        ? html`<${Link} href=${hrefs.shell(v.name)} class="btn btn-small">Shell<//>`
        : html`<button type="button" class="btn btn-small" onClick=${() => onAction(v.name, v.namespace, 'shell')}>Shell</button>`;
    const logs = hrefs
      ? html`<${Link} href=${hrefs.logs(v.name)} class="btn btn-small">Logs<//>`
      : html`<button type="button" class="btn btn-small" onClick=${() => onAction(v.name, v.namespace, 'logs')}>Logs</button>`;
    return html`${logs}${shell}`;
  };
  const th = (key, label, cls) => html`<th scope="col" class=${cls} aria-sort=${sort === key ? 'ascending' : 'none'}>
    <button type="button" class="th-sort" onClick=${() => setSort(key)}>${label}<span class="sort-mark" aria-hidden="true">${sort === key ? '▲' : ''}</span></button>
  </th>`;
  const columns = 9 + (namespaces ? 1 : 0);
  return html`<div class="datatable">
    <div class="toolbar">
      <input class="input input-filter" type="search" placeholder="Filter pods…" aria-label="Filter pods" value=${filter}
        onInput=${(e) => setFilter(e.currentTarget.value)} />
      <span class="muted small" aria-live="polite" data-total=${rows.length} data-restarts=${counts.restarts} data-listing=${listing || undefined}>
        ${rows.length} pod${rows.length === 1 ? '' : 's'}${listing ? ' so far, listing the rest…' : ''}: <span class="text-ok">${counts.ok} healthy</span>${counts.warning
          ? html`, <span class="text-warning">${counts.warning} not ready</span>`
          : ''}${counts.error ? html`, <span class="text-error">${counts.error} failing</span>` : ''}
      </span>
    </div>
    <div class=${`table-wrap${windowed ? ' table-windowed' : ''}`} ref=${frame}>
      <table class="table pods-table" aria-rowcount=${rows.length + 1} aria-busy=${listing ? 'true' : undefined}>
        <caption class="sr-only">Pods, updated live</caption>
        <thead><tr>
          ${namespaces && th('name', 'Namespace', 'prio-3')}
          ${th('name', 'Name')}<th scope="col" class="num prio-2">Ready</th>${th('status', 'Status')}${th('restarts', 'Restarts', 'num prio-2')}
          <th scope="col" class="prio-2">Containers</th><th scope="col" class="hide-medium">Node</th><th scope="col" class="hide-medium">IP</th>
          ${th('age', 'Age', 'num prio-3')}<th scope="col" class="col-sticky"><span class="sr-only">Actions</span></th>
        </tr></thead>
        <tbody>
          ${first > 0 && html`<tr class="window-gap" aria-hidden="true"><td colspan=${columns} style=${`height: ${first * ROW}px`}></td></tr>`}
          ${rows.slice(first, end).map(
            ([s, p]) => html`<${PodRow} key=${s.key} pod=${p} summary=${s} now=${now} actions=${actions} execReason=${execReason}
              onOpen=${onOpen} namespaces=${namespaces} />`,
          )}
          ${end < rows.length && html`<tr class="window-gap" aria-hidden="true"><td colspan=${columns} style=${`height: ${(rows.length - end) * ROW}px`}></td></tr>`}
        </tbody>
      </table>
      ${!rows.length && html`<p class="empty">${pods.length ? `No pods match the filter${listing ? ' so far' : ''}.` : 'No pods.'}</p>`}
    </div>
  </div>`;
}
