// Connections: where ops go (a cluster context or a cloud account) and which runner makes the
// calls, with that runner's state; the org's and the environment's defaults per provider.

import { useState } from 'preact/hooks';
import * as api from '../api.js';
import { useApp } from '../context.js';
import { SLUG, age } from '../format.js';
import { Link, navigate } from '../router.js';
import { Action, DataTable, Dialog, Dot, ErrorBox, Field, Loading, Notice, PageHeader, html, useAsync } from '../ui.js';

const PROVIDERS = ['kubernetes', 'aws', 'gcp', 'azure'];
const SETTINGS_HINT = {
  kubernetes: 'none needed (the runner’s kubeconfig context is set above)',
  aws: 'profile, region, endpoint_url, page_size — e.g. region=eu-west-1',
  gcp: 'project, zone, endpoint_url, storage_endpoint_url — e.g. project=acme-prod',
  azure: 'subscription, resource_group, account, endpoint_url, blob_endpoint_url',
};

/** The runner's state as a dot and words: connected (version), or last seen. */
export function RunnerState({ runner, version = true }) {
  if (!runner) return html`<span class="muted">unknown runner</span>`;
  if (runner.revoked) return html`<span class="state"><${Dot} health="error" label="" />revoked</span>`;
  if (runner.connected) {
    return html`<span class="state" title=${`last seen ${runner.last_seen_at}`}><${Dot} health="ok" label="" />connected${version && runner.version ? html`<span class="muted small version">v${runner.version}</span>` : ''}</span>`;
  }
  return html`<span class="state"><${Dot} health="warning" label="" />${runner.last_seen_at ? `offline, last seen ${age(runner.last_seen_at)} ago` : 'never connected'}</span>`;
}

function settingsOf(c) {
  const parts = Object.entries(c.settings || {}).map(([k, v]) => `${k}=${v}`);
  if (c.context) parts.unshift(`context=${c.context}`);
  return parts;
}

const browseHref = (c) => (c.provider === 'kubernetes' ? `/browse?connection=${api.enc(c.name)}` : `/cloud?connection=${api.enc(c.name)}`);

function CreateConnection({ org, runners, onClose, onCreated }) {
  const [form, setForm] = useState({ name: '', provider: 'kubernetes', runner: '', context: '', settings: '' });
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (k) => (e) => setForm({ ...form, [k]: e.currentTarget.value });
  const submit = async (e) => {
    e.preventDefault();
    if (!SLUG.test(form.name)) return setError('The name must be lowercase letters, digits and dashes (e.g. k8s-prod).');
    const settings = {};
    for (const line of form.settings.split(/[\n,]+/).map((l) => l.trim()).filter(Boolean)) {
      const i = line.indexOf('=');
      if (i < 1) return setError(`Setting "${line}" is not KEY=VALUE.`);
      settings[line.slice(0, i).trim()] = line.slice(i + 1).trim();
    }
    const body = { name: form.name, provider: form.provider, settings };
    if (form.runner) body.runner = form.runner;
    if (form.provider === 'kubernetes' && form.context.trim()) body.context = form.context.trim();
    setBusy(true);
    setError(null);
    try {
      await api.post(api.orgPath(org, 'connections'), body);
      onCreated(form.name);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return html`<${Dialog} title="New connection" onClose=${onClose}>
    <form class="stack" onSubmit=${submit}>
      <${Field} label="Name"><input class="input mono" value=${form.name} onInput=${set('name')} autofocus placeholder="k8s-prod" /><//>
      <${Field} label="Provider">
        <select class="select" value=${form.provider} onChange=${set('provider')}>${PROVIDERS.map((p) => html`<option value=${p}>${p}</option>`)}</select>
      <//>
      <${Field} label="Runner" hint="Without one, the org's default runner (then the platform's) makes the calls.">
        <select class="select" value=${form.runner} onChange=${set('runner')}>
          <option value="">The default runner</option>
          ${runners.map((r) => html`<option value=${r.name}>${r.name}${r.platform ? ' (platform)' : ''}</option>`)}
        </select>
      <//>
      ${form.provider === 'kubernetes' &&
      html`<${Field} label="Kubeconfig context" hint="Empty: the runner's current context or its in-cluster service account.">
        <input class="input mono" value=${form.context} onInput=${set('context')} />
      <//>`}
      <${Field} label="Settings" hint=${SETTINGS_HINT[form.provider]}>
        <textarea class="input mono" rows="3" value=${form.settings} onInput=${set('settings')} placeholder="KEY=VALUE, one a line"></textarea>
      <//>
      <${ErrorBox} error=${error} />
      <div class="row end">
        <button type="button" class="btn" onClick=${onClose}>Cancel</button>
        <button type="submit" class="btn btn-primary" disabled=${busy}>${busy ? 'Creating…' : 'Create connection'}</button>
      </div>
    </form>
  <//>`;
}

export function ConnectionsPage() {
  const { org, env, access, connections } = useApp();
  const [creating, setCreating] = useState(false);
  const [notice, setNotice] = useState('');
  const [actionError, setActionError] = useState(null);
  const adminReason = access.need('admin');
  // Runners are the org admins' to see; others see which runner, not its state.
  const runners = useAsync(() => (adminReason ? [] : api.get(api.orgPath(org, 'runners?scope=all')).then((r) => r.items)), [org, adminReason]);
  const providers = [...new Set((connections.data || []).map((c) => c.provider))];
  const defaults = useAsync(
    () =>
      Promise.all(providers.map((provider) => api.get(api.orgPath(org, `default-connection${api.qs({ provider, env })}`)))).then((all) => {
        const by = new Map();
        for (const d of all) {
          for (const level of d.chain || []) {
            if (!level.connection) continue;
            if (!by.has(level.connection)) by.set(level.connection, []);
            by.get(level.connection).push(level.level);
          }
        }
        return by;
      }),
    [org, env, providers.join(',')],
  );
  const envReason = env ? access.need('admin', { env }) : null;
  const runnerByName = new Map((runners.data || []).map((r) => [r.name, r]));

  const setDefault = async (c, forEnv) => {
    setActionError(null);
    setNotice('');
    try {
      const r = await api.post(api.orgPath(org, `connections/${api.enc(c.name)}/default`), forEnv ? { env: forEnv } : {});
      setNotice(`${r.connection} is now the default ${r.provider} connection for ${r.scope}.`);
      defaults.reload();
    } catch (e) {
      setActionError(e);
    }
  };

  const columns = [
    {
      key: 'name',
      label: 'Name',
      render: (c) => html`<${Link} href=${browseHref(c)} class="strong-link mono" title=${`Browse ${c.name}`}>${c.name}<//>`,
    },
    { key: 'provider', label: 'Provider', render: (c) => html`<span class="badge">${c.provider}</span>` },
    {
      key: 'runner',
      label: 'Runner',
      priority: 3,
      value: (c) => c.runner || '(default)',
      render: (c) => (c.runner ? html`<span class="mono">${c.runner}</span>` : html`<span class="muted">default runner</span>`),
    },
    {
      key: 'state',
      label: 'State',
      value: (c) => (runnerByName.get(c.runner)?.connected ? 'connected' : 'offline'),
      render: (c) =>
        adminReason
          ? html`<span class="muted" title=${`Runner states are shown to the org's admins (${adminReason})`}>—</span>`
          : c.runner
            ? html`<${RunnerState} runner=${runnerByName.get(c.runner)} />`
            : html`<span class="muted">via the default runner</span>`,
    },
    {
      key: 'settings',
      label: 'Settings',
      class: 'mono small wrap-text',
      priority: 3,
      value: (c) => settingsOf(c).join(' '),
      render: (c) => settingsOf(c).map((line) => html`<div>${line}</div>`),
    },
    {
      key: 'defaults',
      label: 'Default for',
      priority: 2,
      value: (c) => (defaults.data?.get(c.name) || []).join(' '),
      render: (c) => {
        const levels = defaults.data?.get(c.name) || [];
        return levels.length ? html`<span class="row">${levels.map((l) => html`<span class="badge badge-info">${l}</span>`)}</span>` : html`<span class="muted">—</span>`;
      },
    },
    {
      key: 'actions',
      label: '',
      class: 'actions',
      sticky: true,
      sortable: false,
      value: () => '',
      render: (c) => html`<div class="row">
        <${Action} class="btn btn-small" reason=${adminReason} onClick=${() => setDefault(c)}>Org default<//>
        ${env && html`<${Action} class="btn btn-small" reason=${envReason} onClick=${() => setDefault(c, env)}>${env} default<//>`}
      </div>`,
    },
  ];

  return html`<div class="page page-wide">
    <${PageHeader} title="Connections" subtitle="A connection names a cluster or cloud account; its runner holds the credentials and makes every call.">
      <${Action} class="btn" reason=${adminReason} onClick=${() => navigate('/runners/new')}>Deploy runner<//>
      <${Action} class="btn btn-primary" reason=${adminReason} onClick=${() => setCreating(true)}>New connection<//>
    <//>
    ${notice && html`<${Notice} kind="ok">${notice}<//>`}
    <${ErrorBox} error=${actionError} />
    <${ErrorBox} title="Connections" error=${connections.error} onRetry=${connections.reload} />
    <${ErrorBox} title="Runners" error=${runners.error} onRetry=${runners.reload} />
    <${ErrorBox} title="Defaults" error=${defaults.error} onRetry=${defaults.reload} />
    ${connections.data
      ? html`<${DataTable} columns=${columns} rows=${connections.data} rowKey=${(c) => c.name} caption="Connections"
          empty="No connections yet: deploy a runner, then add a connection that uses it." />`
      : !connections.error && html`<${Loading} />`}
    ${creating &&
    html`<${CreateConnection} org=${org} runners=${runners.data || []} onClose=${() => setCreating(false)}
      onCreated=${(name) => {
        setCreating(false);
        setNotice(`Connection ${name} created.`);
        connections.reload();
      }} />`}
  </div>`;
}
