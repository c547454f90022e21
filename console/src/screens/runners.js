// Runners: their connection state (connected, last seen, version, credential generation), the
// org's default runner, and the lifecycle: deploy (the wizard), regenerate credentials, delete.

import { useEffect, useState } from 'preact/hooks';
import * as api from '../api.js';
import { useApp } from '../context.js';
import { age, dateTime } from '../format.js';
import { navigate } from '../router.js';
import { Action, DataTable, Dialog, ErrorBox, Loading, Notice, PageHeader, TypeToConfirm, html, useAsync } from '../ui.js';
import { RunnerState } from './connections.js';
import { CredentialsOnce } from './credentials.js';

const REFRESH_MS = 10000;

export function RunnersPage({ query }) {
  const { org, access } = useApp();
  const runners = useAsync(() => api.get(api.orgPath(org, 'runners?scope=all')).then((r) => r.items), [org]);
  const def = useAsync(() => api.get(api.orgPath(org, 'default-runner')), [org]);
  const [notice, setNotice] = useState('');
  const [error, setError] = useState(null);
  const [confirm, setConfirm] = useState(null);
  const [creds, setCreds] = useState(null);
  const highlight = query.get('highlight') || '';
  const adminReason = access.need('admin');

  // Connection state changes by itself: refresh it now and then (a small list, no stream).
  useEffect(() => {
    const t = setInterval(runners.reload, REFRESH_MS);
    return () => clearInterval(t);
  }, []);

  const platformReason = (r) => (r.platform && !access.platform ? 'platform runners are managed by platform operators' : adminReason);

  const setDefault = async (r) => {
    setError(null);
    try {
      const res = await api.put(api.orgPath(org, 'default-runner'), { runner: r.name });
      setNotice(`${res.runner} is now the default runner for ${res.scope}.`);
      def.reload();
    } catch (e) {
      setError(e);
    }
  };
  const regenerate = async (r) => {
    const c = await api.post(api.orgPath(org, `runners/${api.enc(r.name)}/regenerate-credentials${r.platform ? '?platform=true' : ''}`));
    setCreds(c);
    runners.reload();
  };
  const remove = async (r) => {
    const res = await api.del(api.orgPath(org, `runners/${api.enc(r.name)}${r.platform ? '?platform=true' : ''}`));
    setNotice(`Runner ${res.deleted} deleted${res.tunnels_cut ? `; ${res.tunnels_cut} live tunnel(s) cut` : ''}. Remove its deployment too.`);
    runners.reload();
    def.reload();
  };

  const isDefault = (r) => def.data?.runner === r.name && (def.data.from === 'platform') === r.platform;
  const columns = [
    {
      key: 'name',
      label: 'Name',
      render: (r) => html`<strong class="mono">${r.name}</strong>${isDefault(r) ? html` <span class="badge badge-info">default (${def.data.from})</span>` : ''}`,
    },
    { key: 'scope', label: 'Scope', priority: 3, value: (r) => (r.platform ? 'platform' : `org ${r.org}`) },
    { key: 'state', label: 'State', value: (r) => (r.connected ? 'connected' : 'offline'), render: (r) => html`<${RunnerState} runner=${r} version=${false} />` },
    {
      key: 'last_seen_at',
      label: 'Last seen',
      priority: 2,
      value: (r) => r.last_seen_at || '',
      render: (r) => (r.last_seen_at ? html`<span title=${dateTime(r.last_seen_at)}>${age(r.last_seen_at)} ago</span>` : html`<span class="muted">never</span>`),
    },
    { key: 'version', label: 'Version', value: (r) => r.version || '', class: 'mono', priority: 3 },
    { key: 'generation', label: 'Credentials', priority: 3, value: (r) => r.generation, render: (r) => `generation ${r.generation}` },
    {
      key: 'actions',
      label: '',
      class: 'actions',
      sticky: true,
      sortable: false,
      value: () => '',
      render: (r) => html`<div class="row">
        ${!r.platform && !isDefault(r) && html`<${Action} class="btn btn-small" reason=${adminReason} onClick=${() => setDefault(r)}>Make default<//>`}
        <${Action} class="btn btn-small" reason=${platformReason(r)} onClick=${() => setConfirm({ type: 'regenerate', runner: r })}>Regenerate credentials<//>
        <${Action} class="btn btn-small btn-danger-outline" reason=${platformReason(r)} onClick=${() => setConfirm({ type: 'delete', runner: r })}>Delete<//>
      </div>`,
    },
  ];

  return html`<div class="page page-wide">
    <${PageHeader} title="Runners" subtitle="A runner runs in your infrastructure with its own credentials and dials out to the control plane.">
      <${Action} class="btn btn-primary" reason=${adminReason} onClick=${() => navigate('/runners/new')}>Deploy runner<//>
    <//>
    ${def.data &&
    html`<p class="muted">Default runner: ${def.data.runner ? html`<strong class="mono">${def.data.runner}</strong> (from ${def.data.from})` : 'none'} —
      used by connections that name no runner.</p>`}
    ${notice && html`<${Notice} kind="ok">${notice}<//>`}
    <${ErrorBox} error=${error} />
    <${ErrorBox} error=${runners.error} onRetry=${runners.reload} />
    ${runners.data
      ? html`<${DataTable} columns=${columns} rows=${runners.data} rowKey=${(r) => `${r.platform}/${r.name}`} caption="Runners"
          rowClass=${(r) => (r.name === highlight ? 'row-highlight' : '')}
          empty="No runners yet: deploy one to start." />`
      : !runners.error && html`<${Loading} />`}
    ${confirm?.type === 'delete' &&
    html`<${TypeToConfirm} title=${`Delete runner ${confirm.runner.name}?`} name=${confirm.runner.name} onConfirm=${() => remove(confirm.runner)}
      onClose=${() => setConfirm(null)}>
      <p>Its service account and every API key go with it, and a deployed runner using its credentials loses its tunnel within seconds.
        The deployment itself (Helm release, ECS service, …) must be removed separately.</p>
    <//>`}
    ${confirm?.type === 'regenerate' &&
    html`<${TypeToConfirm} title=${`Regenerate credentials of ${confirm.runner.name}?`} name=${confirm.runner.name} verb="Regenerate"
      onConfirm=${() => regenerate(confirm.runner)} onClose=${() => setConfirm(null)}>
      <p>This revokes every earlier key of the runner and cuts its live tunnels. Deploy the new credentials.json afterwards.</p>
    <//>`}
    ${creds &&
    html`<${Dialog} title=${`New credentials for ${creds.runner_name}`} wide onClose=${() => setCreds(null)}>
      <${CredentialsOnce} creds=${creds} />
    <//>`}
  </div>`;
}
