// The namespace graph: the runner's DAG (ownerReferences, selectors, mounts, routes, …) laid out
// in layers by dagre (in a worker), drawn as SVG, nodes coloured by kind and outlined by health.
// Pan by dragging, zoom with the wheel or +/-, fit with 0; every node links to the object.
// On a narrow screen the same graph reads as a list: owners and what they own nested, the other
// relations named under each object, every name in full.

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import * as api from '../api.js';
import { useApp } from '../context.js';
import { pluralOf } from '../kube.js';
import { navigate, setQuery } from '../router.js';
import { ErrorBox, Loading, PageHeader, html, useAsync } from '../ui.js';
import { TargetPicker, defaultKubeConnection } from './target-picker.js';

const NODE = { width: 244, height: 46 };

const CATEGORY = {
  Deployment: 'workload',
  StatefulSet: 'workload',
  DaemonSet: 'workload',
  ReplicaSet: 'workload',
  Job: 'workload',
  CronJob: 'workload',
  Pod: 'pod',
  Service: 'network',
  Ingress: 'network',
  ConfigMap: 'config',
  Secret: 'config',
  ServiceAccount: 'config',
  PersistentVolumeClaim: 'storage',
  PersistentVolume: 'storage',
  HorizontalPodAutoscaler: 'scaling',
};
const categoryOf = (kind) => CATEGORY[kind] || 'other';
const HEALTH_MARK = { ok: '', warning: '!', error: '✕' };

function layoutInWorker(nodes, edges) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('../graph-layout.worker.js', import.meta.url), { type: 'module' });
    worker.onmessage = (e) => {
      resolve(e.data);
      worker.terminate();
    };
    worker.onerror = (e) => {
      reject(new Error(`graph layout failed: ${e.message}`));
      worker.terminate();
    };
    worker.postMessage({ nodes: nodes.map((n) => ({ id: n.id })), edges, node: NODE });
  });
}

/** One edge per pair, relations joined ("mounts, env"). */
function mergeEdges(edges) {
  const by = new Map();
  for (const e of edges) {
    const k = `${e.from}\u0000${e.to}`;
    if (by.has(k)) by.get(k).relation += `, ${e.relation}`;
    else by.set(k, { ...e });
  }
  return [...by.values()];
}

const narrow = () => typeof matchMedia === 'function' && matchMedia('(max-width: 640px)').matches;
const relationsOf = (e) => e.relation.split(', ');
// Owners first (workloads, then what they run), then what they use.
const KIND_RANK = ['Deployment', 'StatefulSet', 'DaemonSet', 'CronJob', 'Job', 'ReplicaSet', 'Pod', 'Service', 'Ingress'];
const rankOf = (k) => (KIND_RANK.includes(k) ? KIND_RANK.indexOf(k) : KIND_RANK.length);
const byKindThenName = (a, b) => rankOf(a.kind) - rankOf(b.kind) || a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name);

/** The graph as a nested list: what owns what as nesting, the other relations as links. */
function GraphOutline({ nodes, edges, hrefFor, matchSet, open }) {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const from = new Map();
  const owned = new Set();
  for (const e of edges) {
    if (!byId.has(e.from) || !byId.has(e.to)) continue;
    if (!from.has(e.from)) from.set(e.from, []);
    from.get(e.from).push(e);
    if (relationsOf(e).includes('owns')) owned.add(e.to);
  }
  const seen = new Set();
  const link = (n) => {
    const href = hrefFor(pluralOf(n.kind), n.name);
    return html`<a href=${href} class=${`outline-node cat-${categoryOf(n.kind)} health-${n.health}${matchSet.has(n.id) ? ' hit' : ''}`}
      onClick=${(e) => open(e, href)} title=${`${n.kind} ${n.name}${n.status ? ` — ${n.status}` : ''}`}>
      <span class="outline-kind">${n.kind}</span> <span class="outline-name mono">${n.name}</span>${n.status
        ? html` <span class=${`outline-status text-${n.health}`}>${n.status}</span>`
        : ''}
    </a>`;
  };
  const item = (n) => {
    seen.add(n.id);
    const out = from.get(n.id) || [];
    const kids = out
      .filter((e) => relationsOf(e).includes('owns') && !seen.has(e.to))
      .map((e) => byId.get(e.to))
      .sort(byKindThenName);
    for (const k of kids) seen.add(k.id);
    const uses = out.filter((e) => relationsOf(e).some((r) => r !== 'owns'));
    return html`<li key=${n.id}>
      ${link(n)}
      ${uses.length > 0 &&
      html`<ul class="outline-uses">${uses.map((e) => {
        const to = byId.get(e.to);
        return html`<li key=${e.to}><span class="muted small">${relationsOf(e).filter((r) => r !== 'owns').join(', ')}</span> ${link(to)}</li>`;
      })}</ul>`}
      ${kids.length > 0 && html`<ul class="outline-owned">${kids.map(item)}</ul>`}
    </li>`;
  };
  const roots = nodes.filter((n) => !owned.has(n.id)).sort(byKindThenName);
  // Whatever only a cycle of ownership reaches is listed at the top level too.
  const items = roots.map(item);
  for (const n of [...nodes].sort(byKindThenName)) if (!seen.has(n.id)) items.push(item(n));
  return html`<ul class="graph-outline" aria-label="Objects and how they relate">${items}</ul>`;
}

const short = (s, n) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

function pathOf(points) {
  if (!points?.length) return '';
  const [first, ...rest] = points;
  if (rest.length < 2) return `M${first.x},${first.y}${rest.map((p) => ` L${p.x},${p.y}`).join('')}`;
  // A smooth curve through dagre's control points.
  let d = `M${first.x},${first.y}`;
  for (let i = 0; i < rest.length - 1; i++) {
    const p = rest[i];
    const q = rest[i + 1];
    const end = i === rest.length - 2 ? q : { x: (p.x + q.x) / 2, y: (p.y + q.y) / 2 };
    d += ` Q${p.x},${p.y} ${end.x},${end.y}`;
  }
  return d;
}

/** Pan and zoom on an SVG <g>, applied to the DOM directly (no re-render while moving). */
function usePanZoom(svgRef, layerRef, size) {
  const view = useRef({ x: 0, y: 0, k: 1 });
  const apply = () => {
    const { x, y, k } = view.current;
    layerRef.current?.setAttribute('transform', `translate(${x},${y}) scale(${k})`);
  };
  const fit = () => {
    const svg = svgRef.current;
    if (!svg || !size) return;
    const { width, height } = svg.getBoundingClientRect();
    const k = Math.min(1.2, Math.max(0.05, Math.min(width / size.width, height / size.height) * 0.95));
    view.current = { k, x: (width - size.width * k) / 2, y: Math.max(8, (height - size.height * k) / 2) };
    apply();
  };
  const zoomAt = (factor, cx, cy) => {
    const v = view.current;
    const k = Math.min(4, Math.max(0.03, v.k * factor));
    view.current = { k, x: cx - ((cx - v.x) * k) / v.k, y: cy - ((cy - v.y) * k) / v.k };
    apply();
  };
  const center = () => {
    const r = svgRef.current.getBoundingClientRect();
    return [r.width / 2, r.height / 2];
  };
  const pan = (dx, dy) => {
    view.current = { ...view.current, x: view.current.x + dx, y: view.current.y + dy };
    apply();
  };
  const focusOn = (pos) => {
    const r = svgRef.current.getBoundingClientRect();
    const k = Math.max(view.current.k, 0.9);
    view.current = { k, x: r.width / 2 - pos.x * k, y: r.height / 2 - pos.y * k };
    apply();
  };
  return { view, apply, fit, zoomAt, center, pan, focusOn };
}

export function NamespaceGraph({ target, hrefFor }) {
  const graph = useAsync(() => api.kube('graph', target).then((r) => r.result), [JSON.stringify(api.targetBody(target))]);
  const [laid, setLaid] = useState(null);
  const [layoutError, setLayoutError] = useState(null);
  const [hidden, setHidden] = useState(() => new Set());
  const [search, setSearch] = useState('');
  const [asList, setAsList] = useState(narrow);
  const svgRef = useRef(null);
  const layerRef = useRef(null);
  const drag = useRef(null);
  const moved = useRef(false);

  const nodes = useMemo(() => (graph.data?.nodes || []).filter((n) => !hidden.has(n.kind)), [graph.data, hidden]);
  const edges = useMemo(() => {
    const ids = new Set(nodes.map((n) => n.id));
    return mergeEdges((graph.data?.edges || []).filter((e) => ids.has(e.from) && ids.has(e.to)));
  }, [graph.data, nodes]);
  const kinds = useMemo(() => {
    const c = new Map();
    for (const n of graph.data?.nodes || []) c.set(n.kind, (c.get(n.kind) || 0) + 1);
    return [...c.entries()].sort((a, b) => a[0].localeCompare(b[0]));
  }, [graph.data]);

  useEffect(() => {
    if (!graph.data || asList) return undefined;
    let current = true;
    setLayoutError(null);
    layoutInWorker(nodes, edges).then(
      (l) => current && setLaid(l),
      (e) => current && setLayoutError(e),
    );
    return () => {
      current = false;
    };
  }, [nodes, edges, asList]);

  const pz = usePanZoom(svgRef, layerRef, laid);
  useEffect(() => {
    if (laid && !asList) pz.fit();
  }, [laid, asList]);

  const q = search.trim().toLowerCase();
  const matches = q ? nodes.filter((n) => n.id.toLowerCase().includes(q)) : [];
  const matchSet = new Set(matches.map((n) => n.id));

  const onWheel = (e) => {
    e.preventDefault();
    const r = svgRef.current.getBoundingClientRect();
    pz.zoomAt(e.deltaY < 0 ? 1.15 : 1 / 1.15, e.clientX - r.left, e.clientY - r.top);
  };
  useEffect(() => {
    const svg = svgRef.current;
    if (!svg) return undefined;
    svg.addEventListener('wheel', onWheel, { passive: false });
    return () => svg.removeEventListener('wheel', onWheel);
  });
  const onPointerDown = (e) => {
    if (e.button !== 0) return;
    drag.current = { x: e.clientX, y: e.clientY, id: e.pointerId };
    moved.current = false;
  };
  const onPointerMove = (e) => {
    const d = drag.current;
    if (!d) return;
    const dx = e.clientX - d.x;
    const dy = e.clientY - d.y;
    if (!moved.current && Math.abs(dx) + Math.abs(dy) > 4) {
      moved.current = true;
      svgRef.current.setPointerCapture(d.id);
    }
    if (moved.current) {
      pz.pan(dx, dy);
      drag.current = { ...d, x: e.clientX, y: e.clientY };
    }
  };
  const onPointerUp = () => {
    drag.current = null;
  };
  const onKeyDown = (e) => {
    const [cx, cy] = pz.center();
    const keys = {
      '+': () => pz.zoomAt(1.2, cx, cy),
      '=': () => pz.zoomAt(1.2, cx, cy),
      '-': () => pz.zoomAt(1 / 1.2, cx, cy),
      0: () => pz.fit(),
      ArrowLeft: () => pz.pan(60, 0),
      ArrowRight: () => pz.pan(-60, 0),
      ArrowUp: () => pz.pan(0, 60),
      ArrowDown: () => pz.pan(0, -60),
    };
    if (e.target === svgRef.current && keys[e.key]) {
      e.preventDefault();
      keys[e.key]();
    }
  };
  const open = (e, href) => {
    e.preventDefault();
    if (!moved.current) navigate(href);
  };
  const toggleKind = (k) => {
    const next = new Set(hidden);
    if (next.has(k)) next.delete(k);
    else next.add(k);
    setHidden(next);
  };
  const findFirst = (e) => {
    e.preventDefault();
    if (asList) document.querySelector('.graph-outline .outline-node.hit')?.scrollIntoView({ block: 'center' });
    else if (matches[0] && laid) pz.focusOn(laid.positions[matches[0].id]);
  };

  if (graph.error) return html`<${ErrorBox} error=${graph.error} onRetry=${graph.reload} />`;
  if (!graph.data) return html`<${Loading} label="Reading the namespace…" />`;
  const counts = { ok: 0, warning: 0, error: 0 };
  for (const n of graph.data.nodes) counts[n.health] = (counts[n.health] || 0) + 1;

  return html`<div class="graph">
    <div class="graph-toolbar">
      <form class="row" onSubmit=${findFirst} role="search">
        <input class="input input-filter" type="search" placeholder="Find a node…" aria-label="Find a node" value=${search}
          onInput=${(e) => setSearch(e.currentTarget.value)} />
        ${q && html`<span class="muted small" aria-live="polite">${matches.length} match${matches.length === 1 ? '' : 'es'}</span>`}
      </form>
      <span class="muted small">${graph.data.nodes.length} objects, ${graph.data.edges.length} relations ·
        <span class="text-ok">${counts.ok} ok</span>${counts.warning ? html`, <span class="text-warning">${counts.warning} warning</span>` : ''}${counts.error
          ? html`, <span class="text-error">${counts.error} failing</span>`
          : ''}</span>
      <span class="spacer"></span>
      <div class="row" role="group" aria-label="Show as">
        <button type="button" class="btn btn-small" aria-pressed=${!asList} onClick=${() => setAsList(false)}>Graph</button>
        <button type="button" class="btn btn-small" aria-pressed=${asList} onClick=${() => setAsList(true)}>List</button>
      </div>
      <div class="row" role="group" aria-label="Zoom">
        ${!asList && html`<button type="button" class="btn btn-small" aria-label="Zoom in" onClick=${() => pz.zoomAt(1.25, ...pz.center())}>+</button>
        <button type="button" class="btn btn-small" aria-label="Zoom out" onClick=${() => pz.zoomAt(0.8, ...pz.center())}>−</button>
        <button type="button" class="btn btn-small" onClick=${pz.fit}>Fit</button>`}
        <button type="button" class="btn btn-small" onClick=${graph.reload}>Refresh</button>
      </div>
    </div>
    <div class="graph-kinds" role="group" aria-label="Kinds shown">
      ${kinds.map(
        ([k, n]) => html`<button type="button" class=${`kind-chip cat-${categoryOf(k)}`} aria-pressed=${!hidden.has(k)} onClick=${() => toggleKind(k)}>
          ${k} <span class="muted">${n}</span>
        </button>`,
      )}
    </div>
    ${asList && html`<${GraphOutline} nodes=${nodes} edges=${edges} hrefFor=${hrefFor} matchSet=${matchSet} open=${open} />`}
    ${!asList && html`<${ErrorBox} error=${layoutError} />
    <div class="graph-canvas">
      ${!laid && html`<div class="graph-overlay"><${Loading} label=${`Laying out ${nodes.length} objects…`} /></div>`}
      <svg ref=${svgRef} class="graph-svg" tabindex="0" role="group"
        aria-label="Namespace graph: drag to pan, wheel or +/- to zoom, 0 to fit; Tab to the objects"
        onPointerDown=${onPointerDown} onPointerMove=${onPointerMove} onPointerUp=${onPointerUp} onPointerCancel=${onPointerUp} onKeyDown=${onKeyDown}>
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" class="edge-arrow" />
          </marker>
        </defs>
        <g ref=${layerRef}>
          ${laid &&
          html`<g class="edges">${laid.routes.map(
            (e) => html`<path key=${`${e.from}>${e.to}`} d=${pathOf(e.points)} class=${`edge rel-${e.relation.split(',')[0]}${q && !(matchSet.has(e.from) || matchSet.has(e.to)) ? ' dim' : ''}`}
              marker-end="url(#arrow)"><title>${e.from} ${e.relation} ${e.to}</title></path>`,
          )}</g>
          <g class="nodes">${nodes.map((n) => {
            const p = laid.positions[n.id];
            if (!p) return null;
            const href = hrefFor(pluralOf(n.kind), n.name);
            return html`<a key=${n.id} href=${href} class=${`node cat-${categoryOf(n.kind)} health-${n.health}${q ? (matchSet.has(n.id) ? ' hit' : ' dim') : ''}`}
              transform=${`translate(${p.x - NODE.width / 2},${p.y - NODE.height / 2})`} onClick=${(e) => open(e, href)}
              aria-label=${`${n.kind} ${n.name}, ${n.health}${n.status ? `, ${n.status}` : ''}`}>
              <title>${n.kind} ${n.name}${n.status ? ` — ${n.status}` : ''}</title>
              <rect class="node-box" width=${NODE.width} height=${NODE.height} rx="7" />
              <rect class="node-band" width="6" height=${NODE.height} rx="3" />
              <text class="node-kind" x="14" y="17">${n.kind}${n.status ? ` · ${short(n.status, 22)}` : ''}</text>
              <text class="node-name" x="14" y="35">${short(n.name, 31)}</text>
              ${HEALTH_MARK[n.health] && html`<text class="node-mark" x=${NODE.width - 16} y="18">${HEALTH_MARK[n.health]}</text>`}
            </a>`;
          })}</g>`}
        </g>
      </svg>
    </div>`}
    <p class="graph-legend muted small">
      <span class="legend cat-workload">workload</span><span class="legend cat-pod">pod</span><span class="legend cat-network">network</span>
      <span class="legend cat-config">config</span><span class="legend cat-storage">storage</span><span class="legend cat-scaling">autoscaling</span>
      · outline: <span class="text-ok">healthy</span>, <span class="text-warning">warning</span>, <span class="text-error">failing</span>
      · edges: owns, selects, mounts, env, routes, scales, runs-as
    </p>
  </div>`;
}

/** /graph: admin mode, a connection and namespace from the URL. */
export function GraphPage({ query }) {
  const { org, connections, access } = useApp();
  const connection = query.get('connection') || defaultKubeConnection(connections, access);
  const namespace = query.get('namespace') || 'default';
  const target = useMemo(() => ({ org, connection, namespace }), [org, connection, namespace]);
  return html`<div class="page page-wide">
    <${PageHeader} title="Namespace graph" subtitle="How a namespace's objects relate; click one to open it.">
      <${TargetPicker} connection=${connection} namespace=${namespace}
        onChange=${(t) => setQuery({ connection: t.connection, namespace: t.namespace }, { replace: false })} />
    <//>
    ${connection &&
    html`<${NamespaceGraph} target=${target}
      hrefFor=${(kind, name) => `/browse${api.qs({ connection, namespace, kind, name })}`} />`}
  </div>`;
}
