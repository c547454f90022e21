// Runner credentials as the gateway returns them, once: a download named credentials.json, a
// preview with the secrets masked, and the warning that they will not be shown again.

import { useState } from 'preact/hooks';
import { CopyButton, Notice, download, html } from '../ui.js';

/** The JSON with the private key and API key hidden, certificates cut to their first line. */
function masked(creds) {
  const mask = (k, v) => {
    if (typeof v !== 'string') return v;
    if (k === 'api_key' || k === 'key_pem') return '•••••• (hidden: tick "Show secrets")';
    if (k.endsWith('_pem')) return `${v.split('\n')[0]} …`;
    return v;
  };
  return JSON.stringify(creds, mask, 2);
}

const credentialsText = (creds) => `${JSON.stringify(creds, null, 2)}\n`;

export function CredentialsOnce({ creds, onDownloaded }) {
  const [reveal, setReveal] = useState(false);
  const [saved, setSaved] = useState(false);
  const save = () => {
    download('credentials.json', credentialsText(creds));
    setSaved(true);
    onDownloaded?.();
  };
  return html`<div class="stack">
    <${Notice} kind="warn">
      <strong>Shown once.</strong> These credentials hold the runner's private key and an API key. Cloud Ops keeps neither:
      download them now and store them as a secret. If they are lost, generate new ones.
    <//>
    <div class="row wrap">
      <button type="button" class="btn btn-primary" onClick=${save}>Download credentials.json</button>
      <${CopyButton} text=${() => credentialsText(creds)} label="Copy JSON" />
      <label class="check"><input type="checkbox" checked=${reveal} onChange=${(e) => setReveal(e.currentTarget.checked)} /> Show secrets</label>
      ${saved && html`<span class="text-ok" role="status">✓ Saved as credentials.json</span>`}
    </div>
    <pre class="codeblock-pre" aria-label="credentials.json">${reveal ? credentialsText(creds) : masked(creds)}</pre>
    <p class="muted small">Runner <strong>${creds.runner_name}</strong> · org ${creds.org} · generation ${creds.generation} · control
      plane${' '}<span class="mono">${creds.control_plane_endpoint}</span></p>
  </div>`;
}
