// Cloud resources: the org's catalog (in the selected environment), each a link to its page.

import * as api from '../api.js';
import { useApp } from '../context.js';
import { age } from '../format.js';
import { Link } from '../router.js';
import { DataTable, ErrorBox, Loading, PageHeader, html, useAsync } from '../ui.js';

export const resourceHref = (path) => `/resources/${path.split('/').map(encodeURIComponent).join('/')}`;

export function Catalog() {
  const { org, env, access, session } = useApp();
  // Partly visible: say which grants the list follows, and what would show more.
  const scopes = access.platform || access.roleFor({}) ? [] : (session.grants || []).map((g) => `${g.scope_kind} ${g.scope}`);
  const list = useAsync(() => api.get(api.orgPath(org, `resources${api.qs({ env })}`)).then((r) => r.items), [org, env]);

  const columns = [
    {
      key: 'name',
      label: 'Name',
      value: (r) => r.metadata.name,
      render: (r) => html`<${Link} href=${resourceHref(r.path)} class="strong-link">${r.metadata.name}<//>`,
    },
    { key: 'kind', label: 'Kind', value: (r) => r.kind.replace(/^Kubernetes/, ''), render: (r) => html`<span class="badge">${r.kind.replace(/^Kubernetes/, '')}</span>` },
    { key: 'env', label: 'Environment', value: (r) => r.metadata.env },
    { key: 'connection', label: 'Connection', value: (r) => r.spec.connection },
    { key: 'namespace', label: 'Namespace', value: (r) => r.spec.namespace, class: 'mono' },
    { key: 'role', label: 'Your role', value: (r) => (access.platform ? 'platform' : access.roleFor({ resource: r.path }) || 'none') },
    { key: 'updated', label: 'Updated', value: (r) => r.updated_at || r.created_at, render: (r) => age(r.updated_at || r.created_at) },
  ];

  return html`<div class="page">
    <${PageHeader} title="Cloud resources"
      subtitle=${`The catalog of ${org}${env ? `, environment ${env}` : ''}: open one to see its pods live, logs, a shell, its namespace.`} />
    <${ErrorBox} error=${list.error} onRetry=${list.reload} />
    ${scopes.length > 0 &&
    html`<p class="muted small" role="note">You see what your grants cover (${[...new Set(scopes)].join(', ')}); resources of other
      environments need a grant from an admin of ${org}.</p>`}
    ${list.data === undefined && !list.error
      ? html`<${Loading} />`
      : list.data &&
        html`<${DataTable} columns=${columns} rows=${list.data} rowKey=${(r) => r.path} caption="Cloud resources"
          empty=${env ? `No cloud resources in ${env}.` : 'No cloud resources yet: add one with `planton resource apply -f`.'} />`}
  </div>`;
}
