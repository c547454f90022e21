// Audit: every decision (who did what, where, allowed or denied, and how it went), filterable,
// and the exec sessions with their recordings.

import { useState } from 'preact/hooks';
import * as api from '../api.js';
import { useApp } from '../context.js';
import { age, bytes, dateTime } from '../format.js';
import { Link, setQuery } from '../router.js';
import { describeEnd, exitCodeOf } from '../sse.js';
import { DataTable, ErrorBox, Loading, Notice, PageHeader, Tabs, html, useAsync } from '../ui.js';

const SINCE = [
  ['15m', 'Last 15 minutes'],
  ['1h', 'Last hour'],
  ['24h', 'Last 24 hours'],
  ['7d', 'Last 7 days'],
  ['30d', 'Last 30 days'],
  ['', 'Any time'],
];

const sessionHref = (id) => `/audit/sessions/${encodeURIComponent(id)}`;

function Filters({ query, outcome }) {
  const [principal, setPrincipal] = useState(query.get('principal') || '');
  const submit = (e) => {
    e.preventDefault();
    setQuery({ principal: principal.trim() });
  };
  return html`<form class="filters" onSubmit=${submit} aria-label="Filters">
    <label class="field-inline"><span>Since</span>
      <select class="select" value=${query.get('since') ?? '24h'} onChange=${(e) => setQuery({ since: e.currentTarget.value || 'all' })}>
        ${SINCE.map(([v, l]) => html`<option value=${v || 'all'}>${l}</option>`)}
      </select>
    </label>
    <label class="field-inline"><span>Principal</span>
      <input class="input" value=${principal} placeholder="any" onInput=${(e) => setPrincipal(e.currentTarget.value)} />
    </label>
    ${outcome &&
    html`<label class="field-inline"><span>Outcome</span>
      <select class="select" value=${query.get('outcome') || ''} onChange=${(e) => setQuery({ outcome: e.currentTarget.value })}>
        <option value="">Allowed and denied</option><option value="allowed">Allowed</option><option value="denied">Denied</option>
      </select>
    </label>`}
    <label class="field-inline"><span>Limit</span>
      <select class="select" value=${query.get('limit') || '200'} onChange=${(e) => setQuery({ limit: e.currentTarget.value })}>
        ${['100', '200', '500', '1000', '5000'].map((n) => html`<option value=${n}>${n}</option>`)}
      </select>
    </label>
    <button type="submit" class="btn btn-small">Apply</button>
  </form>`;
}

function filterParams(query) {
  const since = query.get('since') ?? '24h';
  return { since: since === 'all' ? '' : since, principal: query.get('principal') || '', limit: query.get('limit') || '200' };
}

function Decisions({ org, query }) {
  const params = { ...filterParams(query), outcome: query.get('outcome') || '' };
  const list = useAsync(() => api.get(api.orgPath(org, `audit${api.qs(params)}`)).then((r) => r.items), [org, JSON.stringify(params)]);
  const columns = [
    { key: 'at', label: 'Time', value: (r) => r.at, render: (r) => html`<span title=${r.at}>${dateTime(r.at)}</span>` },
    { key: 'principal', label: 'Principal' },
    { key: 'op', label: 'Operation', class: 'mono' },
    { key: 'target', label: 'Target', class: 'mono small wrap-text', priority: 2 },
    { key: 'mode', label: 'Mode', priority: 3 },
    {
      key: 'decision',
      label: 'Decision',
      render: (r) => html`<span class=${`badge badge-${r.decision === 'allowed' ? 'ok' : 'error'}`}>${r.decision}</span>`,
    },
    { key: 'reason', label: 'Reason', class: 'wrap-text small', priority: 2 },
    { key: 'result', label: 'Result', class: 'wrap-text small', value: (r) => r.result || '' },
    { key: 'latency', label: 'Latency', class: 'num', priority: 3, value: (r) => (r.latency_us == null ? '' : `${(r.latency_us / 1000).toFixed(1)} ms`) },
  ];
  return html`<div class="stack">
    <${Filters} query=${query} outcome />
    <${ErrorBox} error=${list.error} onRetry=${list.reload} />
    ${list.data
      ? html`<${DataTable} columns=${columns} rows=${list.data} rowKey=${(r) => r.id} initialSort=${{ key: 'at', dir: -1 }} caption="Audit log"
          empty="No audit records for these filters." rowClass=${(r) => (r.decision === 'denied' ? 'row-denied' : '')} />`
      : !list.error && html`<${Loading} />`}
  </div>`;
}

function Sessions({ org, query }) {
  const params = filterParams(query);
  const list = useAsync(() => api.get(api.orgPath(org, `sessions${api.qs(params)}`)).then((r) => r.items), [org, JSON.stringify(params)]);
  const columns = [
    { key: 'started_at', label: 'Started', render: (r) => html`<span title=${r.started_at}>${dateTime(r.started_at)}</span>` },
    { key: 'principal', label: 'Principal' },
    { key: 'target', label: 'Target', class: 'mono small wrap-text', priority: 3 },
    { key: 'pod', label: 'Pod / container', class: 'mono small wrap-text', priority: 2, value: (r) => `${r.namespace}/${r.pod} · ${r.container}` },
    { key: 'command', label: 'Command', class: 'mono', priority: 2, value: (r) => (Array.isArray(r.command) ? r.command.join(' ') : '') },
    {
      key: 'end',
      label: 'Ended',
      class: 'wrap-text',
      value: (r) => (r.ended_at ? describeEnd(r.end) : 'running'),
      render: (r) =>
        r.ended_at
          ? html`<span class=${`badge badge-${exitCodeOf(r.end) === 0 ? 'ok' : 'warning'}`}>${describeEnd(r.end)}</span>
              <span class="muted small"> ${age(r.ended_at)} ago</span>`
          : html`<span class="badge badge-info">running</span>`,
    },
    { key: 'recorded', label: 'Recorded', class: 'num', priority: 3, value: (r) => r.recorded_bytes, render: (r) => `${bytes(r.recorded_bytes)}${r.truncated ? ' (truncated)' : ''}` },
    { key: 'replay', label: '', class: 'actions', sticky: true, sortable: false, value: () => '', render: (r) => html`<${Link} href=${sessionHref(r.id)} class="btn btn-small">Replay<//>` },
  ];
  return html`<div class="stack">
    <${Filters} query=${query} />
    <${ErrorBox} error=${list.error} onRetry=${list.reload} />
    ${list.data
      ? html`<${DataTable} columns=${columns} rows=${list.data} rowKey=${(r) => r.id} initialSort=${{ key: 'started_at', dir: -1 }}
          caption="Exec sessions" empty="No exec sessions for these filters." />`
      : !list.error && html`<${Loading} />`}
  </div>`;
}

export function AuditPage({ query }) {
  const { org, access } = useApp();
  const view = query.get('view') === 'sessions' ? 'sessions' : 'decisions';
  const reason = access.need('admin');
  return html`<div class="page page-wide">
    <${PageHeader} title="Audit" subtitle="Every decision is recorded: who, what, where, allowed or denied, and the result." />
    ${reason
      ? html`<${Notice} kind="warn">The audit log ${reason}.<//>`
      : html`<${Tabs} label="Audit views" active=${view} onSelect=${(v) => setQuery({ view: v === 'sessions' ? v : '' }, { replace: false })}
            tabs=${[
              { id: 'decisions', label: 'Decisions' },
              { id: 'sessions', label: 'Exec sessions' },
            ]} />
          <section class="tab-panel" role="tabpanel">
            ${view === 'decisions' ? html`<${Decisions} org=${org} query=${query} />` : html`<${Sessions} org=${org} query=${query} />`}
          </section>`}
  </div>`;
}
