// One Kubernetes object: describe (kubectl's layout, with its events), YAML with highlighting,
// YAML edit (a replace carrying the resourceVersion it was read at, so a concurrent change is a
// conflict, never silently overwritten), rollout restart, and delete after typing the name.
// A pod also has its logs (the previous instance when a container restarted), a shell, and its
// events, wherever it is opened. Loaded on first use: it brings the YAML parser.

import { useState } from 'preact/hooks';
import { YAMLParseError, parse, stringify } from 'yaml';
import * as api from '../api.js';
import { RESTARTABLE, describeText, eventTime, forDisplay } from '../kube.js';
import { objectCommands } from '../planton.js';
import { Action, Confirm, CopyButton, ErrorBox, Lazy, Loading, Notice, Tabs, TypeToConfirm, html, useAsync } from '../ui.js';
import { YamlEditor, YamlView } from '../yaml-editor.js';
import { EventsList } from './events.js';
import { LogsPanel } from './logs.js';
import { ROLLABLE, RolloutHistory, SCALABLE, ScaleControl } from './rollout-panel.js';

const newestFirst = (events) => [...(events || [])].sort((a, b) => Date.parse(eventTime(b)) - Date.parse(eventTime(a)));

/** The views of one object; a pod's also its logs and a shell. */
export function objectViews(kind, editing) {
  const views = [
    { id: 'describe', label: 'Describe' },
    { id: 'yaml', label: editing ? 'YAML (editing)' : 'YAML' },
    { id: 'events', label: 'Events' },
  ];
  if (kind === 'Pod') views.splice(2, 0, { id: 'logs', label: 'Logs' }, { id: 'shell', label: 'Shell' });
  if (ROLLABLE.has(kind)) views.push({ id: 'history', label: 'History' });
  return views;
}

const toYaml = (o) => stringify(o, { lineWidth: 0, aliasDuplicateObjects: false });

/** What the user can do about a failed save. */
function saveProblem(err, object) {
  const what = `${object.kind} ${object.metadata?.name}`;
  if (err.conflict) {
    return {
      conflict: true,
      text: `${what} was changed since you opened it; reload to get the latest and re-apply your change. Nothing was saved.`,
      detail: err.message,
    };
  }
  if (err.status === 400 || err.status === 422 || err.upstreamStatus === 422 || err.upstreamStatus === 400) {
    return { text: `The Kubernetes API refused the change: ${err.message}. Nothing was saved.` };
  }
  return { text: err.message };
}

/** Parses and checks an edit; answers {object} or {error, line}. */
function checkEdit(text, original) {
  let object;
  try {
    object = parse(text);
  } catch (e) {
    if (e instanceof YAMLParseError) {
      const line = e.linePos?.[0]?.line;
      return { error: `Invalid YAML${line ? ` at line ${line}` : ''}: ${e.message.split('\n')[0]}`, line };
    }
    return { error: `Invalid YAML: ${e.message}` };
  }
  if (!object || typeof object !== 'object' || Array.isArray(object)) return { error: 'The YAML must be one Kubernetes object (a mapping).' };
  for (const [field, was] of [
    ['apiVersion', original.apiVersion],
    ['kind', original.kind],
  ]) {
    if (object[field] !== was) return { error: `${field} cannot change in an edit (it is ${JSON.stringify(was)}).` };
  }
  if (object.metadata?.name !== original.metadata.name) {
    return { error: `metadata.name cannot change in an edit (it is ${JSON.stringify(original.metadata.name)}); create a new object instead.` };
  }
  return { object };
}

/**
 * @param view, onView  the view shown, when the caller keeps it (in the URL); else kept here
 */
export function ObjectPanel({ target, kind, name, onDeleted, onChanged, operatorReason, view: wantedView, onView }) {
  const [ownView, setOwnView] = useState(wantedView || 'describe');
  const view = onView ? wantedView || 'describe' : ownView;
  const setView = onView || setOwnView;
  const [editText, setEditText] = useState(null);
  const [problem, setProblem] = useState(null);
  const [saving, setSaving] = useState(false);
  const [notice, setNotice] = useState('');
  const [confirm, setConfirm] = useState(null);
  const described = useAsync(() => api.kube('describe', target, { kind, name }).then((r) => r.result), [JSON.stringify(target), kind, name]);

  const object = described.data?.object;
  const display = object && forDisplay(object);
  const restartable = RESTARTABLE.has(kind) || (object && RESTARTABLE.has(`${object.kind.toLowerCase()}s`));

  const startEdit = () => {
    setProblem(null);
    setNotice('');
    setEditText(toYaml(display));
    setView('yaml');
  };
  const cancelEdit = () => {
    setEditText(null);
    setProblem(null);
  };
  const reloadLatest = () => {
    cancelEdit();
    described.reload();
  };
  const save = async () => {
    const checked = checkEdit(editText, object);
    if (checked.error) {
      setProblem({ text: checked.error, line: checked.line });
      return;
    }
    setSaving(true);
    setProblem(null);
    try {
      await api.kube('edit', target, { object: checked.object });
      setEditText(null);
      setNotice(`${object.kind} ${name} saved.`);
      described.reload();
      onChanged?.();
    } catch (err) {
      setProblem(saveProblem(err, object));
    } finally {
      setSaving(false);
    }
  };

  const askDelete = async () => {
    setNotice('');
    try {
      const plan = await api.kube('delete', target, { kind, name, dry_run: true });
      setConfirm({ type: 'delete', plan: plan.result });
    } catch (err) {
      setProblem({ text: `Cannot plan the delete: ${err.message}` });
    }
  };
  const doDelete = async () => {
    await api.kube('delete', target, { kind, name });
    onDeleted?.(`${object?.kind || kind} ${name} deleted.`);
  };
  const doRestart = async () => {
    await api.kube('restart', target, { kind, name });
    setConfirm(null);
    setNotice(`Rollout restart of ${object.kind} ${name} started: its pods are replaced one by one.`);
    described.reload();
    onChanged?.();
  };

  if (described.error && !object) return html`<${ErrorBox} error=${described.error} onRetry=${described.reload} />`;
  if (!object) return html`<${Loading} />`;

  const tabs = objectViews(object.kind, editText !== null);
  const shown = tabs.some((t) => t.id === view) ? view : 'describe';
  const pods = object.kind === 'Pod' ? [object] : [];
  return html`<div class="object-panel">
    <div class="object-head">
      <h2><span class="badge badge-kind">${object.kind}</span> <span class="mono">${name}</span></h2>
      <div class="row wrap">
        <button type="button" class="btn btn-small" onClick=${described.reload}>Refresh</button>
        ${editText === null &&
        html`<${Action} class="btn btn-small" reason=${operatorReason} onClick=${startEdit}>Edit YAML<//>`}
        ${restartable &&
        html`<${Action} class="btn btn-small" reason=${operatorReason} onClick=${() => setConfirm({ type: 'restart' })}>Rollout restart<//>`}
        <${Action} class="btn btn-small btn-danger-outline" reason=${operatorReason} onClick=${askDelete}>Delete<//>
        <${PlantonMenu} commands=${objectCommands(target, kind, name, {
          restartable,
          pod: object.kind === 'Pod',
          scalable: SCALABLE.has(object.kind) ? object.spec?.replicas ?? 1 : null,
          rollable: ROLLABLE.has(object.kind),
        })} />
      </div>
    </div>
    ${SCALABLE.has(object.kind) &&
    html`<${ScaleControl} target=${target} kind=${kind} name=${name} replicas=${object.spec?.replicas ?? 1} reason=${operatorReason}
      onScaled=${(n) => {
        setNotice(`${object.kind} ${name} scaled to ${n} replica${n === 1 ? '' : 's'}.`);
        described.reload();
        onChanged?.();
      }} />`}
    ${notice && html`<${Notice} kind="ok">${notice}<//>`}
    <${ErrorBox} error=${described.error} onRetry=${described.reload} />
    <${Tabs} tabs=${tabs} active=${shown} onSelect=${setView} label="Object views" />
    ${shown === 'describe' && html`<pre class="describe" tabindex="0" aria-label="Describe">${describeText(object, described.data.events, toYaml)}</pre>`}
    ${shown === 'logs' && html`<${LogsPanel} key=${name} target=${target} pods=${pods} pod=${name} merged=${false} />`}
    ${shown === 'shell' &&
    html`<${Lazy} label="Loading the terminal…" load=${() => import('./terminal.js')}
      render=${(m) => html`<${m.TerminalPanel} key=${name} target=${target} pods=${pods} pod=${name} />`} />`}
    ${shown === 'history' &&
    html`<${RolloutHistory} target=${target} kind=${kind} label=${object.kind} name=${name} reason=${operatorReason}
      onRolledBack=${(r) => {
        setNotice(`${object.kind} ${name} rolled back to revision ${r.revision}: its pods are being replaced.`);
        described.reload();
        onChanged?.();
      }} />`}
    ${shown === 'events' &&
    html`<div class="row"><span class="spacer"></span><button type="button" class="btn btn-small" onClick=${described.reload}>Refresh events</button></div>
      <${EventsList} events=${newestFirst(described.data.events)} empty=${`No events for ${object.kind} ${name}.`} />`}
    ${shown === 'yaml' && editText === null && html`<${YamlView} text=${toYaml(display)} label=${`${object.kind} ${name} as YAML`} />`}
    ${shown === 'yaml' &&
    editText !== null &&
    html`<div class="stack">
      ${problem &&
      html`<div class="alert alert-error" role="alert">
        <div>
          <strong>${problem.conflict ? 'Conflict: ' : 'Not saved: '}</strong><span class="alert-text">${problem.text}</span>
          ${problem.detail && html`<div class="muted small">${problem.detail}</div>`}
        </div>
        ${problem.conflict && html`<button type="button" class="btn btn-small" onClick=${reloadLatest}>Reload latest (discards your edit)</button>`}
      </div>`}
      <${YamlEditor} value=${editText} onInput=${setEditText} label=${`Edit ${object.kind} ${name}`} invalidLine=${problem?.line} />
      <div class="row end">
        <button type="button" class="btn" onClick=${cancelEdit}>Cancel</button>
        <button type="button" class="btn btn-primary" disabled=${saving} onClick=${save}>${saving ? 'Saving…' : 'Save'}</button>
      </div>
    </div>`}
    ${confirm?.type === 'delete' &&
    html`<${TypeToConfirm} title=${`Delete ${object.kind} ${name}?`} name=${name} onConfirm=${doDelete} onClose=${() => setConfirm(null)}>
      <${DeletePlan} plan=${confirm.plan} />
    <//>`}
    ${confirm?.type === 'restart' &&
    html`<${Confirm} title=${`Restart ${object.kind} ${name}?`} verb="Rollout restart" busy="Restarting…" onConfirm=${doRestart}
      onClose=${() => setConfirm(null)}>
      <p>New pods replace the current ones with the same spec (the <code>kubectl.kubernetes.io/restartedAt</code> annotation).</p>
    <//>`}
  </div>`;
}

function DeletePlan({ plan }) {
  const deps = plan.dependents || [];
  const ns = plan.object?.namespace ? ` in namespace ${plan.object.namespace}` : '';
  return html`<div class="stack-tight">
    <p>This deletes <strong>${plan.object?.kind} ${plan.object?.name}</strong>${ns}${deps.length
      ? html` and <strong>${deps.length}</strong> dependent${deps.length === 1 ? '' : 's'} (${(plan.propagation || 'Background').toLowerCase()} cascade):`
      : '.'}</p>
    ${deps.length > 0 &&
    html`<ul class="dep-list">${deps.map((d) => html`<li class="mono">${d.kind.toLowerCase()}/${d.name}</li>`)}</ul>`}
  </div>`;
}

/** Every action of the panel as the `planton` command that does the same, to copy. */
function PlantonMenu({ commands }) {
  return html`<details class="menu">
    <summary class="btn btn-small">Copy as planton</summary>
    <ul class="menu-list" aria-label="planton commands">
      ${commands.map(
        (c) => html`<li key=${c.label}>
          <span class="menu-label">${c.label}</span><code class="mono small">${c.command}</code><${CopyButton} text=${c.command} />
        </li>`,
      )}
    </ul>
  </details>`;
}
