// Sign-in with an API key. The gateway answers with the session (and sets an HttpOnly cookie);
// the key itself is not kept anywhere in the browser.

import { useState } from 'preact/hooks';
import * as api from '../api.js';
import { ErrorBox, Notice, html } from '../ui.js';

export function SignIn({ onSignedIn, expired }) {
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);

  const submit = async (e) => {
    e.preventDefault();
    if (!key.trim()) {
      setError('Enter your API key.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await api.session.login(key.trim()));
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return html`<div class="center-page signin">
    <main class="card narrow-card">
      <div class="brand brand-large"><span class="brand-mark" aria-hidden="true"></span>Cloud Ops</div>
      <h1 class="signin-title">Sign in</h1>
      <p class="muted">Use an API key from <code>planton apikey create</code> (or the one <code>cloudops serve</code> wrote
        to${' '}<code>~/.planton/config.yaml</code>).</p>
      ${expired && html`<${Notice} kind="warn">Your session ended. Sign in again to continue.<//>`}
      <form class="stack" onSubmit=${submit}>
        <label class="field">
          <span>API key</span>
          <input class="input mono" type="password" name="api_key" autocomplete="current-password" autofocus
            value=${key} onInput=${(e) => setKey(e.currentTarget.value)} aria-invalid=${!!error} />
        </label>
        <${ErrorBox} error=${error} />
        <button type="submit" class="btn btn-primary btn-block" disabled=${busy}>${busy ? 'Signing in…' : 'Sign in'}</button>
      </form>
    </main>
  </div>`;
}
