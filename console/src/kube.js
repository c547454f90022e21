// Kubernetes objects as an operator reads them: kubectl's pod STATUS, READY and RESTARTS, health
// colours, and `kubectl describe`'s layout (as the CLI prints it, services/cli/src/kubectl.rs).

import { age } from './format.js';

/** The catalog kind's workload: KubernetesDeployment → Deployment; a namespace has none. */
export function workloadKind(catalogKind) {
  const k = (catalogKind || '').replace(/^Kubernetes/, '');
  return k && k !== 'Namespace' ? k : '';
}

/** Plurals of the kinds the namespace graph and the catalog use (as discovery names them). */
const PLURALS = {
  Deployment: 'deployments',
  ReplicaSet: 'replicasets',
  StatefulSet: 'statefulsets',
  DaemonSet: 'daemonsets',
  CronJob: 'cronjobs',
  Job: 'jobs',
  Pod: 'pods',
  Service: 'services',
  Ingress: 'ingresses',
  HorizontalPodAutoscaler: 'horizontalpodautoscalers',
  ConfigMap: 'configmaps',
  Secret: 'secrets',
  PersistentVolumeClaim: 'persistentvolumeclaims',
  PersistentVolume: 'persistentvolumes',
  ServiceAccount: 'serviceaccounts',
  Namespace: 'namespaces',
  Event: 'events',
};

export const pluralOf = (kind) => PLURALS[kind] || `${kind.toLowerCase()}s`;

/** Kinds whose pods a rollout restart replaces. */
export const RESTARTABLE = new Set(['deployments', 'statefulsets', 'daemonsets']);

const BAD = /BackOff|Err|Error|OOMKilled|Failed|Invalid|CreateContainerConfigError/;

/** kubectl's STATUS column for a pod. */
export function podStatus(p) {
  if (p.metadata?.deletionTimestamp) return 'Terminating';
  const st = p.status || {};
  let reason = st.reason || st.phase || 'Unknown';
  const inits = st.initContainerStatuses || [];
  for (let i = 0; i < inits.length; i++) {
    const c = inits[i];
    if (c.state?.terminated && c.state.terminated.exitCode === 0) continue;
    if (c.state?.terminated) return `Init:${c.state.terminated.reason || `ExitCode:${c.state.terminated.exitCode}`}`;
    if (c.state?.waiting?.reason && c.state.waiting.reason !== 'PodInitializing') return `Init:${c.state.waiting.reason}`;
    return `Init:${i}/${inits.length}`;
  }
  let running = false;
  for (const c of [...(st.containerStatuses || [])].reverse()) {
    if (c.state?.waiting?.reason) reason = c.state.waiting.reason;
    else if (c.state?.terminated) reason = c.state.terminated.reason || `ExitCode:${c.state.terminated.exitCode}`;
    else if (c.state?.running && c.ready) running = true;
  }
  if (reason === 'Completed' && running) reason = 'Running';
  return reason;
}

/** ok | warning | error, for colour. */
export function podHealth(p, status) {
  const s = status ?? podStatus(p);
  if (BAD.test(s)) return 'error';
  if (s === 'Succeeded' || s === 'Completed') return 'ok';
  const [ready, total] = podReady(p);
  if (s === 'Running' && ready === total && total > 0) return 'ok';
  return 'warning';
}

/** [ready, total] containers. */
export function podReady(p) {
  const total = (p.spec?.containers || []).length;
  const ready = (p.status?.containerStatuses || []).filter((c) => c.ready).length;
  return [ready, total];
}

/** Restarts and when the last one ended: "4 (3m ago)". */
export function podRestarts(p, now) {
  let n = 0;
  let last = 0;
  for (const c of p.status?.containerStatuses || []) {
    n += c.restartCount || 0;
    const t = Date.parse(c.lastState?.terminated?.finishedAt || '');
    if (!Number.isNaN(t) && t > last) last = t;
  }
  return { count: n, text: n && last ? `${n} (${age(last, now)} ago)` : String(n) };
}

/** One container's state for a chip: {name, state, health, detail}. */
export function containerStates(p) {
  const statuses = new Map((p.status?.containerStatuses || []).map((c) => [c.name, c]));
  return (p.spec?.containers || []).map((spec) => {
    const c = statuses.get(spec.name);
    const [state, info] = c?.state ? Object.entries(c.state)[0] || ['unknown', {}] : ['unknown', {}];
    const reason = info?.reason || '';
    const health = state === 'running' && c.ready ? 'ok' : BAD.test(reason) || state === 'terminated' ? 'error' : 'warning';
    const detail = [
      `${spec.name}: ${state}${reason ? ` (${reason})` : ''}`,
      c ? `ready: ${c.ready ? 'yes' : 'no'}, restarts: ${c.restartCount || 0}` : 'no status yet',
      `image: ${spec.image}`,
      info?.message || '',
    ]
      .filter(Boolean)
      .join('\n');
    return { name: spec.name, state: reason || state, health, detail };
  });
}

/** An object without the noise kubectl also hides (managedFields). */
export function forDisplay(o) {
  if (!o?.metadata?.managedFields) return o;
  const { managedFields: _, ...metadata } = o.metadata;
  return { ...o, metadata };
}

/** Does this event concern one of the named objects ("Kind/name")? */
export function eventAbout(e, names) {
  return names.has(`${e.involvedObject?.kind}/${e.involvedObject?.name}`);
}

export function eventTime(e) {
  return e.lastTimestamp || e.eventTime || e.firstTimestamp || e.metadata?.creationTimestamp || '';
}

// ----------------------------------------------------------------------------- describe

const s = (v) => (v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v));
const cap = (t) => t.charAt(0).toUpperCase() + t.slice(1);

// Where describe's header values start: past `CreationTimestamp:` and two spaces.
const WIDTH = 20;

/** A timestamp as kubectl describe prints it: "Mon, 30 Nov 2026 08:05:09 +0000". */
export function describeTime(t) {
  const ms = Date.parse(t || '');
  return Number.isNaN(ms) ? s(t) : new Date(ms).toUTCString().replace(/GMT$/, '+0000');
}

function pairs(m) {
  const entries = Object.entries(m || {});
  if (!entries.length) return '<none>';
  return entries.map(([k, v]) => `${k}=${s(v)}`).join(`\n${''.padEnd(WIDTH)}`);
}

function tab(rows) {
  const widths = [];
  for (const r of rows) r.forEach((c, i) => i + 1 < r.length && (widths[i] = Math.max(widths[i] || 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i + 1 < r.length ? c.padEnd(Math.max((widths[i] || 0) + 3, 6)) : c)).join('')).join('\n');
}

/** `kubectl describe` for the describe op's result ({object, events}), with `yamlOf` for sections. */
export function describeText(o, events, yamlOf) {
  const md = o.metadata || {};
  const out = [];
  const field = (k, v) => out.push(`${`${k}:`.padEnd(WIDTH)}${v}`);
  field('Name', s(md.name));
  if (md.namespace) field('Namespace', md.namespace);
  field('Labels', pairs(md.labels));
  field('Annotations', pairs(md.annotations));
  field('CreationTimestamp', describeTime(md.creationTimestamp));
  const owner = (md.ownerReferences || [])[0];
  if (owner) field('Controlled By', `${owner.kind}/${owner.name}`);
  const kind = o.kind || '';
  if (kind === 'Pod') {
    field('Node', s(o.spec?.nodeName));
    field('Start Time', describeTime(o.status?.startTime));
    field('Status', s(o.status?.phase));
    field('IP', s(o.status?.podIP));
    out.push('Containers:');
    const statuses = o.status?.containerStatuses || [];
    for (const c of o.spec?.containers || []) {
      const st = statuses.find((x) => x.name === c.name) || {};
      out.push(`  ${c.name}:`);
      out.push(`    Image:          ${s(c.image)}`);
      const [state, info] = Object.entries(st.state || {})[0] || [];
      out.push(`    State:          ${state ? cap(state) : '<unknown>'}${info?.reason ? `\n      Reason:       ${info.reason}` : ''}`);
      const [last, linfo] = Object.entries(st.lastState || {})[0] || [];
      if (last) out.push(`    Last State:     ${cap(last)}\n      Reason:       ${s(linfo?.reason)}\n      Exit Code:    ${s(linfo?.exitCode)}`);
      out.push(`    Ready:          ${st.ready ? 'True' : 'False'}`);
      out.push(`    Restart Count:  ${st.restartCount || 0}`);
    }
  } else if (['Deployment', 'StatefulSet', 'ReplicaSet', 'DaemonSet'].includes(kind)) {
    field('Selector', Object.entries(o.spec?.selector?.matchLabels || {}).map(([k, v]) => `${k}=${v}`).join(','));
    const st = o.status || {};
    const unavailable = Math.max(0, (st.replicas || 0) - (st.availableReplicas || 0));
    field('Replicas', `${o.spec?.replicas ?? 0} desired | ${st.updatedReplicas || 0} updated | ${st.replicas || 0} total | ${st.availableReplicas || 0} available | ${unavailable} unavailable`);
    out.push('Pod Template:', '  Containers:');
    for (const c of o.spec?.template?.spec?.containers || []) out.push(`   ${c.name}:`, `    Image:  ${s(c.image)}`);
  } else {
    for (const section of ['spec', 'data', 'status']) {
      if (o[section] == null) continue;
      out.push(`${cap(section)}:`);
      for (const l of yamlOf(o[section]).trimEnd().split('\n')) out.push(`  ${l}`);
    }
  }
  const evs = events || [];
  if (!evs.length) out.push('Events:          <none>');
  else {
    out.push('Events:');
    const rows = [['  Type', 'Reason', 'Age', 'From', 'Message'], ['  ----', '------', '----', '----', '-------']];
    for (const e of evs) rows.push([`  ${s(e.type)}`, s(e.reason), age(eventTime(e)), s(e.source?.component), s(e.message)]);
    out.push(tab(rows));
  }
  return out.join('\n');
}
