// The cloud browser: EC2, S3, Compute Engine, Cloud Storage, Azure VMs and Blob containers of a
// connection, as sortable and filterable tables. One row model for all (schemas/src/cloud.rs),
// and the same columns per service as the CLI prints (`Service::columns()`).

import { useState } from 'preact/hooks';
import * as api from '../api.js';
import { useApp } from '../context.js';
import { age, dateTime } from '../format.js';
import { Link, setQuery } from '../router.js';
import { DataTable, ErrorBox, Loading, PageHeader, Tabs, html, useAsync } from '../ui.js';

const attr = (k) => (r) => r.attributes?.[k] || '';
const C = {
  id: { key: 'id', label: 'ID', class: 'mono small' },
  name: { key: 'name', label: 'Name' },
  type: (label) => ({ key: 'type', label }),
  state: (label) => ({ key: 'state', label, render: (r) => stateBadge(r.state) }),
  location: (label) => ({ key: 'location', label }),
  created: (label = 'Created') => ({
    key: 'created',
    label,
    render: (r) => (r.created ? html`<span title=${dateTime(r.created)}>${age(r.created)} ago</span>` : html`<span class="muted">—</span>`),
  }),
  attr: (k, label, cls = '') => ({ key: k, label, class: cls, value: attr(k) }),
};

/** Per provider, the services and their columns (mirrors schemas/src/cloud.rs). */
const SERVICES = {
  aws: [
    {
      id: 'ec2',
      label: 'EC2 instances',
      params: ['region', 'filters'],
      columns: [C.id, C.name, C.type('Type'), C.state('State'), C.location('Location'), C.attr('private_ip', 'Private IP', 'mono'), C.attr('public_ip', 'Public IP', 'mono'), C.created()],
    },
    { id: 's3', label: 'S3 buckets', params: [], columns: [C.name, C.location('Location'), C.created()] },
  ],
  gcp: [
    {
      id: 'compute',
      label: 'Compute Engine',
      params: ['project', 'zone', 'filter'],
      columns: [C.name, C.location('Zone'), C.type('Machine type'), C.state('Status'), C.attr('internal_ip', 'Internal IP', 'mono'), C.attr('external_ip', 'External IP', 'mono'), C.created()],
    },
    { id: 'storage', label: 'Cloud Storage', params: ['project'], columns: [C.name, C.location('Location'), C.attr('storage_class', 'Storage class'), C.created()] },
  ],
  azure: [
    {
      id: 'vm',
      label: 'Virtual machines',
      params: ['subscription', 'resource_group'],
      columns: [C.name, C.attr('resource_group', 'Resource group'), C.location('Location'), C.type('Size'), C.state('Power state'), C.created()],
    },
    {
      id: 'blob',
      label: 'Blob containers',
      params: ['account'],
      columns: [C.name, C.location('Account'), C.attr('public_access', 'Public access'), C.attr('lease_state', 'Lease'), C.attr('last_modified', 'Last modified')],
    },
  ],
};

const PARAM_LABELS = {
  region: ['Region', 'the connection’s region'],
  filters: ['Filters', 'NAME=VALUE … e.g. tag:team=payments instance-state-name=running'],
  project: ['Project', 'the connection’s project'],
  zone: ['Zone', 'every zone'],
  filter: ['Filter', "e.g. status = RUNNING"],
  subscription: ['Subscription', 'the connection’s subscription'],
  resource_group: ['Resource group', 'the connection’s, else all'],
  account: ['Storage account', 'the connection’s account'],
};

function stateBadge(state) {
  if (!state) return html`<span class="muted">—</span>`;
  const s = state.toLowerCase();
  const tone = /running|succeeded|available/.test(s) ? 'ok' : /stop|terminat|deallocat|fail|error/.test(s) ? 'error' : 'warning';
  return html`<span class=${`badge badge-${tone}`}>${state}</span>`;
}

/** The request body: the connection plus what the user filled in. */
function bodyOf(org, connection, params) {
  const b = { org, connection };
  for (const [k, v] of Object.entries(params)) {
    const value = v.trim();
    if (!value) continue;
    if (k === 'filters') b.filters = value.split(/\s+/);
    else if (k === 'filter') b.filters = [value];
    else b[k] = value;
  }
  return b;
}

function Listing({ org, connection, provider, service }) {
  const [draft, setDraft] = useState({});
  const [params, setParams] = useState({});
  const list = useAsync(
    () => api.post(`/v1/ops/cloud/${provider}/${service.id}`, bodyOf(org, connection.name, params)).then((r) => r.items),
    [org, connection.name, service.id, JSON.stringify(params)],
  );
  const submit = (e) => {
    e.preventDefault();
    setParams({ ...draft });
  };
  return html`<div class="stack">
    ${service.params.length > 0 &&
    html`<form class="filters" onSubmit=${submit} aria-label="Listing options">
      ${service.params.map((p) => {
        const [label, hint] = PARAM_LABELS[p];
        const placeholder = connection.settings?.[p] || hint;
        return html`<label class=${`field-inline${p.startsWith('filter') ? ' grow' : ''}`}><span>${label}</span>
          <input class="input" value=${draft[p] || ''} placeholder=${placeholder} onInput=${(e) => setDraft({ ...draft, [p]: e.currentTarget.value })} />
        </label>`;
      })}
      <button type="submit" class="btn btn-small">List</button>
    </form>`}
    <${ErrorBox} error=${list.error} onRetry=${list.reload} />
    ${list.data
      ? html`<${DataTable} columns=${service.columns} rows=${list.data} rowKey=${(r) => r.id || r.name} caption=${service.label}
          empty=${`No ${service.label.toLowerCase()} in this connection.`}
          toolbar=${html`<span class="spacer"></span><button type="button" class="btn btn-small" onClick=${list.reload} disabled=${list.loading}>
            ${list.loading ? 'Loading…' : 'Refresh'}</button>`} />`
      : !list.error && html`<${Loading} label=${`Listing ${service.label.toLowerCase()} through the runner…`} />`}
  </div>`;
}

export function CloudPage({ query }) {
  const { org, connections, access } = useApp();
  const cloudConns = (connections.data || []).filter((c) => SERVICES[c.provider]);
  const connection =
    cloudConns.find((c) => c.name === query.get('connection')) || cloudConns.find((c) => access.onConnection(c.name)) || cloudConns[0];
  const services = connection ? SERVICES[connection.provider] : [];
  const service = services.find((s) => s.id === query.get('service')) || services[0];

  return html`<div class="page page-wide">
    <${PageHeader} title="Cloud browser" subtitle="AWS, GCP and Azure resources, listed by the connection’s runner with its own credentials.">
      ${cloudConns.length > 0 &&
      html`<label class="field-inline"><span>Connection</span>
        <select class="select" value=${connection?.name} onChange=${(e) => setQuery({ connection: e.currentTarget.value, service: '' }, { replace: false })}>
          ${cloudConns.map((c) => html`<option value=${c.name}>${c.name} (${c.provider})</option>`)}
        </select>
      </label>`}
    <//>
    <${ErrorBox} error=${connections.error} onRetry=${connections.reload} />
    ${!connections.data && !connections.error && html`<${Loading} />`}
    ${connections.data && !cloudConns.length && html`<p class="muted">No AWS, GCP or Azure connection yet. <${Link} href="/connections">Add one<//>.</p>`}
    ${service &&
    html`<${Tabs} label="Services" active=${service.id} tabs=${services} onSelect=${(id) => setQuery({ connection: connection.name, service: id }, { replace: false })} />
      <section class="tab-panel" role="tabpanel">
        <${Listing} key=${`${connection.name}/${service.id}`} org=${org} connection=${connection} provider=${connection.provider} service=${service} />
      </section>`}
  </div>`;
}
