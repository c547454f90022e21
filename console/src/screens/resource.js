// A cloud resource's page, in developer mode (everything goes through `resource`: the connection
// and namespace come from the catalog). Its pods are watched once here and shared by the tabs.

import { useMemo } from 'preact/hooks';
import * as api from '../api.js';
import { useApp } from '../context.js';
import { workloadKind } from '../kube.js';
import { Link, setQuery } from '../router.js';
import { ErrorBox, Lazy, LiveStatus, Tabs, html, useAsync } from '../ui.js';
import { useWatch } from '../watch.js';
import { Browser } from './browser.js';
import { KubernetesTab } from './kubernetes-tab.js';
import { NamespaceGraph } from './graph.js';
import { LogsPanel } from './logs.js';
import { resourceHref } from './catalog.js';

const TABS = [
  { id: 'kubernetes', label: 'Kubernetes' },
  { id: 'logs', label: 'Logs' },
  { id: 'terminal', label: 'Terminal' },
  { id: 'browse', label: 'Resources' },
  { id: 'graph', label: 'Graph' },
];

export function ResourcePage({ params, query }) {
  const { access } = useApp();
  const { org, env, kind, name } = params;
  const path = `${org}/${env}/${kind}/${name}`;
  const target = useMemo(() => ({ resource: path }), [path]);
  const entry = useAsync(
    () => api.get(api.orgPath(org, `envs/${api.enc(env)}/resources/${api.enc(kind)}/${api.enc(name)}`)),
    [path],
  );
  const pods = useWatch(target, 'pods');
  const tab = TABS.some((t) => t.id === query.get('tab')) ? query.get('tab') : 'kubernetes';
  const pod = query.get('pod') || '';
  const container = query.get('container') || '';
  const role = access.platform ? 'platform operator' : access.roleFor(target) || 'no role';
  const select = (id) => setQuery({ tab: id === 'kubernetes' ? '' : id, kind: '', name: '', view: '' }, { replace: false });

  const r = entry.data;
  return html`<div class="page page-wide">
    <nav class="crumbs" aria-label="Breadcrumb"><${Link} href="/resources">Cloud resources<//> / <span>${env}</span></nav>
    <header class="page-head">
      <div>
        <h1><span class="badge badge-kind">${kind.replace(/^Kubernetes/, '')}</span> ${name}</h1>
        <p class="muted meta-line">
          <span>env <strong>${env}</strong></span>
          ${r && html`<span>connection <strong>${r.spec.connection}</strong></span>
            <span>namespace <strong class="mono">${r.spec.namespace}</strong></span>`}
          <span>your role <strong>${role}</strong></span>
        </p>
      </div>
      <div class="row"><${LiveStatus} status=${pods.status} error=${pods.error} /></div>
    </header>
    <${ErrorBox} title="Catalog entry" error=${entry.error} onRetry=${entry.reload} />
    <${Tabs} tabs=${TABS} active=${tab} onSelect=${select} label="Resource views" />
    <section class="tab-panel" role="tabpanel" aria-label=${TABS.find((t) => t.id === tab).label}>
      ${tab === 'kubernetes' && html`<${KubernetesTab} target=${target} workload=${{ kind: workloadKind(kind), name }} pods=${pods} />`}
      ${tab === 'logs' && html`<${LogsPanel} target=${target} pods=${pods.items} pod=${pod} container=${container} merged=${!!workloadKind(kind)} />`}
      ${tab === 'terminal' &&
      html`<${Lazy} label="Loading the terminal…" load=${() => import('./terminal.js')}
        render=${(m) => html`<${m.TerminalPanel} target=${target} pods=${pods.items} pod=${pod} container=${container} />`} />`}
      ${tab === 'browse' &&
      html`<${Browser} target=${target} kind=${query.get('kind') || 'deployments'} name=${query.get('name') || ''}
        namespace=${r?.spec.namespace} onSelect=${(k, n, _ns, v) => setQuery({ kind: k, name: n, view: v || '' }, { replace: false })}
        view=${query.get('view') || ''} onView=${(v) => setQuery({ view: v === 'describe' ? '' : v })} />`}
      ${tab === 'graph' &&
      html`<${NamespaceGraph} target=${target}
        hrefFor=${(kindPlural, objName) => `${resourceHref(path)}${api.qs({ tab: 'browse', kind: kindPlural, name: objName })}`} />`}
    </section>
  </div>`;
}
