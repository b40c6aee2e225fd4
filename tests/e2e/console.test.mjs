// The console end to end (issue 5), in Debian's chromium through playwright-core, once in
// English (en-US) and once in Chinese (zh-CN): sign up → create a secret key in the dialog →
// read it from the one-time display → a chat call with it (official openai SDK) is refused
// for lack of credit → add payment details (company, test card 4242…) and buy $10 → the
// balance → the chat call succeeds → set a hard limit and an alert → the request on the Usage
// page, its total equal to the costs endpoint's → revoke the key → the SDK gets 401. A declined
// card shows an error and grants nothing. Every page is screenshotted into
// output/<lang>/<name>.png; any page error or console.error (the i18n module logs a missing
// translation with console.error) fails the test, as do layout problems and, in Chinese,
// English labels left on the page.
//
// Every page (login, sign-up, API keys, Projects, Billing, Limits, Usage, Settings, and the
// operator's Providers, Models, Organizations) is also shot at 390 px wide, where the test
// asserts at once that the document is no wider than the window and the navigation is folded
// behind the menu button (which the customer flow uses once to reach Projects).
//
// The operator's owner, on the operator's organisation as `init` leaves it (the harness's
// provider and key removed): the first-run checklist shows three open steps; connecting the
// mock (with two upstream keys) ticks the first, a key made from the checklist the second,
// and running its curl and Node snippets exactly as shown (200, the mock's answer) the third,
// after which it folds away. On the Models page every model of the paged table is listed; the
// form refuses what it can check before sending; a new model's prices and an edited price are
// the exact nano-dollar integers on the server. Organizations: more than 100, "Load more".
//
// Controls are found by data-testid (web/README.md), so the same steps run in both languages.
//
// Run: cd tests/e2e && npm install && node --test --test-concurrency=1 --test-timeout=300000 *.test.mjs
// (tests/integration needs its own `npm install` too: the harness imported from there uses it).
// CHROMIUM=/path/to/chromium overrides /usr/bin/chromium.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import OpenAI from 'openai';
import { Env, MODELS, MOCK_CONTENT, MOCK_COMPLETION_TOKENS } from '../integration/harness.mjs';
import {
  launchBrowser, openPage, settle, screenshot, clearOutput, layoutProblems, untranslatedLabels, amountIn, integerIn, OUTPUT,
} from './browser.mjs';
import { startSmtpSink } from '../integration/smtp_sink.mjs';

const PASSWORD = 'e2e-password-1234';
const OPERATOR_EMAIL = 'operator@example.com'; // the operator organisation's owner (tollgate init)
const MODEL = 'test-model'; // $0.01 per output token: the mock's 5 tokens cost $0.05
// In the shipped model table (data/models.json) but listed by no provider (the harness's
// 'mock' serves MODELS, 'mock-priced' serves MODEL): requests for it get 404 model_not_found.
const UNSERVED_MODEL = 'gpt-4o';
const CARD_OK = '4242 4242 4242 4242';
const CARD_DECLINED = '4000 0000 0000 0002';
const CARD_EXP = `12/${String((new Date().getUTCFullYear() + 4) % 100).padStart(2, '0')}`;

const LANGS = [
  {
    lang: 'en', locale: 'en-US', htmlLang: /^en\b/i,
    nav: { 'nav-api-keys': /^API keys$/i, 'nav-projects': /^Projects$/i, 'nav-billing': /^Billing$/i, 'nav-limits': /^Limits$/i, 'nav-usage': /^Usage$/i, 'nav-settings': /^Settings$/i },
    createKeyLabel: /Create new secret key/i,
    unservedBadge: 'No provider',
  },
  {
    lang: 'zh', locale: 'zh-CN', htmlLang: /^zh\b/i,
    nav: Object.fromEntries(['nav-api-keys', 'nav-projects', 'nav-billing', 'nav-limits', 'nav-usage', 'nav-settings'].map((k) => [k, /[\u4e00-\u9fff]/])),
    createKeyLabel: /[\u4e00-\u9fff]/,
    unservedBadge: '无提供方',
  },
];

/** English labels that must not be left as they are on a Chinese page. */
const ENGLISH_LABELS = [
  'API Keys', 'Projects', 'Billing', 'Limits', 'Usage', 'Settings', 'Create new secret key',
  'Create secret key', 'Secret key', 'Copy', 'Copied', 'Done', 'Cancel', 'Close', 'Revoke', 'Revoke key',
  'Revoke secret key', 'Save', 'Saved', 'Continue', 'Back', 'Next', 'Confirm payment', 'Add payment details',
  'Log out', 'Log in', 'Sign up', 'Create account', 'Email', 'Email address', 'Password', 'Name',
  'Organization name', 'Organization', 'Project', 'Permissions', 'Created', 'Last used', 'Never',
  'All', 'Read only', 'Balance', 'Credit balance', 'Credit grants', 'Payment methods', 'Invoices',
  'Usage limits', 'Rate limits', 'Usage tier', 'Hard limit', 'Alert', 'Members', 'Invitations',
  'Invite', 'Invite member', 'Individual', 'Company', 'Address', 'City', 'Postal code', 'Country',
  'Tax ID', 'Card number', 'Expiry', 'Amount', 'Auto recharge', 'Auto-recharge', 'Archive',
  'Create project', 'Create', 'Delete', 'Language', 'Model', 'Cost', 'Tokens', 'Total', 'Requests',
  'Loading', 'Status', 'Role', 'Owner', 'Reader', 'Buy credit', 'Date', 'Start', 'End', 'Day',
  'Pending', 'Paid', 'Default', 'Remove', 'Invite link', 'Total cost', 'Total tokens',
  'Providers', 'Add provider', 'Organizations', 'Test', 'Edit', 'Enable', 'Disable', 'Healthy', 'Weight',
  'Priority', 'Type', 'Base URL', 'Models', 'Suspend', 'Reactivate', 'Grant credit', 'Set tier', 'Suspended',
  'Active', 'Free', 'no key', 'Add model', 'Context window', 'Max output', 'Tokenizer', 'Served by', 'Get started',
  'Connect a provider', 'Create an API key', 'Make a first request', 'Go to Providers', 'Create a key', 'Check again',
  'Load more', 'Menu', 'Open the menu', 'Close the menu', 'No provider', 'Add another key', 'Save model', 'Endpoint',
  'Chat', 'Embedding', 'Completion', 'Model ID', 'Upstream API keys',
];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Runs a program (extra environment variables, optional standard input); resolves its stdout. */
function run(cmd, args, extraEnv, input) {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { env: { ...process.env, ...extraEnv }, timeout: 60000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
    child.stdin.end(input ?? '');
  });
}

/** The integer nano-dollars of a price member in an answer's JSON text, read from its decimal
 * digits (never through a float); null for JSON null. */
function nanosIn(text, member) {
  const m = new RegExp(`"${member}"\\s*:\\s*(null|[0-9]+(?:\\.[0-9]+)?)(?=[,}\\s])`).exec(text);
  assert.ok(m, `"${member}" is a plain decimal (or null) in ${text}`);
  if (m[1] === 'null') return null;
  const [whole, frac = ''] = m[1].split('.');
  assert.ok(frac.length <= 9, `at most 9 decimals: ${m[1]}`);
  return BigInt(whole) * 1000000000n + BigInt(frac.padEnd(9, '0'));
}

async function ok200(p, what) {
  const r = await p;
  assert.equal(r.status, 200, `${what}: ${r.status} ${r.text}`);
  return r;
}

/** The operator: a priced model served by the mock upstream (every organisation can use it). */
async function startEnv(smtp) {
  const env = await Env.start({ initArgs: ['--email', OPERATOR_EMAIL, '--password', PASSWORD], serveArgs: ['--signup', 'open', '--payments', 'test', '--smtp-url', `smtp://127.0.0.1:${smtp.port}`] });
  await ok200(env.admin('POST', `/v1/organization/models/${MODEL}`, { input_price: '0', output_price: '10000' }), 'price the model');
  await ok200(env.admin('POST', '/v1/organization/providers', {
    name: 'mock-priced', type: 'openai_compatible', base_url: env.mock.baseURL, api_key: 'sk-upstream-e2e', models: [{ model: MODEL }],
  }), 'a provider for the model');
  return env;
}

/** GET with the page's own cookie (the browser context's request API shares its cookie jar). */
async function sessionGet(page, origin, urlPath) {
  const r = await page.request.get(origin + urlPath);
  const text = await r.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: r.status(), text, json };
}

async function expectSdkError(promise, Cls, status) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected ${Cls.name} (${status}), but the call succeeded`);
  assert.ok(err instanceof Cls, `expected ${Cls.name}, got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.status, status, `status; ${err.message}`);
  return err;
}

/** Fills an input, or picks the option of a select whose value or text matches. */
async function fillOrSelect(locator, value) {
  const tag = await locator.evaluate((el) => el.tagName);
  if (tag === 'SELECT') await locator.selectOption({ value }).catch(() => locator.selectOption({ label: value }));
  else await locator.fill(value);
}

for (const L of LANGS) {
  describe(`console end to end in ${L.locale}`, () => {
    let env;
    let browser;
    let page;
    let rec;
    let origin;
    let smtp;
    const shots = [];
    const layout = [];
    const untranslated = [];

    /** Screenshot plus the per-page checks (layout; in Chinese, English labels). */
    async function shot(name) {
      await settle(page, rec);
      shots.push(await screenshot(page, rec, L.lang, name));
      for (const p of await layoutProblems(page)) layout.push(`${name}: ${p}`);
      if (L.lang === 'zh') for (const t of await untranslatedLabels(page, ENGLISH_LABELS)) untranslated.push(`${name}: "${t}"`);
    }

    function assertNoProblems(where) {
      assert.deepEqual(rec.problems, [], `page errors / console.error ${where}:\n${rec.problems.join('\n')}`);
    }

    async function nav(id, readyTestId, pathname) {
      await page.getByTestId(id).click();
      await page.getByTestId(readyTestId).first().waitFor({ state: 'visible' });
      assert.equal(new URL(page.url()).pathname, pathname, `${id} goes to ${pathname}`);
      await settle(page, rec);
    }

    async function balanceShown() {
      return amountIn(await page.getByTestId('balance-available').innerText());
    }

    async function waitBalance(expected) {
      const deadline = Date.now() + 10000;
      let v;
      for (;;) {
        v = await balanceShown();
        if (v === expected || Date.now() > deadline) break;
        await sleep(100);
      }
      assert.equal(v, expected, `balance-available shows ${expected}: "${await page.getByTestId('balance-available').innerText()}"`);
    }

    async function apiAvailable() {
      const r = await sessionGet(page, origin, '/v1/organization/billing/balance');
      assert.equal(r.status, 200, `balance with the session: ${r.text}`);
      return r.json.available;
    }

    /** Opens the payment dialog and fills payer (company) and card; returns after Continue. */
    async function paymentDetails(card, shotPrefix) {
      await page.getByTestId('add-payment').click();
      await page.getByTestId('dialog').waitFor({ state: 'visible' });
      if (shotPrefix) await shot(`${shotPrefix}-1-payer`);
      await page.getByTestId('payer-company').click();
      await page.getByTestId('company-name').fill('Acme 测试 GmbH');
      await page.getByTestId('company-address').fill('Unter den Linden 1');
      await page.getByTestId('company-city').fill('Berlin');
      await page.getByTestId('company-postal-code').fill('10117');
      await fillOrSelect(page.getByTestId('company-country'), 'DE');
      await page.getByTestId('company-tax-id').fill('DE123456789');
      await page.getByTestId('card-number').fill(card);
      await page.getByTestId('card-exp').fill(CARD_EXP);
      await page.getByTestId('card-cvc').fill('123');
      if (shotPrefix) await shot(`${shotPrefix}-2-company-card`);
      await page.getByTestId('payment-continue').click();
    }

    before(async () => {
      clearOutput(L.lang);
      smtp = await startSmtpSink();
      env = await startEnv(smtp);
      origin = env.origin;
      browser = await launchBrowser();
      ({ page, rec } = await openPage(browser, { locale: L.locale, origin }));
    });

    after(async () => {
      await browser?.close().catch(() => {});
      await env?.stop();
      await smtp?.close();
    });

    it('signs up, creates a key, pays, calls the API, sets limits, sees usage, revokes', async (t) => {
      try {
        await flow(t);
      } catch (e) {
        // what the page looked like, and what it logged, when the step failed
        try { await screenshot(page, rec, L.lang, 'FAILED'); } catch { /* the page may be gone */ }
        if (rec.problems.length) e.message += `\n--- page errors / console.error so far:\n${rec.problems.join('\n')}`;
        if (layout.length) e.message += `\n--- layout problems so far:\n${layout.join('\n')}`;
        if (untranslated.length) e.message += `\n--- English labels on Chinese pages so far:\n${untranslated.join('\n')}`;
        e.message += `\n--- at ${page.url()}; screenshot tests/e2e/output/${L.lang}/FAILED.png`;
        throw e;
      }
    });

    it('the operator\'s owner: first-run checklist, providers, models, organisations', async (t) => {
      try {
        await operatorFlow(t);
      } catch (e) {
        try { await screenshot(page, rec, L.lang, 'FAILED-operator'); } catch { /* the page may be gone */ }
        if (rec.problems.length) e.message += `\n--- page errors / console.error so far:\n${rec.problems.join('\n')}`;
        if (layout.length) e.message += `\n--- layout problems so far:\n${layout.join('\n')}`;
        if (untranslated.length) e.message += `\n--- English labels on Chinese pages so far:\n${untranslated.join('\n')}`;
        e.message += `\n--- at ${page.url()}; screenshot tests/e2e/output/${L.lang}/FAILED-operator.png`;
        throw e;
      }
    });

    /**
     * Screenshots of the current page at 1280 px and 390 px wide. At 390 px the page is no
     * wider than the window (asserted here, at once, besides layoutProblems' report): the
     * document does not scroll sideways, and that is not hidden by an overflow rule on <html>
     * or <body>; in the console the navigation is folded behind the menu button.
     */
    async function shotBoth(name) {
      await shot(name);
      const vp = page.viewportSize();
      await page.setViewportSize({ width: 390, height: 844 });
      try {
        await shot(`${name}-390`);
        const m = await page.evaluate(() => ({
          doc: document.documentElement.scrollWidth,
          body: document.body.scrollWidth,
          win: window.innerWidth,
          clip: [getComputedStyle(document.documentElement).overflowX, getComputedStyle(document.body).overflowX],
        }));
        assert.equal(m.win, 390);
        assert.ok(m.doc <= m.win && m.body <= m.win, `${name} at 390 px: the page is ${Math.max(m.doc, m.body)} px wide in a ${m.win} px window`);
        assert.ok(!m.clip.some((o) => o === 'hidden' || o === 'clip'), `${name}: no overflow-x rule on html/body hides a too-wide page (${m.clip})`);
        if (await page.getByTestId('nav-toggle').count()) {
          assert.ok(await page.getByTestId('nav-toggle').isVisible(), `${name} at 390 px: the menu button`);
          assert.equal(await page.getByTestId('nav-api-keys').isVisible(), false, `${name} at 390 px: the navigation is folded`);
        }
      } finally {
        await page.setViewportSize(vp);
      }
      if (await page.getByTestId('nav-toggle').count()) {
        assert.equal(await page.getByTestId('nav-toggle').isVisible(), false, `${name} at ${vp.width} px: no menu button`);
      }
    }

    /** The Models page (operator): the whole table, served or not, exact prices; add a model
     * (the form's own checks first), edit a price. servedModel: served by the operator's provider. */
    async function modelsFlow(servedModel) {
      await nav('nav-models', 'model-row', '/models');
      const all = []; // the API, 20 a page
      for (let after = null; ;) {
        const r = await env.admin('GET', `/v1/organization/models?limit=20${after ? `&after=${encodeURIComponent(after)}` : ''}`);
        assert.equal(r.status, 200, r.text);
        all.push(...r.json.data);
        if (!r.json.has_more) break;
        after = r.json.last_id;
      }
      assert.ok(all.length >= 51, `the shipped table has 51 models or more: ${all.length}`);
      const rowsOf = () => page.getByTestId('model-row').evaluateAll((els) => els.map((el) => ({ id: el.dataset.model, served: el.dataset.served })));
      let rows = await rowsOf();
      assert.deepEqual(rows.map((r) => r.id), all.map((m) => m.id), 'one row per model of every page, in the table\'s order');
      assert.match(await page.getByTestId('model-count').innerText(), new RegExp(`${all.length}`), 'the count');
      const mrow = (id) => page.locator(`[data-testid="model-row"][data-model="${id}"]`);
      assert.equal(await mrow(servedModel).getAttribute('data-served'), 'true', `${servedModel} is served`);
      assert.equal(await mrow(UNSERVED_MODEL).getAttribute('data-served'), 'false', `${UNSERVED_MODEL} is not served`);
      assert.equal((await mrow(UNSERVED_MODEL).getByTestId('model-unserved').innerText()).trim(), L.unservedBadge);
      const cell = async (id, which) => (await mrow(id).getByTestId(`model-${which}-price-cell`).innerText()).trim();
      const shipped = all.find((m) => m.id === servedModel);
      assert.deepEqual([shipped.input_price, shipped.cached_input_price, shipped.output_price], [0.15, 0.075, 0.6], 'the shipped prices');
      assert.equal(await cell(servedModel, 'input'), '$0.15', 'the input price per 1M tokens');
      assert.equal(await cell(servedModel, 'cached'), '$0.075');
      assert.equal(await cell(servedModel, 'output'), '$0.60');
      await shotBoth('models');

      // add: what the form can check is refused before anything is sent
      const newId = `e2e-llama-${L.lang}`;
      const posts = () => rec.responses.filter((r) => r.method === 'POST' && /\/v1\/organization\/models\//.test(new URL(r.url).pathname)).length;
      const postsBefore = posts();
      await page.getByTestId('model-add').click();
      await page.getByTestId('dialog').waitFor({ state: 'visible' });
      await page.getByTestId('model-id').fill(servedModel); // exists already
      await page.getByTestId('model-input-price').fill('1.2345678901'); // 10 decimals
      await page.getByTestId('model-output-price').fill(''); // required
      await page.getByTestId('model-context-window').fill('8192');
      await page.getByTestId('model-max-output').fill('9000'); // above the window
      await page.getByTestId('model-save').click();
      await page.getByTestId('model-field-error').first().waitFor({ state: 'visible' });
      assert.equal(await page.getByTestId('model-field-error').count(), 4, 'the ID, the input price, the output price and the max output are refused');
      assert.equal(posts(), postsBefore, 'nothing was sent');
      await shot('models-add-invalid');
      await page.getByTestId('model-id').fill(newId);
      await page.getByTestId('model-input-price').fill('1.234567891');
      await page.getByTestId('model-output-price').fill('2.5');
      await page.getByTestId('model-max-output').fill('2048');
      assert.equal(await page.getByTestId('model-tokenizer').inputValue(), '', 'a new model has no tokenizer unless one is chosen');
      await page.getByTestId('model-type').selectOption('chat');
      await shotBoth('models-add-dialog');
      await page.getByTestId('model-save').click();
      await page.getByTestId('dialog').waitFor({ state: 'detached' });
      await mrow(newId).waitFor({ state: 'visible' });
      await page.getByTestId('model-notice').waitFor({ state: 'visible' });
      assert.equal(await mrow(newId).getAttribute('data-served'), 'false', 'no provider lists the new model yet');
      assert.equal(await cell(newId, 'input'), '$1.234567891', 'every digit of the price');
      assert.equal(await cell(newId, 'output'), '$2.50');
      assert.equal(await cell(newId, 'cached'), '—');
      let stored = await env.admin('GET', `/v1/organization/models/${newId}`);
      assert.equal(stored.status, 200, stored.text);
      assert.equal(nanosIn(stored.text, 'input_price'), 1234567891n, `input price stored as 1234567891 nano-dollars per 1M: ${stored.text}`);
      assert.equal(nanosIn(stored.text, 'output_price'), 2500000000n, `output price: ${stored.text}`);
      assert.equal(nanosIn(stored.text, 'cached_input_price'), null, `no cached price: ${stored.text}`);
      assert.equal(stored.json.context_window, 8192);
      assert.equal(stored.json.max_output_tokens, 2048);
      assert.equal(stored.json.tokenizer, null);
      assert.equal(stored.json.type, 'chat');
      assert.equal(stored.json.owned_by, 'organization-owner');
      await shotBoth('models-added');

      // edit a price: the dialog holds the exact decimal; only what changed is sent
      await mrow(newId).getByTestId('model-edit').click();
      await page.getByTestId('dialog').waitFor({ state: 'visible' });
      assert.equal(await page.getByTestId('model-input-price').inputValue(), '1.234567891', 'prefilled with every digit');
      assert.equal(await page.getByTestId('model-output-price').inputValue(), '2.5');
      await page.getByTestId('model-input-price').fill('0.000000007');
      await shot('models-edit-dialog');
      const req = page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith(`/v1/organization/models/${newId}`));
      await page.getByTestId('model-save').click();
      assert.deepEqual(JSON.parse((await req).postData()), { input_price: '0.000000007' }, 'the price is sent as a decimal string, alone');
      await page.getByTestId('dialog').waitFor({ state: 'detached' });
      await page.waitForFunction((id) => document.querySelector(`[data-testid="model-row"][data-model="${id}"] [data-testid="model-input-price-cell"]`)?.textContent.trim() === '$0.000000007', newId);
      stored = await env.admin('GET', `/v1/organization/models/${newId}`);
      assert.equal(nanosIn(stored.text, 'input_price'), 7n, `the edited price is 7 nano-dollars per 1M: ${stored.text}`);
      assert.equal(nanosIn(stored.text, 'output_price'), 2500000000n, `the output price is unchanged: ${stored.text}`);

      // the filter; after the new model the table has one more row
      rows = await rowsOf();
      assert.equal(rows.length, all.length + 1, 'the new model is listed');
      await page.getByTestId('model-filter').fill('e2e-llama');
      await page.waitForFunction(() => document.querySelectorAll('[data-testid="model-row"]').length === 1);
      await page.getByTestId('model-filter').fill('');
    }

    async function operatorFlow(t) {
      const problemsBefore = rec.problems.length;
      const layoutBefore = layout.length;
      const untranslatedBefore = untranslated.length;

      // --- the operator's organisation as `init` leaves it: no provider, no project key, no
      // request yet (the harness connected its mocks and made a key: they go)
      for (const p of (await env.admin('GET', '/v1/organization/providers?limit=100')).json.data) {
        await ok200(env.admin('DELETE', `/v1/organization/providers/${p.id}`), `delete provider ${p.name}`);
      }
      for (const proj of (await env.admin('GET', '/v1/organization/projects?limit=100')).json.data) {
        for (const k of (await env.admin('GET', `/v1/organization/projects/${proj.id}/api_keys?limit=100`)).json.data) {
          await ok200(env.admin('DELETE', `/v1/organization/projects/${proj.id}/api_keys/${k.id}`), `revoke ${k.name}`);
        }
      }

      // --- log in as the operator's owner: the operator pages are in the navigation
      await page.goto(`${origin}/login`);
      await page.getByTestId('login-email').waitFor({ state: 'visible' });
      await page.getByTestId('login-email').fill(OPERATOR_EMAIL);
      await page.getByTestId('login-password').fill(PASSWORD);
      await page.getByTestId('login-submit').click();
      await page.getByTestId('nav-providers').waitFor({ state: 'visible' });
      await page.getByTestId('nav-organizations').waitFor({ state: 'visible' });
      await page.getByTestId('nav-models').waitFor({ state: 'visible' });
      for (const id of ['nav-providers', 'nav-organizations', 'nav-models']) {
        const txt = (await page.getByTestId(id).innerText()).trim();
        if (L.lang === 'zh') assert.match(txt, /[\u4e00-\u9fff]/, `${id} in Chinese: "${txt}"`);
        else assert.match(txt, /^(Providers|Organizations|Models)$/, `${id}: "${txt}"`);
      }

      // --- the home page: the first-run checklist, nothing done yet
      assert.equal(new URL(page.url()).pathname, '/api-keys', 'the operator lands on the API keys page');
      const checklist = page.getByTestId('checklist');
      await checklist.waitFor({ state: 'visible' });
      const stepsDone = () => page.getByTestId('checklist-step').evaluateAll((els) => Object.fromEntries(els.map((el) => [el.dataset.step, el.dataset.done])));
      const waitSteps = async (want, what) => {
        const deadline = Date.now() + 15000;
        let got;
        for (;;) {
          got = await stepsDone();
          if (JSON.stringify(got) === JSON.stringify(want) || Date.now() > deadline) break;
          await sleep(100);
        }
        assert.deepEqual(got, want, `the checklist ${what}`);
      };
      await waitSteps({ provider: 'false', key: 'false', request: 'false' }, 'on a fresh install');
      assert.equal(await checklist.getAttribute('data-complete'), 'false');
      assert.equal(await checklist.evaluate((el) => el.open), true, 'open while steps are left');
      const snippet = async (lang) => {
        await page.locator(`[data-testid="checklist-tab"][data-lang="${lang}"]`).click();
        await page.locator(`[data-testid="checklist-snippet"][data-lang="${lang}"]`).waitFor({ state: 'visible' });
        return page.getByTestId('checklist-snippet').innerText();
      };
      for (const lang of ['curl', 'python', 'node']) {
        const text = await snippet(lang);
        assert.ok(text.includes(`${origin}/v1`), `the ${lang} snippet uses this server's origin: ${text}`);
      }
      await snippet('curl');
      await shotBoth('home-checklist');

      // step 1: the link goes to Providers (empty)
      await page.locator('[data-testid="checklist-link"][data-step="provider"]').click();
      await page.getByTestId('provider-add').waitFor({ state: 'visible' });
      assert.equal(new URL(page.url()).pathname, '/providers');
      await settle(page, rec);
      assert.equal(await page.getByTestId('provider-row').count(), 0, 'no provider yet');
      await shotBoth('providers-empty');

      // --- Providers: add the mock upstream for one model the form offers, with two keys
      const name = `e2e mock ${L.lang}`;
      const upstreamKey = `sk-upstream-console-${L.lang}-secret`;
      const upstreamKey2 = `sk-upstream-console-${L.lang}-second`;
      const model = 'gpt-4o-mini'; // a chat model the harness's mock serves
      assert.ok(MODELS.includes(model));
      await page.getByTestId('provider-add').click();
      await page.getByTestId('dialog').waitFor({ state: 'visible' });
      await page.getByTestId('provider-name').fill(name);
      await page.getByTestId('provider-type').selectOption('openai_compatible');
      assert.equal(await page.getByTestId('provider-api-version').count(), 0, 'no api_version field unless azure');
      await page.getByTestId('provider-type').selectOption('azure');
      await page.getByTestId('provider-api-version').waitFor({ state: 'visible' });
      await page.getByTestId('provider-type').selectOption('openai_compatible');
      await page.getByTestId('provider-base-url').fill(env.mock.baseURL);
      assert.equal(await page.getByTestId('provider-api-key').count(), 1, 'one key field to start with');
      assert.equal(await page.getByTestId('provider-api-key').getAttribute('type'), 'password', 'the key is a password field');
      await page.getByTestId('provider-api-key').fill(upstreamKey);
      await page.getByTestId('provider-add-key').click();
      assert.equal(await page.getByTestId('provider-api-key').count(), 2, 'a second key field');
      assert.equal(await page.getByTestId('provider-api-key').nth(1).getAttribute('type'), 'password', 'the second key is a password field too');
      await page.getByTestId('provider-api-key').nth(1).fill(upstreamKey2);
      const offered = await page.getByTestId('provider-model').first().locator('option').evaluateAll((els) => els.map((e) => e.value));
      assert.ok(offered.includes(model), `the form offers ${model}: ${offered.join(' ')}`);
      await page.getByTestId('provider-model').first().selectOption(model);
      await page.getByTestId('provider-priority').fill('5');
      await shotBoth('providers-add-dialog');
      await page.getByTestId('provider-save').click();
      await page.getByTestId('dialog').waitFor({ state: 'detached' });
      const row = page.locator(`[data-testid="provider-row"][data-name="${name}"]`);
      await row.waitFor({ state: 'visible' });
      assert.equal(await row.getAttribute('data-status'), 'healthy', 'the new provider is healthy');
      const rowText = await row.innerText();
      assert.ok(rowText.includes(model), `the row lists ${model}: ${rowText}`);
      assert.ok(rowText.includes(env.mock.baseURL.replace(/\/+$/, '')), `the row shows the base URL: ${rowText}`);
      assert.match(await row.getByTestId('provider-key').innerText(), /2/, 'two keys, redacted');
      const html = await page.content();
      assert.ok(!html.includes(upstreamKey) && !html.includes(upstreamKey2), 'the upstream keys are never shown');
      const apiProv = await sessionGet(page, origin, '/v1/organization/providers?limit=100');
      const created = apiProv.json.data.find((p) => p.name === name);
      assert.ok(created, `the provider exists on the server: ${apiProv.text}`);
      assert.equal(created.priority, 5);
      assert.deepEqual(created.models, [{ model, upstream_model: model }]);
      assert.equal(created.has_api_key, true);
      assert.equal(created.api_key_count, 2, 'both keys were sent (api_keys)');
      assert.ok(!apiProv.text.includes(upstreamKey) && !apiProv.text.includes(upstreamKey2), 'the API never returns the keys');

      // --- back home: step 1 ticked; create a key from the checklist (step 2); run the
      // snippet exactly as shown with it (step 3)
      await nav('nav-api-keys', 'checklist', '/api-keys');
      await waitSteps({ provider: 'true', key: 'false', request: 'false' }, 'after the provider');
      await page.locator('[data-testid="checklist-link"][data-step="key"]').click();
      await page.getByTestId('dialog').waitFor({ state: 'visible' });
      await page.getByTestId('key-name').fill('first key');
      await page.getByTestId('key-create-submit').click();
      await page.getByTestId('key-secret').waitFor({ state: 'visible' });
      const firstKey = await page.getByTestId('key-secret').inputValue();
      assert.match(firstKey, /^sk-proj-/);
      await page.getByTestId('key-done').click();
      await page.getByTestId('dialog').waitFor({ state: 'hidden' });
      await waitSteps({ provider: 'true', key: 'true', request: 'false' }, 'after the key');
      const curl = await snippet('curl');
      assert.ok(curl.includes(`${origin}/v1/chat/completions`) && curl.includes(`"${model}"`), `the curl call asks the served model at this server: ${curl}`);
      const curlOut = await run('sh', ['-c', curl], { OPENAI_API_KEY: firstKey });
      let answer;
      try { answer = JSON.parse(curlOut); } catch { assert.fail(`the curl snippet answers JSON: ${curlOut}`); }
      assert.equal(answer.object, 'chat.completion', `the curl snippet gets a chat completion (200): ${curlOut}`);
      assert.equal(answer.choices[0].message.content, MOCK_CONTENT);
      const node = await snippet('node');
      assert.ok(node.includes(`baseURL: '${origin}/v1'`), `the Node snippet: ${node}`);
      const nodeFile = path.join(OUTPUT, L.lang, 'snippet.mjs'); // under tests/e2e: finds its openai package
      fs.writeFileSync(nodeFile, node);
      assert.equal((await run(process.execPath, [nodeFile], { OPENAI_API_KEY: firstKey })).trim(), MOCK_CONTENT.trim(), 'the Node snippet runs as shown');
      fs.rmSync(nodeFile, { force: true });
      const py = await snippet('python');
      assert.ok(py.includes(`base_url="${origin}/v1"`), `the Python snippet: ${py}`);
      if (await run('python3', ['-c', 'import openai'], {}).then(() => true, () => false)) {
        const pyFile = path.join(OUTPUT, L.lang, 'snippet.py');
        fs.writeFileSync(pyFile, py);
        assert.equal((await run('python3', [pyFile], { OPENAI_API_KEY: firstKey })).trim(), MOCK_CONTENT.trim(), 'the Python snippet runs as shown');
        fs.rmSync(pyFile, { force: true });
      } else {
        await run('python3', ['-c', 'import ast, sys; ast.parse(sys.stdin.read())'], {}, py); // at least valid Python
        t.diagnostic('the openai Python package is not installed: the Python snippet was only parsed');
      }
      await page.getByTestId('checklist-refresh').click();
      await page.waitForFunction(() => document.querySelector('[data-testid="checklist"]')?.dataset.complete === 'true');
      assert.equal(await checklist.evaluate((el) => el.open), false, 'all done: the checklist folds away');
      assert.equal(await page.getByTestId('checklist-step').count(), 0, 'its steps are folded away');
      await shotBoth('home-checklist-done');
      await page.getByTestId('checklist-toggle').click();
      await waitSteps({ provider: 'true', key: 'true', request: 'true' }, 'after the first request (opened again)');
      await shot('home-checklist-done-open');
      await page.reload();
      await checklist.waitFor({ state: 'visible' });
      await page.waitForFunction(() => document.querySelector('[data-testid="checklist"]')?.dataset.complete === 'true');
      assert.equal(await checklist.evaluate((el) => el.open), false, 'still folded after a reload');

      // --- Providers again: Test sends a chat request through the gateway; the mock answers
      // "tok tok …"
      await nav('nav-providers', 'provider-add', '/providers');
      await row.waitFor({ state: 'visible' });
      await shotBoth('providers');
      await row.getByTestId('provider-test').click();
      const result = page.locator(`[data-testid="provider-test-result"][data-provider="${name}"]`);
      await result.waitFor({ state: 'visible', timeout: 30000 });
      const resultText = await result.innerText();
      assert.equal(await result.getAttribute('data-ok'), 'true', `the test succeeded: ${resultText}`);
      assert.ok(resultText.includes('tok'), `the mock's answer is shown: ${resultText}`);
      assert.match(resultText, /200/, `the status is shown: ${resultText}`);
      await shotBoth('providers-test');
      // the temporary key is gone again
      const projects = await sessionGet(page, origin, '/v1/organization/projects?limit=100');
      for (const p of projects.json.data) {
        const keys = await sessionGet(page, origin, `/v1/organization/projects/${p.id}/api_keys?limit=100`);
        assert.ok(!keys.json.data.some((k) => k.name === 'provider test'), `no test key left in ${p.id}: ${keys.text}`);
      }

      // disable and enable again
      await row.getByTestId('provider-toggle').click();
      await page.waitForFunction((n) => document.querySelector(`[data-testid="provider-row"][data-name="${n}"]`)?.dataset.status === 'disabled', name);
      await row.getByTestId('provider-toggle').click();
      await page.waitForFunction((n) => document.querySelector(`[data-testid="provider-row"][data-name="${n}"]`)?.dataset.status === 'healthy', name);

      // edit: the form is prefilled, an empty key field keeps the keys
      await row.getByTestId('provider-edit').click();
      await page.getByTestId('dialog').waitFor({ state: 'visible' });
      assert.equal(await page.getByTestId('provider-name').inputValue(), name, 'prefilled name');
      assert.equal(await page.getByTestId('provider-api-key').count(), 1, 'one empty key field on edit');
      assert.equal(await page.getByTestId('provider-api-key').inputValue(), '', 'the key is not shown back');
      assert.match(await page.getByTestId('provider-api-key').getAttribute('placeholder'), /2/, 'the placeholder says two keys are stored');
      assert.equal(await page.getByTestId('provider-model').first().inputValue(), model, 'prefilled model');
      await page.getByTestId('provider-weight').fill('3');
      await shot('providers-edit-dialog');
      await page.getByTestId('provider-save').click();
      await page.getByTestId('dialog').waitFor({ state: 'detached' });
      const edited = (await sessionGet(page, origin, '/v1/organization/providers?limit=100')).json.data.find((p) => p.name === name);
      assert.equal(edited.weight, 3, 'the weight changed');
      assert.equal(edited.has_api_key, true, 'the keys are kept');
      assert.equal(edited.api_key_count, 2, 'both keys');

      // --- Models: every model of the table (it is paged), prices per 1M tokens; add one
      // with prices, edit a price; the stored values are the exact integers
      await modelsFlow(model);

      // --- Providers: delete, with confirmation
      await nav('nav-providers', 'provider-add', '/providers');
      await row.waitFor({ state: 'visible' });
      await row.getByTestId('provider-delete').click();
      await page.getByTestId('confirm-delete-provider').waitFor({ state: 'visible' });
      await shot('providers-delete-confirm');
      await page.getByTestId('confirm-delete-provider').click();
      await row.waitFor({ state: 'detached' });
      assert.ok(!(await sessionGet(page, origin, '/v1/organization/providers?limit=100')).json.data.some((p) => p.name === name), 'deleted on the server');

      // --- Organizations: more than one page of them (100 a page: "Load more")
      const orgsBefore = (await env.admin('GET', '/v1/platform/organizations?limit=100')).json.data.length;
      const fillers = Array.from({ length: Math.max(0, 101 - orgsBefore) }, (_, i) => `Filler ${L.lang} ${String(i).padStart(3, '0')}`);
      for (let i = 0; i < fillers.length; i += 8) {
        await Promise.all(fillers.slice(i, i + 8).map(async (n) => {
          const r = await env.admin('POST', '/v1/platform/organizations', { name: n });
          assert.ok(r.status === 200 || r.status === 201, `create ${n}: ${r.text}`);
        }));
      }
      await sleep(1100); // the list is in creation order (seconds): the customer comes last
      // --- Organizations: a customer, its tier, suspension
      const cust = await env.admin('POST', '/v1/platform/organizations', { name: `Customer ${L.lang}` });
      assert.ok(cust.status === 200 || cust.status === 201, `create a customer: ${cust.text}`);
      const custId = cust.json.id;
      const custKey = cust.json.admin_key.value;
      let orgTotal = 0;
      for (let after = null; ;) {
        const r = await env.admin('GET', `/v1/platform/organizations?limit=100${after ? `&after=${after}` : ''}`);
        orgTotal += r.json.data.length;
        if (!r.json.has_more) break;
        after = r.json.last_id;
      }
      assert.ok(orgTotal > 100, `more than one page of organisations: ${orgTotal}`);
      await nav('nav-organizations', 'org-row', '/organizations');
      const orow = page.locator(`[data-testid="org-row"][data-org-id="${custId}"]`);
      await page.getByTestId('org-load-more').waitFor({ state: 'visible' });
      assert.equal(await page.getByTestId('org-row').count(), 100, 'the first page: 100 organisations');
      assert.equal(await orow.count(), 0, 'the newest organisation is on the next page');
      await shotBoth('organizations');
      await page.getByTestId('org-load-more').click();
      await orow.waitFor({ state: 'visible' });
      assert.equal(await page.getByTestId('org-row').count(), orgTotal, 'after "Load more": every organisation');
      assert.equal(await page.getByTestId('org-load-more').count(), 0, 'nothing more to load');
      await shotBoth('organizations-all');
      await orow.getByTestId('org-tier-select').selectOption('tier_2');
      await orow.getByTestId('org-tier-save').click();
      await page.waitForFunction((id) => document.querySelector(`[data-testid="org-row"][data-org-id="${id}"]`)?.dataset.tier === 'tier_2', custId);
      const tierText = await orow.getByTestId('org-tier').innerText();
      assert.match(tierText, /2/, `the tier is shown: ${tierText}`);
      assert.match(tierText, L.lang === 'zh' ? /手动/ : /set by hand/, `set by hand: ${tierText}`);
      const after = await env.admin('GET', `/v1/platform/organizations/${custId}`);
      assert.equal(after.json.tier, 'tier_2', after.text);
      assert.equal(after.json.tier_set_by, 'operator', after.text);

      // suspend (with confirmation): the customer's admin key gets 401 account_deactivated
      assert.equal((await env.admin('GET', '/v1/organization/projects', undefined, { key: custKey })).status, 200, 'the customer key works before');
      await orow.getByTestId('org-suspend').click();
      await page.getByTestId('confirm-org-status').waitFor({ state: 'visible' });
      await shot('organizations-suspend-confirm');
      await page.getByTestId('confirm-org-status').click();
      await page.waitForFunction((id) => document.querySelector(`[data-testid="org-row"][data-org-id="${id}"]`)?.dataset.status === 'suspended', custId);
      await shotBoth('organizations-suspended');
      const denied = await env.admin('GET', '/v1/organization/projects', undefined, { key: custKey });
      assert.equal(denied.status, 401, denied.text);
      assert.equal(denied.json.error.code, 'account_deactivated', denied.text);
      // reactivate
      await orow.getByTestId('org-reactivate').click();
      await page.getByTestId('confirm-org-status').click();
      await page.waitForFunction((id) => document.querySelector(`[data-testid="org-row"][data-org-id="${id}"]`)?.dataset.status === 'active', custId);
      assert.equal((await env.admin('GET', '/v1/organization/projects', undefined, { key: custKey })).status, 200, 'the customer key works again');

      // grant credit: $2.50 → 250 cents
      await orow.getByTestId('org-grant').click();
      await page.getByTestId('org-grant-amount').fill('2.50');
      await page.getByTestId('org-grant-description').fill('e2e');
      await page.getByTestId('org-grant-submit').click();
      await page.getByTestId('org-notice').waitFor({ state: 'visible' });
      const bal = await env.admin('GET', '/v1/organization/billing/balance', undefined, { key: custKey });
      assert.equal(bal.status, 200, bal.text);
      assert.ok(Math.abs(bal.json.granted - 2.5) < 1e-9, `granted $2.50: ${bal.text}`);

      await page.getByTestId('logout').click();
      await page.getByTestId('login-email').waitFor({ state: 'visible' });
      t.diagnostic(`operator pages screenshotted into tests/e2e/output/${L.lang}/`);
      assert.deepEqual(rec.problems.slice(problemsBefore), [], `page errors / console.error:\n${rec.problems.slice(problemsBefore).join('\n')}`);
      assert.deepEqual(layout.slice(layoutBefore), [], `layout problems:\n${layout.slice(layoutBefore).join('\n')}`);
      assert.deepEqual(untranslated.slice(untranslatedBefore), [], `English labels on Chinese pages:\n${untranslated.slice(untranslatedBefore).join('\n')}`);
    }

    async function flow(t) {
      const email = `e2e-${L.lang}-${Date.now()}@example.com`;
      const orgName = L.lang === 'zh' ? '测试有限公司' : 'E2E Test Ltd';

      // --- not logged in: the login page, in the browser's language
      await page.goto(`${origin}/api-keys`);
      await page.getByTestId('login-email').waitFor({ state: 'visible' });
      assert.equal(new URL(page.url()).pathname, '/login', 'a visitor without a session is sent to /login');
      assert.match(await page.evaluate(() => document.documentElement.lang), L.htmlLang, '<html lang>');
      const loginText = await page.getByTestId('login-submit').innerText();
      if (L.lang === 'zh') assert.match(loginText, /[\u4e00-\u9fff]/, `login button in Chinese: "${loginText}"`);
      else assert.match(loginText, /^[\x20-\x7e]*[A-Za-z][\x20-\x7e]*$/, `login button in English: "${loginText}"`);
      await shotBoth('login');

      // a wrong password shows the server's error
      await page.getByTestId('login-email').fill('nobody@example.com');
      await page.getByTestId('login-password').fill('not the password');
      await page.getByTestId('login-submit').click();
      await page.getByTestId('auth-error').waitFor({ state: 'visible' });
      await shot('login-error');

      // --- sign up: a new organisation
      await page.getByTestId('to-signup').click();
      await page.getByTestId('signup-email').waitFor({ state: 'visible' });
      assert.equal(new URL(page.url()).pathname, '/signup');
      await shotBoth('signup');
      await page.getByTestId('signup-email').fill(email);
      await page.getByTestId('signup-password').fill(PASSWORD);
      await page.getByTestId('signup-org').fill(orgName);
      await page.getByTestId('signup-submit').click();
      await page.getByTestId('create-key').waitFor({ state: 'visible' });
      assert.ok(['/api-keys', '/'].includes(new URL(page.url()).pathname), `after sign-up: the API keys page (${page.url()})`);
      const session = await sessionGet(page, origin, '/console/api/session');
      assert.equal(session.status, 200, `the browser has a session: ${session.text}`);
      assert.equal(session.json.user.email, email);
      assert.equal(session.json.user.role, 'owner');
      assert.notEqual(session.json.organization.id, env.orgId, 'a new organisation');
      assert.match(String(session.json.organization.usage_tier), /free/i);
      const cookies = await page.context().cookies(origin);
      const tg = cookies.find((c) => c.name === 'tg_session');
      assert.ok(tg, `the tg_session cookie: ${JSON.stringify(cookies)}`);
      assert.equal(tg.httpOnly, true, 'HttpOnly');
      assert.equal(tg.sameSite, 'Strict', 'SameSite=Strict');
      assert.equal(await page.evaluate(() => document.cookie.includes('tg_session')), false, 'not readable from JavaScript');

      // the shell in the browser's language
      assert.match(await page.evaluate(() => document.documentElement.lang), L.htmlLang, '<html lang> in the console');
      for (const [id, re] of Object.entries(L.nav)) {
        const txt = (await page.getByTestId(id).innerText()).trim();
        assert.match(txt, re, `${id} label: "${txt}"`);
      }
      assert.equal(await page.getByTestId('lang-select').inputValue(), L.lang, 'the language switch shows the browser\'s language');
      assert.equal(await page.getByTestId('nav-providers').count(), 0, 'a customer organisation\'s owner has no Providers page');
      assert.equal(await page.getByTestId('nav-organizations').count(), 0, 'a customer organisation\'s owner has no Organizations page');
      assert.equal((await page.getByTestId('org-name-label').innerText()).trim(), orgName, 'org-name-label');

      // --- API keys: + Create new secret key → name it → Create secret key → shown once
      await shotBoth('api-keys');
      assert.equal(await page.getByTestId('checklist').count(), 0, 'no first-run checklist for a customer organisation');
      const createLabel = await page.getByTestId('create-key').innerText();
      assert.match(createLabel, L.createKeyLabel, `create-key label: "${createLabel}"`);
      await page.getByTestId('create-key').click();
      await page.getByTestId('dialog').waitFor({ state: 'visible' });
      await page.getByTestId('key-name').fill('e2e key');
      const projOptions = await page.getByTestId('key-project').locator('option').count();
      assert.ok(projOptions >= 1, 'key-project offers the default project');
      await page.getByTestId('key-permissions').selectOption('all');
      await shot('api-keys-create-dialog');
      await page.getByTestId('key-create-submit').click();
      await page.getByTestId('key-secret').waitFor({ state: 'visible' });
      const secret = await page.getByTestId('key-secret').inputValue();
      assert.match(secret, /^sk-proj-[A-Za-z0-9_-]{20,}$/, `the one-time secret: ${secret}`);
      assert.equal(await page.getByTestId('key-secret').evaluate((el) => el.readOnly), true, 'key-secret is readonly');
      await shot('api-keys-secret-dialog');
      await page.getByTestId('key-copy').click();
      const clip = await page.evaluate(() => navigator.clipboard.readText());
      assert.equal(clip, secret, 'Copy puts the secret on the clipboard');
      await page.evaluate(() => navigator.clipboard.writeText('')); // nothing left behind
      const createResponses = rec.responses.filter((r) => r.method === 'POST' && /\/api_keys$/.test(new URL(r.url).pathname));
      assert.equal(createResponses.length, 1, 'one create call');
      assert.ok((await createResponses[0].body).includes(secret), 'the recorder saw the secret in the creation answer (it works)');
      await page.getByTestId('key-done').click();
      await page.getByTestId('dialog').waitFor({ state: 'hidden' });
      const closedAt = rec.responses.length;

      // never again: not in the DOM, not in a field, not in storage
      const assertSecretGone = async (where) => {
        const html = await page.content();
        assert.ok(!html.includes(secret) && !html.includes(secret.slice(12)), `the secret is not in the DOM ${where}`);
        const inFields = await page.evaluate((s) => [...document.querySelectorAll('input, textarea')].some((e) => (e.value || '').includes(s)), secret);
        assert.equal(inFields, false, `the secret is in no input's value ${where}`);
        const inStorage = await page.evaluate((s) => JSON.stringify({ ...localStorage }).includes(s) || JSON.stringify({ ...sessionStorage }).includes(s), secret);
        assert.equal(inStorage, false, `the secret is not in localStorage/sessionStorage ${where}`);
      };
      await assertSecretGone('after the dialog closed');
      const rows = page.getByTestId('key-row');
      const row = rows.filter({ hasText: 'e2e key' });
      assert.equal(await row.count(), 1, 'a row for the new key');
      const rowText = await row.innerText();
      assert.ok(rowText.includes(secret.slice(0, 8)) || rowText.includes(secret.slice(-4)), `the row shows the redacted key: ${rowText}`);
      await page.reload();
      await page.getByTestId('key-row').first().waitFor({ state: 'visible' });
      await assertSecretGone('after a reload');

      // --- without credit, the API refuses: 429 insufficient_quota
      const client = new OpenAI({ apiKey: secret, baseURL: `${origin}/v1`, maxRetries: 0, timeout: 60000 });
      const messages = [{ role: 'user', content: 'hello from the e2e test' }];
      const quota = await expectSdkError(client.chat.completions.create({ model: MODEL, messages, max_tokens: 5 }), OpenAI.RateLimitError, 429);
      assert.equal(quota.type, 'insufficient_quota', `type: ${JSON.stringify(quota.error)}`);
      assert.equal(quota.code, 'credit_balance_exhausted', `code: ${JSON.stringify(quota.error)}`);

      // --- Projects, through the folded navigation of a narrow screen: the menu button opens
      // it, choosing a page closes it
      const wide = page.viewportSize();
      await page.setViewportSize({ width: 390, height: 844 });
      try {
        const toggle = page.getByTestId('nav-toggle');
        await toggle.waitFor({ state: 'visible' });
        assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
        assert.equal(await page.getByTestId('nav-projects').isVisible(), false, 'folded');
        await toggle.click();
        await page.getByTestId('nav-projects').waitFor({ state: 'visible' });
        assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
        await page.getByTestId('logout').waitFor({ state: 'visible' });
        await shot('menu-open-390');
        await toggle.click();
        await page.getByTestId('nav-projects').waitFor({ state: 'hidden' });
        await toggle.click();
        await page.getByTestId('nav-projects').click();
        await page.getByTestId('project-row').first().waitFor({ state: 'visible' });
        assert.equal(new URL(page.url()).pathname, '/projects');
        await page.getByTestId('nav-projects').waitFor({ state: 'hidden' });
        assert.equal(await toggle.getAttribute('aria-expanded'), 'false', 'the menu closes on navigation');
      } finally {
        await page.setViewportSize(wide);
      }
      await settle(page, rec);
      assert.ok(await page.getByTestId('project-row').count() >= 1, 'the default project is listed');
      await shotBoth('projects');
      await page.getByTestId('create-project').click();
      await page.getByTestId('dialog').waitFor({ state: 'visible' });
      await page.getByTestId('project-name').fill('Second project');
      await shot('projects-create-dialog');
      await page.getByTestId('project-create-submit').click();
      await page.getByTestId('project-row').filter({ hasText: 'Second project' }).waitFor({ state: 'visible' });
      const projects = await sessionGet(page, origin, '/v1/organization/projects');
      assert.ok(projects.json.data.some((p) => p.name === 'Second project'), 'the project exists on the server');

      // --- Billing: add payment details (company, 4242…) → Continue → $10 → Confirm payment
      await nav('nav-billing', 'balance-available', '/billing');
      assert.equal(await balanceShown(), 0, 'a new organisation has no credit');
      assert.equal(await apiAvailable(), 0);
      await shotBoth('billing');
      await paymentDetails(CARD_OK, 'billing-payment');
      await page.getByTestId('topup-amount').waitFor({ state: 'visible' });
      await page.getByTestId('topup-amount').fill('10');
      const auto = page.getByTestId('auto-recharge');
      if (await auto.isChecked()) await auto.uncheck();
      await shot('billing-payment-3-amount');
      await page.getByTestId('confirm-payment').click();
      await page.getByTestId('dialog').waitFor({ state: 'hidden' });
      await waitBalance(10);
      const bal = await page.getByTestId('balance-available').innerText();
      if (L.lang === 'en') assert.match(bal, /\$10\.00/, `balance shows $10.00: "${bal}"`);
      else assert.match(bal, /10\.00/, `balance shows 10.00: "${bal}"`);
      assert.equal(await apiAvailable(), 10, 'the server says $10 too');
      await page.getByTestId('payment-method-row').first().waitFor({ state: 'visible' });
      assert.equal(await page.getByTestId('payment-method-row').count(), 1, 'one payment method');
      assert.match(await page.getByTestId('payment-method-row').innerText(), /4242/);
      await page.getByTestId('invoice-row').first().waitFor({ state: 'visible' });
      assert.equal(await page.getByTestId('invoice-row').count(), 1, 'one invoice');
      assert.ok(await page.getByTestId('grant-row').count() >= 1, 'the purchased grant is listed');
      await shot('billing-after-payment');

      // a declined card: a clear error, no credit
      const grantsBefore = (await sessionGet(page, origin, '/v1/organization/billing/credit_grants')).json.data.length;
      await paymentDetails(CARD_DECLINED, null);
      // the test provider saves a declining card and fails its charge (as Stripe does), so the
      // error may come at Continue or at Confirm payment
      const amountOrError = await Promise.race([
        page.getByTestId('topup-amount').waitFor({ state: 'visible' }).then(() => 'amount'),
        page.getByTestId('payment-error').waitFor({ state: 'visible' }).then(() => 'error'),
      ]);
      if (amountOrError === 'amount') {
        await page.getByTestId('topup-amount').fill('10');
        await page.getByTestId('confirm-payment').click();
        await page.getByTestId('payment-error').waitFor({ state: 'visible' });
      }
      const errText = (await page.getByTestId('payment-error').innerText()).trim();
      assert.ok(errText.length > 0, 'the payment error says something');
      if (L.lang === 'en') assert.match(errText, /declin/i, `the error says the card was declined: "${errText}"`);
      else assert.match(errText, /[\u4e00-\u9fff]/, `the error is in Chinese (the server's English message may follow): "${errText}"`);
      await shot('billing-payment-declined');
      assert.equal(await apiAvailable(), 10, 'a declined card grants nothing');
      assert.equal((await sessionGet(page, origin, '/v1/organization/billing/credit_grants')).json.data.length, grantsBefore, 'no new grant');
      await page.goto(`${origin}/billing`);
      await page.getByTestId('balance-available').waitFor({ state: 'visible' });
      await waitBalance(10);
      assert.equal(await page.getByTestId('invoice-row').count(), 1, 'still one invoice');

      // --- now the API call succeeds (official SDK, the key from the dialog)
      const chat = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 5 });
      assert.equal(chat.object, 'chat.completion');
      assert.equal(chat.choices[0].message.content, MOCK_CONTENT);
      assert.equal(chat.usage.completion_tokens, MOCK_COMPLETION_TOKENS);
      const chatTokens = chat.usage.prompt_tokens + chat.usage.completion_tokens;

      // --- Limits: hard limit $50 and an alert at $20 → Save → persists
      await nav('nav-limits', 'hard-limit', '/limits');
      const tier = (await page.getByTestId('usage-tier').innerText()).trim();
      assert.match(tier, /1/, `after paying $10 the organisation is at Tier 1: "${tier}"`);
      await page.getByTestId('next-tier').waitFor({ state: 'visible' });
      assert.ok(await page.getByTestId('rate-limit-row').count() >= 1, 'the rate limits in force are listed');
      await shotBoth('limits');

      // a model no provider serves is not shown as usable: after the served ones, marked
      const rateRow = (model) => page.locator(`[data-testid="rate-limit-row"][data-model="${model}"]`);
      assert.ok(!MODELS.includes(UNSERVED_MODEL) && UNSERVED_MODEL !== MODEL, 'UNSERVED_MODEL is listed by no provider');
      const rlProject = await page.getByTestId('rate-limit-project').inputValue();
      const rlApi = await sessionGet(page, origin, `/v1/organization/projects/${encodeURIComponent(rlProject)}/rate_limits?limit=100`);
      assert.equal(rlApi.status, 200, rlApi.text);
      assert.equal(rlApi.json.has_more, false, 'every model on one page of 100');
      const servedByApi = Object.fromEntries(rlApi.json.data.map((r) => [r.model, r.served]));
      assert.equal(servedByApi[UNSERVED_MODEL], false, `the server says ${UNSERVED_MODEL} is not served`);
      for (const m of [MODEL, ...MODELS]) assert.equal(servedByApi[m], true, `the server says ${m} is served`);
      const rlRows = await page.getByTestId('rate-limit-row').evaluateAll((els) => els.map((el) => ({
        model: el.dataset.model,
        served: el.dataset.served,
        badges: el.querySelectorAll('[data-testid="rate-limit-unserved"]').length,
      })));
      assert.equal(rlRows.length, rlApi.json.data.length, 'one row per model');
      for (const r of rlRows) {
        assert.equal(r.served, String(servedByApi[r.model]), `data-served of ${r.model} is the server's "served"`);
        assert.equal(r.badges, r.served === 'false' ? 1 : 0, `the "no provider" badge on ${r.model} only when unserved`);
      }
      const firstUnserved = rlRows.findIndex((r) => r.served === 'false');
      assert.ok(firstUnserved > 0, `served rows first, then unserved ones: ${rlRows.map((r) => `${r.model}=${r.served}`).join(' ')}`);
      assert.ok(rlRows.slice(firstUnserved).every((r) => r.served === 'false'),
        `no served row after an unserved one: ${rlRows.map((r) => `${r.model}=${r.served}`).join(' ')}`);
      assert.equal(await rateRow(MODEL).getAttribute('data-served'), 'true', `${MODEL} is served`);
      assert.equal(await rateRow(MODEL).getByTestId('rate-limit-unserved').count(), 0, `no badge on ${MODEL}`);
      assert.equal(await rateRow(UNSERVED_MODEL).getAttribute('data-served'), 'false', `${UNSERVED_MODEL} is not served`);
      const badge = rateRow(UNSERVED_MODEL).getByTestId('rate-limit-unserved');
      assert.equal((await badge.innerText()).trim(), L.unservedBadge, `the badge on ${UNSERVED_MODEL}`);
      const tip = (await rateRow(UNSERVED_MODEL).getAttribute('title')) || '';
      assert.ok(tip.length > 10, `the row's tooltip explains: "${tip}"`);
      if (L.lang === 'zh') assert.match(tip, /[\u4e00-\u9fff]/, `the tooltip in Chinese: "${tip}"`);
      const cellColor = (model) => rateRow(model).locator('td').first().evaluate((el) => getComputedStyle(el).color);
      assert.notEqual(await cellColor(UNSERVED_MODEL), await cellColor(MODEL), 'the unserved row is muted');
      assert.equal(await page.getByTestId('rate-limit-none-served').count(), 0, 'no "no provider at all" notice: some models are served');
      // filtered: the served match first, the unserved ones after it
      await page.getByTestId('rate-limit-filter').fill('gpt-4o');
      await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="rate-limit-row"]')].every((el) => el.dataset.model.includes('gpt-4o')));
      const filtered = await page.getByTestId('rate-limit-row').evaluateAll((els) => els.map((el) => `${el.dataset.model}=${el.dataset.served}`));
      const cut = filtered.findIndex((x) => x.endsWith('=false'));
      assert.ok(cut > 0 && filtered.slice(cut).every((x) => x.endsWith('=false')),
        `filtered too, the served matches (gpt-4o-mini) first, then the unserved ones: ${filtered.join(' ')}`);
      await shot('limits-unserved');
      await page.getByTestId('rate-limit-filter').fill('');
      await page.getByTestId('hard-limit').fill('50');
      await page.getByTestId('alert-threshold').fill('20');
      await page.getByTestId('alert-email').fill('alerts@example.com');
      const saveFrom = rec.responses.length;
      await page.getByTestId('limits-save').click();
      await page.getByTestId('limits-saved').waitFor({ state: 'visible' });
      await settle(page, rec);
      await shot('limits-saved');
      const writes = rec.responses.slice(saveFrom).filter((r) => r.method === 'POST');
      assert.ok(writes.some((r) => /\/v1\/organization\/spend_limit$/.test(new URL(r.url).pathname) && r.status === 200),
        `Save POSTs the spend limit: ${writes.map((r) => `${r.status} ${r.url}`).join(', ')}`);
      assert.ok(writes.some((r) => /\/v1\/organization\/spend_alerts/.test(new URL(r.url).pathname) && r.status === 200),
        `Save POSTs the alert: ${writes.map((r) => `${r.status} ${r.url}`).join(', ')}`);
      await page.reload();
      await page.getByTestId('hard-limit').waitFor({ state: 'visible' });
      await settle(page, rec);
      assert.equal(amountIn(await page.getByTestId('hard-limit').inputValue()), 50, 'the hard limit persists');
      assert.equal(amountIn(await page.getByTestId('alert-threshold').inputValue()), 20, 'the alert persists');
      const lim = await sessionGet(page, origin, '/v1/organization/spend_limit');
      assert.equal(lim.status, 200, lim.text);
      assert.equal(lim.json.threshold_amount, 5000, `spend limit on the server: ${lim.text}`);
      const alerts = await sessionGet(page, origin, '/v1/organization/spend_alerts');
      assert.equal(alerts.status, 200, alerts.text);
      const alert = alerts.json.data.find((a) => a.threshold_amount === 2000);
      assert.ok(alert, `an alert at 2000 cents: ${alerts.text}`);
      assert.deepEqual(alert.notification_channel?.recipients, ['alerts@example.com'], `the alert's e-mail: ${alerts.text}`);
      assert.ok(!alerts.text.includes('signing_secret":"'), 'no signing secret in the list');

      // --- Usage: the request, by model; totals equal the costs and usage endpoints
      await nav('nav-usage', 'usage-total-cost', '/usage');
      await page.getByTestId('usage-model-row').filter({ hasText: MODEL }).first().waitFor({ state: 'visible' });
      await page.getByTestId('usage-cost-chart').waitFor({ state: 'visible' });
      await page.getByTestId('usage-tokens-chart').waitFor({ state: 'visible' });
      // uPlot is loaded on first use: wait for both charts to be drawn
      await page.getByTestId('usage-cost-chart').locator('canvas').first().waitFor({ state: 'visible' });
      await page.getByTestId('usage-tokens-chart').locator('canvas').first().waitFor({ state: 'visible' });
      await shotBoth('usage');
      const start = await page.getByTestId('usage-start').inputValue();
      const end = await page.getByTestId('usage-end').inputValue();
      assert.match(start, /^\d{4}-\d{2}-\d{2}$/, `usage-start: ${start}`);
      assert.match(end, /^\d{4}-\d{2}-\d{2}$/, `usage-end: ${end}`);
      const st = Date.parse(`${start}T00:00:00Z`) / 1000;
      const et = Date.parse(`${end}T00:00:00Z`) / 1000 + 86400;
      const costs = await sessionGet(page, origin, `/v1/organization/costs?start_time=${st}&end_time=${et}&limit=180`);
      assert.equal(costs.status, 200, costs.text);
      const costTotal = costs.json.data.flatMap((b) => b.results).reduce((s, r) => s + Number(r.amount.value), 0);
      assert.ok(Math.abs(costTotal - 0.05) < 1e-9, `the costs endpoint: $0.05 for the one request (${costTotal})`);
      const shownCost = amountIn(await page.getByTestId('usage-total-cost').innerText());
      assert.equal(Math.round(shownCost * 100), Math.round(costTotal * 100), `usage-total-cost "${await page.getByTestId('usage-total-cost').innerText()}" equals the costs endpoint to the cent ($${costTotal})`);
      const usage = await sessionGet(page, origin, `/v1/organization/usage/completions?start_time=${st}&end_time=${et}&limit=31`);
      assert.equal(usage.status, 200, usage.text);
      const tokTotal = usage.json.data.flatMap((b) => b.results).reduce((s, r) => s + r.input_tokens + r.output_tokens, 0);
      assert.equal(tokTotal, chatTokens, 'the usage endpoint counts the request');
      assert.equal(integerIn(await page.getByTestId('usage-total-tokens').innerText()), tokTotal, 'usage-total-tokens equals the usage endpoint');
      const modelRow = await page.getByTestId('usage-model-row').filter({ hasText: MODEL }).first().innerText();
      assert.ok(modelRow.includes(MODEL), `the model row: ${modelRow}`);

      // --- Settings: the organisation, members, an invitation link
      await nav('nav-settings', 'settings-org-name', '/settings');
      assert.equal(await page.getByTestId('settings-org-name').inputValue(), orgName);
      assert.ok(await page.getByTestId('member-row').count() >= 1, 'the owner is a member');
      await shotBoth('settings');
      await page.getByTestId('invite-email').fill(`colleague-${L.lang}@example.com`);
      await fillOrSelect(page.getByTestId('invite-role'), 'reader');
      await page.getByTestId('invite-submit').click();
      await page.getByTestId('invite-link').waitFor({ state: 'visible' });
      const link = (await page.getByTestId('invite-link').evaluate((el) => el.value || el.href || el.textContent)).trim();
      assert.match(link, /\/signup\?invite=/, `the invitation link: ${link}`);
      await shot('settings-invite');

      // --- the language switch: the other language, kept across a reload, then back
      const other = L.lang === 'en' ? 'zh' : 'en';
      await page.getByTestId('lang-select').selectOption(other);
      await page.waitForFunction((o) => document.documentElement.lang.startsWith(o), other);
      const navOther = (await page.getByTestId('nav-billing').innerText()).trim();
      if (other === 'zh') assert.match(navOther, /[\u4e00-\u9fff]/, `switched to Chinese: "${navOther}"`);
      else assert.match(navOther, /^Billing$/i, `switched to English: "${navOther}"`);
      await page.reload();
      await page.getByTestId('nav-billing').waitFor({ state: 'visible' });
      assert.ok((await page.evaluate(() => document.documentElement.lang)).startsWith(other), 'the choice survives a reload');
      await page.getByTestId('lang-select').selectOption(L.lang);
      await page.waitForFunction((o) => document.documentElement.lang.startsWith(o), L.lang);

      // --- API keys → revoke (with confirmation) → the SDK gets 401
      await nav('nav-api-keys', 'key-row', '/api-keys');
      const keyRow = page.getByTestId('key-row').filter({ hasText: 'e2e key' });
      await keyRow.getByTestId('key-revoke').click();
      await page.getByTestId('confirm-revoke').waitFor({ state: 'visible' });
      await shot('api-keys-revoke-confirm');
      await page.getByTestId('confirm-revoke').click();
      await page.getByTestId('key-row').filter({ hasText: 'e2e key' }).waitFor({ state: 'detached' });
      const denied = await expectSdkError(client.chat.completions.create({ model: MODEL, messages, max_tokens: 5 }), OpenAI.AuthenticationError, 401);
      assert.equal(denied.code, 'invalid_api_key', JSON.stringify(denied.error));
      assert.ok(!denied.message.includes(secret), 'the 401 redacts the key');

      // --- the secret was in no answer the page got after the dialog closed
      const later = rec.responses.slice(closedAt);
      assert.ok(later.length > 10, `the page made calls after the dialog closed (${later.length})`);
      for (const r of later) {
        const body = await r.body;
        assert.ok(!body.includes(secret) && !body.includes(secret.slice(12)), `the secret is not in ${r.method} ${r.url} (${r.status})`);
      }
      await assertSecretGone('at the end');

      // --- log out
      await page.getByTestId('logout').click();
      await page.getByTestId('login-email').waitFor({ state: 'visible' });
      assert.equal((await sessionGet(page, origin, '/console/api/session')).status, 401, 'logged out on the server too');

      t.diagnostic(`${shots.length} screenshots in tests/e2e/output/${L.lang}/`);
      assertNoProblems('during the flow');
      assert.deepEqual(layout, [], `layout problems:\n${layout.join('\n')}`);
      assert.deepEqual(untranslated, [], `English labels on Chinese pages:\n${untranslated.join('\n')}`);
    }
  });
}
