// The Deploy Runner wizard: name → credentials (generated, downloaded as credentials.json,
// shown once) → target (Kubernetes, ECS, Cloud Run, Container Apps) → that target's guide with
// the commands filled in, and the runner's connection state as it comes up.

import { useEffect, useMemo, useState } from 'preact/hooks';
import * as api from '../api.js';
import { useApp } from '../context.js';
import { SLUG } from '../format.js';
import { Link, navigate } from '../router.js';
import { CodeBlock, ErrorBox, Field, Notice, PageHeader, html, useAsync } from '../ui.js';
import { RunnerState } from './connections.js';
import { CredentialsOnce } from './credentials.js';
import { CREDENTIALS_FILE, TARGETS, guide, nextSteps } from './deploy-guides.js';

const STEPS = ['Name', 'Credentials', 'Target', 'Deploy'];

function Stepper({ step }) {
  return html`<ol class="stepper" aria-label="Steps">
    ${STEPS.map(
      (s, i) => html`<li class=${i < step ? 'done' : i === step ? 'current' : ''} aria-current=${i === step ? 'step' : undefined}>
        <span class="step-num" aria-hidden="true">${i < step ? '✓' : i + 1}</span>${s}
      </li>`,
    )}
  </ol>`;
}

function NameStep({ org, name, setName, onNext }) {
  const runners = useAsync(() => api.get(api.orgPath(org, 'runners')).then((r) => r.items), [org]);
  const [touched, setTouched] = useState(false);
  const valid = SLUG.test(name);
  const exists = runners.data?.some((r) => r.name === name);
  const submit = (e) => {
    e.preventDefault();
    setTouched(true);
    if (valid) onNext();
  };
  return html`<form class="stack narrow-form" onSubmit=${submit}>
    <${Field} label="Runner name" hint="Lowercase letters, digits and dashes, e.g. prod-runner. Connections name their runner by it.">
      <input class="input mono" value=${name} autofocus aria-invalid=${touched && !valid}
        onInput=${(e) => setName(e.currentTarget.value.trim())} onBlur=${() => setTouched(true)} />
    <//>
    ${touched && !valid && html`<p class="field-error" role="alert">Use 1–63 lowercase letters, digits and dashes, starting and ending with a letter or digit.</p>`}
    ${exists && html`<${Notice} kind="warn">Runner <strong>${name}</strong> exists: new credentials will be minted for it; its earlier keys stay valid.<//>`}
    <div class="row end"><button type="submit" class="btn btn-primary">Next: credentials</button></div>
  </form>`;
}

function CredentialsStep({ org, name, creds, setCreds, onBack, onNext }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [stored, setStored] = useState(false);
  const generate = async () => {
    setBusy(true);
    setError(null);
    try {
      setCreds(await api.post(api.orgPath(org, `runners/${api.enc(name)}/credentials`)));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return html`<div class="stack">
    ${!creds
      ? html`<p>Generating registers <strong class="mono">${name}</strong> (and its service account) and mints its certificate and API key,
          as one JSON file: <span class="mono">${CREDENTIALS_FILE}</span>.</p>
        <div class="row"><button type="button" class="btn btn-primary" disabled=${busy} onClick=${generate}>${busy ? 'Generating…' : 'Generate credentials'}</button></div>`
      : html`<${CredentialsOnce} creds=${creds} onDownloaded=${() => setStored(true)} />
        <label class="check"><input type="checkbox" checked=${stored} onChange=${(e) => setStored(e.currentTarget.checked)} /> I have stored ${CREDENTIALS_FILE}</label>`}
    <${ErrorBox} error=${error} />
    <div class="row end">
      <button type="button" class="btn" onClick=${onBack} disabled=${!!creds}>Back</button>
      <button type="button" class="btn btn-primary" disabled=${!creds || !stored} onClick=${onNext}>Next: target</button>
    </div>
  </div>`;
}

function TargetStep({ target, setTarget, onNext }) {
  return html`<div class="stack">
    <fieldset class="targets">
      <legend class="sr-only">Deployment target</legend>
      ${TARGETS.map(
        (t) => html`<label class=${`target-card${target === t.id ? ' selected' : ''}`}>
          <input type="radio" name="target" value=${t.id} checked=${target === t.id} onChange=${() => setTarget(t.id)} />
          <strong>${t.label}</strong>
          <span class="muted small">${t.blurb}</span>
        </label>`,
      )}
    </fieldset>
    <div class="row end"><button type="button" class="btn btn-primary" disabled=${!target} onClick=${onNext}>Next: deploy guide</button></div>
  </div>`;
}

function RunnerLive({ org, name }) {
  const r = useAsync(() => api.get(api.orgPath(org, `runners/${api.enc(name)}`)), [org, name]);
  useEffect(() => {
    const t = setInterval(r.reload, 5000);
    return () => clearInterval(t);
  }, []);
  return html`<div class="card runner-live" role="status">
    <strong class="mono">${name}</strong>: ${r.data ? html`<${RunnerState} runner=${r.data} />` : r.error ? r.error.message : 'checking…'}
    ${r.data && !r.data.connected && html`<span class="muted small"> — waiting for it to dial in (checked every 5 s)</span>`}
  </div>`;
}

/** The endpoints among `urls` that only this machine can reach (loopback). */
export function loopbackOf(urls) {
  return urls.filter((u) => {
    try {
      const host = new URL(u).hostname.replace(/^\[|\]$/g, '');
      return host === 'localhost' || host === '::1' || /^127\./.test(host);
    } catch {
      return false;
    }
  });
}

const ARTICLE = (word) => (/^[aeiou]/i.test(word) ? 'an' : 'a');
const PROVIDER_NAMES = { kubernetes: 'Kubernetes', aws: 'AWS', gcp: 'GCP', azure: 'Azure' };

function GuideStep({ org, name, target, endpoints, onBack }) {
  const loopback = loopbackOf(endpoints);
  const def = TARGETS.find((t) => t.id === target);
  const [values, setValues] = useState(() => Object.fromEntries(def.fields.map(([k, , v]) => [k, v])));
  const steps = useMemo(() => guide(target, name, values, { chartRepo: `${location.origin}/v1/charts` }), [target, name, values]);
  const next = nextSteps(target, name);
  const provider = PROVIDER_NAMES[next.provider] || next.provider;
  return html`<div class="stack">
    ${loopback.length > 0 &&
    html`<div class="alert alert-warn" role="alert"><div>
      <strong>These credentials point the runner at this machine only.</strong>
      <p class="alert-text">They name <span class="mono">${loopback.join(', ')}</span>: a runner on ${def.label} cannot reach a loopback address.</p>
      <p class="error-todo">Start the control plane with <span class="mono">--public-host NAME</span> (a name the target resolves and can reach,
        with the leafnode port open to it), then generate the credentials again.</p>
    </div></div>`}
    <p>${def.blurb}</p>
    <form class="guide-fields" onSubmit=${(e) => e.preventDefault()} aria-label="Deployment settings">
      ${def.fields.map(
        ([k, label]) => html`<${Field} label=${label}>
          <input class="input mono" value=${values[k]} onInput=${(e) => setValues({ ...values, [k]: e.currentTarget.value.trim() })} />
        <//>`,
      )}
    </form>
    <p class="muted small">Run these where <span class="mono">${CREDENTIALS_FILE}</span> is. The image is the
      one${' '}<span class="mono">services/Dockerfile</span>${' '}builds; push it to a registry the target can pull from.</p>
    <ol class="guide">
      ${steps.map((s) => html`<li><h3>${s.title}</h3><${CodeBlock} code=${s.code} label=${def.label} /></li>`)}
    </ol>
    ${target === 'kubernetes' &&
    location.protocol === 'https:' &&
    html`<p class="muted small">If this control plane’s certificate is from its own CA (<span class="mono">cloudops serve</span> without
      <span class="mono">--tls-cert</span>), give Helm that CA: <span class="mono">jq -r .tunnel.ca_cert_pem ${CREDENTIALS_FILE} > ca.pem</span>,
      then add <span class="mono">--ca-file ./ca.pem</span>.</p>`}
    ${target === 'kubernetes' &&
    html`<p class="muted small"><span class="mono">planton runner deploy --help</span> lists the rest: <span class="mono">--rbac view|edit|admin</span>,
      <span class="mono">--rbac-secrets</span>, a ServiceAccount annotation for IRSA or Workload Identity, <span class="mono">--dry-run -o yaml</span>.</p>`}
    <${RunnerLive} org=${org} name=${name} />
    <h3>Then</h3>
    <p>Add ${ARTICLE(provider)} ${provider} connection that uses it (on the <${Link} href="/connections">Connections<//> page, or):</p>
    <${CodeBlock} code=${next.example} label="planton" />
    <div class="row end">
      <button type="button" class="btn" onClick=${onBack}>Back</button>
      <button type="button" class="btn btn-primary" onClick=${() => navigate(`/runners?highlight=${api.enc(name)}`)}>Done</button>
    </div>
  </div>`;
}

export function DeployRunner() {
  const { org, access } = useApp();
  const [step, setStep] = useState(0);
  const [name, setName] = useState('');
  const [creds, setCredsState] = useState(null);
  // What the credentials tell the runner to dial (not secret): kept after they leave the page.
  const [endpoints, setEndpoints] = useState([]);
  const setCreds = (c) => {
    setCredsState(c);
    if (c) setEndpoints([c.control_plane_endpoint, ...(c.tunnel?.leaf_urls?.length ? c.tunnel.leaf_urls : [c.tunnel?.leaf_url])].filter(Boolean));
  };
  const [target, setTarget] = useState('kubernetes');
  const reason = access.need('admin');

  // Credentials are shown once: leaving the step drops them from the page.
  const toTarget = () => {
    setCreds(null);
    setStep(2);
  };

  return html`<div class="page">
    <nav class="crumbs" aria-label="Breadcrumb"><${Link} href="/runners">Runners<//> / <span>Deploy runner</span></nav>
    <${PageHeader} title="Deploy a runner" subtitle="It runs in your infrastructure with your credentials and connects out to Cloud Ops; no inbound port." />
    ${reason
      ? html`<${Notice} kind="warn">Deploying runners ${reason}.<//>`
      : html`<${Stepper} step=${step} />
        <section class="card wizard" aria-label=${STEPS[step]}>
          <h2 class="wizard-title">${step + 1}. ${STEPS[step]}${step > 0 ? html` <span class="muted mono">— ${name}</span>` : ''}</h2>
          ${step === 0 && html`<${NameStep} org=${org} name=${name} setName=${setName} onNext=${() => setStep(1)} />`}
          ${step === 1 && html`<${CredentialsStep} org=${org} name=${name} creds=${creds} setCreds=${setCreds} onBack=${() => setStep(0)} onNext=${toTarget} />`}
          ${step === 2 && html`<${TargetStep} target=${target} setTarget=${setTarget} onNext=${() => setStep(3)} />`}
          ${step === 3 && html`<${GuideStep} org=${org} name=${name} target=${target} endpoints=${endpoints} onBack=${() => setStep(2)} />`}
        </section>`}
  </div>`;
}
