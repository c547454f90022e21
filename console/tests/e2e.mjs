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
import { sweep, watch } from './sweep.mjs';

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
// Console errors, uncaught exceptions and 5xx answers, from every page of the run.
const pageErrors = [];
// Set while a step provokes a 4xx on purpose (a wrong key, a conflict): Chromium logs those.
let provoking4xx = false;

async function step(name, fn, { provokes4xx = false } = {}) {
  const t0 = Date.now();
  process.stdout.write(`… ${name}\n`);
  provoking4xx = provokes4xx;
  try {
    await fn();
    provoking4xx = false;
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

// Shells run in the terminal dock; the one shown is the pane not hidden.
const DOCK = '.dock-pane:not([hidden])';
const terminalText = (scope = DOCK) => page.locator(`${scope} .xterm-rows`).innerText();

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
watch(page, 'admin', pageErrors, () => provoking4xx);
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
}, { provokes4xx: true });

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

const tabSelected = async (name) => (await page.getByRole('tab', { name, exact: true }).getAttribute('aria-selected')) === 'true';
const query = () => new URL(page.url()).searchParams;

await step("a pod row's Logs, Shell and the workload's Describe buttons open what they say", async () => {
  const row = page.locator(`tr[data-pod="${podName}"]`);
  await row.getByRole('link', { name: 'Logs' }).click();
  await until(async () => query().get('tab') === 'logs' && (await tabSelected('Logs')), `Logs did not open the Logs tab (at ${page.url()})`);
  check(!page.url().includes('??') && query().get('pod') === podName, `Logs should open ?tab=logs&pod=${podName}, got ${page.url()}`);
  check((await page.locator('.logs-controls select').first().inputValue()) === podName, `the Logs tab should show ${podName}`);
  await until(async () => (await page.locator('.log-line').count()) > 0, `no log lines of ${podName}`);
  check((await page.getByLabel('Previous instance').count()) === 0, 'Previous instance is offered for a pod that never restarted');
  await page.goBack();
  await row.getByRole('link', { name: 'Shell' }).click();
  await until(async () => query().get('tab') === 'terminal' && (await tabSelected('Terminal')), `Shell did not open the Terminal tab (at ${page.url()})`);
  check(query().get('pod') === podName, `Shell should open ?tab=terminal&pod=${podName}, got ${page.url()}`);
  await page.locator(`${DOCK} .exec .pill`, { hasText: 'Connected' }).waitFor();
  check((await page.locator(`${DOCK} .exec-bar`).innerText()).includes(podName), `the shell should be in ${podName}`);
  await page.locator(`${DOCK} .terminal-box`).click();
  await page.waitForTimeout(300);
  await page.keyboard.type('echo before-moving\n', { delay: 15 });
  await until(async () => (await terminalText()).split('\n').some((l) => l.trim() === 'before-moving'), 'the shell did not answer');
  await page.getByRole('tab', { name: 'Kubernetes' }).click();
  await page.getByRole('link', { name: 'Describe · YAML · Edit' }).click();
  await until(async () => query().get('tab') === 'browse' && query().get('name') === WORKLOAD, `Describe did not open the deployment (at ${page.url()})`);
  await page.locator('.object-head', { hasText: WORKLOAD }).waitFor();
  check((await page.locator('pre.describe').innerText()).includes('CreationTimestamp:  '), 'describe should align CreationTimestamp: with its value');
  // The shell kept running in the dock while the user moved on.
  await page.locator(`${DOCK} .terminal-box`).click();
  await page.keyboard.type('echo after-moving\n', { delay: 15 });
  await until(async () => (await terminalText()).split('\n').some((l) => l.trim() === 'after-moving'), 'the shell did not survive moving to another tab');
  await shot('terminal-dock.png');
  // A reload of the page attaches the dock to the same session: what it showed comes back, and
  // typing goes on in the same shell (a variable set before the reload is still set).
  await page.keyboard.type('export MARK=same-shell\n', { delay: 15 });
  await page.waitForTimeout(300);
  await page.reload();
  await page.locator(`${DOCK} .exec .pill`, { hasText: 'Connected' }).waitFor();
  await until(async () => (await terminalText()).split('\n').some((l) => l.trim() === 'after-moving'), 'the reloaded dock should show what the shell printed before');
  await page.locator(`${DOCK} .terminal-box`).click();
  await page.keyboard.type('echo "$MARK-after-reload"\n', { delay: 15 });
  await until(async () => (await terminalText()).split('\n').some((l) => l.trim() === 'same-shell-after-reload'), 'typing after a reload should reach the same shell');
  // Closing a live one asks first.
  await page.getByRole('button', { name: `Close the terminal ${podName}`, exact: false }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('button', { name: 'Close the shell' }).click();
  await until(async () => (await page.locator('.dock').count()) === 0, 'the dock should go once its last shell is closed');
  await page.goto(resourceUrl);
  await page.locator(`tr[data-pod="${podName}"]`).waitFor();
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
  await page.locator(`${DOCK} .exec .pill`, { hasText: 'Connected' }).waitFor();
  await page.locator(`${DOCK} .terminal-box`).click();
  await page.waitForTimeout(500);
  await page.keyboard.type('echo hello-console\n', { delay: 15 });
  await until(async () => (await terminalText()).split('\n').some((l) => l.trim() === 'hello-console'), 'hello-console did not come back from the shell');
  await shot('exec.png');
  await page.keyboard.type('exit 3\n', { delay: 15 });
  const end = page.locator(`${DOCK} .session-end`);
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
}, { provokes4xx: true });

await step('resource browser: any pod has logs (and its previous instance), events and a shell', async () => {
  await page.goto(`${CONSOLE_URL}/browse?connection=${K8S_CONNECTION}&namespace=default&kind=pods`);
  const worker = page.locator('tr', { has: page.getByRole('button', { name: /^worker-/ }) }).first();
  await worker.getByRole('button', { name: 'Logs' }).click();
  await until(async () => query().get('view') === 'logs' && (await tabSelected('Logs')), `the row's Logs did not open the pod's logs (at ${page.url()})`);
  await until(async () => (await page.locator('.log-line').count()) > 0, 'no log lines of the worker pod');
  // It restarted 4 times: its previous instance is there to read.
  await page.getByLabel('Previous instance').check();
  await until(async () => (await page.locator('.log-line').count()) > 0, 'no log lines of the previous instance');
  // A search that is not a regular expression is refused by the field, in words.
  await page.getByLabel(/^Search/).fill('(unclosed');
  await page.getByLabel(/^Search/).press('Enter');
  const why = await page.locator('.field-error').innerText();
  check(/not a valid regular expression/.test(why), `a bad regex should be explained, got: ${why}`);
  await shot('browser-pod-logs.png');
  await page.getByRole('tab', { name: 'Events', exact: true }).click();
  await until(async () => (await page.locator('.events-table').innerText()).includes('BackOff'), "the worker pod's events should show its BackOff");
  await page.goto(`${CONSOLE_URL}/browse?connection=${K8S_CONNECTION}&namespace=default&kind=pods`);
  const web = page.locator('tr', { has: page.getByRole('button', { name: /^web-/ }) }).first();
  await web.getByRole('button', { name: 'Shell' }).click();
  await page.locator(`${DOCK} .exec .pill`, { hasText: 'Connected' }).waitFor();
  await page.locator(`${DOCK} .terminal-box`).click();
  await page.waitForTimeout(300);
  await page.keyboard.type('echo from-the-browser\n', { delay: 15 });
  await until(async () => (await terminalText()).split('\n').some((l) => l.trim() === 'from-the-browser'), 'the shell in a browsed pod did not answer');
  await shot('browser-pod-shell.png');
});

await step('resource browser: create from YAML, a bad document refused in words', async () => {
  await page.goto(`${CONSOLE_URL}/browse?connection=${K8S_CONNECTION}&namespace=${NAMESPACE}&kind=configmaps`);
  await page.getByRole('button', { name: 'Create from YAML' }).click();
  const dialog = page.getByRole('dialog');
  const editor = dialog.locator('textarea.yaml-input');
  await editor.fill('apiVersion: v1\nkind: ConfigMap\ndata:\n  a: b\n');
  await dialog.getByRole('button', { name: 'Apply' }).click();
  await dialog.getByText('The ConfigMap has no metadata.name.').waitFor();
  await editor.fill(`apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: e2e-created\n  namespace: ${NAMESPACE}\ndata:\n  greeting: hello\n`);
  await dialog.getByRole('button', { name: 'Apply' }).click();
  await dialog.getByText('Applied: ConfigMap e2e-created.').waitFor();
  await dialog.getByRole('button', { name: 'Close', exact: true }).last().click();
  await page.getByRole('button', { name: 'e2e-created', exact: true }).waitFor();
  const made = await kube('GET', `/api/v1/namespaces/${NAMESPACE}/configmaps/e2e-created`);
  check(made.data?.greeting === 'hello', `the ConfigMap should hold greeting=hello, got ${JSON.stringify(made.data)}`);
  // The copy-as-planton menu names the same object and target.
  await page.getByRole('button', { name: 'e2e-created', exact: true }).click();
  await page.locator('summary', { hasText: 'Copy as planton' }).click();
  const menu = await page.locator('.menu-list').innerText();
  const want = `planton kubectl delete configmaps e2e-created --connection ${K8S_CONNECTION} -n ${NAMESPACE}`;
  check(menu.includes(want), `the planton menu should offer "${want}", got:\n${menu}`);
});

await step('a deployment scales with ±, restarts, and rolls back from its history', async () => {
  const path = `/apis/apps/v1/namespaces/${NAMESPACE}/deployments/${WORKLOAD}`;
  const before = (await kube('GET', path)).spec.replicas;
  await page.goto(`${CONSOLE_URL}/browse?connection=${K8S_CONNECTION}&namespace=${NAMESPACE}&kind=deployments&name=${WORKLOAD}`);
  await page.getByRole('button', { name: `Scale ${WORKLOAD} up to ${before + 1}` }).click();
  await page.locator('.alert-ok', { hasText: `scaled to ${before + 1} replicas` }).waitFor();
  await until(async () => (await kube('GET', path)).spec.replicas === before + 1, 'the deployment did not scale up');
  await page.getByRole('button', { name: `Scale ${WORKLOAD} down to ${before}` }).click();
  await until(async () => (await kube('GET', path)).spec.replicas === before, 'the deployment did not scale back down');
  await page.getByRole('button', { name: 'Rollout restart' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Rollout restart' }).click();
  await page.locator('.alert-ok', { hasText: 'Rollout restart' }).waitFor();
  await page.getByRole('tab', { name: 'History', exact: true }).click();
  const rows = page.locator('tr[data-revision]');
  await until(async () => (await rows.count()) >= 2, 'the history should show the revision the restart made');
  const current = Number(await rows.first().getAttribute('data-revision'));
  await page.getByRole('button', { name: `Roll back to ${current - 1}` }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Roll back' }).click();
  await page.locator('.alert-ok', { hasText: `rolled back to revision ${current - 1}` }).waitFor();
  const template = (await kube('GET', path)).spec.template;
  check(!template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'], 'the rollback should bring back the template without the restart annotation');
  await shot('rollout-history.png');
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

await step('at 400 px the graph reads as a list: owners nest what they own, names in full, each opens its object', async () => {
  await page.setViewportSize({ width: 400, height: 800 });
  try {
    await page.goto(`${CONSOLE_URL}/graph?connection=${K8S_CONNECTION}&namespace=${NAMESPACE}`);
    const deployment = page.locator('.graph-outline > li', { has: page.locator(`:scope > a.outline-node[title^="Deployment ${WORKLOAD}"]`) });
    await deployment.first().waitFor();
    check((await page.locator('svg.graph-svg').count()) === 0, 'at 400 px the graph should start as a list');
    const owned = deployment.first().locator('.outline-owned a.outline-node[title^="ReplicaSet "]');
    check((await owned.count()) > 0, `the Deployment ${WORKLOAD} should list its ReplicaSet nested under it`);
    const pod = deployment.first().locator('.outline-owned a.outline-node[title^="Pod "]').first();
    const podName = (await pod.getAttribute('title')).replace(/^Pod /, '').replace(/ — .*$/, '');
    check(((await pod.innerText()).includes(podName)), `the pod's name should be shown in full: ${podName}`);
    await shot('graph-400.png');
    await pod.click();
    await page.waitForURL(/\/browse\?/);
    const url = new URL(page.url());
    check(url.searchParams.get('kind') === 'pods' && url.searchParams.get('name') === podName, `the list item should open pods/${podName}, got ${page.url()}`);
  } finally {
    await page.setViewportSize({ width: 1280, height: 800 });
  }
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
      `helm upgrade --install ${runnerName} planton-runner --repo ${CONSOLE_URL}/v1/charts --namespace planton --create-namespace --set-file credentials=./credentials.json`,
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
  const index = await page.request.get(`${CONSOLE_URL}/v1/charts/index.yaml`);
  check(index.ok() && (await index.text()).includes('planton-runner-'), 'the chart repository the Helm command names should serve its index');
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
  await until(async () => (await terminalText('.terminal-replay')).includes('hello-console'), 'the replay did not show the session output', 30000);
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

let viewer;
let viewerContext;
await step('a viewer sees operator actions disabled, with the reason, and only the pages it can use', async () => {
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
  viewerContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  viewer = await viewerContext.newPage();
  watch(viewer, 'viewer', pageErrors, () => false);
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
  const nav = await viewer.getByRole('navigation', { name: 'Main' }).innerText();
  for (const hidden of ['Resource browser', 'Namespace graph', 'Cloud browser', 'Runners', 'Audit']) {
    check(!nav.includes(hidden), `the viewer holds no role that opens ${hidden}, yet the menu offers it:\n${nav}`);
  }
  check(nav.includes('Cloud resources') && nav.includes('Connections'), `the viewer's menu lost its own pages:\n${nav}`);
  await viewer.goto(`${CONSOLE_URL}/browse`);
  const gate = viewer.getByRole('status').filter({ hasText: 'This page is not open to you' });
  await gate.waitFor();
  check(/Kubernetes connection you hold a role on/.test(await gate.innerText()), 'the page should say what access would open it');
  check(!(await viewer.locator('body').innerText()).includes('PERMISSION_DENIED'), 'raw PERMISSION_DENIED on a page');
  await viewer.screenshot({ path: join(OUT_DIR, 'viewer-no-access.png') });
});

await step('every screen, as an admin and as a viewer, at 1280 and 400 px: nothing overflows', async () => {
  const pods = `${CONSOLE_URL}/browse?connection=${K8S_CONNECTION}&namespace=${NAMESPACE}&kind=pods`;
  const admin = [
    { name: 'catalog', url: `${CONSOLE_URL}/resources`, ready: 'table.table' },
    { name: 'resource', url: resourceUrl, ready: `tr[data-pod^="${WORKLOAD}-"]` },
    { name: 'resource-logs', url: `${resourceUrl}?tab=logs`, ready: '.log-line' },
    { name: 'resource-browse', url: `${resourceUrl}?tab=browse`, ready: 'table.table' },
    { name: 'resource-graph', url: `${resourceUrl}?tab=graph`, ready: 'svg .node, .graph-outline .outline-node' },
    { name: 'browser-pods', url: pods, ready: 'table.table' },
    { name: 'browser-pod', url: `${pods}&name=${podName}`, ready: 'pre.describe' },
    { name: 'graph', url: `${CONSOLE_URL}/graph?connection=${K8S_CONNECTION}&namespace=${NAMESPACE}`, ready: 'svg .node, .graph-outline .outline-node' },
    { name: 'cloud', url: `${CONSOLE_URL}/cloud?connection=${AWS_CONNECTION}&service=ec2`, ready: 'table.table' },
    { name: 'connections', url: `${CONSOLE_URL}/connections`, ready: 'table.table' },
    { name: 'runners', url: `${CONSOLE_URL}/runners`, ready: 'table.table' },
    { name: 'wizard', url: `${CONSOLE_URL}/runners/new`, ready: 'form' },
    { name: 'audit', url: `${CONSOLE_URL}/audit`, ready: 'table.table' },
    { name: 'audit-sessions', url: `${CONSOLE_URL}/audit?view=sessions`, ready: 'table.table' },
  ];
  const viewing = [
    { name: 'catalog', url: `${CONSOLE_URL}/resources`, ready: 'table.table' },
    { name: 'resource', url: resourceUrl, ready: `tr[data-pod^="${WORKLOAD}-"]` },
    { name: 'resource-logs', url: `${resourceUrl}?tab=logs`, ready: '.log-line' },
    { name: 'resource-browse', url: `${resourceUrl}?tab=browse`, ready: 'table.table' },
    { name: 'resource-graph', url: `${resourceUrl}?tab=graph`, ready: 'svg .node, .graph-outline .outline-node' },
    { name: 'connections', url: `${CONSOLE_URL}/connections`, ready: 'table.table' },
  ];
  const problems = [];
  for (const width of [1280, 400]) {
    problems.push(...(await sweep(page, 'admin', width, admin, OUT_DIR, join)));
    problems.push(...(await sweep(viewer, 'viewer', width, viewing, OUT_DIR, join)));
  }
  await page.setViewportSize({ width: 1280, height: 800 });
  await viewerContext.close();
  check(!problems.length, `layout problems:\n  ${problems.join('\n  ')}`);
});

await step('no console error, no uncaught exception, no 5xx in the whole run', async () => {
  check(!pageErrors.length, `errors:\n  ${pageErrors.join('\n  ')}`);
});

await step('sign out, without being told the session ended', async () => {
  await page.goto(resourceUrl);
  await page.locator(`tr[data-pod^="${WORKLOAD}-"]`).first().waitFor();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('API key').waitFor();
  await page.waitForTimeout(1500);
  check((await page.getByText('Your session ended').count()) === 0, 'a deliberate sign-out was reported as an ended session');
}, { provokes4xx: true });

await browser.close();
console.log(`${passed} passed, 0 failed`);
