// Admin mode's "where": a Kubernetes connection and a namespace (listed from the cluster; typed
// in when listing namespaces is not allowed).

import * as api from '../api.js';
import { useApp } from '../context.js';
import { Link } from '../router.js';
import { ErrorBox, html, useAsync } from '../ui.js';

export function TargetPicker({ connection, namespace, onChange, allowAll }) {
  const { org, connections } = useApp();
  const kubeConns = (connections.data || []).filter((c) => c.provider === 'kubernetes');
  const namespaces = useAsync(
    () =>
      connection
        ? api.kube('get', { org, connection }, { kind: 'namespaces', output: 'objects' }).then((r) => r.result.items.map((n) => n.metadata.name).sort())
        : null,
    [org, connection],
  );
  if (connections.data && !kubeConns.length) {
    return html`<p class="muted">No Kubernetes connection yet. <${Link} href="/connections">Add one<//>.</p>`;
  }
  const nsList = namespaces.data || [];
  return html`<div class="picker">
    <label class="field-inline"><span>Connection</span>
      <select class="select" value=${connection} onChange=${(e) => onChange({ connection: e.currentTarget.value, namespace: '' })}>
        ${!connection && html`<option value="">Choose…</option>`}
        ${kubeConns.map((c) => html`<option value=${c.name}>${c.name}</option>`)}
      </select>
    </label>
    <label class="field-inline"><span>Namespace</span>
      ${namespaces.error
        ? html`<input class="input mono" value=${namespace} placeholder="default" aria-label="Namespace"
            onChange=${(e) => onChange({ connection, namespace: e.currentTarget.value.trim() })} />`
        : html`<select class="select" value=${namespace} onChange=${(e) => onChange({ connection, namespace: e.currentTarget.value })}
            disabled=${!connection}>
            ${allowAll && html`<option value="*">All namespaces</option>`}
            ${!namespace && html`<option value="">default</option>`}
            ${nsList.map((n) => html`<option value=${n}>${n}</option>`)}
            ${namespace && namespace !== '*' && !nsList.includes(namespace) && html`<option value=${namespace}>${namespace}</option>`}
          </select>`}
    </label>
    ${namespaces.error && html`<span class="muted small" title=${namespaces.error.message}>cannot list namespaces: type one</span>`}
    <${ErrorBox} error=${connections.error} onRetry=${connections.reload} />
  </div>`;
}

/** The first Kubernetes connection the principal may use, to start from when none is chosen. */
export function defaultKubeConnection(connections, access) {
  const kube = (connections.data || []).filter((c) => c.provider === 'kubernetes');
  return (kube.find((c) => access.onConnection(c.name)) || kube[0])?.name || '';
}
