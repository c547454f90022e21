// End-to-end test of the web console against a running sandbox: Playwright (playwright-core)
// driving Debian's Chromium. Every step asserts something real and stops the run with a clear
// message (exit 1) when it does not hold; screenshots go to OUT_DIR.
//
// Environment:
//   CONSOLE_URL     the gateway (or a proxy in front of it), e.g. http://127.0.0.1:7480   (required)
//   API_KEY         an admin API key                                                       (required)
//   KUBE_URL        the Kubernetes API test server, e.g. http://127.0.0.1:38741            (required)
//   ORG=default  ENV=prod  RESOURCE=default/prod/KubernetesDeployment/payments-api
//   K8S_CONNECTION=sandbox  NAMESPACE=payments  DELETE_DEPLOYMENT=payments-worker
//   AWS_CONNECTION=aws-moto (EC2 instances tagged Name=web-1 and web-2 exist there)
//   OUT_DIR=console/test-results   CHROMIUM=/usr/bin/chromium   HEADED=1 to watch

import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const env = (k, d) => {
  const v = process.env[k] ?? d;
  if (v === undefined || v === '') {
    console.error(`e2e: set ${k}`);
    process.exit(2);
  }
  return v;
};
const CONSOLE_URL = env('CONSOLE_URL').replace(/\/$/, '');
const API_KEY = env('API_KEY');
const KUBE_URL = env('KUBE_URL').replace(/\/$/, '');
const ORG = env('ORG', 'default');
const ENV = env('ENV', 'prod');
const RESOURCE = env('RESOURCE', `${ORG}/${ENV}/KubernetesDeployment/payments-api`);
const K8S_CONNECTION = env('K8S_CONNECTION', 'sandbox');
const NAMESPACE = env('NAMESPACE', 'payments');
const DELETE_DEPLOYMENT = env('DELETE_DEPLOYMENT', 'payments-worker');
const AWS_CONNECTION = env('AWS_CONNECTION', 'aws-moto');
const OUT_DIR = resolve(env('OUT_DIR', 'console/test-results'));
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');

const WORKLOAD = RESOURCE.split('/')[3];
const resourceUrl = `${CONSOLE_URL}/resources/${RESOURCE.split('/').map(encodeURIComponent).join('/')}`;
mkdirSync(OUT_DIR, { recursive: true });

// ----------------------------------------------------------------------------- harness

class Failure extends Error {}
const fail = (msg) => {
  throw new Failure(msg);
};
const check = (cond, msg) => cond || fail(msg);

let page;
let passed = 0;
const pageErrors = [];

async function step(name, fn) {
  const t0 = Date.now();
  process.stdout.write(`… ${name}\n`);
  try {
    await fn();
    passed++;
    console.log(`✓ ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    console.log(`✗ ${name}: ${e instanceof Failure ? e.message : e.stack || e}`);
    const shot = join(OUT_DIR, `failed-${name.replace(/\W+/g, '-')}.png`);
    await page?.screenshot({ path: shot, fullPage: true }).catch(() => {});
    console.log(`  screenshot: ${shot}`);
    console.log(`${passed} passed, 1 failed`);
    process.exit(1);
  }
}

const shot = (name) => page.screenshot({ path: join(OUT_DIR, name) });

/** Waits until `fn()` is truthy (polling), or fails with `msg`. */
async function until(fn, msg, timeout = 15000) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  fail(`${msg} (after ${timeout / 1000} s${last instanceof Error ? `: ${last.message}` : ''})`);
}

async function kube(method, path, body) {
  const res = await fetch(`${KUBE_URL}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body && JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) fail(`${method} ${KUBE_URL}${path}: ${res.status} ${text.slice(0, 200)}`);
  return JSON.parse(text);
}

const terminalText = () => page.locator('.xterm-rows').innerText();

// ----------------------------------------------------------------------------- the run

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: !process.env.HEADED,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: CONSOLE_URL });
page = await context.newPage();
page.setDefaultTimeout(15000);
page.on('pageerror', (e) => pageErrors.push(e.message));
console.log(`console ${CONSOLE_URL}, resource ${RESOURCE}, screenshots in ${OUT_DIR}`);

await step('sign-in refuses a wrong key inline', async () => {
  await page.goto(`${CONSOLE_URL}/`);
  const key = page.getByLabel('API key');
  await key.waitFor();
  await shot('signin.png');
  await key.fill('cok_not_a_real_key');
  await page.getByRole('button', { name: 'Sign in' }).click();
  const alert = page.getByRole('alert');
  await alert.waitFor();
  const text = await alert.innerText();
  check(/invalid|revoked|key/i.test(text), `expected an inline error about the key, got: ${text}`);
  check(await key.isVisible(), 'the sign-in form should stay after a wrong key');
  await shot('signin-error.png');
});

await step('sign-in with the API key', async () => {
  await page.getByLabel('API key').fill(API_KEY);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Cloud resources' }).waitFor();
  await page.reload();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
  check(!(await page.getByLabel('API key').isVisible()), 'the session should survive a reload (cookie)');
});

await step('catalog lists the resource; environment switcher filters', async () => {
  await page.getByLabel('Environment').selectOption(ENV);
  const link = page.getByRole('link', { name: WORKLOAD, exact: true });
  await link.waitFor();
  await shot('catalog.png');
  await link.click();
  await page.waitForURL(/\/resources\//);
  check(decodeURIComponent(new URL(page.url()).pathname) === `/resources/${RESOURCE}`, `unexpected resource URL ${page.url()}`);
});

let podName = '';
await step('Kubernetes tab shows the pods live', async () => {
  await page.getByRole('tab', { name: 'Kubernetes' }).waitFor();
  const rows = page.locator(`tr[data-pod^="${WORKLOAD}-"]`);
  await rows.first().waitFor();
  podName = await rows.first().getAttribute('data-pod');
  await page.getByText('Live', { exact: true }).waitFor();
  await page.locator('.workload').waitFor();
  await shot('kubernetes-tab.png');
});

await step('a pod status change shows in place, without reload', async () => {
  await page.evaluate(() => {
    window.__sameDocument = true;
  });
  const path = `/api/v1/namespaces/${NAMESPACE}/pods/${podName}`;
  const pod = await kube('GET', path);
  const original = structuredClone(pod.status);
  const cs = pod.status.containerStatuses[0];
  const restarts = (cs.restartCount || 0) + 1;
  cs.ready = false;
  cs.started = false;
  cs.restartCount = restarts;
  cs.state = { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 10s restarting failed container' } };
  cs.lastState = { terminated: { exitCode: 1, reason: 'Error', finishedAt: new Date().toISOString() } };
  pod.status.conditions = [{ type: 'Ready', status: 'False' }];
  const changed = await kube('PUT', path, pod);
  // The kubelet's event about it, which the Events table shows live too.
  const eventName = `${podName}.e2e${Date.now()}`;
  await kube('POST', `/api/v1/namespaces/${NAMESPACE}/events`, {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: eventName, namespace: NAMESPACE },
    involvedObject: { kind: 'Pod', name: podName, namespace: NAMESPACE },
    type: 'Warning',
    reason: 'BackOff',
    message: 'Back-off restarting failed container e2e-live-event',
    lastTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    count: 1,
  });
  const row = page.locator(`tr[data-pod="${podName}"]`);
  await until(async () => (await row.locator('[data-col=status]').innerText()).includes('CrashLoopBackOff'), 'the pod row did not show CrashLoopBackOff');
  const restartText = await row.locator('[data-col=restarts]').innerText();
  check(restartText.startsWith(String(restarts)), `restarts should read ${restarts}, got ${restartText}`);
  check((await row.locator('[data-col=ready]').innerText()).startsWith('0/'), 'ready should drop to 0/N');
  await until(
    async () => (await page.locator('.events-table').innerText()).includes('e2e-live-event'),
    'the new event did not show in the Events table',
  );
  check(await page.evaluate(() => window.__sameDocument === true), 'the page reloaded');
  await shot('kubernetes-live.png');
  // And back to healthy, also live.
  changed.status = original;
  await kube('PUT', path, changed);
  await until(async () => (await row.locator('[data-col=status]').innerText()).includes('Running'), 'the pod row did not go back to Running');
});

await step('logs follow, pause keeps lines, resume shows them', async () => {
  await page.getByRole('tab', { name: 'Logs' }).click();
  const lines = page.locator('.log-line');
  await until(async () => (await lines.count()) > 0, 'no log lines arrived');
  await until(async () => (await page.locator('.log-view').innerText()).includes('tick'), 'no followed (tick) lines arrived');
  const merged = await page.locator('.log-label').count();
  check(merged > 0, 'merged workload logs should be prefixed [pod/container]');
  await page.getByRole('button', { name: 'Pause' }).click();
  const frozen = await lines.count();
  await until(async () => /([1-9]\d*) new lines? kept while paused/.test(await page.locator('.logs-bar').innerText()), 'no lines were kept while paused', 8000);
  check((await lines.count()) === frozen, 'lines were rendered while paused');
  const kept = Number(/(\d+) new lines? kept/.exec(await page.locator('.logs-bar').innerText())[1]);
  await page.getByRole('button', { name: 'Resume' }).click();
  await until(async () => (await lines.count()) >= frozen + kept, `resume should show the ${kept} kept lines`);
  await shot('logs.png');
});

await step('exec: a shell runs a command, and exit 3 is reported', async () => {
  await page.getByRole('tab', { name: 'Terminal' }).click();
  await page.getByRole('button', { name: 'Connect' }).click();
  await page.locator('.exec .pill', { hasText: 'Connected' }).waitFor();
  await page.locator('.terminal-box').click();
  await page.waitForTimeout(500);
  await page.keyboard.type('echo hello-console\n', { delay: 15 });
  await until(async () => (await terminalText()).split('\n').some((l) => l.trim() === 'hello-console'), 'hello-console did not come back from the shell');
  await shot('exec.png');
  await page.keyboard.type('exit 3\n', { delay: 15 });
  const end = page.locator('.session-end');
  await end.waitFor();
  const text = await end.innerText();
  check(/exit code 3/.test(text), `expected "Session ended: exit code 3", got: ${text}`);
  await until(async () => (await terminalText()).includes('Session ended: exit code 3'), 'the terminal should say how the session ended', 5000);
  await shot('exec-ended.png');
});

await step('resource browser: YAML view, then an edit that conflicts', async () => {
  await page.goto(`${CONSOLE_URL}/browse?connection=${K8S_CONNECTION}&namespace=${NAMESPACE}&kind=deployments`);
  await page.getByRole('button', { name: WORKLOAD, exact: true }).click();
  await page.getByRole('tab', { name: 'YAML' }).click();
  await page.locator('pre.yaml .y-key').first().waitFor();
  await shot('browser.png');
  await page.getByRole('button', { name: 'Edit YAML' }).click();
  const editor = page.locator('textarea.yaml-input');
  await editor.waitFor();
  // Someone else changes the deployment meanwhile.
  const path = `/apis/apps/v1/namespaces/${NAMESPACE}/deployments/${WORKLOAD}`;
  const dep = await kube('GET', path);
  dep.metadata.annotations = { ...(dep.metadata.annotations || {}), 'e2e.cloudops.dev/touched': String(Date.now()) };
  await kube('PUT', path, dep);
  const text = await editor.inputValue();
  check(/replicas: \d+/.test(text), 'the YAML should contain spec.replicas');
  await editor.fill(text.replace(/replicas: (\d+)/, (_, n) => `replicas: ${Number(n) + 1}`));
  await page.getByRole('button', { name: 'Save' }).click();
  const alert = page.locator('.alert-error', { hasText: 'Conflict' });
  await alert.waitFor();
  check(/was changed since you opened it/.test(await alert.innerText()), 'the conflict message should say the object changed meanwhile');
  await shot('yaml-conflict.png');
  await page.getByRole('button', { name: /Reload latest/ }).click();
  await page.getByRole('button', { name: 'Edit YAML' }).waitFor();
});

await step('delete asks for the typed name, then the deployment is gone', async () => {
  await page.goto(`${CONSOLE_URL}/browse?connection=${K8S_CONNECTION}&namespace=${NAMESPACE}&kind=deployments`);
  await page.getByRole('button', { name: DELETE_DEPLOYMENT, exact: true }).click();
  await page.getByRole('button', { name: 'Delete' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  const confirm = dialog.getByRole('button', { name: 'Delete' });
  check(await confirm.isDisabled(), 'Delete must stay disabled until the name is typed');
  await dialog.getByRole('textbox').fill(DELETE_DEPLOYMENT.slice(0, -1));
  check(await confirm.isDisabled(), 'Delete must stay disabled for a partial name');
  await dialog.getByRole('textbox').fill(DELETE_DEPLOYMENT);
  check(await confirm.isEnabled(), 'Delete should be enabled once the name is typed');
  check(/replicaset|pod/i.test(await dialog.innerText()), 'the dialog should list the dependents (replicasets, pods)');
  await shot('delete-confirm.png');
  await confirm.click();
  await dialog.waitFor({ state: 'detached' });
  await page.locator('.alert-ok', { hasText: 'deleted' }).waitFor();
  await page.locator('table.table').waitFor();
  await until(async () => (await page.getByRole('button', { name: DELETE_DEPLOYMENT, exact: true }).count()) === 0, `${DELETE_DEPLOYMENT} is still in the table`);
});

await step('namespace graph renders and a node opens its object', async () => {
  await page.goto(`${CONSOLE_URL}/graph?connection=${K8S_CONNECTION}&namespace=${NAMESPACE}`);
  const nodes = page.locator('svg .node');
  await until(async () => (await nodes.count()) > 0, 'the graph has no nodes');
  await page.locator('.graph-overlay').waitFor({ state: 'detached' });
  await shot('graph.png');
  await page.locator(`svg .node[aria-label^="Deployment ${WORKLOAD},"]`).click();
  await page.waitForURL(/\/browse\?/);
  const url = new URL(page.url());
  check(url.searchParams.get('kind') === 'deployments' && url.searchParams.get('name') === WORKLOAD, `the node should open deployments/${WORKLOAD}, got ${page.url()}`);
  await page.locator('.object-head', { hasText: WORKLOAD }).waitFor();
});

await step('cloud browser lists EC2 instances', async () => {
  await page.goto(`${CONSOLE_URL}/cloud?connection=${AWS_CONNECTION}&service=ec2`);
  await page.getByRole('cell', { name: 'web-1', exact: true }).waitFor({ timeout: 30000 });
  await page.getByRole('cell', { name: 'web-2', exact: true }).waitFor();
  await page.getByRole('searchbox', { name: 'Filter', exact: true }).fill('web-2');
  await until(async () => (await page.getByRole('cell', { name: 'web-1', exact: true }).count()) === 0, 'the filter should hide web-1');
  await page.getByRole('searchbox', { name: 'Filter', exact: true }).fill('');
  await shot('cloud-ec2.png');
});

await step('connections show their runner state and defaults', async () => {
  await page.goto(`${CONSOLE_URL}/connections`);
  const row = page.locator('tr', { has: page.getByText(K8S_CONNECTION, { exact: true }) });
  await row.waitFor();
  await until(async () => /(?<!never )connected/.test(await row.innerText()), `the ${K8S_CONNECTION} connection's runner should read connected`);
  await page.locator('tr', { has: page.getByText(AWS_CONNECTION, { exact: true }) }).waitFor();
  await shot('connections.png');
});

const runnerName = `e2e-${Date.now().toString(36)}`;
await step('runners list, then the Deploy Runner wizard downloads credentials.json', async () => {
  await page.goto(`${CONSOLE_URL}/runners`);
  await page.locator('table.table').waitFor();
  await shot('runners.png');
  await page.getByRole('button', { name: 'Deploy runner' }).click();
  await page.waitForURL(/\/runners\/new/);
  await page.getByLabel('Runner name').fill(runnerName);
  await shot('wizard-name.png');
  await page.getByRole('button', { name: 'Next: credentials' }).click();
  await page.getByRole('button', { name: 'Generate credentials' }).click();
  const save = page.getByRole('button', { name: 'Download credentials.json' });
  await save.waitFor();
  await shot('wizard-credentials.png');
  const [download] = await Promise.all([page.waitForEvent('download'), save.click()]);
  check(download.suggestedFilename() === 'credentials.json', `the download should be named credentials.json, got ${download.suggestedFilename()}`);
  const file = join(OUT_DIR, 'credentials.json');
  await download.saveAs(file);
  const creds = JSON.parse(readFileSync(file, 'utf8'));
  check(creds.runner_name === runnerName, `credentials.json should be for ${runnerName}, got ${creds.runner_name}`);
  check(creds.api_key && creds.tunnel?.key_pem, 'credentials.json should hold the API key and the tunnel key');
  await page.getByRole('button', { name: 'Next: target' }).click();
});

await step('wizard guides fill in the commands for each target', async () => {
  const flat = async () => (await page.locator('.guide').innerText()).replace(/\\\n\s*/g, '');
  const expectations = {
    Kubernetes: [
      `planton runner deploy ${runnerName} --target kubernetes --namespace planton --credentials-file ./credentials.json --image-tag 0.1.0`,
      `helm upgrade --install ${runnerName} ./helm/planton-runner --namespace planton --create-namespace --set-file credentials=./credentials.json`,
    ],
    'AWS ECS (Fargate)': [
      `planton runner deploy ${runnerName} --target aws-ecs --region eu-west-1 --cluster planton-runners`,
      '--desired-count 1',
      'PLANTON_RUNNER_CREDENTIALS',
      'file://credentials.json',
    ],
    'GCP Cloud Run': [
      `planton runner deploy ${runnerName} --target gcp-cloud-run --project acme-prod --region europe-west1 --credentials-file ./credentials.json`,
      '--instances=1',
      'PLANTON_RUNNER_CREDENTIALS',
      '--data-file=credentials.json',
    ],
    'Azure Container Apps': [
      `planton runner deploy ${runnerName} --target azure-container-apps --subscription`,
      '--resource-group ops-rg --environment ops-env --credentials-file ./credentials.json',
      '--min-replicas 1',
      'PLANTON_RUNNER_CREDENTIALS',
    ],
  };
  const files = { Kubernetes: 'kubernetes', 'AWS ECS (Fargate)': 'ecs', 'GCP Cloud Run': 'cloudrun', 'Azure Container Apps': 'containerapps' };
  let first = true;
  for (const [target, needles] of Object.entries(expectations)) {
    await page.getByText(target, { exact: true }).click();
    if (first) await shot('wizard-target.png');
    first = false;
    await page.getByRole('button', { name: 'Next: deploy guide' }).click();
    await page.locator('.guide').waitFor();
    const text = await flat();
    for (const n of needles) check(text.includes(n), `the ${target} guide should contain "${n}"`);
    await page.locator('.runner-live').waitFor();
    await shot(`wizard-guide-${files[target]}.png`);
    await page.getByRole('button', { name: 'Back' }).click();
  }
});

await step('audit shows decisions and the exec session, which replays', async () => {
  await page.goto(`${CONSOLE_URL}/audit`);
  await page.getByRole('cell', { name: 'kubernetes.exec' }).first().waitFor();
  await shot('audit.png');
  await page.getByRole('tab', { name: 'Exec sessions' }).click();
  const row = page.locator('tr', { hasText: 'exit code 3' }).first();
  await row.waitFor();
  await shot('audit-sessions.png');
  await row.getByRole('link', { name: 'Replay' }).click();
  await page.waitForURL(/\/audit\/sessions\//);
  await until(async () => (await terminalText()).includes('hello-console'), 'the replay did not show the session output', 30000);
  await shot('audit-replay.png');
});

await step('narrow screen (400 px): no page overflow, menu reachable', async () => {
  await page.setViewportSize({ width: 400, height: 800 });
  await page.goto(resourceUrl);
  await page.locator(`tr[data-pod^="${WORKLOAD}-"]`).first().waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `the page scrolls sideways by ${overflow}px at 400px`);
  await shot('narrow.png');
  await page.getByRole('button', { name: 'Menu' }).click();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Runners' }).click();
  await page.waitForURL(/\/runners/);
  await shot('narrow-runners.png');
  await page.setViewportSize({ width: 1280, height: 800 });
});

await step('a viewer sees operator actions disabled, with the reason', async () => {
  const api = async (path, body) => {
    const res = await fetch(`${CONSOLE_URL}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = await res.json();
    if (!res.ok) fail(`POST ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  const name = `viewer-${Date.now().toString(36)}`;
  await api(`/v1/orgs/${ORG}/principals`, { name });
  await api(`/v1/orgs/${ORG}/grants`, { principal: name, scope: 'env', target: ENV, role: 'viewer' });
  const { key } = await api(`/v1/orgs/${ORG}/apikeys`, { principal: name });
  const viewerContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const viewer = await viewerContext.newPage();
  viewer.on('pageerror', (e) => pageErrors.push(`(viewer) ${e.message}`));
  await viewer.goto(`${CONSOLE_URL}/`);
  await viewer.getByLabel('API key').fill(key);
  await viewer.getByRole('button', { name: 'Sign in' }).click();
  await viewer.getByRole('navigation', { name: 'Main' }).waitFor();
  await viewer.goto(resourceUrl);
  const shell = viewer.locator(`tr[data-pod^="${WORKLOAD}-"]`).first().getByRole('button', { name: 'Shell' });
  await shell.waitFor();
  check((await shell.getAttribute('aria-disabled')) === 'true', 'Shell should be disabled for a viewer');
  await shell.focus();
  const tip = viewer.getByRole('tooltip').filter({ hasText: 'needs the operator role' }).first();
  await tip.waitFor();
  const why = await tip.innerText();
  check(why.includes(`needs the operator role on ${ENV} (you have viewer)`), `unexpected reason: ${why}`);
  await viewer.screenshot({ path: join(OUT_DIR, 'viewer.png') });
  await viewer.goto(`${CONSOLE_URL}/runners`);
  const deploy = viewer.getByRole('button', { name: 'Deploy runner' });
  await deploy.waitFor();
  check((await deploy.getAttribute('aria-disabled')) === 'true', 'Deploy runner should be disabled without the admin role');
  await viewerContext.close();
});

await step('no uncaught errors in the page', async () => {
  check(!pageErrors.length, `uncaught errors:\n  ${pageErrors.join('\n  ')}`);
});

await step('sign out', async () => {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('API key').waitFor();
});

await browser.close();
console.log(`${passed} passed, 0 failed`);
