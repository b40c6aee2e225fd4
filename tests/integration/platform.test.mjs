// The operator's platform calls (SPEC.md §1.2): customer organisations listed, read, renamed,
// given a tier by hand that payments no longer move, suspended (keys and the admin key answer
// 401 account_deactivated, a request already running finishes and is billed, nothing is
// deleted) and reactivated. Only the operator's admin keys may call them.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { execFileSync } from 'node:child_process';
import { Env, TOLLGATE_BIN, assertErrorResponse, dbUrl, tollgateEnv, waitFor } from './harness.mjs';

const q = (s) => `'${String(s).replace(/'/g, "''")}'`;
const FAR_YEAR = new Date().getUTCFullYear() + 4;

describe('platform: customer organisations', () => {
  let env;
  before(async () => { env = await Env.start(); });
  after(async () => { await env?.stop(); });

  async function customer(name) {
    const r = await env.admin('POST', '/v1/platform/organizations', { name });
    assert.equal(r.status, 200, r.text);
    const c = { id: r.json.id, adminKey: r.json.admin_key.value, projectId: r.json.default_project_id };
    const k = await env.admin('POST', `/v1/organization/projects/${c.projectId}/api_keys`, { name: 'k' }, { key: c.adminKey });
    assert.equal(k.status, 200, k.text);
    c.apiKey = k.json.value;
    return c;
  }
  const platform = (method, path, body, key) => env.admin(method, `/v1/platform/organizations${path}`, body, key ? { key } : {});

  it('lists (paged), reads one, and refuses what is not there', async () => {
    const a = await customer('Alpha');
    await customer('Beta');
    const one = await platform('GET', `/${a.id}`);
    assert.equal(one.status, 200, one.text);
    assert.deepEqual({ ...one.json, created_at: 0 }, {
      object: 'organization', id: a.id, name: 'Alpha', tier: 'free', tier_set_by: 'payments',
      status: 'active', is_operator: false, created_at: 0,
    });
    const page = await platform('GET', '?limit=2');
    assert.equal(page.status, 200, page.text);
    assert.equal(page.json.object, 'list');
    assert.equal(page.json.data.length, 2);
    assert.equal(page.json.has_more, true);
    const rest = await platform('GET', `?limit=100&after=${page.json.last_id}`);
    const names = [...page.json.data, ...rest.json.data].map((o) => o.name);
    assert.ok(names.includes('Alpha') && names.includes('Beta'), `both pages together hold every organisation: ${names}`);
    assert.ok(!rest.json.data.some((o) => page.json.data.some((p) => p.id === o.id)), 'no repeats');
    assertErrorResponse(await platform('GET', '/org-nope'), 404, {});
    assertErrorResponse(await platform('DELETE', `/${a.id}`), 405, {});
    assertErrorResponse(await platform('GET', `/${a.id}/nothing`), 404, { code: 'unknown_url' });
    // a customer's admin key is not the operator's
    const r = await platform('GET', `/${a.id}`, undefined, a.adminKey);
    assertErrorResponse(r, 401, {});
    assert.match(r.json.error.message, /insufficient permissions/);
    assertErrorResponse(await platform('POST', `/${a.id}`, { status: 'suspended' }, a.adminKey), 401, {});
  });

  it('renames and sets a tier by hand; bad values change nothing', async () => {
    const c = await customer('Gamma');
    const r = await platform('POST', `/${c.id}`, { name: 'Gamma Inc', tier: 'tier_3' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.name, 'Gamma Inc');
    assert.equal(r.json.tier, 'tier_3');
    assert.equal(r.json.tier_set_by, 'operator');
    // the customer sees its new tier at once
    const tier = await env.admin('GET', '/v1/organization/usage_tier', undefined, { key: c.adminKey });
    assert.equal(tier.status, 200, tier.text);
    assert.equal(tier.json.id ?? tier.json.tier, 'tier_3');
    for (const [body, param] of [[{ tier: 'tier_9' }, 'tier'], [{ status: 'paused' }, 'status'], [{ name: '' }, 'name'],
      [{ name: 'x'.repeat(300) }, 'name'], [{ tier: 3 }, 'tier'], [{ tier: 'tier_1', status: 'nope' }, 'status']]) {
      const bad = await platform('POST', `/${c.id}`, body);
      assertErrorResponse(bad, 400, { param });
    }
    const after = await platform('GET', `/${c.id}`);
    assert.equal(after.json.name, 'Gamma Inc');
    assert.equal(after.json.tier, 'tier_3', 'a refused change changed nothing');
    // the operator's own organisation cannot be suspended
    assertErrorResponse(await platform('POST', `/${env.orgId}`, { status: 'suspended' }), 400, { param: 'status' });
  });

  it('a tier set by hand stays when payments would move it', async () => {
    const pay = async (c) => {
      const m = await env.admin('POST', '/v1/organization/billing/payment_methods', {
        card: { number: '4242424242424242', exp_month: 12, exp_year: FAR_YEAR, cvc: '737' },
        payer: { type: 'individual', name: 'Ada Lovelace', email: 'ada@example.com' },
      }, { key: c.adminKey });
      assert.equal(m.status, 200, m.text);
      const t = await env.admin('POST', '/v1/organization/billing/top_ups', { amount: 1000 }, { key: c.adminKey });
      assert.equal(t.status, 200, t.text);
    };
    const free = await customer('Pinned');
    assert.equal((await platform('POST', `/${free.id}`, { tier: 'free' })).status, 200);
    const other = await customer('Unpinned');
    await pay(free);
    await pay(other);
    assert.equal(env.sql(`SELECT tier FROM organizations WHERE id=${q(other.id)}`)[0].tier, 'tier_1', 'paying moves an organisation up');
    const pinned = await platform('GET', `/${free.id}`);
    assert.equal(pinned.json.tier, 'free', 'but not one whose tier the operator set');
    assert.equal(pinned.json.tier_set_by, 'operator');
  });

  it('suspending: keys get 401 account_deactivated, a running request finishes and is billed, reactivating restores everything', async () => {
    const c = await customer('Delta');
    assert.equal((await platform('POST', `/${c.id}/credit_grants`, { amount: 500 })).status, 200);
    assert.equal((await platform('POST', `/${c.id}`, { tier: 'tier_5' })).status, 200);
    const client = new OpenAI({ apiKey: c.apiKey, baseURL: `${env.origin}/v1`, maxRetries: 0 });
    const before = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    assert.ok(before.choices.length);
    // a request the mock answers after 3 s, started before the suspension
    const running = env.request('POST', '/v1/chat/completions', {
      key: c.apiKey, json: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'mock:slow' }] },
    });
    await new Promise((r) => setTimeout(r, 500));
    const s = await platform('POST', `/${c.id}`, { status: 'suspended' });
    assert.equal(s.status, 200, s.text);
    assert.equal(s.json.status, 'suspended');
    const e = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).then(() => null, (x) => x);
    assert.equal(e?.status, 401);
    assert.equal(e.code, 'account_deactivated');
    assert.equal(e.type, 'invalid_request_error');
    const adm = await env.admin('GET', '/v1/organization/projects', undefined, { key: c.adminKey });
    assertErrorResponse(adm, 401, { code: 'account_deactivated' });
    const done = await running;
    assert.equal(done.status, 200, `the running request finished: ${done.text}`);
    const row = env.usageRow(done.headers.get('x-request-id'));
    assert.ok(row, 'and was recorded');
    assert.equal(row.status, 200);
    assert.ok(Number(row.output_tokens) > 0);
    // nothing was deleted; reactivating brings the same keys back
    const rows = env.sql(`SELECT COUNT(*) AS n FROM usage_records WHERE organization_id=${q(c.id)}`)[0].n;
    assert.equal(Number(rows), 2);
    const a = await platform('POST', `/${c.id}`, { status: 'active' });
    assert.equal(a.json.status, 'active');
    const again = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    assert.ok(again.choices.length);
    assert.equal((await env.admin('GET', '/v1/organization/projects', undefined, { key: c.adminKey })).status, 200);
  });
});

describe('tollgate org: the same on the host', () => {
  let env;
  before(async () => { env = await Env.start(); });
  after(async () => { await env?.stop(); });
  const org = (...args) => execFileSync(TOLLGATE_BIN, ['org', ...args, '--db', dbUrl(env.dbPath)], { encoding: 'utf8', env: tollgateEnv() });

  it('creates, lists, shows and sets; a running server applies a change within seconds', async () => {
    const made = JSON.parse(org('create', 'Host Co', '--json'));
    assert.match(made.id, /^org-/);
    assert.match(made.admin_key, /^sk-admin-/);
    // the running server knows it (and its key) without a restart
    await waitFor(async () => (await env.admin('GET', '/v1/organization/projects', undefined, { key: made.admin_key })).status === 200,
      { timeoutMs: 5000, intervalMs: 100 });
    const k = await env.admin('POST', `/v1/organization/projects/${made.default_project_id}/api_keys`, { name: 'k' }, { key: made.admin_key });
    assert.equal(k.status, 200, k.text);
    const lines = org('list', '--json').trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(lines.some((o) => o.id === made.id && o.name === 'Host Co' && o.status === 'active'));
    assert.ok(lines.some((o) => o.is_operator));
    const set = JSON.parse(org('set', made.id, '--status', 'suspended', '--tier', 'tier_2', '--json'));
    assert.equal(set.status, 'suspended');
    assert.equal(set.tier, 'tier_2');
    assert.equal(set.tier_set_by, 'operator');
    const t0 = Date.now();
    await waitFor(async () => {
      const r = await env.request('GET', '/v1/models', { key: k.json.value });
      return r.status === 401 && r.json?.error?.code === 'account_deactivated';
    }, { timeoutMs: 5000, intervalMs: 100 });
    assert.ok(Date.now() - t0 < 5000);
    // the platform API sees the same
    const got = await env.admin('GET', `/v1/platform/organizations/${made.id}`);
    assert.equal(got.json.status, 'suspended');
    assert.equal(got.json.tier, 'tier_2');
    org('set', made.id, '--status', 'active');
    await waitFor(async () => (await env.request('GET', '/v1/models', { key: k.json.value })).status === 200, { timeoutMs: 5000, intervalMs: 100 });
    // bad input changes nothing and says why
    for (const args of [['set', made.id, '--tier', 'tier_9'], ['set', made.id, '--status', 'paused'], ['set', 'org-nope', '--name', 'x'],
      ['set', env.orgId, '--status', 'suspended'], ['set', made.id]]) {
      assert.throws(() => org(...args), (e) => e.status === 1 && /tollgate: org/.test(e.stderr), args.join(' '));
    }
    assert.equal(JSON.parse(org('show', made.id, '--json')).tier, 'tier_2');
  });
});
