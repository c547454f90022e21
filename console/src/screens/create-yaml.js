// Create (or update) objects from YAML, as `kubectl apply -f` does: one or more documents,
// each applied server-side in order; the first refusal stops the rest and says which object
// it was, so that nothing is applied silently out of order. Loaded on first use (the YAML parser).

import { useState } from 'preact/hooks';
import { parseAllDocuments } from 'yaml';
import * as api from '../api.js';
import { Dialog, ErrorBox, html } from '../ui.js';
import { YamlEditor } from '../yaml-editor.js';

const EXAMPLE = `apiVersion: v1
kind: ConfigMap
metadata:
  name: example
data:
  greeting: hello
`;

/** The documents of `text` as objects, or {error, line} for the first that is not one. */
export function parseManifests(text) {
  const objects = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors?.length) {
      const e = doc.errors[0];
      const line = e.linePos?.[0]?.line;
      return { error: `Invalid YAML${line ? ` at line ${line}` : ''}: ${e.message.split('\n')[0]}`, line };
    }
    const o = doc.toJS();
    if (o === null || o === undefined) continue;
    if (typeof o !== 'object' || Array.isArray(o)) return { error: 'Each document must be one Kubernetes object (a mapping).' };
    for (const field of ['apiVersion', 'kind']) {
      if (!o[field]) return { error: `A document has no ${field}: every object needs apiVersion, kind and metadata.name.` };
    }
    if (!o.metadata?.name) return { error: `The ${o.kind} has no metadata.name.` };
    objects.push(o);
  }
  if (!objects.length) return { error: 'There is nothing to apply: write at least one object.' };
  return { objects };
}

export function CreateFromYaml({ target, namespace, onClose, onApplied }) {
  const [text, setText] = useState(EXAMPLE);
  const [problem, setProblem] = useState(null);
  const [done, setDone] = useState([]);
  const [busy, setBusy] = useState(false);
  const apply = async () => {
    const parsed = parseManifests(text);
    if (parsed.error) return setProblem(parsed);
    setBusy(true);
    setProblem(null);
    const applied = [];
    for (const o of parsed.objects) {
      const what = `${o.kind} ${o.metadata.name}`;
      try {
        await api.kube('apply', target, { object: o });
        applied.push(what);
      } catch (error) {
        setDone(applied);
        setProblem({ error, what, rest: parsed.objects.length - applied.length - 1 });
        setBusy(false);
        return;
      }
    }
    setDone(applied);
    setBusy(false);
    onApplied?.(applied);
  };
  return html`<${Dialog} title="Create from YAML" wide onClose=${onClose}
    footer=${html`<button type="button" class="btn" onClick=${onClose}>${done.length ? 'Close' : 'Cancel'}</button>
      <button type="button" class="btn btn-primary" disabled=${busy} onClick=${apply}>${busy ? 'Applying…' : 'Apply'}</button>`}>
    <p class="muted small">Applied server-side, as <span class="mono">kubectl apply --server-side</span>: objects that exist are updated.
      ${namespace ? html` Objects without a namespace go to <strong class="mono">${namespace}</strong>.` : ''}</p>
    ${problem?.what
      ? html`<${ErrorBox} title=${`${problem.what} was not applied${problem.rest ? ` (nor the ${problem.rest} after it)` : ''}`} error=${problem.error} />`
      : problem && html`<div class="alert alert-error" role="alert"><span class="alert-text">${problem.error}</span></div>`}
    ${done.length > 0 && html`<div class="alert alert-ok" role="status">Applied: ${done.join(', ')}.</div>`}
    <${YamlEditor} value=${text} onInput=${setText} label="Objects to apply (YAML, documents separated by ---)" invalidLine=${problem?.line} />
  <//>`;
}
