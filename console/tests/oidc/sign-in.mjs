// Signs in at the test OIDC provider in Chromium (playwright-core), the way a person does:
//
//   node sign-in.mjs cli URL         the page `planton login --oidc` opens ($BROWSER): the
//                                    device code's page, or the sign-in handed to its loopback
//   node sign-in.mjs console URL     the console: "Sign in with your identity provider"
//
// OIDC_LOGIN names the user (default alice). CHROMIUM is the browser; SCREENSHOTS, when set,
// is a directory for a picture of each step. Exits 0 once signed in.

import { chromium } from 'playwright-core';

const [mode, url] = process.argv.slice(2);
const login = process.env.OIDC_LOGIN || 'alice';
const shots = process.env.SCREENSHOTS;
if (!['cli', 'console'].includes(mode) || !url) {
  console.error('usage: node sign-in.mjs cli|console URL');
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
const failures = [];
page.on('console', (m) => m.type() === 'error' && failures.push(m.text()));
let step = 0;
const shot = async (name) => shots && page.screenshot({ path: `${shots}/oidc-${mode}-${++step}-${name}.png` });

try {
  await page.goto(url);
  if (mode === 'console') {
    await page.getByRole('button', { name: 'Sign in with your identity provider' }).click();
  }
  // At the provider (http://127.0.0.1:PORT), wherever the first page sent the browser.
  await page.waitForURL(/^http:\/\/127\.0\.0\.1:\d+\/(?!callback)/, { timeout: 15000 });
  // The provider's pages: confirm the device code, sign in, consent; until the end page.
  for (let i = 0; i < 10; i++) {
    await page.waitForLoadState('load');
    await shot('provider');
    if (mode === 'console' && !page.url().startsWith('http://127.0.0.1')) break;
    const body = await page.textContent('body');
    // The device flow's end page, or the loopback's of `planton login --oidc`.
    if (mode === 'cli' && /Sign-in Success|Signed in to Cloud Ops|did not finish/i.test(body)) break;
    if (await page.locator('input[name=login]').count()) {
      await page.fill('input[name=login]', login);
      await page.fill('input[name=password]', 'any password');
      await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    } else if (await page.locator('button[type=submit]').count()) {
      await Promise.all([page.waitForNavigation(), page.locator('button[type=submit]').first().click()]);
    } else {
      throw new Error(`nothing to do on ${page.url()}: ${body.slice(0, 300)}`);
    }
  }
  if (mode === 'console') {
    // Back in the console, signed in: the shell shows who.
    await page.getByText(login, { exact: false }).first().waitFor({ timeout: 15000 });
    await shot('signed-in');
    const who = await page.evaluate(async () => (await fetch('/v1/console/session')).json());
    console.log(JSON.stringify(who));
  } else {
    console.log('device approved');
  }
  await browser.close();
} catch (e) {
  await shot('failed').catch(() => {});
  console.error(`sign-in failed at ${page.url()}: ${e.message}\nconsole errors: ${failures.join('\n')}`);
  await browser.close();
  process.exit(1);
}
