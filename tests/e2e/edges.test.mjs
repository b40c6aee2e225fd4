// The console's rough edges (issue 12, item 3), in Debian's chromium through playwright-core,
// once in English (en-US) and once in Chinese (zh-CN), as a user does it, on a server run like
// `make run` (no SMTP):
//  - Limits: a webhook alert made in the console (its signing secret shown once) fires: a real
//    HTTP sink receives the signed POST when the spend crosses it; the project table shows
//    every project's month spend, with or without a budget; no 404 while on the page;
//  - the operator's own Billing page offers no credit to buy;
//  - errors the console can predict are in the reader's language (a declined card, the
//    minimum top-up and a company's missing tax id as the server answers them), and the forms
//    check first: the empty payment form names every missing field;
//  - what the server names (the default project, the organisation left unnamed, a purchase's
//    credit grant) is in the reader's language: no English words on the Chinese pages; the
//    default project is user data, renamed in the console;
//  - "Add to credit balance" is not "Initial credit purchase"; the country is a select list;
//  - the login page has no "Sign up" with --signup invite; a Restricted key made in the
//    console lists models but its chat call gets the API's 401.
//
// Run: cd tests/e2e && node --test --test-concurrency=1 --test-timeout=300000 edges.test.mjs

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import OpenAI from 'openai';
import { Env } from '../integration/harness.mjs';
import { launchBrowser, openPage, settle, screenshot, layoutProblems, untranslatedLabels, amountIn } from './browser.mjs';

const PASSWORD = 'e2e-password-1234';
const OPERATOR_EMAIL = 'operator@example.com';
const MODEL = 'test-model'; // $0.01 per output token: the mock's 5 tokens cost $0.05
const CARD_OK = '4242 4242 4242 4242';
const CARD_DECLINED = '4000 0000 0000 0002';
const CARD_EXP = `12/${String((new Date().getUTCFullYear() + 4) % 100).padStart(2, '0')}`;

const LANGS = [
  { lang: 'en', locale: 'en-US' },
  { lang: 'zh', locale: 'zh-CN' },
];

/** English labels that must not be on a Chinese page (text or placeholder/title/aria-label). */
const ENGLISH_LABELS = [
  'Sign up', 'Log in', 'Default project', 'Personal', 'Restricted', 'Models', 'Model capabilities', 'None', 'Read',
  'Write', 'Initial credit purchase', 'Amount to add', 'Add to credit balance', 'Country', 'Tax ID', 'Webhook URL',
  'Signing secret', 'Notify by', 'Email', 'Top-up', 'Auto-recharge', 'Credit purchase', 'Spend this month',
  'Choose a country or region', 'Alert (soft limit)', 'No credit needed.',
];

/**
 * Latin words a Chinese page may show: product names, acronyms, formats (web/README.md's
 * LATIN_OK of the strings test and the like). Data the test made (ids, e-mails, model names,
 * key secrets, invoice numbers, URLs) is left out by pattern.
 */
const LATIN_OK = new Set([
  'api', 'rpm', 'tpm', 'rpd', 'tpd', 'id', 'tollgate', 'openai', 'visa', 'mastercard', 'cvc', 'usd', 'utc', 'webhook',
  'mm', 'yy', 'url', 'json', 'http', 'https', 'hmac', 'sha', 'post', 'english', 'stripe', 'sdk', 'html', 'pdf', 'gpt',
]);

/** Visible text of the page (or its open dialog) in Latin words that are not data: English left on a Chinese page. */
async function englishWords(page, extraData = []) {
  const words = await page.evaluate(() => {
    const dialog = document.querySelector('[data-testid="dialog"]');
    const root = dialog && dialog.getClientRects().length ? dialog : document.body;
    const out = [];
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!el || el.closest('script, style, noscript, option, select, code, .mono, .uplot, [data-testid="lang-select"]')) continue;
      const cs = getComputedStyle(el);
      if (cs.display === 'none' || cs.visibility === 'hidden' || !el.getClientRects().length) continue;
      out.push(n.textContent);
    }
    return out;
  });
  const found = [];
  for (let text of words) {
    for (const d of extraData) text = text.split(d).join(' ');
    text = text
      .replace(/\S+@\S+/g, ' ') // e-mail addresses
      .replace(/\w+:\/\/\S+/g, ' ') // URLs
      .replace(/(^|\s|（|\()\/[\w/{}.-]+/g, ' ') // API paths (/v1/models)
      .replace(/\b(?:org|proj|key|user|grant|alert|pay|pm|inv|invite)[-_][A-Za-z0-9]+/g, ' ') // ids
      .replace(/\bsk-[\w.…-]+/g, ' ') // redacted keys
      .replace(/\b[A-Z0-9]+(?:-[A-Z0-9]+)+\b/g, ' ') // invoice numbers
      .replace(/\b[\w.]+-[\w.-]+\b/g, ' '); // model ids (gpt-4o-mini, test-model …)
    for (const w of text.match(/[A-Za-z]{2,}/g) ?? []) {
      if (!LATIN_OK.has(w.toLowerCase())) found.push(w);
    }
  }
  return [...new Set(found)];
}

/** A webhook receiver on loopback: every POST with its headers and body. */
async function startSink() {
  const got = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      got.push({ method: req.method, url: req.url, headers: req.headers, body });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { got, url: `http://127.0.0.1:${server.address().port}/tollgate-alerts`, close: () => new Promise((r) => server.close(r)) };
}

function verifySignature(header, body, secret) {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  assert.ok(m, `Tollgate-Signature: ${header}`);
  const mac = crypto.createHmac('sha256', secret).update(`${m[1]}.${body}`).digest('hex');
  return crypto.timingSafeEqual(Buffer.from(mac), Buffer.from(m[2]));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function ok200(p, what) {
  const r = await p;
  assert.equal(r.status, 200, `${what}: ${r.status} ${r.text}`);
  return r;
}

async function sessionGet(page, origin, urlPath) {
  const r = await page.request.get(origin + urlPath);
  const text = await r.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: r.status(), text, json };
}

async function sdkError(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail('expected the call to fail');
}

describe('the console\'s rough edges', () => {
  let env; // --signup open, --payments test, no SMTP (as `make run`)
  let sink;
  let browser;

  before(async () => {
    sink = await startSink();
    env = await Env.start({
      // the operator names its organisation at init (without --org the CLI says "Personal")
      initArgs: ['--email', OPERATOR_EMAIL, '--password', PASSWORD, '--org', 'Tollgate'],
      serveArgs: ['--signup', 'open', '--payments', 'test', '--alert-retry-ms', '50'],
    });
    await ok200(env.admin('POST', `/v1/organization/models/${MODEL}`, { input_price: '0', output_price: '10000' }), 'price the model');
    await ok200(env.admin('POST', '/v1/organization/providers', {
      name: 'mock-priced', type: 'openai_compatible', base_url: env.mock.baseURL, api_key: 'sk-upstream-e2e', models: [{ model: MODEL }],
    }), 'a provider for the model');
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await env?.stop();
    await sink?.close();
  });

  for (const L of LANGS) {
    describe(`in ${L.locale}`, () => {
      let page;
      let rec;
      let context;
      const problems = []; // layout and language problems, by screen
      const origin = () => env.origin;

      /** Screenshot plus the per-screen checks: layout; in Chinese, no English left. */
      async function check(name, data = []) {
        await settle(page, rec);
        await screenshot(page, rec, `edges-${L.lang}`, name);
        for (const p of await layoutProblems(page)) problems.push(`${name}: ${p}`);
        if (L.lang === 'zh') {
          for (const w of await untranslatedLabels(page, ENGLISH_LABELS)) problems.push(`${name}: English label "${w}"`);
          for (const w of await englishWords(page, data)) problems.push(`${name}: English word "${w}"`);
        }
      }

      async function run(t, fn) {
        try {
          await fn();
        } catch (e) {
          try { await screenshot(page, rec, `edges-${L.lang}`, `FAILED-${t.name.slice(0, 40).replace(/\W+/g, '-')}`); } catch { /* gone */ }
          if (rec.problems.length) e.message += `\n--- page errors / console.error:\n${rec.problems.join('\n')}`;
          if (problems.length) e.message += `\n--- problems so far:\n${problems.join('\n')}`;
          e.message += `\n--- at ${page.url()}`;
          throw e;
        }
        assert.deepEqual(rec.problems, [], `page errors / console.error:\n${rec.problems.join('\n')}`);
        assert.deepEqual(problems, [], `layout / language problems:\n${problems.join('\n')}`);
      }

      before(async () => {
        ({ context, page, rec } = await openPage(browser, { locale: L.locale, origin: env.origin }));
      });
      after(async () => {
        await context?.close().catch(() => {});
      });

      it('a customer: sign-up, a Restricted key, payments, a webhook alert that fires', async (t) => run(t, async () => {
        const email = `edges-${L.lang}-${Date.now()}@example.com`;
        const zh = L.lang === 'zh';

        // --- login page with sign-up open: the link is there
        await page.goto(`${origin()}/login`);
        await page.getByTestId('login-email').waitFor({ state: 'visible' });
        await page.getByTestId('to-signup').waitFor({ state: 'visible' });
        await check('login-open');
        // the form checks before sending: nothing typed, nothing sent
        const before0 = rec.responses.length;
        await page.getByTestId('login-submit').click();
        await page.getByTestId('auth-error').waitFor({ state: 'visible' });
        assert.ok(!rec.responses.slice(before0).some((r) => r.url.endsWith('/console/api/login')), 'an empty login is not sent');
        // a wrong password: the server's invalid_credentials, in the reader's language
        await page.getByTestId('login-email').fill('nobody@example.com');
        await page.getByTestId('login-password').fill('not the password');
        const refused = page.waitForResponse((r) => r.url().endsWith('/console/api/login'));
        await page.getByTestId('login-submit').click();
        assert.equal((await refused).status(), 401, 'the server refuses the wrong password');
        await settle(page, rec);
        const loginErr = (await page.getByTestId('auth-error').innerText()).trim();
        if (zh) assert.match(loginErr, /[\u4e00-\u9fff]/, `the login error in Chinese: "${loginErr}"`);
        else assert.match(loginErr, /Incorrect email or password/, loginErr);
        await check('login-error');

        // --- sign up without naming the organisation
        await page.getByTestId('to-signup').click();
        await page.getByTestId('signup-email').fill(email);
        await page.getByTestId('signup-password').fill(PASSWORD);
        await page.getByTestId('signup-submit').click();
        await page.getByTestId('create-key').waitFor({ state: 'visible' });
        const orgName = (await page.getByTestId('org-name-label').innerText()).trim();
        assert.equal(orgName, zh ? '个人' : 'Personal', 'the organisation left unnamed is named in the reader\'s language');
        await check('api-keys');

        // --- the default project is named in the reader's language
        await page.getByTestId('nav-projects').click();
        await page.getByTestId('project-row').first().waitFor({ state: 'visible' });
        const projectNames = await page.getByTestId('project-row').locator('td.cell-strong').allInnerTexts();
        assert.deepEqual(projectNames.map((s) => s.trim()), [zh ? '默认项目' : 'Default project'], 'the default project');
        await check('projects');
        // it is user data: renamed like any project
        const newName = zh ? '主项目' : 'Main project';
        await page.getByTestId('project-rename').first().click();
        await page.getByTestId('dialog').waitFor({ state: 'visible' });
        assert.equal(await page.getByTestId('project-name').inputValue(), zh ? '默认项目' : 'Default project');
        await page.getByTestId('project-name').fill(newName);
        await check('projects-rename-dialog');
        await page.getByTestId('project-rename-submit').click();
        await page.getByTestId('dialog').waitFor({ state: 'hidden' });
        await page.getByTestId('project-row').filter({ hasText: newName }).waitFor({ state: 'visible' });
        const projects = (await sessionGet(page, origin(), '/v1/organization/projects')).json.data;
        assert.deepEqual(projects.map((p) => p.name), [newName], 'renamed on the server');
        const projectId = projects[0].id;

        // --- API keys: a Restricted key (models: read, model capabilities: none)
        await page.getByTestId('nav-api-keys').click();
        await page.getByTestId('create-key').click();
        await page.getByTestId('dialog').waitFor({ state: 'visible' });
        const perms = await page.getByTestId('key-permissions').locator('option').evaluateAll((els) => els.map((e) => e.value));
        assert.deepEqual(perms.sort(), ['all', 'read_only', 'restricted'], 'Restricted is offered');
        const restrictedName = zh ? '受限密钥' : 'restricted key';
        await page.getByTestId('key-name').fill(restrictedName);
        await page.getByTestId('key-permissions').selectOption('restricted');
        await page.getByTestId('key-perm-models').waitFor({ state: 'visible' });
        await page.getByTestId('key-perm-models').selectOption('read');
        await page.getByTestId('key-perm-capabilities').selectOption('none');
        await check('api-keys-restricted-dialog');
        await page.getByTestId('key-create-submit').click();
        await page.getByTestId('key-secret').waitFor({ state: 'visible' });
        const restrictedSecret = await page.getByTestId('key-secret').inputValue();
        await page.getByTestId('key-done').click();
        await page.getByTestId('dialog').waitFor({ state: 'hidden' });
        const row = page.getByTestId('key-row').filter({ hasText: restrictedName });
        assert.match(await row.innerText(), zh ? /受限/ : /Restricted/, 'the row says Restricted');
        const keys = (await sessionGet(page, origin(), `/v1/organization/projects/${projectId}/api_keys`)).json.data;
        const made = keys.find((k) => k.name === restrictedName);
        assert.deepEqual(made.permissions, { restricted: { models: 'read', model_capabilities: 'none' } }, 'the key\'s permissions on the server');
        const restricted = new OpenAI({ apiKey: restrictedSecret, baseURL: `${origin()}/v1`, maxRetries: 0 });
        const models = await restricted.models.list();
        assert.ok(models.data.some((m) => m.id === MODEL), 'the Restricted key lists the models');
        const denied = await sdkError(restricted.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }));
        const raw = await fetch(`${origin()}/v1/chat/completions`, {
          method: 'POST', headers: { authorization: `Bearer ${restrictedSecret}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }),
        });
        const rawBody = await raw.json();
        assert.ok([401, 403].includes(raw.status), `the API refuses the chat call: ${raw.status} ${JSON.stringify(rawBody)}`);
        assert.equal(denied.status, raw.status, 'the SDK sees the API\'s status');
        assert.ok(denied instanceof (raw.status === 401 ? OpenAI.AuthenticationError : OpenAI.PermissionDeniedError), denied.constructor.name);
        assert.match(rawBody.error.message, /insufficient permissions/i, 'OpenAI\'s missing-scope message');

        // an "all" key for the requests that make the spend
        await page.getByTestId('create-key').click();
        await page.getByTestId('key-name').fill(zh ? '全部权限' : 'full key');
        await page.getByTestId('key-permissions').selectOption('all');
        await page.getByTestId('key-create-submit').click();
        await page.getByTestId('key-secret').waitFor({ state: 'visible' });
        const fullSecret = await page.getByTestId('key-secret').inputValue();
        await page.getByTestId('key-done').click();
        await page.getByTestId('dialog').waitFor({ state: 'hidden' });
        const client = new OpenAI({ apiKey: fullSecret, baseURL: `${origin()}/v1`, maxRetries: 0 });

        // --- Billing: the empty form names every missing field; nothing is sent
        await page.getByTestId('nav-billing').click();
        await page.getByTestId('add-payment').waitFor({ state: 'visible' });
        await check('billing');
        await page.getByTestId('add-payment').click();
        await page.getByTestId('payer-company').click();
        const country = page.getByTestId('company-country');
        assert.equal(await country.evaluate((el) => el.tagName), 'SELECT', 'the country is a select list');
        const countries = await country.locator('option').evaluateAll((els) => els.map((e) => [e.value, e.textContent]));
        assert.ok(countries.length >= 240, `ISO countries: ${countries.length}`);
        const names = new Map(countries);
        for (const code of ['DE', 'CN', 'US', 'FR', 'JP']) {
          assert.equal(names.get(code), new Intl.DisplayNames([L.locale], { type: 'region' }).of(code), `${code} in the reader's language`);
        }
        const sentBefore = rec.responses.length;
        await page.getByTestId('payment-continue').click();
        await page.getByTestId('payment-error').waitFor({ state: 'visible' });
        const missing = await page.getByTestId('payment-error').innerText();
        const labels = await page.locator('[data-testid="dialog"] .field-label').allInnerTexts();
        assert.ok(labels.length >= 9, `the form's labels: ${labels.join(' | ')}`);
        for (const label of labels) assert.ok(missing.includes(label.trim()), `the error names "${label}": "${missing}"`);
        assert.ok(!rec.responses.slice(sentBefore).some((r) => r.method === 'POST'), 'nothing is sent');
        const flagged = await page.locator('[data-testid="dialog"] [aria-invalid="true"]').count();
        assert.equal(flagged, 9, 'every empty field is marked');
        await check('billing-payment-empty');

        // a company's missing tax id, as the server answers it (the console's own check taken
        // out of the way by dropping the field on the wire): in the reader's language
        await page.getByTestId('company-name').fill(zh ? '测试有限公司' : 'Edges Ltd');
        await page.getByTestId('company-address').fill(zh ? '长安街 1 号' : '1 Main Street');
        await page.getByTestId('company-city').fill(zh ? '北京' : 'Springfield');
        await page.getByTestId('company-postal-code').fill('100000');
        await country.selectOption('CN');
        await page.getByTestId('company-tax-id').fill('91110000000000000X');
        await page.getByTestId('card-number').fill(CARD_OK);
        await page.getByTestId('card-exp').fill(CARD_EXP);
        await page.getByTestId('card-cvc').fill('123');
        await check('billing-payment-company');
        await page.route('**/v1/organization/billing/payment_methods', async (route) => {
          const body = JSON.parse(route.request().postData() || '{}');
          if (body.payer) delete body.payer.tax_id;
          await route.continue({ postData: JSON.stringify(body) });
        });
        await page.getByTestId('payment-continue').click();
        await page.waitForFunction(() => /./.test(document.querySelector('[data-testid="payment-error"]')?.innerText ?? '') &&
          !document.querySelector('[data-testid="payment-continue"]')?.disabled);
        await page.unroute('**/v1/organization/billing/payment_methods');
        const taxResp = rec.responses.filter((r) => r.method === 'POST' && r.url.endsWith('/payment_methods')).pop();
        assert.equal(taxResp.status, 400, 'the server refused the payer without a tax id');
        assert.match(await taxResp.body, /payer\.tax_id/);
        const taxErr = (await page.getByTestId('payment-error').innerText()).trim();
        if (zh) assert.equal(taxErr, '公司付款需要填写税号。', 'the missing tax id in Chinese, no English');
        else assert.equal(taxErr, 'A company needs a tax ID.');
        await check('billing-payment-tax-id');

        // now it goes through: the amount step says "Initial credit purchase" (the first one)
        await page.getByTestId('payment-continue').click();
        await page.getByTestId('topup-amount').waitFor({ state: 'visible' });
        assert.match(await page.getByTestId('dialog').innerText(), zh ? /首次购买额度/ : /Initial credit purchase/, 'the first purchase is the initial one');
        // the minimum, checked before sending
        await page.getByTestId('topup-amount').fill('4');
        const sent2 = rec.responses.length;
        await page.getByTestId('confirm-payment').click();
        await page.getByTestId('payment-error').waitFor({ state: 'visible' });
        assert.match(await page.getByTestId('payment-error').innerText(), zh ? /5\.00/ : /at least \$5\.00/);
        assert.ok(!rec.responses.slice(sent2).some((r) => r.url.endsWith('/top_ups')), 'a top-up under the minimum is not sent');
        // and as the server says it (the amount changed on the wire): the same sentence
        await page.route('**/v1/organization/billing/top_ups', async (route) => {
          const body = JSON.parse(route.request().postData() || '{}');
          body.amount = 100;
          await route.continue({ postData: JSON.stringify(body) });
        });
        await page.getByTestId('topup-amount').fill('10');
        await page.getByTestId('confirm-payment').click();
        await page.waitForFunction(() => !document.querySelector('[data-testid="confirm-payment"]')?.disabled);
        await page.unroute('**/v1/organization/billing/top_ups');
        const minErr = (await page.getByTestId('payment-error').innerText()).trim();
        assert.match(minErr, zh ? /^金额至少为 5\.00 美元/ : /^The amount must be at least \$5\.00/, `the server's minimum, translated: "${minErr}"`);
        await check('billing-payment-minimum');
        await page.getByTestId('confirm-payment').click();
        await page.getByTestId('dialog').waitFor({ state: 'hidden' });
        await page.waitForFunction(() => /10\.00/.test(document.querySelector('[data-testid="balance-available"]')?.innerText ?? ''));

        // a second purchase: "Add to credit balance" asks for the amount to add
        await page.getByTestId('buy-credit').click();
        await page.getByTestId('dialog').waitFor({ state: 'visible' });
        const dialogText = await page.getByTestId('dialog').innerText();
        assert.ok(!/Initial credit purchase|首次购买额度/.test(dialogText), `not "Initial credit purchase": ${dialogText}`);
        assert.match(dialogText, zh ? /充值金额/ : /Amount to add/);
        await page.getByTestId('topup-amount').fill('5');
        await check('billing-buy-credit');
        await page.getByTestId('confirm-payment').click();
        await page.getByTestId('dialog').waitFor({ state: 'hidden' });
        await page.waitForFunction(() => /15\.00/.test(document.querySelector('[data-testid="balance-available"]')?.innerText ?? ''));

        // the grants say what they came from, in the reader's language (not "Top-up (invoice …)")
        await page.getByTestId('grant-row').nth(1).waitFor({ state: 'visible' });
        const invoices = (await sessionGet(page, origin(), '/v1/organization/billing/invoices')).json.data;
        assert.equal(invoices.length, 2);
        await page.waitForFunction(() => document.querySelectorAll('[data-testid="grant-source"]').length === 2);
        const sources = await page.getByTestId('grant-source').allInnerTexts();
        for (const v of invoices) {
          assert.ok(sources.some((s) => s.includes(v.number) && (zh ? /购买额度 · 发票/ : /Credit purchase · invoice/).test(s)),
            `a grant names invoice ${v.number}: ${sources.join(' | ')}`);
        }
        assert.ok(!(await page.locator('body').innerText()).includes('Top-up'), 'not the server\'s English description');

        // a declined card: the reason in the reader's language, and nothing else
        await page.getByTestId('add-payment').click();
        await page.getByTestId('payer-individual').click();
        await page.getByTestId('card-name').fill(zh ? '张三' : 'Jane Doe');
        await page.getByTestId('card-number').fill(CARD_DECLINED);
        await page.getByTestId('card-exp').fill(CARD_EXP);
        await page.getByTestId('card-cvc').fill('123');
        await page.getByTestId('payment-continue').click();
        const step = await Promise.race([
          page.getByTestId('topup-amount').waitFor({ state: 'visible' }).then(() => 'amount'),
          page.getByTestId('payment-error').waitFor({ state: 'visible' }).then(() => 'error'),
        ]);
        if (step === 'amount') {
          await page.getByTestId('topup-amount').fill('10');
          await page.getByTestId('confirm-payment').click();
          await page.getByTestId('payment-error').waitFor({ state: 'visible' });
        }
        const declined = (await page.getByTestId('payment-error').innerText()).trim();
        assert.equal(declined, zh ? '你的银行卡被拒绝。' : 'Your card was declined.');
        await check('billing-declined');
        await page.keyboard.press('Escape');
        await page.getByTestId('dialog').waitFor({ state: 'hidden' });
        await check('billing-after');

        // --- Limits: no 404 while on the page; a webhook alert (the default without SMTP)
        const limitsFrom = rec.responses.length;
        await page.getByTestId('nav-limits').click();
        await page.getByTestId('alert-threshold').waitFor({ state: 'visible' });
        await page.getByTestId('project-limit-row').first().waitFor({ state: 'visible' });
        await settle(page, rec);
        assert.equal(await page.getByTestId('alert-channel').inputValue(), 'webhook', 'without SMTP, alerts go to a webhook');
        assert.equal(await page.getByTestId('alert-channel').locator('option[value="email"]').isDisabled(), true, 'e-mail is offered disabled');
        const spendCells = await page.getByTestId('project-month-spend').allInnerTexts();
        assert.ok(spendCells.length >= 1 && spendCells.every((s) => amountIn(s) === 0), `every project's month spend, without a budget: ${spendCells}`);
        await check('limits');
        await page.getByTestId('alert-threshold').fill('0.01');
        await page.getByTestId('alert-webhook-url').fill('ftp://nowhere');
        await page.getByTestId('limits-save').click();
        await page.getByTestId('error').waitFor({ state: 'visible' });
        assert.match(await page.getByTestId('error').innerText(), /http:\/\//, 'the URL is checked before sending');
        await page.getByTestId('alert-webhook-url').fill(sink.url);
        await page.getByTestId('limits-save').click();
        await page.getByTestId('limits-saved').waitFor({ state: 'visible' });
        const secret = await page.getByTestId('alert-signing-secret').inputValue();
        assert.match(secret, /^whsec_/, 'the signing secret, shown once');
        await check('limits-webhook-saved', [secret]);
        const notFound = rec.responses.slice(limitsFrom).filter((r) => r.status === 404);
        assert.deepEqual(notFound.map((r) => `${r.method} ${r.url}`), [], 'no 404 on the Limits page');
        const alerts = (await sessionGet(page, origin(), '/v1/organization/spend_alerts')).json.data;
        assert.equal(alerts.length, 1);
        assert.deepEqual(alerts[0].notification_channel, { type: 'webhook', url: sink.url });
        assert.equal(alerts[0].threshold_amount, 1);

        // the spend crosses it: the sink gets one signed POST
        const chat = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
        assert.equal(chat.object, 'chat.completion');
        const deadline = Date.now() + 15000;
        while (sink.got.length === 0 && Date.now() < deadline) await sleep(100);
        assert.equal(sink.got.length, 1, 'one notification');
        const hook = sink.got[0];
        assert.equal(hook.method, 'POST');
        assert.ok(verifySignature(hook.headers['tollgate-signature'], hook.body, secret), 'signed with the secret the console showed');
        const note = JSON.parse(hook.body);
        assert.equal(note.type, 'spend_alert.triggered');
        assert.equal(note.alert_id, alerts[0].id);
        assert.equal(note.threshold_amount, 1);
        sink.got.length = 0;

        // after a reload: the alert is there (no secret any more) and the project's month spend
        const reloadFrom = rec.responses.length;
        await page.reload();
        await page.getByTestId('project-limit-row').first().waitFor({ state: 'visible' });
        await settle(page, rec);
        assert.equal(await page.getByTestId('alert-webhook-url').inputValue(), sink.url);
        assert.equal(await page.getByTestId('alert-signing-secret').count(), 0, 'the secret is not shown again');
        const spendRow = page.locator(`[data-testid="project-limit-row"][data-id="${projectId}"]`);
        await page.waitForFunction((id) => /0\.05/.test(document.querySelector(`[data-testid="project-limit-row"][data-id="${id}"] [data-testid="project-month-spend"]`)?.innerText ?? ''), projectId);
        assert.equal(amountIn(await spendRow.getByTestId('project-month-spend').innerText()), 0.05, 'the request\'s $0.05 in a project without a budget');
        assert.deepEqual(rec.responses.slice(reloadFrom).filter((r) => r.status === 404).map((r) => r.url), [], 'no 404 after the reload');
        // a project's dialog: a webhook alert there too
        await spendRow.getByTestId('project-limits-edit').click();
        await page.getByTestId('dialog').waitFor({ state: 'visible' });
        assert.equal(await page.getByTestId('project-alert-channel').inputValue(), 'webhook');
        await page.getByTestId('project-alert-threshold').fill('100');
        await page.getByTestId('project-alert-webhook-url').fill(`${sink.url}/project`);
        await page.getByTestId('project-limits-save').click();
        await page.getByTestId('project-limits-saved').waitFor({ state: 'visible' });
        const psecret = await page.getByTestId('project-alert-signing-secret').inputValue();
        assert.match(psecret, /^whsec_/);
        await check('limits-project-dialog', [psecret]);
        await page.keyboard.press('Escape');
        await page.getByTestId('dialog').waitFor({ state: 'hidden' });
        assert.deepEqual(rec.responses.slice(limitsFrom).filter((r) => r.status === 404).map((r) => r.url), [], 'no 404 on the Limits page at all');

        // the other pages of the flow, in the reader's language
        await page.getByTestId('nav-usage').click();
        await page.getByTestId('usage-total-cost').waitFor({ state: 'visible' });
        await check('usage');
        await page.getByTestId('nav-settings').click();
        await page.getByTestId('settings-org-name').waitFor({ state: 'visible' });
        await check('settings');
        await page.getByTestId('logout').click();
        await page.getByTestId('login-email').waitFor({ state: 'visible' });
      }));

      it('the operator\'s own Billing page offers no credit to buy', async (t) => run(t, async () => {
        await page.goto(`${origin()}/login`);
        await page.getByTestId('login-email').fill(OPERATOR_EMAIL);
        await page.getByTestId('login-password').fill(PASSWORD);
        await page.getByTestId('login-submit').click();
        await page.getByTestId('nav-billing').waitFor({ state: 'visible' });
        await page.getByTestId('nav-billing').click();
        await page.getByTestId('billing-operator').waitFor({ state: 'visible' });
        await settle(page, rec);
        for (const id of ['buy-credit', 'add-payment', 'ar-edit', 'topup-amount', 'payment-method-row', 'balance-available']) {
          assert.equal(await page.getByTestId(id).count(), 0, `no ${id} for the operator`);
        }
        const note = await page.getByTestId('billing-operator').innerText();
        assert.match(note, L.lang === 'zh' ? /不消耗额度/ : /do not use credit/);
        await check('billing-operator');
        await page.getByTestId('logout').click();
        await page.getByTestId('login-email').waitFor({ state: 'visible' });
      }));
    });
  }
});

describe('sign-up by invitation: the login page has no "Sign up"', () => {
  let env;
  let browser;
  before(async () => {
    env = await Env.start({ serveArgs: ['--signup', 'invite'] });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close().catch(() => {});
    await env?.stop();
  });

  for (const L of LANGS) {
    it(`in ${L.locale}`, async () => {
      const { context, page, rec } = await openPage(browser, { locale: L.locale, origin: env.origin });
      try {
        const cfg = await (await fetch(`${env.origin}/console/api/config`)).json();
        assert.equal(cfg.signup, 'invite');
        await page.goto(`${env.origin}/login`);
        await page.getByTestId('login-email').waitFor({ state: 'visible' });
        await settle(page, rec);
        assert.equal(await page.getByTestId('to-signup').count(), 0, 'no Sign up link');
        const text = await page.locator('body').innerText();
        assert.ok(!/Sign up|Don't have an account|注册|还没有账户/.test(text), `no sign-up text: ${text}`);
        await screenshot(page, rec, `edges-${L.lang}`, 'login-invite');
        assert.deepEqual(await layoutProblems(page), []);
        if (L.lang === 'zh') assert.deepEqual(await englishWords(page), [], 'no English on the Chinese login page');
        assert.deepEqual(rec.problems, []);
      } finally {
        await context.close();
      }
    });
  }
});
