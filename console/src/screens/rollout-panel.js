// A workload's replicas (± through the scale subresource) and its rollout history, with a
// rollback to any earlier revision: the `scale`, `rollout-history` and `rollout-undo` ops.

import { useState } from 'preact/hooks';
import * as api from '../api.js';
import { age, dateTime } from '../format.js';
import { Action, Confirm, ErrorBox, Loading, html, useAsync } from '../ui.js';

/** Kinds with a scale subresource that people scale, and kinds with a rollout history. */
export const SCALABLE = new Set(['Deployment', 'StatefulSet', 'ReplicaSet']);
export const ROLLABLE = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

/** "Replicas 2 [−] [+]": each click asks for one more or one less, at once. */
export function ScaleControl({ target, kind, name, replicas, reason, onScaled }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const to = async (n) => {
    setBusy(true);
    setError(null);
    try {
      await api.kube('scale', target, { kind, name, replicas: n });
      onScaled?.(n);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return html`<div class="scale" role="group" aria-label="Replicas">
    <span class="muted small">Replicas</span>
    <${Action} class="btn btn-small" reason=${reason || (replicas <= 0 ? 'already at 0 replicas' : '')} disabled=${busy}
      aria-label=${`Scale ${name} down to ${replicas - 1}`} onClick=${() => to(replicas - 1)}>−<//>
    <strong class="scale-count" aria-live="polite">${replicas}</strong>
    <${Action} class="btn btn-small" reason=${reason} disabled=${busy} aria-label=${`Scale ${name} up to ${replicas + 1}`}
      onClick=${() => to(replicas + 1)}>+<//>
    <${ErrorBox} title="Scale" error=${error} />
  </div>`;
}

/** The revisions, newest first, each with its images and a rollback to it. */
export function RolloutHistory({ target, kind, label, name, reason, onRolledBack }) {
  const history = useAsync(() => api.kube('rollout-history', target, { kind, name }).then((r) => r.result), [JSON.stringify(target), kind, name]);
  const [confirm, setConfirm] = useState(null);
  if (history.error) return html`<${ErrorBox} title="Rollout history" error=${history.error} onRetry=${history.reload} />`;
  if (!history.data) return html`<${Loading} />`;
  const revisions = [...history.data.revisions].reverse();
  const undo = async () => {
    const r = await api.kube('rollout-undo', target, { kind, name, to_revision: confirm.revision });
    setConfirm(null);
    history.reload();
    onRolledBack?.(r.result);
  };
  return html`<div class="stack">
    <div class="table-wrap"><table class="table">
      <caption class="sr-only">Revisions of ${label} ${name}</caption>
      <thead><tr><th scope="col" class="num">Revision</th><th scope="col">Images</th><th scope="col" class="prio-2">Change cause</th>
        <th scope="col" class="num prio-3">Age</th><th scope="col" class="col-sticky"><span class="sr-only">Actions</span></th></tr></thead>
      <tbody>${revisions.map(
        (r) => html`<tr key=${r.revision} data-revision=${r.revision}>
          <td class="num">${r.revision}${r.current ? html` <span class="badge badge-ok">current</span>` : ''}</td>
          <td class="mono small wrap-text">${r.images.join(', ')}</td>
          <td class="prio-2 wrap-text">${r.change_cause || html`<span class="muted">—</span>`}</td>
          <td class="num prio-3" title=${dateTime(r.created)}>${r.created ? age(r.created) : ''}</td>
          <td class="actions col-sticky">${!r.current &&
          html`<${Action} class="btn btn-small" reason=${reason} onClick=${() => setConfirm(r)}>Roll back to ${r.revision}<//>`}</td>
        </tr>`,
      )}</tbody>
    </table></div>
    ${!revisions.length && html`<p class="empty">No revisions recorded.</p>`}
    ${confirm &&
    html`<${Confirm} title=${`Roll ${label} ${name} back to revision ${confirm.revision}?`} verb="Roll back" busy="Rolling back…"
      onConfirm=${undo} onClose=${() => setConfirm(null)}>
      <p>Its pods are replaced by pods of revision ${confirm.revision}'s template (<span class="mono">${confirm.images.join(', ')}</span>),
        which becomes the newest revision.</p>
    <//>`}
  </div>`;
}
