// Sign-in through the company's identity provider (when the control plane offers it: the
// browser goes there and comes back signed in, or with `?sign_in_error=`), or with an API key.
// The gateway answers with the session (and sets an HttpOnly cookie); no key is kept in the
// browser.

import { useEffect, useState } from 'preact/hooks';
import * as api from '../api.js';
import { ErrorBox, Notice, html } from '../ui.js';

export function SignIn({ onSignedIn, expired }) {
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [offer, setOffer] = useState(null);
  const [ssoError] = useState(() => new URLSearchParams(location.search).get('sign_in_error'));

  useEffect(() => {
    api.session.oidc().then(setOffer, () => setOffer(null));
    if (ssoError) history.replaceState(null, '', location.pathname);
  }, []);

  const sso = () => {
    setBusy(true);
    const here = location.pathname === '/' ? '/' : location.pathname + location.search;
    location.assign(`${offer.login_url}?return_to=${encodeURIComponent(here)}`);
  };

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
      ${expired && !ssoError && html`<${Notice} kind="warn">Your session ended. Sign in again to continue.<//>`}
      ${ssoError && html`<${ErrorBox} title="Single sign-on did not finish" error=${ssoError} />`}
      ${offer?.enabled && html`<div class="stack">
        <button type="button" class="btn btn-primary btn-block" onClick=${sso} disabled=${busy}>Sign in with your identity provider</button>
        <p class="muted small">Through ${offer.issuer}.</p>
        <p class="muted">Or with an API key:</p>
      </div>`}
      <p class="muted">Use an API key from <code>planton apikey create</code> (or the one <code>cloudops serve</code> wrote
        to${' '}<code>~/.planton/config.yaml</code>).</p>
      <form class="stack" onSubmit=${submit}>
        <label class="field">
          <span>API key</span>
          <input class="input mono" type="password" name="api_key" autocomplete="current-password" autofocus
            value=${key} onInput=${(e) => setKey(e.currentTarget.value)} aria-invalid=${!!error} />
        </label>
        <${ErrorBox} error=${error} />
        <button type="submit" class=${offer?.enabled ? 'btn btn-block' : 'btn btn-primary btn-block'} disabled=${busy}>${busy ? 'Signing in…' : 'Sign in'}</button>
      </form>
    </main>
  </div>`;
}
