// Shared building blocks: tagged-template html, data loading, inline errors, gated actions,
// dialogs, sortable tables, tabs, code blocks.

import { Component, h } from 'preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import htm from 'htm';
import { explain } from './errors.js';
import { compareCells } from './format.js';

export const html = htm.bind(h);

// ----------------------------------------------------------------------------- data

/**
 * Runs `load(signal)` when `deps` change: {data, error, loading, reload, setData}.
 * Keeps the previous data while reloading, so tables do not flash.
 */
export function useAsync(load, deps) {
  const [state, setState] = useState({ data: undefined, error: null, loading: true });
  const [n, setN] = useState(0);
  useEffect(() => {
    const abort = new AbortController();
    setState((s) => ({ ...s, loading: true, error: null }));
    Promise.resolve()
      .then(() => load(abort.signal))
      .then(
        (data) => !abort.signal.aborted && setState({ data, error: null, loading: false }),
        (error) => !abort.signal.aborted && error.name !== 'AbortError' && setState((s) => ({ ...s, error, loading: false })),
      );
    return () => abort.abort();
  }, [...deps, n]);
  const reload = useCallback(() => setN((x) => x + 1), []);
  const setData = useCallback((data) => setState((s) => ({ ...s, data })), []);
  return { ...state, reload, setData };
}

/** Re-renders every `ms` and answers the current time (for ages that move). */
export function useNow(ms = 5000) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

// ----------------------------------------------------------------------------- feedback

const messageOf = (e) => (typeof e === 'string' ? e : e?.message || String(e));

/**
 * An inline error (never a blank page), written for people: what went wrong, the cause, what to
 * do, and the details folded away; with a retry when there is one.
 */
export function ErrorBox({ error, onRetry, title }) {
  if (!error) return null;
  const retry = onRetry && html`<button type="button" class="btn btn-small" onClick=${onRetry}>Retry</button>`;
  if (typeof error === 'string') {
    return html`<div class="alert alert-error" role="alert">
      <div>${title && html`<strong>${title}: </strong>`}<span class="alert-text">${error}</span></div>${retry}
    </div>`;
  }
  const x = explain(error, title);
  return html`<div class="alert alert-error error-box" role="alert">
    <div class="error-body">
      <strong class="error-headline">${x.headline}</strong>
      ${x.cause && html`<p class="alert-text">${x.cause}</p>`}
      ${x.todo && html`<p class="error-todo">${x.todo}</p>`}
      ${(x.details || x.code) &&
      html`<details class="error-details"><summary>Details</summary><pre>${[x.details, x.code && `code ${x.code}`].filter(Boolean).join('\n\n')}</pre></details>`}
    </div>
    ${retry}
  </div>`;
}

export function Notice({ kind = 'info', children }) {
  return html`<div class="alert alert-${kind}" role=${kind === 'warn' ? 'alert' : 'status'}>${children}</div>`;
}

export function Loading({ label = 'Loading…' }) {
  return html`<div class="loading" role="status"><span class="spinner" aria-hidden="true"></span>${label}</div>`;
}

export function Dot({ health, label }) {
  return html`<span class="dot dot-${health}" role="img" aria-label=${label || health}></span>`;
}

/** Catches a screen's rendering errors so that one bug shows a message, not a blank page. */
export class ErrorBoundary extends Component {
  state = { error: null };
  componentDidCatch(error) {
    this.setState({ error });
  }
  render() {
    if (!this.state.error) return this.props.children;
    return html`<div class="page"><${ErrorBox} title="This view failed" error=${this.state.error}
      onRetry=${() => this.setState({ error: null })} /></div>`;
  }
}

// ----------------------------------------------------------------------------- actions

/**
 * A button the user's role may not allow: with `reason` it stays focusable but does nothing,
 * and says why (tooltip on hover and focus, and to screen readers).
 */
export function Action({ reason, onClick, children, class: cls = 'btn', type = 'button', ...rest }) {
  const id = useMemo(() => `why-${Math.random().toString(36).slice(2)}`, []);
  if (!reason) return html`<button type=${type} class=${cls} onClick=${onClick} ...${rest}>${children}</button>`;
  return html`<span class="gated">
    <button type="button" class=${cls} aria-disabled="true" aria-describedby=${id} onClick=${(e) => e.preventDefault()}
      ...${rest}>${children}</button>
    <span id=${id} role="tooltip" class="tip">${reason}</span>
  </span>`;
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const ta = document.createElement('textarea');
    ta.value = text;
    ta.setAttribute('readonly', '');
    ta.style.position = 'fixed';
    ta.style.opacity = '0';
    document.body.appendChild(ta);
    ta.select();
    const ok = document.execCommand('copy');
    ta.remove();
    return ok;
  }
}

export function CopyButton({ text, label = 'Copy' }) {
  const [done, setDone] = useState(false);
  const onClick = async () => {
    setDone(await copyText(typeof text === 'function' ? text() : text));
    setTimeout(() => setDone(false), 1500);
  };
  return html`<button type="button" class="btn btn-small" onClick=${onClick}>${done ? 'Copied' : label}</button>`;
}

/** Saves text as a file through a Blob and an <a download>. */
export function download(name, text, type = 'application/json') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function CodeBlock({ code, label }) {
  return html`<div class="codeblock">
    <div class="codeblock-bar"><span class="muted small">${label || ''}</span><${CopyButton} text=${code} /></div>
    <pre><code>${code}</code></pre>
  </div>`;
}

// ----------------------------------------------------------------------------- dialogs

/** A modal <dialog>: focus stays inside, Escape closes. */
export function Dialog({ title, onClose, children, footer, wide }) {
  const ref = useRef(null);
  useEffect(() => {
    const d = ref.current;
    d.showModal();
    const cancel = (e) => {
      e.preventDefault();
      onClose();
    };
    d.addEventListener('cancel', cancel);
    return () => d.removeEventListener('cancel', cancel);
  }, []);
  return html`<dialog ref=${ref} class=${`dialog${wide ? ' dialog-wide' : ''}`} aria-labelledby="dialog-title">
    <header class="dialog-head">
      <h2 id="dialog-title">${title}</h2>
      <button type="button" class="btn btn-ghost btn-small" aria-label="Close" onClick=${onClose}>✕</button>
    </header>
    <div class="dialog-body">${children}</div>
    ${footer && html`<footer class="dialog-foot">${footer}</footer>`}
  </dialog>`;
}

/**
 * Asks the user to type `name` before a destructive action; the button stays disabled until
 * the name matches. `onConfirm` may throw: the error is shown in the dialog.
 */
export function TypeToConfirm({ title, name, verb = 'Delete', children, onConfirm, onClose }) {
  const [typed, setTyped] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const ok = typed === name;
  const submit = async (e) => {
    e.preventDefault();
    if (!ok || busy) return;
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
      onClose();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return html`<${Dialog} title=${title} onClose=${onClose}>
    <form onSubmit=${submit} class="stack">
      ${children}
      <label class="field">
        <span>Type <strong class="mono">${name}</strong> to confirm</span>
        <input class="input mono" value=${typed} onInput=${(e) => setTyped(e.currentTarget.value)}
          autocomplete="off" spellcheck="false" autofocus aria-label=${`Type ${name} to confirm`} />
      </label>
      <${ErrorBox} error=${error} />
      <div class="row end">
        <button type="button" class="btn" onClick=${onClose}>Cancel</button>
        <button type="submit" class="btn btn-danger" disabled=${!ok || busy}>${busy ? `${verb}…` : verb}</button>
      </div>
    </form>
  <//>`;
}

/**
 * Asks before an action that changes something: `verb` runs `onConfirm`, which may throw (the
 * error is shown in the dialog); `busy` names it while it runs.
 */
export function Confirm({ title, verb, busy: busyVerb, onConfirm, onClose, children }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const go = async () => {
    setBusy(true);
    try {
      await onConfirm();
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };
  return html`<${Dialog} title=${title} onClose=${onClose}
    footer=${html`<button type="button" class="btn" onClick=${onClose}>Cancel</button>
      <button type="button" class="btn btn-primary" disabled=${busy} onClick=${go}>${busy ? busyVerb : verb}</button>`}>
    ${children}
    <${ErrorBox} error=${error} />
  <//>`;
}

// ----------------------------------------------------------------------------- tabs

export function Tabs({ tabs, active, onSelect, label }) {
  const onKey = (e) => {
    const i = tabs.findIndex((t) => t.id === active);
    const step = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
    if (!step) return;
    e.preventDefault();
    const next = tabs[(i + step + tabs.length) % tabs.length];
    onSelect(next.id);
    e.currentTarget.querySelector(`[data-tab="${next.id}"]`)?.focus();
  };
  return html`<div class="tabs" role="tablist" aria-label=${label} onKeyDown=${onKey}>
    ${tabs.map(
      (t) => html`<button type="button" role="tab" class="tab" data-tab=${t.id} aria-selected=${t.id === active}
        tabindex=${t.id === active ? 0 : -1} onClick=${() => onSelect(t.id)}>${t.label}</button>`,
    )}
  </div>`;
}

// ----------------------------------------------------------------------------- tables

/** A column's classes: its own, its priority (2: hidden on phones, 3: also on small
 * laptops), and `sticky` (actions stay in view at the right edge while the table scrolls). */
const colClass = (c) => [c.class, c.priority > 1 && `prio-${c.priority}`, c.sticky && 'col-sticky'].filter(Boolean).join(' ');

/**
 * A sortable, filterable table. columns: [{key, label, value(row) → sortable/filterable text,
 * render(row) → cell, class, priority, sticky}]. Rows are keyed by `rowKey(row)`.
 */
export function DataTable({ columns, rows, rowKey, initialSort, filterLabel = 'Filter', empty = 'Nothing here.', toolbar, caption, rowClass }) {
  const [sort, setSort] = useState(initialSort || { key: columns[0].key, dir: 1 });
  const [filter, setFilter] = useState('');
  const shown = useMemo(() => {
    const col = columns.find((c) => c.key === sort.key) || columns[0];
    const val = col.value || ((r) => r[col.key]);
    const f = filter.trim().toLowerCase();
    const kept = f ? rows.filter((r) => columns.some((c) => String((c.value || ((x) => x[c.key]))(r) ?? '').toLowerCase().includes(f))) : rows;
    return [...kept].sort((a, b) => sort.dir * compareCells(val(a), val(b)));
  }, [rows, sort, filter, columns]);
  const by = (key) => setSort((s) => ({ key, dir: s.key === key ? -s.dir : 1 }));
  return html`<div class="datatable">
    <div class="toolbar">
      <input class="input input-filter" type="search" placeholder=${`${filterLabel}…`} aria-label=${filterLabel}
        value=${filter} onInput=${(e) => setFilter(e.currentTarget.value)} />
      <span class="muted small" aria-live="polite">${shown.length === rows.length ? rows.length : `${shown.length} of ${rows.length}`} shown</span>
      ${toolbar}
    </div>
    <div class="table-wrap">
      <table class="table">
        ${caption && html`<caption class="sr-only">${caption}</caption>`}
        <thead>
          <tr>
            ${columns.map(
              (c) => html`<th scope="col" class=${colClass(c)} aria-sort=${sort.key === c.key ? (sort.dir > 0 ? 'ascending' : 'descending') : 'none'}>
                ${c.sortable === false
                  ? c.label
                  : html`<button type="button" class="th-sort" onClick=${() => by(c.key)}>
                      ${c.label}<span class="sort-mark" aria-hidden="true">${sort.key === c.key ? (sort.dir > 0 ? '▲' : '▼') : ''}</span>
                    </button>`}
              </th>`,
            )}
          </tr>
        </thead>
        <tbody>
          ${shown.map(
            (r) => html`<tr key=${rowKey(r)} class=${rowClass?.(r)}>
              ${columns.map((c) => html`<td class=${colClass(c)}>${c.render ? c.render(r) : (c.value || ((x) => x[c.key]))(r)}</td>`)}
            </tr>`,
          )}
        </tbody>
      </table>
      ${!shown.length && html`<p class="empty">${rows.length ? 'No rows match the filter.' : empty}</p>`}
    </div>
  </div>`;
}

export function Field({ label, hint, children }) {
  return html`<label class="field"><span>${label}</span>${children}${hint && html`<small class="muted">${hint}</small>`}</label>`;
}

export function PageHeader({ title, subtitle, children }) {
  return html`<header class="page-head">
    <div><h1>${title}</h1>${subtitle && html`<p class="muted">${subtitle}</p>`}</div>
    <div class="row">${children}</div>
  </header>`;
}

/** Loads a module on first use (xterm, dagre stay out of the first paint) and renders it. */
export function Lazy({ load, render, label }) {
  const [mod, setMod] = useState(null);
  const [error, setError] = useState(null);
  const [n, setN] = useState(0);
  useEffect(() => {
    setError(null);
    load().then(setMod, setError);
  }, [n]);
  if (error) return html`<${ErrorBox} title="Could not load this view" error=${error} onRetry=${() => setN(n + 1)} />`;
  if (!mod) return html`<${Loading} label=${label || 'Loading…'} />`;
  return render(mod);
}

/** A live stream's state as a small pill. */
export function LiveStatus({ status, error }) {
  const text = {
    connecting: 'Connecting…',
    live: 'Live',
    reconnecting: 'Reconnecting…',
    restarting: 'Restarting…',
    failed: 'Stopped',
    paused: 'Paused',
    ended: 'Ended',
  }[status] || status;
  const tone = status === 'live' ? 'ok' : status === 'failed' ? 'error' : 'warning';
  return html`<span class=${`pill pill-${tone}`} role="status" title=${error ? messageOf(error) : ''}>
    <span class=${`dot dot-${tone}${status === 'live' ? ' dot-pulse' : ''}`} aria-hidden="true"></span>${text}
  </span>`;
}
