// The resource browser: kinds from discovery (api-resources), a table per kind (the API's own
// Table columns, as kubectl prints them), and one object's describe, YAML, edit, restart and
// delete. Admin mode picks a connection and namespace; developer mode is the resource's
// namespace (and only namespaced kinds).

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import * as api from '../api.js';
import { useApp } from '../context.js';
import { setQuery } from '../router.js';
import { Action, DataTable, ErrorBox, Lazy, LiveStatus, Loading, Notice, PageHeader, html, useAsync } from '../ui.js';
import { useWatch } from '../watch.js';
import { PodsTable } from './pods-table.js';
import { TargetPicker, defaultKubeConnection } from './target-picker.js';

const COMMON = [
  'pods',
  'deployments',
  'replicasets',
  'statefulsets',
  'daemonsets',
  'jobs',
  'cronjobs',
  'services',
  'ingresses',
  'configmaps',
  'secrets',
  'persistentvolumeclaims',
  'horizontalpodautoscalers',
  'serviceaccounts',
  'events',
];

const cellText = (v) => (v === null || v === undefined ? '<none>' : typeof v === 'object' ? JSON.stringify(v) : String(v));

function KindList({ kinds, active, onPick }) {
  const [filter, setFilter] = useState('');
  const f = filter.trim().toLowerCase();
  const match = (k) => !f || k.name.includes(f) || k.kind.toLowerCase().includes(f) || (k.shortNames || []).includes(f);
  const common = COMMON.map((n) => kinds.find((k) => k.name === n)).filter((k) => k && match(k));
  const rest = kinds.filter((k) => !COMMON.includes(k.name) && match(k)).sort((a, b) => a.name.localeCompare(b.name));
  const item = (k) => html`<li>
    <button type="button" class="kind-item" aria-current=${k.name === active ? 'true' : undefined} onClick=${() => onPick(k.name)}
      title=${`${k.kind} (${k.apiVersion})${k.shortNames?.length ? `, short: ${k.shortNames.join(', ')}` : ''}`}>
      ${k.name}${k.apiVersion.includes('/') ? html`<span class="muted small"> ${k.apiVersion.split('/')[0]}</span>` : ''}
    </button>
  </li>`;
  return html`<nav class="kinds" aria-label="Kinds">
    <input class="input input-filter" type="search" placeholder="Find a kind…" aria-label="Find a kind" value=${filter}
      onInput=${(e) => setFilter(e.currentTarget.value)} />
    ${common.length > 0 && html`<h3 class="kinds-title">Common</h3><ul>${common.map(item)}</ul>`}
    ${rest.length > 0 && html`<h3 class="kinds-title">All kinds</h3><ul>${rest.map(item)}</ul>`}
  </nav>`;
}

/** Pods, live from a watch, in the resource page's table (windowed when there are many). */
function LivePods({ target, allNamespaces, operatorReason, onOpen }) {
  const pods = useWatch(target, 'pods');
  return html`<div class="stack">
    <div class="row"><span class="spacer"></span><${LiveStatus} status=${pods.status} error=${pods.error} /></div>
    ${pods.status === 'failed'
      ? html`<${ErrorBox} title="Pods" error=${pods.error} />`
      : !pods.listed && !pods.items.length
        ? html`<${Loading} label="Watching pods…" />`
        : html`<${PodsTable} pods=${pods.items} namespaces=${allNamespaces} listing=${pods.listing} execReason=${operatorReason}
            onOpen=${(n, ns) => onOpen(n, ns)} onAction=${(n, ns, view) => onOpen(n, ns, view)} />`}
  </div>`;
}

/**
 * Reloads `reload` when the watched objects change: once the changes pause for half a second,
 * and at least every 3 s while they keep coming.
 */
function useReloadOnChange(items, reload) {
  const seen = useRef(0);
  const first = useRef(0);
  useEffect(() => {
    if (seen.current++ === 0) return undefined;
    const now = Date.now();
    if (!first.current) first.current = now;
    const wait = Math.max(0, Math.min(500, 3000 - (now - first.current)));
    const t = setTimeout(() => {
      first.current = 0;
      reload();
    }, wait);
    return () => clearTimeout(t);
  }, [items]);
}

function KindTable({ target, kind, allNamespaces, onOpen, reloadKey }) {
  const [wide, setWide] = useState(false);
  const table = useAsync(
    () => api.kube('get', target, { kind, output: 'table', all_namespaces: allNamespaces }),
    [JSON.stringify(target), kind, allNamespaces, reloadKey],
  );
  // The table is the API server's (kubectl's columns, any kind); a watch says when to read it again.
  const live = useWatch(target, kind);
  useReloadOnChange(live.items, table.reload);
  const result = table.data?.result;
  const columns = useMemo(() => {
    if (!result?.columnDefinitions) return [];
    const defs = result.columnDefinitions.map((d, i) => ({ ...d, i })).filter((d) => wide || !d.priority);
    const cols = defs.map((d) => ({
      key: `c${d.i}`,
      label: d.name,
      class: d.type === 'integer' || d.type === 'number' ? 'num' : '',
      value: (r) => cellText(r.cells[d.i]),
    }));
    const nameCol = cols.find((c) => c.label === 'Name') || cols[0];
    const open = (r, view) => onOpen(r.object?.metadata?.name || r.cells[0], r.object?.metadata?.namespace, view);
    if (nameCol) {
      nameCol.render = (r) => html`<button type="button" class="link-button mono" onClick=${() => open(r)}>${nameCol.value(r)}</button>`;
    }
    if (allNamespaces) cols.unshift({ key: 'ns', label: 'Namespace', class: 'mono', value: (r) => r.object?.metadata?.namespace || '' });
    return cols;
  }, [result, wide, allNamespaces]);

  if (table.error) return html`<${ErrorBox} error=${table.error} onRetry=${table.reload} />`;
  if (!result) return html`<${Loading} />`;
  if (!result.columnDefinitions) return html`<${ErrorBox} error="The API did not answer with a table for this kind." />`;
  const rows = result.rows || [];
  return html`<${DataTable} columns=${columns} rows=${rows} caption=${kind}
    rowKey=${(r) => `${r.object?.metadata?.namespace || ''}/${r.object?.metadata?.name || r.cells[0]}`}
    empty=${`No ${kind} here.`} filterLabel=${`Filter ${kind}`}
    toolbar=${html`<span class="spacer"></span>
      <label class="check"><input type="checkbox" checked=${wide} onChange=${(e) => setWide(e.currentTarget.checked)} /> Wide</label>
      <${LiveStatus} status=${live.status} error=${live.error} />
      <button type="button" class="btn btn-small" onClick=${table.reload} disabled=${table.loading}>${table.loading ? 'Loading…' : 'Refresh'}</button>`} />`;
}

/**
 * @param target  {resource} (developer mode) or {org, connection, namespace} (admin mode;
 *                namespace "*" lists every namespace)
 * @param onSelect(kind, name, namespace?, view?)  keeps the choice in the URL
 * @param view, onView  the open object's view (describe, yaml, logs…), also in the URL
 */
export function Browser({ target, kind, name, namespace, onSelect, view, onView }) {
  const { access } = useApp();
  const developer = !!target.resource;
  const allNamespaces = !developer && target.namespace === '*';
  const opTarget = allNamespaces ? { ...target, namespace: '' } : target;
  const [reloadKey, setReloadKey] = useState(0);
  const [notice, setNotice] = useState('');
  const [creating, setCreating] = useState(false);
  // Discovery is per cluster: the namespace does not change it.
  const discovery = useAsync(() => api.kube('api-resources', opTarget).then((r) => r.result.items), [target.resource, target.org, target.connection]);
  const kinds = useMemo(() => (discovery.data || []).filter((k) => !developer || k.namespaced), [discovery.data, developer]);
  const operatorReason = access.need('operator', developer ? target : { connection: target.connection });
  useEffect(() => setNotice(''), [kind]);

  return html`<div class="browser">
    <aside class="browser-kinds">
      <${ErrorBox} title="Discovery" error=${discovery.error} onRetry=${discovery.reload} />
      ${discovery.data ? html`<${KindList} kinds=${kinds} active=${kind} onPick=${(k) => onSelect(k, '')} />` : !discovery.error && html`<${Loading} />`}
    </aside>
    <div class="browser-main">
      ${developer && html`<p class="muted small">Namespace <strong class="mono">${namespace || '…'}</strong> (from the catalog).</p>`}
      ${notice && html`<${Notice} kind="ok">${notice}<//>`}
      ${!name &&
      html`<div class="row end"><${Action} class="btn btn-small" reason=${operatorReason} onClick=${() => setCreating(true)}>Create from YAML<//></div>`}
      ${creating &&
      html`<${Lazy} load=${() => import('./create-yaml.js')}
        render=${(m) => html`<${m.CreateFromYaml} target=${opTarget} namespace=${developer ? namespace : opTarget.namespace}
          onClose=${() => setCreating(false)}
          onApplied=${(applied) => {
            setNotice(`Applied: ${applied.join(', ')}.`);
            setReloadKey((n) => n + 1);
          }} />`} />`}
      ${name
        ? html`<div class="stack">
            <nav class="crumbs" aria-label="Object">
              <button type="button" class="link-button" onClick=${() => onSelect(kind, '')}>← ${kind}</button> / <span class="mono">${name}</span>
            </nav>
            <${Lazy} load=${() => import('./object-panel.js')}
              render=${(m) => html`<${m.ObjectPanel} key=${`${kind}/${name}`} target=${opTarget} kind=${kind} name=${name}
                operatorReason=${operatorReason} view=${view} onView=${onView}
                onChanged=${() => setReloadKey((n) => n + 1)}
                onDeleted=${(msg) => {
                  setNotice(msg);
                  setReloadKey((n) => n + 1);
                  onSelect(kind, '');
                }} />`} />
          </div>`
        : kind === 'pods'
          ? html`<${LivePods} key=${JSON.stringify(opTarget)} target=${opTarget} allNamespaces=${allNamespaces} operatorReason=${operatorReason}
              onOpen=${(n, ns, v) => onSelect(kind, n, allNamespaces ? ns : undefined, v)} />`
          : html`<${KindTable} target=${opTarget} kind=${kind} allNamespaces=${allNamespaces} reloadKey=${reloadKey}
              onOpen=${(n, ns, v) => onSelect(kind, n, allNamespaces ? ns : undefined, v)} />`}
    </div>
  </div>`;
}

/** /browse: admin mode, with the connection and namespace in the URL. */
export function BrowsePage({ query }) {
  const { org, connections, access } = useApp();
  const connection = query.get('connection') || defaultKubeConnection(connections, access);
  const namespace = query.get('namespace') || 'default';
  const kind = query.get('kind') || 'pods';
  const name = query.get('name') || '';
  const view = query.get('view') || '';
  const target = useMemo(() => ({ org, connection, namespace }), [org, connection, namespace]);
  return html`<div class="page page-wide">
    <${PageHeader} title="Resource browser" subtitle="Any kind the cluster serves: tables, describe, YAML, edit, delete, rollout restart.">
      <${TargetPicker} connection=${connection} namespace=${namespace} allowAll
        onChange=${(t) => setQuery({ connection: t.connection, namespace: t.namespace, name: '', view: '' }, { replace: false })} />
    <//>
    ${connection
      ? html`<${Browser} target=${target} kind=${kind} name=${name} view=${view} onView=${(v) => setQuery({ view: v === 'describe' ? '' : v })}
          onSelect=${(k, n, ns, v) => setQuery({ kind: k, name: n, view: v || '', ...(ns ? { namespace: ns } : {}) }, { replace: false })} />`
      : connections.data && html`<p class="muted">Choose a connection.</p>`}
  </div>`;
}
