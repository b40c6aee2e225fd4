// Payments: payment methods, top-ups, invoices and auto-recharge through the Admin API, with
// the offline `test` provider (Stripe's test card numbers) and with the `stripe` provider
// against a local stand-in (stripe_standin.mjs) that checks every call and sends signed
// webhooks.
//
// Money is compared exactly: dollars from the API are parsed from the raw JSON text into
// BigInt nano-dollars. Two priced models route to the mock upstream, which answers 5 output
// tokens: `test-model` ($0.01 per output token: 5 cents a request) and `test-model-big`
// ($0.20 per output token: $1 a request); input is free.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Env, assertErrorResponse, databaseBytes, sleep, waitFor } from './harness.mjs';
import { StripeStandin } from './stripe_standin.mjs';

const NANOS_PER_CENT = 10_000_000n;
const CARD_OK = '4242 4242 4242 4242';
const CARD_DECLINED = '4000000000000002';
const CARD_NO_FUNDS = '4000-0000-0000-9995';
const FAR_YEAR = new Date().getUTCFullYear() + 4;

/** "12.5" (dollars, ≤ 9 decimals) → BigInt nano-dollars. */
function nanos(dec) {
  const m = /^(-?)(\d+)(?:\.(\d{1,9}))?$/.exec(String(dec));
  assert.ok(m, `an exact dollar amount: ${dec}`);
  const v = BigInt(m[2]) * 1_000_000_000n + BigInt((m[3] ?? '').padEnd(9, '0'));
  return m[1] ? -v : v;
}

/** The raw text of `"available":<number>` in a balance body (no float on the way). */
function availableOf(text) {
  const m = /"available":(-?[0-9.]+)/.exec(text);
  assert.ok(m, `available in ${text}`);
  return nanos(m[1]);
}

const q = (s) => `'${String(s).replace(/'/g, "''")}'`;

async function ok200(p, what) {
  const r = await p;
  assert.equal(r.status, 200, `${what}: ${r.status} ${r.text}`);
  return r;
}

/** Everything an environment needs: priced test models mapped to the mock. */
async function startEnv(serveArgs = []) {
  const env = await Env.start({ serveArgs });
  await ok200(env.admin('POST', '/v1/organization/models/test-model', { input_price: '0', output_price: '10000' }), 'test-model');
  await ok200(env.admin('POST', '/v1/organization/models/test-model-big', { input_price: '0', output_price: '200000' }), 'test-model-big');
  await ok200(env.admin('POST', '/v1/organization/providers', {
    name: 'mock-priced', type: 'openai_compatible', base_url: env.mock.baseURL, api_key: 'sk-upstream-x',
    models: [{ model: 'test-model' }, { model: 'test-model-big' }],
  }), 'provider for the priced models');
  return env;
}

class Customer {
  static async create(env, name) {
    const c = new Customer();
    c.env = env;
    const r = await ok200(env.admin('POST', '/v1/platform/organizations', { name }), 'create org');
    c.orgId = r.json.id;
    c.projectId = r.json.default_project_id;
    c.adminKey = r.json.admin_key.value;
    const k = await ok200(c.admin('POST', `/v1/organization/projects/${c.projectId}/api_keys`, { name: 'k' }), 'key');
    c.apiKey = k.json.value;
    return c;
  }

  admin(method, path, body) {
    return this.env.admin(method, path, body, { key: this.adminKey });
  }

  billing(method, what, body) {
    return this.admin(method, `/v1/organization/billing/${what}`, body);
  }

  async available() {
    const r = await ok200(this.billing('GET', 'balance'), 'balance');
    return availableOf(r.text);
  }

  async addCard(number, { payer = INDIVIDUAL, extra = {} } = {}) {
    const r = await this.billing('POST', 'payment_methods', {
      card: { number, exp_month: 12, exp_year: FAR_YEAR, cvc: '737' }, payer, ...extra,
    });
    assert.equal(r.status, 200, `add card: ${r.text}`);
    return r.json;
  }

  topUp(amount, paymentMethodId) {
    return this.billing('POST', 'top_ups', paymentMethodId ? { amount, payment_method_id: paymentMethodId } : { amount });
  }

  async payments(kind) {
    const r = await ok200(this.billing('GET', 'top_ups?limit=100'), 'list payments');
    return r.json.data.filter((p) => !kind || p.kind === kind);
  }

  chat(model = 'test-model') {
    return this.env.request('POST', '/v1/chat/completions', {
      key: this.apiKey,
      json: { model, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] },
    });
  }

  async chatOk(model) {
    const r = await this.chat(model);
    assert.equal(r.status, 200, `chat: ${r.text}`);
    return r;
  }
}

const INDIVIDUAL = { type: 'individual', name: 'Ada Lovelace', email: 'ada@example.com' };
const COMPANY = {
  type: 'company',
  name: 'Acme <script>alert("x")</script> & Sons',
  address: { line1: '1 Rue de la Paix', line2: 'Bât. B', city: 'Paris', postal_code: '75002', country: 'fr' },
  tax_id: 'FR40303265045',
};

// ---------------------------------------------------------------------------------------

describe('payments with the test provider', () => {
  let env;

  before(async () => {
    env = await startEnv();
  });

  after(async () => {
    await env?.stop();
  });

  it('adds a card, tops up $10: exactly $10 of purchased credit, an invoice, its HTML', async () => {
    const c = await Customer.create(env, 'Top-up Ltd');
    const pm = await c.addCard(CARD_OK, { payer: COMPANY });
    assert.equal(pm.object, 'organization.billing.payment_method');
    assert.match(pm.id, /^pm_/);
    assert.equal(pm.brand, 'visa');
    assert.equal(pm.last4, '4242');
    assert.equal(pm.exp_month, 12);
    assert.equal(pm.exp_year, FAR_YEAR);
    assert.equal(pm.default, true, 'the first method is the default');
    assert.deepEqual(pm.payer, {
      type: 'company', name: COMPANY.name, email: null, tax_id: 'FR40303265045',
      address: { line1: '1 Rue de la Paix', line2: 'Bât. B', city: 'Paris', postal_code: '75002', state: null, country: 'FR' },
    });

    const before = await c.available();
    const r = await c.topUp(1000);
    assert.equal(r.status, 200, r.text);
    const pay = r.json;
    assert.equal(pay.object, 'organization.billing.payment');
    assert.match(pay.id, /^pay_/);
    assert.equal(pay.status, 'succeeded');
    assert.equal(pay.amount, 1000);
    assert.equal(pay.kind, 'top_up');
    assert.equal(pay.payment_method_id, pm.id);
    assert.match(pay.invoice_id, /^inv_/);
    assert.match(pay.credit_grant_id, /^grant_/);
    assert.equal(await c.available() - before, 10n * 100n * NANOS_PER_CENT, 'exactly $10 more');

    // the grant: purchased, one year, referencing the payment
    const b = await ok200(c.billing('GET', 'balance'), 'balance');
    const g = b.json.grants.find((x) => x.id === pay.credit_grant_id);
    assert.equal(g.kind, 'purchased');
    assert.ok(Math.abs(g.expires_at - (pay.created_at + 365 * 86400)) <= 2, `expires a year later: ${g.expires_at}`);
    const row = env.sql(`SELECT reference, amount FROM credit_grants WHERE id=${q(g.id)}`)[0];
    assert.equal(row.reference, pay.id);
    assert.equal(row.amount, 10 * 1e9);

    // the invoice
    const inv = await ok200(c.billing('GET', 'invoices'), 'invoices');
    assert.equal(inv.json.object, 'list');
    assert.equal(inv.json.data.length, 1);
    const v = inv.json.data[0];
    assert.equal(v.object, 'organization.billing.invoice');
    assert.equal(v.id, pay.invoice_id);
    assert.equal(v.number, `TG-${c.orgId.slice(4, 12)}-0001`);
    assert.equal(v.status, 'paid');
    assert.equal(v.total, 1000);
    assert.equal(v.amount_paid, 1000);
    assert.equal(v.currency, 'usd');
    assert.equal(v.payment_id, pay.id);
    assert.equal(v.lines[0].description, 'Prepaid API credit');
    assert.equal(v.payer.name, COMPANY.name);
    assert.equal(v.payer.tax_id, 'FR40303265045');
    const one = await ok200(c.billing('GET', `invoices/${v.id}`), 'one invoice');
    assert.deepEqual(one.json, v);
    const byNumber = await ok200(c.billing('GET', `invoices/${v.number}`), 'invoice by number');
    assert.equal(byNumber.json.id, v.id);

    const html = await c.billing('GET', `invoices/${v.id}?format=html`);
    assert.equal(html.status, 200);
    assert.match(html.headers.get('content-type'), /^text\/html/);
    assert.match(html.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    assert.ok(html.text.includes('$10.00'), 'the amount');
    assert.ok(html.text.includes(v.number), 'the number');
    assert.ok(html.text.includes('Prepaid API credit'));
    assert.ok(html.text.includes('FR40303265045'), 'the tax id');
    assert.ok(html.text.includes('Acme &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Sons'), 'the payer, escaped');
    assert.ok(!html.text.includes('<script>'), 'nothing user-provided is raw HTML');
    assert.ok(html.text.includes('Bât. B'), 'UTF-8 kept');

    // a second payment: the next number
    assert.equal((await c.topUp(500)).status, 200);
    const inv2 = await ok200(c.billing('GET', 'invoices'), 'invoices');
    assert.deepEqual(inv2.json.data.map((x) => x.number), [`TG-${c.orgId.slice(4, 12)}-0002`, `TG-${c.orgId.slice(4, 12)}-0001`]);
    const pays = await c.payments();
    assert.deepEqual(pays.map((p) => [p.amount, p.status]), [[500, 'succeeded'], [1000, 'succeeded']]);
    const got = await ok200(c.billing('GET', `top_ups/${pay.id}`), 'one payment');
    assert.equal(got.json.id, pay.id);

    // paying moved the organisation up from Free
    assert.equal(env.sql(`SELECT tier FROM organizations WHERE id=${q(c.orgId)}`)[0].tier, 'tier_1');
  });

  it('never stores, logs or returns the card number or the CVC', async () => {
    const c = await Customer.create(env, 'Secret Cards');
    const number = '5555555555554444';
    const r = await c.billing('POST', 'payment_methods', {
      card: { number, exp_month: '07', exp_year: String(FAR_YEAR % 100), cvc: '9731' }, payer: INDIVIDUAL,
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.brand, 'mastercard');
    assert.equal(r.json.last4, '4444');
    assert.equal(r.json.exp_month, 7);
    assert.equal(r.json.exp_year, FAR_YEAR);
    assert.ok(!r.text.includes(number) && !r.text.includes('9731'));
    assert.equal((await c.topUp(600)).status, 200);
    const list = await ok200(c.billing('GET', 'payment_methods'), 'list');
    assert.ok(!list.text.includes(number));
    // a refused card is not echoed either
    const bad = await c.billing('POST', 'payment_methods', {
      card: { number: '4242424242424241', exp_month: 1, exp_year: FAR_YEAR, cvc: '123' }, payer: INDIVIDUAL,
    });
    assertErrorResponse(bad, 400, { code: 'invalid_value', param: 'card.number' });
    assert.ok(!bad.text.includes('4242424242424241'));

    // neither in the database files (main file and WAL) nor in the server's output
    await sleep(100);
    for (const [i, bytes] of databaseBytes(env.dbPath).entries()) {
      for (const secret of [number, '4242424242424241', '5555 5555 5555 4444']) assert.ok(!bytes.includes(secret), `${secret} in the database (part ${i})`);
    }
    const cols = env.columns('payment_methods');
    assert.ok(cols.includes('last4'), `columns: ${cols}`);
    assert.ok(!cols.some((x) => /number|cvc|pan/i.test(x)), `columns: ${cols}`);
    const rows = env.sql(`SELECT brand, last4, exp_month, exp_year, payer, provider_ref FROM payment_methods WHERE organization_id=${q(c.orgId)}`);
    assert.ok(!JSON.stringify(rows).includes('9731'), 'no CVC');
    const out = env.server.output.stdout + env.server.output.stderr;
    assert.ok(!out.includes(number) && !out.includes('9731') && !out.includes('4242424242424241'));
  });

  it('declined cards: 402 with the right code, the payment recorded as failed, nothing granted', async () => {
    const c = await Customer.create(env, 'Declines Inc');
    const good = await c.addCard(CARD_OK);
    const declined = await c.addCard(CARD_DECLINED);
    const noFunds = await c.addCard(CARD_NO_FUNDS);
    assert.equal(declined.default, false);
    assert.equal(declined.last4, '0002');
    const before = await c.available();

    let r = await c.topUp(1000, declined.id);
    assertErrorResponse(r, 402, { type: 'card_error', code: 'card_declined', param: null });
    assert.match(r.json.error.message, /declined.*pay_/);
    r = await c.topUp(2500, noFunds.id);
    assertErrorResponse(r, 402, { type: 'card_error', code: 'insufficient_funds' });
    assert.equal(await c.available(), before, 'no credit');

    const pays = await c.payments();
    assert.deepEqual(pays.map((p) => [p.amount, p.status, p.failure_code, p.invoice_id, p.credit_grant_id]), [
      [2500, 'failed', 'insufficient_funds', null, null],
      [1000, 'failed', 'card_declined', null, null],
    ]);
    assert.equal((await ok200(c.billing('GET', 'invoices'), 'invoices')).json.data.length, 0, 'no invoice');
    assert.equal(env.sql(`SELECT COUNT(*) AS n FROM credit_grants WHERE organization_id=${q(c.orgId)}`)[0].n, 0);
    // the good card still works, with the default method
    assert.equal((await c.topUp(500)).json.payment_method_id, good.id);
  });

  it('refuses what it must: below $5, bad cards, bad payers, unknown methods, wrong keys', async () => {
    const c = await Customer.create(env, 'Refusals');
    // no payment method yet
    let r = await c.topUp(1000);
    assertErrorResponse(r, 400, { code: 'invalid_value', param: 'payment_method_id' });
    assert.equal((await c.payments()).length, 0, 'nothing recorded');
    await c.addCard(CARD_OK);
    r = await c.topUp(499);
    assertErrorResponse(r, 400, { code: 'invalid_value', param: 'amount' });
    assert.match(r.json.error.message, /\$5/);
    for (const amount of [0, -500, 10.5, '1000', 1e12]) {
      assertErrorResponse(await c.topUp(amount), 400, { param: 'amount' }, `amount ${amount}`);
    }
    r = await c.topUp(1000, 'pm_doesnotexist');
    assertErrorResponse(r, 400, { code: 'invalid_value', param: 'payment_method_id' });
    assert.equal((await c.payments()).length, 0, 'refusals record no payment');

    const card = (over) => ({ number: '4242424242424242', exp_month: 12, exp_year: FAR_YEAR, cvc: '123', ...over });
    const cases = [
      [{ card: card({ number: '4242424242424243' }), payer: INDIVIDUAL }, 'card.number'],
      [{ card: card({ number: '4242' }), payer: INDIVIDUAL }, 'card.number'],
      [{ card: card({ number: '4242x42424242424' }), payer: INDIVIDUAL }, 'card.number'],
      [{ card: card({ exp_month: 13 }), payer: INDIVIDUAL }, 'card.exp_month'],
      [{ card: card({ exp_year: 2020 }), payer: INDIVIDUAL }, 'card.exp_year'],
      [{ card: card({ cvc: '12' }), payer: INDIVIDUAL }, 'card.cvc'],
      [{ card: card({ cvc: '12345' }), payer: INDIVIDUAL }, 'card.cvc'],
      [{ card: card(), payer: { type: 'person', name: 'x' } }, 'payer.type'],
      [{ card: card(), payer: { type: 'individual', name: '' } }, 'payer.name'],
      [{ card: card(), payer: { type: 'company', name: 'Co', address: COMPANY.address } }, 'payer.tax_id'],
      [{ card: card(), payer: { type: 'company', name: 'Co', tax_id: 'X1' } }, 'payer.address'],
      [{ card: card(), payer: { ...COMPANY, address: { ...COMPANY.address, country: 'France' } } }, 'payer.address.country'],
      [{ card: card() }, 'payer'],
      [{ payer: INDIVIDUAL }, 'card'],
      [{ stripe_payment_method: 'pm_card_visa', payer: INDIVIDUAL }, 'stripe_payment_method'],
      [{ token: 'tok_nonsense', payer: INDIVIDUAL }, 'token'],
    ];
    for (const [body, param] of cases) {
      const res = await c.billing('POST', 'payment_methods', body);
      assert.ok(res.status === 400, `${JSON.stringify(body)} → ${res.status} ${res.text}`);
      assertErrorResponse(res, 400, { param }, JSON.stringify(body));
    }
    // a test token works like a card
    r = await c.billing('POST', 'payment_methods', { token: 'tok_mastercard', payer: INDIVIDUAL });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.last4, '4444');

    // a project key, or an admin key of no organisation
    r = await env.request('GET', '/v1/organization/billing/payment_methods', { key: c.apiKey });
    assertErrorResponse(r, 401, { type: 'invalid_request_error' });
    r = await env.request('POST', '/v1/organization/billing/top_ups', { key: 'sk-admin-nope', json: { amount: 1000 } });
    assertErrorResponse(r, 401, { code: 'invalid_api_key' });
    // unknown things
    assertErrorResponse(await c.billing('GET', 'invoices/inv_nope'), 404, {});
    assertErrorResponse(await c.billing('GET', 'top_ups/pay_nope'), 404, {});
    assertErrorResponse(await c.billing('GET', 'payment_methods/pm_nope'), 404, {});
    assertErrorResponse(await c.billing('GET', 'invoices?format=pdf'), 400, { param: 'format' });
    assertErrorResponse(await c.billing('DELETE', 'top_ups'), 405, {});
    assertErrorResponse(await c.billing('GET', 'payments_of_sorts'), 404, { code: 'unknown_url' });
    // no webhooks with the test provider
    assertErrorResponse(await env.request('POST', '/v1/billing/webhooks/stripe', { body: '{}' }), 404, { code: 'unknown_url' });
    // another organisation's payment is not visible
    const other = await Customer.create(env, 'Other');
    assert.equal((await c.topUp(500)).status, 200);
    const mine = (await c.payments())[0];
    assert.ok(mine, 'a payment exists');
    assertErrorResponse(await other.billing('GET', `top_ups/${mine.id}`), 404, {});
  });

  it('payment methods: list, get, make default, delete', async () => {
    const c = await Customer.create(env, 'Methods');
    const a = await c.addCard(CARD_OK);
    const b = await c.addCard('378282246310005', { extra: { default: true } });
    assert.equal(b.brand, 'amex');
    assert.equal(b.default, true);
    let list = (await ok200(c.billing('GET', 'payment_methods'), 'list')).json;
    assert.deepEqual(list.data.map((m) => [m.id, m.default]), [[a.id, false], [b.id, true]]);
    assert.equal((await ok200(c.billing('GET', `payment_methods/${a.id}`), 'get')).json.last4, '4242');
    let r = await ok200(c.billing('POST', `payment_methods/${a.id}`, { default: true }), 'make default');
    assert.equal(r.json.default, true);
    r = await ok200(c.billing('DELETE', `payment_methods/${a.id}`), 'delete');
    assert.deepEqual(r.json, { object: 'organization.billing.payment_method.deleted', id: a.id, deleted: true });
    assertErrorResponse(await c.billing('DELETE', `payment_methods/${a.id}`), 404, {});
    list = (await ok200(c.billing('GET', 'payment_methods'), 'list')).json;
    assert.deepEqual(list.data.map((m) => [m.id, m.default]), [[b.id, true]], 'the default passed on');
    assert.equal((await c.topUp(500)).json.payment_method_id, b.id);
    assertErrorResponse(await c.topUp(500, a.id), 400, { param: 'payment_method_id' });
  });

  it('auto-recharge: 50 concurrent requests cross the threshold, exactly one recharge', async () => {
    const c = await Customer.create(env, 'Recharge Co');
    await c.addCard(CARD_OK);
    assert.equal((await c.topUp(1000)).status, 200);
    let r = await c.billing('POST', 'auto_recharge', { enabled: true, threshold_amount: 990, recharge_to_amount: 2000 });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, {
      object: 'organization.billing.auto_recharge', enabled: true, threshold_amount: 990,
      recharge_to_amount: 2000, monthly_limit: null, currency: 'usd', status: 'active',
      paused_reason: null, paused_at: null, recharged_this_month: 0, updated_at: r.json.updated_at,
    });
    const before = await c.available();
    assert.equal(before, 1000n * NANOS_PER_CENT);

    const results = await Promise.all(Array.from({ length: 50 }, () => c.chat()));
    for (const x of results) assert.equal(x.status, 200, x.text);
    const done = await waitFor(async () => {
      const p = await c.payments('auto_recharge');
      return p.length && p.every((x) => x.status !== 'pending') ? p : null;
    }, { timeoutMs: 10000 });
    assert.ok(done, 'a recharge happened');
    await sleep(500); // room for a second one to show up, if there were one
    const recharges = await c.payments('auto_recharge');
    assert.equal(recharges.length, 1, `exactly one recharge: ${JSON.stringify(recharges)}`);
    const p = recharges[0];
    assert.equal(p.status, 'succeeded');
    // recharge_to − available when the job ran; available excludes what in-flight requests
    // hold (at most 50 × 5 cents), so the amount is between $10.10 and $12.50
    assert.ok(p.amount >= 1010 && p.amount <= 1250, `recharge amount ${p.amount}`);
    // every request cost exactly 5 cents; the recharge added exactly its amount
    const spent = 50n * 5n * NANOS_PER_CENT;
    assert.equal(await c.available(), before + BigInt(p.amount) * NANOS_PER_CENT - spent);
    const inv = (await ok200(c.billing('GET', 'invoices'), 'invoices')).json.data;
    assert.equal(inv.length, 2, 'an invoice for the recharge too');
    assert.equal(inv[0].payment_id, p.id);
    r = await ok200(c.billing('GET', 'auto_recharge'), 'settings');
    assert.equal(r.json.recharged_this_month, p.amount);
  });

  it('auto-recharge with a declined card: one failed payment, paused, no retry loop; saving resumes', async () => {
    const c = await Customer.create(env, 'Declined Recharge');
    const good = await c.addCard(CARD_OK);
    assert.equal((await c.topUp(1000)).status, 200);
    await c.addCard(CARD_DECLINED, { extra: { default: true } });
    assert.equal((await c.billing('POST', 'auto_recharge', { enabled: true, threshold_amount: 990, recharge_to_amount: 2000 })).status, 200);

    for (let i = 0; i < 3; i++) await c.chatOk(); // $9.85: below the threshold
    const failed = await waitFor(async () => (await c.payments('auto_recharge')).find((x) => x.status === 'failed'), { timeoutMs: 5000 });
    assert.ok(failed, 'the declined recharge is recorded');
    assert.equal(failed.failure_code, 'card_declined');
    let s = (await ok200(c.billing('GET', 'auto_recharge'), 'settings')).json;
    assert.equal(s.status, 'paused');
    assert.equal(s.paused_reason, 'card_declined');
    assert.equal(s.enabled, true);
    await Promise.all(Array.from({ length: 17 }, () => c.chatOk())); // still below: no retry
    await sleep(400);
    assert.equal((await c.payments('auto_recharge')).length, 1, 'not retried');
    assert.equal(await c.available(), (1000n - 20n * 5n) * NANOS_PER_CENT);
    assert.match(env.server.output.stderr, /ALERT auto-recharge .*card_declined/);

    // a good default and the settings saved again: it resumes
    await ok200(c.billing('POST', `payment_methods/${good.id}`, { default: true }), 'default');
    s = (await ok200(c.billing('POST', 'auto_recharge', { enabled: true }), 'resume')).json;
    assert.equal(s.status, 'active');
    assert.equal(s.threshold_amount, 990, 'settings kept');
    await c.chatOk();
    const ok = await waitFor(async () => (await c.payments('auto_recharge')).find((x) => x.status === 'succeeded'), { timeoutMs: 5000 });
    assert.ok(ok, 'recharged after resuming');
    assert.equal(ok.amount, 2000 - (1000 - 21 * 5));
  });

  it('auto-recharge stays within the monthly limit', async () => {
    const c = await Customer.create(env, 'Limited');
    await c.addCard(CARD_OK);
    assert.equal((await c.topUp(1000)).status, 200);
    let r = await c.billing('POST', 'auto_recharge', { enabled: true, threshold_amount: 900, recharge_to_amount: 1500, monthly_limit: 1000 });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.monthly_limit, 1000);
    const recharged = async (n) => waitFor(async () => {
      const p = await c.payments('auto_recharge');
      return p.length >= n && p.every((x) => x.status !== 'pending') ? p : null;
    }, { timeoutMs: 5000 });

    await c.chatOk('test-model-big'); // $9: not below
    await c.chatOk('test-model-big'); // $8: recharge to $15 → $7
    let p = await recharged(1);
    assert.deepEqual(p.map((x) => [x.amount, x.status]), [[700, 'succeeded']]);
    assert.equal(await c.available(), 1500n * NANOS_PER_CENT);
    for (let i = 0; i < 7; i++) await c.chatOk('test-model-big'); // $8: needs $7, only $3 left
    await sleep(500);
    p = await c.payments('auto_recharge');
    assert.equal(p.length, 1, 'the limit stops the second recharge');
    assert.equal(await c.available(), 800n * NANOS_PER_CENT);
    assert.match(env.server.output.stderr, /monthly limit of 1000 cents is reached/);

    // a higher limit: the next recharge takes what the limit leaves ($6 of the $8 needed)
    r = await c.billing('POST', 'auto_recharge', { enabled: true, monthly_limit: 1300 });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.recharged_this_month, 700);
    await c.chatOk('test-model-big'); // $7
    p = await recharged(2);
    assert.deepEqual(p.map((x) => [x.amount, x.status]), [[600, 'succeeded'], [700, 'succeeded']]);
    assert.equal(await c.available(), 1300n * NANOS_PER_CENT);
    r = await ok200(c.billing('GET', 'auto_recharge'), 'settings');
    assert.equal(r.json.recharged_this_month, 1300);

    // validation
    for (const [body, param] of [
      [{ enabled: true, threshold_amount: 1500, recharge_to_amount: 1500 }, 'recharge_to_amount'],
      [{ enabled: 'yes' }, 'enabled'],
      [{ threshold_amount: 100 }, 'enabled'],
      [{ enabled: true, monthly_limit: 100 }, 'monthly_limit'],
      [{ enabled: true, threshold_amount: -1 }, 'threshold_amount'],
    ]) assertErrorResponse(await c.billing('POST', 'auto_recharge', body), 400, { param }, JSON.stringify(body));
    const bare = await Customer.create(env, 'No card');
    assertErrorResponse(await bare.billing('POST', 'auto_recharge', { enabled: true, threshold_amount: 500, recharge_to_amount: 1000 }), 400, { param: 'enabled' });
    r = await ok200(bare.billing('GET', 'auto_recharge'), 'default settings');
    assert.equal(r.json.enabled, false);
    assert.equal(r.json.status, 'disabled');
  });

  it('payments, invoices and auto-recharge settings survive a restart', async () => {
    const c = await Customer.create(env, 'Durable');
    await c.addCard(CARD_OK);
    assert.equal((await c.topUp(800)).status, 200);
    await ok200(c.billing('POST', 'auto_recharge', { enabled: true, threshold_amount: 100, recharge_to_amount: 900, monthly_limit: 5000 }), 'settings');
    const before = await c.available();
    await env.killServer('SIGKILL');
    await env.restartServer();
    assert.equal(await c.available(), before);
    const s = (await ok200(c.billing('GET', 'auto_recharge'), 'settings')).json;
    assert.deepEqual([s.enabled, s.threshold_amount, s.recharge_to_amount, s.monthly_limit], [true, 100, 900, 5000]);
    assert.equal((await ok200(c.billing('GET', 'invoices'), 'invoices')).json.data.length, 1);
    assert.equal((await c.topUp(500)).status, 200);
    const nums = (await ok200(c.billing('GET', 'invoices'), 'invoices')).json.data.map((x) => x.number);
    assert.deepEqual(nums, [`TG-${c.orgId.slice(4, 12)}-0002`, `TG-${c.orgId.slice(4, 12)}-0001`]);
  });
});

// ---------------------------------------------------------------------------------------

describe('payments with the stripe provider (local stand-in)', () => {
  let env;
  let stripe;

  before(async () => {
    stripe = await new StripeStandin().start();
    env = await startEnv([
      '--payments', 'stripe', '--stripe-url', stripe.origin,
      '--stripe-key', stripe.secretKey, '--stripe-webhook-secret', stripe.webhookSecret,
    ]);
    stripe.webhookURL = `${env.origin}/v1/billing/webhooks/stripe`;
  });

  after(async () => {
    try {
      await env?.stop();
    } finally {
      await stripe?.stop();
    }
  });

  async function stripeCustomer(name, pm = 'pm_card_visa') {
    const c = await Customer.create(env, name);
    const r = await c.billing('POST', 'payment_methods', { stripe_payment_method: pm, payer: COMPANY });
    assert.equal(r.status, 200, r.text);
    c.pm = r.json;
    return c;
  }

  it('attaches a Stripe.js payment method, charges a top-up once, with idempotency keys', async () => {
    const c = await Customer.create(env, 'Stripe Co');
    // card details never reach Tollgate with stripe
    let r = await c.billing('POST', 'payment_methods', { card: { number: '4242424242424242', exp_month: 12, exp_year: FAR_YEAR, cvc: '123' }, payer: INDIVIDUAL });
    assertErrorResponse(r, 400, { param: 'card' });
    r = await c.billing('POST', 'payment_methods', { stripe_payment_method: 'pm_unknown_thing', payer: INDIVIDUAL });
    assertErrorResponse(r, 400, { param: 'stripe_payment_method' });
    r = await c.billing('POST', 'payment_methods', { stripe_payment_method: 'pm_card_visa', payer: COMPANY });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.brand, 'visa');
    assert.equal(r.json.last4, '4242');
    assert.equal(r.json.provider, 'stripe');
    const customerCall = stripe.requests.findLast((x) => x.path === '/v1/customers' && x.form['metadata[tollgate_organization_id]'] === c.orgId);
    assert.ok(customerCall, 'a Stripe customer for the payer');
    assert.equal(customerCall.form.name, COMPANY.name);
    assert.equal(customerCall.form['address[country]'], 'FR');
    assert.equal(customerCall.form['metadata[tax_id]'], 'FR40303265045');

    const before = await c.available();
    r = await c.topUp(1000);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'succeeded');
    const charges = stripe.chargesFor(r.json.id);
    assert.equal(charges.length, 1);
    assert.equal(charges[0].amount, 1000);
    const call = stripe.requests.find((x) => x.path === '/v1/payment_intents' && x.form['metadata[tollgate_payment_id]'] === r.json.id);
    assert.equal(call.idempotencyKey, r.json.id, 'the payment id is the idempotency key');
    assert.deepEqual([call.form.amount, call.form.currency, call.form.confirm, call.form.off_session], ['1000', 'usd', 'true', 'true']);
    assert.equal(await c.available() - before, 1000n * NANOS_PER_CENT);
    const inv = (await ok200(c.billing('GET', 'invoices'), 'invoices')).json.data;
    assert.equal(inv.length, 1);
    assert.equal(inv[0].total, 1000);
    for (const x of stripe.requests) assert.ok(x.idempotencyKey, `${x.path} carries an Idempotency-Key`);
    assert.deepEqual(stripe.violations, []);
  });

  it('a lost answer is retried with the same key and charged once', async () => {
    const c = await stripeCustomer('Lossy Network');
    const before = await c.available();
    stripe.dropNextIntentResponses = 1;
    const r = await c.topUp(700);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'succeeded');
    const calls = stripe.requests.filter((x) => x.path === '/v1/payment_intents' && x.form['metadata[tollgate_payment_id]'] === r.json.id);
    assert.ok(calls.length >= 2, `retried (${calls.length} calls)`);
    assert.ok(calls.every((x) => x.idempotencyKey === r.json.id), 'with the same key');
    assert.equal(stripe.chargesFor(r.json.id).length, 1, 'charged once');
    assert.equal(await c.available() - before, 700n * NANOS_PER_CENT);
    assert.deepEqual(stripe.violations, []);
  });

  it('declines: 402 card_declined / insufficient_funds, nothing granted', async () => {
    const c = await stripeCustomer('Stripe Declines', 'pm_card_chargeDeclined');
    const before = await c.available();
    assertErrorResponse(await c.topUp(1000), 402, { type: 'card_error', code: 'card_declined' });
    const r = await c.billing('POST', 'payment_methods', { stripe_payment_method: 'pm_card_chargeDeclinedInsufficientFunds', payer: INDIVIDUAL });
    assert.equal(r.status, 200, r.text);
    assertErrorResponse(await c.topUp(1000, r.json.id), 402, { type: 'card_error', code: 'insufficient_funds' });
    assert.equal(await c.available(), before);
    assert.deepEqual((await c.payments()).map((p) => p.status), ['failed', 'failed']);
  });

  it('a processing payment settles by signed webhook; forged or stale webhooks change nothing', async () => {
    const c = await stripeCustomer('Slow Bank', 'pm_card_processing');
    const before = await c.available();
    const r = await c.topUp(900);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'pending');
    assert.equal(await c.available(), before, 'no credit while pending');
    const pi = stripe.requests.findLast((x) => x.path === '/v1/payment_intents');
    const intent = [...stripe.intents.values()].find((x) => x.metadata.tollgate_payment_id === r.json.id);
    assert.ok(pi && intent);
    const event = stripe.event('payment_intent.succeeded', { ...intent, status: 'succeeded' });

    // forged: another secret; stale: 10 minutes old; tampered: the amount changed after signing
    let w = await stripe.sendWebhook(event, { secret: 'whsec_forged' });
    assertErrorResponse(w, 400, { code: 'invalid_signature' });
    w = await stripe.sendWebhook(event, { timestamp: Math.floor(Date.now() / 1000) - 600 });
    assertErrorResponse(w, 400, { code: 'invalid_signature' });
    const payload = JSON.stringify(event);
    const sig = stripe.sign(payload);
    const tampered = await fetch(stripe.webhookURL, { method: 'POST', headers: { 'stripe-signature': sig }, body: payload.replace('"amount":900', '"amount":90000') });
    assert.equal(tampered.status, 400);
    await tampered.text();
    w = await stripe.sendWebhook(event, { signature: '' });
    assertErrorResponse(w, 400, { code: 'invalid_signature' });
    assert.equal(await c.available(), before, 'no credit from a bad webhook');
    assert.equal((await c.payments())[0].status, 'pending');

    // Stripe completes it and sends the real webhook
    w = await stripe.complete(intent.id);
    assert.equal(w.status, 200, w.text);
    assert.deepEqual(w.json, { received: true });
    assert.equal(await c.available() - before, 900n * NANOS_PER_CENT);
    const p = (await c.payments())[0];
    assert.equal(p.status, 'succeeded');
    assert.match(p.invoice_id, /^inv_/);
    // delivered again (Stripe retries): no second credit, no second invoice
    w = await stripe.sendWebhook(event);
    assert.equal(w.status, 200, w.text);
    assert.equal(await c.available() - before, 900n * NANOS_PER_CENT);
    assert.equal((await ok200(c.billing('GET', 'invoices'), 'invoices')).json.data.length, 1);

    // events for payments Tollgate does not know, or that do not match, are acknowledged and ignored
    w = await stripe.sendWebhook(stripe.event('payment_intent.succeeded', { ...intent, id: 'pi_other', metadata: {} }));
    assert.equal(w.status, 200);
    w = await stripe.sendWebhook(stripe.event('customer.created', { id: 'cus_x' }));
    assert.equal(w.status, 200);
    assert.equal(await c.available() - before, 900n * NANOS_PER_CENT);
    assertErrorResponse(await env.request('POST', '/v1/billing/webhooks/test', { body: '{}' }), 404, { code: 'unknown_url' });
    assertErrorResponse(await env.request('GET', '/v1/billing/webhooks/stripe'), 405, {});
  });

  it('auto-recharge through Stripe; the secret key is never logged', async () => {
    const c = await stripeCustomer('Stripe Recharge');
    assert.equal((await c.topUp(1000)).status, 200);
    assert.equal((await c.billing('POST', 'auto_recharge', { enabled: true, threshold_amount: 990, recharge_to_amount: 1500 })).status, 200);
    await Promise.all(Array.from({ length: 20 }, () => c.chatOk()));
    const done = await waitFor(async () => (await c.payments('auto_recharge')).find((x) => x.status === 'succeeded'), { timeoutMs: 10000 });
    assert.ok(done, 'recharged');
    await sleep(300);
    assert.equal((await c.payments('auto_recharge')).length, 1);
    assert.equal(stripe.chargesFor(done.id).length, 1);
    const out = env.server.output.stdout + env.server.output.stderr;
    assert.ok(!out.includes(stripe.secretKey), 'secret key not in the output');
    assert.ok(!out.includes(stripe.webhookSecret), 'webhook secret not in the output');
    assert.deepEqual(stripe.violations, []);
  });
});
