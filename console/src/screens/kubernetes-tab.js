// The resource's Kubernetes tab: its workload, its pods live (rows keyed by pod and updated in
// place as watch events arrive: status, ready, restarts, containers, age), and the events of
// the workload, its ReplicaSets and pods.

import { useEffect, useMemo, useState } from 'preact/hooks';
import * as api from '../api.js';
import { useApp } from '../context.js';
import { age } from '../format.js';
import { eventAbout, eventTime, pluralOf } from '../kube.js';
import { EventsList } from './events.js';
import { PodsTable } from './pods-table.js';
import { Link } from '../router.js';
import { useWatch } from '../watch.js';
import { Dialog, Dot, ErrorBox, Lazy, Loading, html, useAsync } from '../ui.js';

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

const parsedTimes = new WeakMap();
/** An event's time in ms, parsed once per event object. */
function timeOf(e) {
  let t = parsedTimes.get(e);
  if (t === undefined) {
    t = Date.parse(eventTime(e)) || 0;
    parsedTimes.set(e, t);
  }
  return t;
}

export function KubernetesTab({ target, workload, pods }) {
  const { access } = useApp();
  const operatorReason = access.need('operator', target);
  const [openPod, setOpenPod] = useState('');
  const [settled, setSettled] = useState(0);
  // api.qs() brings its own '?'.
  const base = location.pathname;

  // The workload's status follows its pods: re-read it shortly after the pods settle.
  useEffect(() => {
    const t = setTimeout(() => setSettled((n) => n + 1), 1500);
    return () => clearTimeout(t);
  }, [pods.items]);

  const wl = useAsync(
    () => (workload.kind ? api.kube('describe', target, { kind: pluralOf(workload.kind), name: workload.name }).then((r) => r.result) : null),
    [target.resource, settled],
  );
  // The namespace's events, live; only those about the workload and its pods are shown. They
  // wait for the pods' first rows: in a large namespace, listing both at once slows down the
  // list a user looks at first.
  const podsShown = pods.listed || pods.items.length > 0 || pods.status === 'failed';
  const events = useWatch(podsShown ? target : null, 'events');

  // What the events may be about: the workload, its pods and their owners (read again when a
  // pod comes or goes, not at each change of a pod's state: a namespace of 5,000 pods changes
  // many times a second).
  const names = useMemo(() => {
    const out = new Set();
    if (workload.kind) out.add(`${workload.kind}/${workload.name}`);
    for (const p of pods.items) {
      out.add(`Pod/${p.metadata.name}`);
      for (const o of p.metadata.ownerReferences || []) out.add(`${o.kind}/${o.name}`);
    }
    return out;
  }, [pods.members, workload.kind, workload.name]);
  // The newest 100 of them. A namespace can hold thousands of events, and this runs at every
  // batch of changes: each event's time is parsed once (per object), not at every comparison.
  const related = useMemo(() => {
    const seen = new Set();
    const out = [];
    for (const e of [...events.items, ...(wl.data?.events || [])]) {
      const id = e.metadata?.uid || e.metadata?.name;
      if (seen.has(id) || !eventAbout(e, names)) continue;
      seen.add(id);
      out.push(e);
    }
    return out.sort((a, b) => timeOf(b) - timeOf(a)).slice(0, 100);
  }, [events.items, wl.data, names]);

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
      ${pods.status === 'failed' ? '' : !pods.listed && !pods.items.length ? html`<${Loading} label="Watching pods…" />` : html`<${PodsTable} pods=${pods.items} hrefs=${hrefs} listing=${pods.listing}
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
