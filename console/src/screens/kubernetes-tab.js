// The resource's Kubernetes tab: its workload, its pods live (rows keyed by pod and updated in
// place as watch events arrive: status, ready, restarts, containers, age), and the events of
// the workload, its ReplicaSets and pods.

import { Component, createRef } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import * as api from '../api.js';
import { useApp } from '../context.js';
import { age } from '../format.js';
import { containerStates, eventAbout, eventTime, podHealth, podReady, podRestarts, podStatus, pluralOf } from '../kube.js';
import { Link } from '../router.js';
import { useWatch } from '../watch.js';
import { Action, Dialog, Dot, ErrorBox, Lazy, Loading, html, useAsync, useNow } from '../ui.js';

/** One pod's cells, computed once per pod object (a watch event replaces the object). */
function podView(p, now) {
  const [ready, total] = podReady(p);
  const restarts = podRestarts(p, now);
  return {
    name: p.metadata.name,
    status: podStatus(p),
    health: podHealth(p),
    ready: `${ready}/${total}`,
    restarts: restarts.count,
    restartsText: restarts.text,
    containers: containerStates(p),
    node: p.spec?.nodeName || '',
    ip: p.status?.podIP || '',
    created: p.metadata.creationTimestamp,
  };
}

/** A pod row that re-renders only when its pod or the clock changed; flashes when it changes. */
class PodRow extends Component {
  tr = createRef();
  shouldComponentUpdate(next) {
    return next.pod !== this.props.pod || next.now !== this.props.now || next.execReason !== this.props.execReason;
  }
  componentDidUpdate(prev) {
    const a = prev.view;
    const b = this.props.view;
    if (a.status !== b.status || a.ready !== b.ready || a.restarts !== b.restarts) {
      // The Web Animations API: no forced layout, so a burst of changes stays cheap.
      this.tr.current.animate([{ backgroundColor: '#fff1b8' }, { backgroundColor: 'transparent' }], { duration: 1600, easing: 'ease-out' });
    }
  }
  render({ view: v, now, hrefs, execReason, onOpen }) {
    return html`<tr ref=${this.tr} data-pod=${v.name} class=${`pod-row health-${v.health}`}>
      <td><button type="button" class="link-button mono" onClick=${() => onOpen(v.name)}>${v.name}</button></td>
      <td data-col="ready" class="num">${v.ready}</td>
      <td data-col="status"><span class=${`status status-${v.health}`}><${Dot} health=${v.health} label="" />${v.status}</span></td>
      <td data-col="restarts" class="num">${v.restartsText}</td>
      <td data-col="containers">
        <span class="chips">${v.containers.map(
          (c) => html`<span class=${`chip chip-${c.health}`} title=${c.detail}>${c.name}<span class="sr-only">: ${c.state}</span></span>`,
        )}</span>
      </td>
      <td class="hide-medium mono small">${v.node}</td>
      <td class="hide-medium mono small">${v.ip}</td>
      <td data-col="age" class="num">${age(v.created, now)}</td>
      <td class="actions"><div class="row">
        <${Link} href=${hrefs.logs(v.name)} class="btn btn-small">Logs<//>
        ${execReason
          ? html`<${Action} class="btn btn-small" reason=${execReason}>Shell<//>`
          : html`<${Link} href=${hrefs.shell(v.name)} class="btn btn-small">Shell<//>`}
      </div></td>
    </tr>`;
  }
}

// Plain comparisons: pod names are ASCII, and this runs on every watch event batch.
const byName = (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
const SORTS = {
  name: byName,
  status: (a, b) => (a.status < b.status ? -1 : a.status > b.status ? 1 : byName(a, b)),
  restarts: (a, b) => b.restarts - a.restarts || byName(a, b),
  age: (a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : byName(a, b)),
};

function PodsTable({ pods, hrefs, execReason, onOpen }) {
  const now = useNow(5000);
  const [filter, setFilter] = useState('');
  const [sort, setSort] = useState('name');
  // Views are cached per pod object: an event for one pod recomputes one row.
  const cache = useMemo(() => new WeakMap(), []);
  const rows = useMemo(() => {
    const f = filter.trim().toLowerCase();
    const out = [];
    for (const p of pods) {
      let v = cache.get(p);
      if (!v || v.now !== now) {
        v = { pod: p, now, view: podView(p, now) };
        cache.set(p, v);
      }
      if (!f || v.view.name.includes(f) || v.view.status.toLowerCase().includes(f) || v.view.node.includes(f)) out.push(v);
    }
    return out.sort((a, b) => SORTS[sort](a.view, b.view));
  }, [pods, filter, sort, now]);
  const counts = useMemo(() => {
    const c = { ok: 0, warning: 0, error: 0 };
    for (const r of rows) c[r.view.health]++;
    return c;
  }, [rows]);
  const th = (key, label, cls) => html`<th scope="col" class=${cls} aria-sort=${sort === key ? 'ascending' : 'none'}>
    <button type="button" class="th-sort" onClick=${() => setSort(key)}>${label}<span class="sort-mark" aria-hidden="true">${sort === key ? '▲' : ''}</span></button>
  </th>`;
  return html`<div class="datatable">
    <div class="toolbar">
      <input class="input input-filter" type="search" placeholder="Filter pods…" aria-label="Filter pods" value=${filter}
        onInput=${(e) => setFilter(e.currentTarget.value)} />
      <span class="muted small" aria-live="polite">
        ${rows.length} pod${rows.length === 1 ? '' : 's'}: <span class="text-ok">${counts.ok} healthy</span>${counts.warning
          ? html`, <span class="text-warning">${counts.warning} not ready</span>`
          : ''}${counts.error ? html`, <span class="text-error">${counts.error} failing</span>` : ''}
      </span>
    </div>
    <div class="table-wrap">
      <table class="table pods-table">
        <caption class="sr-only">Pods, updated live</caption>
        <thead><tr>
          ${th('name', 'Name')}<th scope="col" class="num">Ready</th>${th('status', 'Status')}${th('restarts', 'Restarts', 'num')}
          <th scope="col">Containers</th><th scope="col" class="hide-medium">Node</th><th scope="col" class="hide-medium">IP</th>
          ${th('age', 'Age', 'num')}<th scope="col"><span class="sr-only">Actions</span></th>
        </tr></thead>
        <tbody>
          ${rows.map((r) => html`<${PodRow} key=${r.view.name} pod=${r.pod} view=${r.view} now=${now} hrefs=${hrefs} execReason=${execReason} onOpen=${onOpen} />`)}
        </tbody>
      </table>
      ${!rows.length && html`<p class="empty">${pods.length ? 'No pods match the filter.' : 'No pods.'}</p>`}
    </div>
  </div>`;
}

function WorkloadCard({ workload, object, operatorReason, browseHref }) {
  const st = object.status || {};
  const spec = object.spec || {};
  const want = spec.replicas ?? 1;
  const ready = st.readyReplicas || st.numberReady || 0;
  const health = ready >= want ? 'ok' : ready === 0 && want > 0 ? 'error' : 'warning';
  const images = (spec.template?.spec?.containers || []).map((c) => c.image);
  const restartedAt = spec.template?.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'];
  return html`<section class="card workload" aria-label="Workload">
    <div class="workload-head">
      <div>
        <h2><span class="badge badge-kind">${workload.kind}</span> ${workload.name}</h2>
        <p class="muted small">created ${age(object.metadata.creationTimestamp)} ago${restartedAt ? `, restarted ${age(restartedAt)} ago` : ''}</p>
      </div>
      <div class="row wrap">
        <${Link} href=${browseHref} class="btn btn-small">Describe · YAML · Edit<//>
      </div>
    </div>
    <dl class="facts">
      <div><dt>Ready</dt><dd><${Dot} health=${health} label="" /> ${ready}/${want}</dd></div>
      <div><dt>Up to date</dt><dd>${st.updatedReplicas ?? st.updatedNumberScheduled ?? 0}</dd></div>
      <div><dt>Available</dt><dd>${st.availableReplicas ?? st.numberAvailable ?? 0}</dd></div>
      <div><dt>Strategy</dt><dd>${spec.strategy?.type || spec.updateStrategy?.type || 'RollingUpdate'}</dd></div>
      <div class="facts-wide"><dt>Images</dt><dd class="mono small">${images.join(', ') || '—'}</dd></div>
    </dl>
    ${(st.conditions || []).length > 0 &&
    html`<ul class="conditions">${st.conditions.map(
      (c) => html`<li class=${c.status === 'True' ? 'cond-ok' : 'cond-bad'} title=${c.message || ''}>${c.type}: ${c.status}${c.reason ? ` (${c.reason})` : ''}</li>`,
    )}</ul>`}
    ${operatorReason && html`<p class="muted small">Editing, restarting and shells: ${operatorReason}.</p>`}
  </section>`;
}

function EventsList({ events }) {
  if (!events.length) return html`<p class="empty">No events for the workload or its pods.</p>`;
  return html`<div class="table-wrap"><table class="table events-table">
    <caption class="sr-only">Events</caption>
    <thead><tr><th scope="col">Type</th><th scope="col">Reason</th><th scope="col">Object</th><th scope="col" class="num">Age</th><th scope="col">Message</th></tr></thead>
    <tbody>${events.map(
      (e) => html`<tr key=${e.metadata?.uid || e.metadata?.name} class=${e.type === 'Warning' ? 'event-warning' : ''}>
        <td>${e.type === 'Warning' ? html`<span class="text-warning">Warning</span>` : e.type}</td>
        <td>${e.reason}${e.count > 1 ? html` <span class="muted">×${e.count}</span>` : ''}</td>
        <td class="mono small">${e.involvedObject?.kind?.toLowerCase()}/${e.involvedObject?.name}</td>
        <td class="num">${age(eventTime(e))}</td>
        <td class="wrap-text">${e.message}</td>
      </tr>`,
    )}</tbody>
  </table></div>`;
}

export function KubernetesTab({ target, workload, pods }) {
  const { access } = useApp();
  const operatorReason = access.need('operator', target);
  const [openPod, setOpenPod] = useState('');
  const [settled, setSettled] = useState(0);
  const base = `${location.pathname}?`;

  // The workload's status follows its pods: re-read it shortly after the pods settle.
  useEffect(() => {
    const t = setTimeout(() => setSettled((n) => n + 1), 1500);
    return () => clearTimeout(t);
  }, [pods.items]);

  const wl = useAsync(
    () => (workload.kind ? api.kube('describe', target, { kind: pluralOf(workload.kind), name: workload.name }).then((r) => r.result) : null),
    [target.resource, settled],
  );
  // The namespace's events, live; only those about the workload and its pods are shown.
  const events = useWatch(target, 'events');

  const related = useMemo(() => {
    const names = new Set(pods.items.map((p) => `Pod/${p.metadata.name}`));
    if (workload.kind) names.add(`${workload.kind}/${workload.name}`);
    for (const p of pods.items) for (const o of p.metadata.ownerReferences || []) names.add(`${o.kind}/${o.name}`);
    const evs = [...events.items, ...(wl.data?.events || [])];
    const seen = new Set();
    return evs
      .filter((e) => eventAbout(e, names) && !seen.has(e.metadata?.uid || e.metadata?.name) && seen.add(e.metadata?.uid || e.metadata?.name))
      .sort((a, b) => Date.parse(eventTime(b)) - Date.parse(eventTime(a)))
      .slice(0, 100);
  }, [events.items, wl.data, pods.items]);

  const hrefs = useMemo(
    () => ({
      logs: (pod) => `${base}${api.qs({ tab: 'logs', pod })}`,
      shell: (pod) => `${base}${api.qs({ tab: 'terminal', pod })}`,
    }),
    [base],
  );
  const browseHref = `${base}${api.qs({ tab: 'browse', kind: pluralOf(workload.kind || 'Deployment'), name: workload.name })}`;

  return html`<div class="stack">
    ${workload.kind &&
    (wl.data?.object
      ? html`<${WorkloadCard} workload=${workload} object=${wl.data.object} operatorReason=${operatorReason} browseHref=${browseHref} />`
      : wl.error
        ? html`<${ErrorBox} title=${`${workload.kind} ${workload.name}`} error=${wl.error} onRetry=${wl.reload} />`
        : html`<${Loading} label="Loading the workload…" />`)}
    <section aria-labelledby="pods-title">
      <h2 id="pods-title" class="section-title">Pods</h2>
      ${pods.status === 'failed' && html`<${ErrorBox} title="Pod watch" error=${pods.error} />`}
      ${pods.status === 'restarting' && pods.error && html`<p class="muted small" role="status">${String(pods.error.message || pods.error)}</p>`}
      ${pods.status === 'connecting' && !pods.items.length ? html`<${Loading} label="Watching pods…" />` : html`<${PodsTable} pods=${pods.items} hrefs=${hrefs}
        execReason=${operatorReason} onOpen=${setOpenPod} />`}
    </section>
    <section aria-labelledby="events-title">
      <h2 id="events-title" class="section-title">Events</h2>
      ${events.status === 'failed' && html`<${ErrorBox} title="Event watch" error=${events.error} />`}
      <${EventsList} events=${related} />
    </section>
    ${openPod &&
    html`<${Dialog} title=${`Pod ${openPod}`} wide onClose=${() => setOpenPod('')}>
      <${Lazy} load=${() => import('./object-panel.js')}
        render=${(m) => html`<${m.ObjectPanel} target=${target} kind="pods" name=${openPod} operatorReason=${operatorReason}
          onDeleted=${() => setOpenPod('')} />`} />
    <//>`}
  </div>`;
}
