// Routing (issue 11): several providers per model, priority and weights, failover before the
// first byte, per-key rotation and rest, the circuit breaker, provider timeouts, Azure OpenAI,
// the Responses API, and /readyz warnings for models no provider serves.
//
// Every test uses models of its own (added to the model table with known prices) and
// providers of its own, on mock upstreams started for it, so that no test's breaker, key rest
// or round-robin state leaks into another. Money is checked on customer organisations (the
// operator's is exempt from credit), exactly, in BigInt nano-dollars.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import {
  Env, Mock, MOCK_CONTENT, MOCK_COMPLETION_TOKENS, REQUEST_ID_RE, expectAPIError,
  parseSSE, waitFor, getFreePort, makeTempDir, removeTempDir, tollgateInit, tollgateServe, stopProcess,
  request, dropDb,
} from './harness.mjs';
import { nanos, exactJson } from './money.mjs';
import path from 'node:path';

// ---------------------------------------------------------------------------------------
// Helpers

const q = (s) => `'${String(s).replace(/'/g, "''")}'`;
const ceilDiv = (a, b) => (a + b - 1n) / b;

async function ok200(p, what) {
  const r = await p;
  assert.equal(r.status, 200, `${what}: ${r.status} ${r.text}`);
  return r;
}

/** Mock upstreams started by this file (stopped in the file's `after`). */
const mocks = [];
async function startMock(args = []) {
  const m = await Mock.start(args);
  mocks.push(m);
  return m;
}

/** A model of our own with exact prices (dollars per 1M tokens, as strings). */
async function addModel(env, id, { input = '1', cached = null, output = '2' } = {}) {
  await ok200(env.admin('POST', `/v1/organization/models/${id}`, {
    input_price: input, cached_input_price: cached, output_price: output,
  }), `create model ${id}`);
}

/** POST /v1/organization/providers; returns the provider object. */
async function addProvider(env, body) {
  const r = await ok200(env.admin('POST', '/v1/organization/providers', {
    type: 'openai_compatible', api_key: 'sk-upstream-routing', ...body,
  }), `create provider ${body.name}`);
  assert.match(r.json.id ?? '', /^prov_/, `provider id: ${r.text}`);
  return r.json;
}

/** The provider as GET /v1/organization/providers lists it. */
async function providerView(env, id) {
  const r = await ok200(env.admin('GET', '/v1/organization/providers'), 'list providers');
  assert.ok(Array.isArray(r.json?.data), `providers list: ${r.text.slice(0, 300)}`);
  const p = r.json.data.find((x) => x.id === id);
  assert.ok(p, `provider ${id} is listed`);
  return { p, text: r.text };
}

async function metricsText(env) {
  const r = await env.request('GET', '/metrics');
  assert.equal(r.status, 200, `GET /metrics: ${r.status}`);
  return r.text;
}

/** One sample's value from Prometheus text, or undefined. labels: exact label text. */
function metric(text, name, labels) {
  const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^${esc(name)}\\{${esc(labels)}\\} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

/** Prices of a model from GET /v1/organization/models, as BigInt nano-dollars per 1M tokens. */
async function priceOfModel(env, model) {
  let after = null;
  for (;;) {
    const r = await ok200(env.admin('GET', `/v1/organization/models?limit=100${after ? `&after=${after}` : ''}`), 'list models');
    const j = exactJson(r.text);
    const m = j.data.find((x) => x.id === model);
    if (m) {
      return {
        input: nanos(m.input_price),
        cached: m.cached_input_price === null ? null : nanos(m.cached_input_price),
        output: nanos(m.output_price),
      };
    }
    if (j.has_more !== 'true' && j.has_more !== true) break;
    after = j.last_id;
  }
  assert.fail(`model ${model} is in GET /v1/organization/models`);
}

/** The pricing rule: Σ tokens × price per 1M, rounded up to a nano-dollar. */
function expectedCost(price, input, cached, output) {
  const i = BigInt(input);
  let c = BigInt(cached);
  if (c > i) c = i;
  const cp = price.cached ?? price.input;
  const sum = (i - c) * price.input + c * cp + BigInt(output) * price.output;
  return sum <= 0n ? 0n : ceilDiv(sum, 1_000_000n);
}

function usageRecord(env, rid) {
  assert.match(rid ?? '', REQUEST_ID_RE, `x-request-id: ${rid}`);
  const rows = env.sql(`SELECT * FROM usage_records WHERE request_id=${q(rid)}`);
  assert.ok(rows.length <= 1, `at most one usage record for ${rid}: ${JSON.stringify(rows)}`);
  return rows[0];
}

/** A customer organisation at tier 5 with credit, its project and a key (billing.test.mjs). */
class Customer {
  static async create(env, name, { cents = 1000 } = {}) {
    const c = new Customer();
    c.env = env;
    const r = await ok200(env.admin('POST', '/v1/platform/organizations', { name }), 'create org');
    c.orgId = r.json.id;
    c.projectId = r.json.default_project_id;
    c.adminKey = r.json.admin_key.value;
    assert.match(c.orgId, /^org-/);
    assert.match(c.adminKey, /^sk-admin-/);
    // tier 5 (10,000 RPM): these tests are about routing, not rate limits; the next Admin API
    // write (the key below) reloads the catalog, and with it the tier
    env.sql(`UPDATE organizations SET tier='tier_5' WHERE id=${q(c.orgId)}`);
    const k = await ok200(env.admin('POST', `/v1/organization/projects/${c.projectId}/api_keys`, { name: 'k' }, { key: c.adminKey }), 'create key');
    c.apiKey = k.json.value;
    assert.match(c.apiKey, /^sk-proj-/);
    c.client = new OpenAI({ apiKey: c.apiKey, baseURL: env.baseURL, maxRetries: 0, timeout: 60000 });
    if (cents) {
      await ok200(env.admin('POST', `/v1/platform/organizations/${c.orgId}/credit_grants`, { amount: cents }), 'grant');
    }
    return c;
  }

  /** GET /v1/organization/billing/balance, amounts as BigInt nano-dollars. */
  async balance() {
    const r = await ok200(this.env.admin('GET', '/v1/organization/billing/balance', undefined, { key: this.adminKey }), 'balance');
    const j = exactJson(r.text);
    const b = {};
    for (const k of ['available', 'reserved', 'granted', 'used']) b[k] = nanos(j[k]);
    return b;
  }

  /** Σ cost and count of the organisation's usage records. */
  db() {
    const row = this.env.sql(`SELECT CAST(COALESCE(SUM(cost_nanousd),0) AS TEXT) AS cost, CAST(COUNT(*) AS TEXT) AS n FROM usage_records WHERE organization_id=${q(this.orgId)}`)[0];
    return { cost: BigInt(row.cost), records: Number(row.n) };
  }

  /** Waits until nothing is reserved any more; returns the balance. */
  async settled(ctx) {
    let b;
    await waitFor(async () => { b = await this.balance(); return b.reserved === 0n; }, { timeoutMs: 10000, intervalMs: 100 });
    assert.equal(b.reserved, 0n, `${ctx}: nothing left reserved`);
    return b;
  }
}

const chat = (model, content = 'hello routing') => ({ model, messages: [{ role: 'user', content }] });

/** A chat completion through the SDK; returns {completion, rid}. */
async function sdkChat(client, body) {
  const { data, response } = await client.chat.completions.create(body).withResponse();
  return { completion: data, rid: response.headers.get('x-request-id') };
}

/** A streamed chat completion through raw fetch: {status, rid, events (data payloads), text}. */
async function rawStream(env, key, body) {
  const r = await fetch(`${env.origin}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
  });
  const text = await r.text();
  return { status: r.status, rid: r.headers.get('x-request-id'), ct: r.headers.get('content-type'), text, events: parseSSE(text) };
}

after(async () => {
  for (const m of mocks) await m.stop().catch(() => {});
});

// ---------------------------------------------------------------------------------------

describe('routing (default breaker: 5 failures, 30 s)', () => {
  let env;
  before(async () => { env = await Env.start(); });
  after(async () => { await env?.stop(); });

  it('1. primary (priority 0) answers 503 to everything, secondary (priority 1) healthy: 10 of 10 succeed, each charged once to the secondary', async () => {
    const bad = await startMock(['--fail-status', '503']);
    const good = await startMock();
    await addModel(env, 'rt-failover', { input: '1', output: '2' });
    const primary = await addProvider(env, { name: 'primary', base_url: bad.baseURL, priority: 0, models: [{ model: 'rt-failover' }] });
    const secondary = await addProvider(env, { name: 'secondary', base_url: good.baseURL, priority: 1, models: [{ model: 'rt-failover' }] });
    assert.equal(primary.status, 'healthy', `a new provider is healthy: ${JSON.stringify(primary)}`);
    const c = await Customer.create(env, 'Failover');
    const before = await c.balance();
    const price = await priceOfModel(env, 'rt-failover');

    const rids = [];
    for (let i = 0; i < 10; i++) {
      const body = chat('rt-failover', `failover request ${i}`);
      const { completion, rid } = await sdkChat(c.client, body);
      assert.equal(completion.choices[0].message.content, MOCK_CONTENT, `request ${i}: the answer reached the SDK`);
      const row = usageRecord(env, rid);
      assert.ok(row, `request ${i}: a usage record`);
      assert.equal(row.provider_id, secondary.id, `request ${i}: the usage record names the secondary (the one that answered)`);
      assert.equal(Number(row.status), 200);
      assert.equal(Number(row.output_tokens), MOCK_COMPLETION_TOKENS);
      assert.equal(BigInt(row.cost_nanousd), expectedCost(price, row.input_tokens, row.cached_input_tokens, row.output_tokens),
        `request ${i}: charged at the model's prices, once`);
      rids.push(rid);
    }
    assert.equal(new Set(rids).size, 10);
    assert.equal((await good.stats()).requests, 10, 'the secondary answered each request exactly once');
    const badReq = (await bad.stats()).requests;
    assert.ok(badReq >= 1 && badReq <= 5, `the primary was tried, at most its breaker threshold (5) of times: ${badReq}`);

    const d = c.db();
    assert.equal(d.records, 10, 'one usage record per request');
    const b = await c.settled('failover');
    assert.equal(b.used - before.used, d.cost, 'balance used == Σ usage cost');
    assert.ok(d.cost > 0n);
    const { p } = await providerView(env, primary.id);
    assert.equal(p.status, 'open', `the primary's breaker opened after 5 failures: ${JSON.stringify(p)}`);
    assert.ok(typeof p.last_error === 'string' && p.last_error.length > 0, `last_error: ${p.last_error}`);
    assert.ok(Number.isInteger(p.last_error_at) && p.last_error_at > 0, `last_error_at: ${p.last_error_at}`);
    const s = (await providerView(env, secondary.id)).p;
    assert.equal(s.status, 'healthy');
    assert.equal(s.last_error, null);
  });

  it('1b. primary unreachable (connect error), secondary healthy: answered by the secondary', async () => {
    const good = await startMock();
    const port = await getFreePort();
    await addModel(env, 'rt-connect');
    await addProvider(env, { name: 'closed', base_url: `http://127.0.0.1:${port}/v1`, priority: 0, models: [{ model: 'rt-connect' }] });
    const secondary = await addProvider(env, { name: 'open', base_url: good.baseURL, priority: 1, models: [{ model: 'rt-connect' }] });
    const c = await Customer.create(env, 'Connect');
    const { completion, rid } = await sdkChat(c.client, chat('rt-connect'));
    assert.equal(completion.choices[0].message.content, MOCK_CONTENT);
    assert.equal(usageRecord(env, rid)?.provider_id, secondary.id);
    assert.equal((await good.stats()).requests, 1);
  });

  it('2. weights 3:1 at equal priority over 200 requests: 65–85 % on the first', async () => {
    const a = await startMock();
    const b = await startMock();
    await addModel(env, 'rt-weights');
    await addProvider(env, { name: 'w3', base_url: a.baseURL, weight: 3, models: [{ model: 'rt-weights' }] });
    await addProvider(env, { name: 'w1', base_url: b.baseURL, weight: 1, models: [{ model: 'rt-weights' }] });
    const N = 200;
    let next = 0;
    const failures = [];
    const worker = async () => {
      while (next < N) {
        const i = next++;
        const r = await env.api('POST', '/v1/chat/completions', { json: chat('rt-weights', `w ${i}`) });
        if (r.status !== 200) failures.push(`${r.status} ${r.text.slice(0, 200)}`);
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    assert.deepEqual(failures, [], 'every request succeeded');
    const na = (await a.stats()).requests;
    const nb = (await b.stats()).requests;
    assert.equal(na + nb, N, `each request reached exactly one upstream (${na} + ${nb})`);
    const share = na / N;
    assert.ok(share >= 0.65 && share <= 0.85, `weight 3 of 4 got ${(share * 100).toFixed(1)} % (${na} of ${N})`);
  });

  it('3. primary answers 429 (retry-after 30) to a streamed request: one stream, from the secondary, charged once; the rate-limited key rests', async () => {
    const limited = await startMock(['--fail-status', '429', '--retry-after', '30']);
    const good = await startMock();
    await addModel(env, 'rt-stream429', { input: '1', output: '2' });
    const primary = await addProvider(env, { name: 'limited', base_url: limited.baseURL, priority: 0, models: [{ model: 'rt-stream429' }] });
    const secondary = await addProvider(env, { name: 'spare', base_url: good.baseURL, priority: 1, models: [{ model: 'rt-stream429' }] });
    const c = await Customer.create(env, 'Stream 429');
    const before = await c.balance();
    const price = await priceOfModel(env, 'rt-stream429');

    const r = await rawStream(env, c.apiKey, chat('rt-stream429'));
    assert.equal(r.status, 200, `streamed request: ${r.text.slice(0, 300)}`);
    assert.match(r.ct ?? '', /^text\/event-stream/);
    assert.equal(r.events.filter((e) => e === '[DONE]').length, 1, `exactly one [DONE]:\n${r.text}`);
    assert.equal(r.events[r.events.length - 1], '[DONE]', 'the stream ends with [DONE]');
    const chunks = r.events.filter((e) => e !== '[DONE]').map((e) => JSON.parse(e));
    assert.equal(new Set(chunks.map((ch) => ch.id)).size, 1, 'every chunk belongs to one answer');
    const content = chunks.map((ch) => ch.choices?.[0]?.delta?.content ?? '').join('');
    assert.equal(content, MOCK_CONTENT, 'the content of exactly one answer');
    const usageChunks = chunks.filter((ch) => ch.usage);
    assert.equal(usageChunks.length, 1, 'one usage chunk');
    assert.equal((await limited.stats()).requests, 1, 'the primary was tried once');
    assert.equal((await good.stats()).requests, 1, 'the secondary answered once');
    const row = usageRecord(env, r.rid);
    assert.ok(row, 'a usage record');
    assert.equal(Number(row.status), 200);
    assert.equal(Number(row.streamed), 1);
    assert.equal(row.provider_id, secondary.id, 'the record names the secondary');
    assert.equal(Number(row.input_tokens), usageChunks[0].usage.prompt_tokens);
    assert.equal(Number(row.output_tokens), usageChunks[0].usage.completion_tokens);
    assert.equal(BigInt(row.cost_nanousd), expectedCost(price, row.input_tokens, row.cached_input_tokens, row.output_tokens));

    // the same through the SDK: the primary's only key rests for the upstream's retry-after (30 s)
    const { data: stream, response } = await c.client.chat.completions
      .create({ ...chat('rt-stream429', 'second'), stream: true, stream_options: { include_usage: true } }).withResponse();
    let text = '';
    let usage = null;
    for await (const ch of stream) {
      text += ch.choices?.[0]?.delta?.content ?? '';
      usage = ch.usage ?? usage;
    }
    assert.equal(text, MOCK_CONTENT);
    assert.equal(usage?.completion_tokens, MOCK_COMPLETION_TOKENS);
    assert.equal((await limited.stats()).requests, 1, 'the rate-limited key rests: the primary is not asked again within its retry-after');
    assert.equal((await good.stats()).requests, 2);
    const row2 = usageRecord(env, response.headers.get('x-request-id'));
    assert.equal(row2?.provider_id, secondary.id);
    assert.equal(Number(row2.streamed), 1);

    const d = c.db();
    assert.equal(d.records, 2, 'one usage record per request');
    const b = await c.settled('stream 429');
    assert.equal(b.used - before.used, d.cost, 'balance used == Σ usage cost');
    const { p } = await providerView(env, primary.id);
    assert.match(p.last_error ?? '', /429|rate/i, `the primary's last_error: ${p.last_error}`);
    const mt = await metricsText(env);
    assert.equal(metric(mt, 'tollgate_upstream_requests_total', `provider="${primary.id}",outcome="rate_limited"`), 1, 'one rate_limited attempt on the primary');
    assert.equal(metric(mt, 'tollgate_upstream_requests_total', `provider="${secondary.id}",outcome="ok"`), 2, 'two ok attempts on the secondary');
  });

  it('4. both providers answer 503: 502 server_error, plain and streamed; nothing charged, nothing reserved', async () => {
    const m1 = await startMock(['--fail-status', '503']);
    const m2 = await startMock(['--fail-status', '503']);
    await addModel(env, 'rt-allfail');
    await addProvider(env, { name: 'f1', base_url: m1.baseURL, priority: 0, models: [{ model: 'rt-allfail' }] });
    await addProvider(env, { name: 'f2', base_url: m2.baseURL, priority: 1, models: [{ model: 'rt-allfail' }] });
    const c = await Customer.create(env, 'All fail');
    const before = await c.balance();
    const rids = [];
    for (let i = 0; i < 2; i++) {
      const e = await expectAPIError(c.client.chat.completions.create(chat('rt-allfail', `x ${i}`)), 502, { type: 'server_error' });
      rids.push(e.headers?.get('x-request-id'));
    }
    const es = await expectAPIError(
      c.client.chat.completions.create({ ...chat('rt-allfail', 'streamed'), stream: true, stream_options: { include_usage: true } }),
      502, { type: 'server_error' });
    rids.push(es.headers?.get('x-request-id'));
    assert.equal((await m1.stats()).requests, 3, 'each request tried the first provider once (no retry of a failed provider)');
    assert.equal((await m2.stats()).requests, 3, 'and the second once');
    for (const rid of rids) {
      const row = usageRecord(env, rid);
      if (row) assert.equal(BigInt(row.cost_nanousd), 0n, `a failed request costs nothing: ${JSON.stringify(row)}`);
    }
    assert.equal(c.db().cost, 0n, 'no usage cost');
    const b = await c.settled('all fail');
    assert.equal(b.used, before.used, 'used unchanged');
    assert.equal(b.available, before.available, 'available unchanged');
  });

  it('4b. both providers answer 429: 503 server_error, nothing charged', async () => {
    const m1 = await startMock(['--fail-status', '429']);
    const m2 = await startMock(['--fail-status', '429']);
    await addModel(env, 'rt-all429');
    await addProvider(env, { name: 'l1', base_url: m1.baseURL, models: [{ model: 'rt-all429' }] });
    await addProvider(env, { name: 'l2', base_url: m2.baseURL, models: [{ model: 'rt-all429' }] });
    const c = await Customer.create(env, 'All 429');
    const before = await c.balance();
    await expectAPIError(c.client.chat.completions.create(chat('rt-all429')), 503, { type: 'server_error' });
    assert.equal((await m1.stats()).requests + (await m2.stats()).requests, 2, 'each provider tried once');
    assert.equal(c.db().cost, 0n);
    const b = await c.settled('all 429');
    assert.equal(b.used, before.used);
  });

  it('4c. an upstream 400 passes through with its status and body; no other provider is tried; nothing charged', async () => {
    const m1 = await startMock();
    const m2 = await startMock();
    await addModel(env, 'rt-pass400');
    await addProvider(env, { name: 'p1', base_url: m1.baseURL, priority: 0, models: [{ model: 'rt-pass400' }] });
    await addProvider(env, { name: 'p2', base_url: m2.baseURL, priority: 1, models: [{ model: 'rt-pass400' }] });
    const c = await Customer.create(env, 'Pass 400');
    const before = await c.balance();
    const body = chat('rt-pass400', 'please fail mock:status=400');
    const direct = await request(m1.origin, 'POST', '/v1/chat/completions', { json: body });
    assert.equal(direct.status, 400, 'the mock itself answers 400');
    await m1.reset();
    const r = await request(env.origin, 'POST', '/v1/chat/completions', { key: c.apiKey, json: body });
    assert.equal(r.status, 400, `passed through: ${r.text}`);
    assert.deepEqual(r.json?.error, direct.json.error, 'the upstream\'s error body');
    assert.equal((await m1.stats()).requests, 1);
    assert.equal((await m2.stats()).requests, 0, 'a client error is not retried elsewhere');
    assert.equal(c.db().cost, 0n);
    const b = await c.settled('pass 400');
    assert.equal(b.used, before.used);
  });

  it('5. Azure: POST {base}/openai/deployments/DEPLOY/chat/completions?api-version=V with api-key, no Authorization', async () => {
    const az = await startMock();
    await addModel(env, 'rt-azure');
    await addModel(env, 'rt-azure-default');
    const KEY = 'azure-key-0123456789abcdef';
    const prov = await addProvider(env, {
      name: 'azure', type: 'azure', base_url: az.origin, api_key: KEY, api_version: '2024-06-01',
      models: [{ model: 'rt-azure', upstream_model: 'DEPLOY' }],
    });
    assert.equal(prov.api_version, '2024-06-01');
    const client = env.client();
    const { completion, rid } = await sdkChat(client, chat('rt-azure'));
    assert.equal(completion.choices[0].message.content, MOCK_CONTENT, 'the answer reaches the SDK');
    const lr = (await az.stats()).last_request;
    assert.equal(lr.method, 'POST');
    assert.equal(lr.path, '/openai/deployments/DEPLOY/chat/completions');
    assert.equal(lr.query, 'api-version=2024-06-01');
    assert.equal(lr.api_key, KEY, 'the key in the api-key header');
    assert.equal(lr.authorization, null, 'no Authorization header');
    assert.equal(usageRecord(env, rid)?.provider_id, prov.id);

    // without api_version: 2024-10-21
    const prov2 = await addProvider(env, {
      name: 'azure-default', type: 'azure', base_url: az.origin, api_key: KEY,
      models: [{ model: 'rt-azure-default', upstream_model: 'OTHER-DEP' }],
    });
    assert.equal(prov2.api_version, '2024-10-21');
    const { completion: c2 } = await sdkChat(client, chat('rt-azure-default'));
    assert.equal(c2.choices[0].message.content, MOCK_CONTENT);
    const lr2 = (await az.stats()).last_request;
    assert.equal(lr2.path, '/openai/deployments/OTHER-DEP/chat/completions');
    assert.equal(lr2.query, 'api-version=2024-10-21');
    assert.equal(lr2.api_key, KEY);
    assert.equal(lr2.authorization, null);
    const { text } = await providerView(env, prov.id);
    assert.ok(!text.includes(KEY), 'the provider list never shows a key');
  });

  it('6. Responses API: plain and streamed, billed at the model\'s prices; retrieve and delete go to the provider that made it; another organisation gets 404', async () => {
    const r1 = await startMock();
    const r2 = await startMock();
    await addModel(env, 'rt-resp', { input: '1.5', cached: '0.25', output: '3' });
    const pa = await addProvider(env, { name: 'resp-a', base_url: r1.baseURL, models: [{ model: 'rt-resp' }] });
    const pb = await addProvider(env, { name: 'resp-b', base_url: r2.baseURL, models: [{ model: 'rt-resp' }] });
    const c = await Customer.create(env, 'Responses');
    const other = await Customer.create(env, 'Other org');
    const before = await c.balance();
    const price = await priceOfModel(env, 'rt-resp');
    assert.equal(price.input, 1_500_000_000n);

    // plain: two, one on each provider (equal weights)
    const made = [];
    for (let i = 0; i < 2; i++) {
      const { data: resp, response } = await c.client.responses.create({ model: 'rt-resp', input: `tell me something ${i}` }).withResponse();
      assert.match(resp.id, /^resp_/);
      assert.equal(resp.object, 'response');
      assert.equal(resp.status, 'completed');
      assert.equal(resp.output_text, MOCK_CONTENT);
      assert.equal(resp.usage.output_tokens, MOCK_COMPLETION_TOKENS);
      const rid = response.headers.get('x-request-id');
      const row = usageRecord(env, rid);
      assert.ok(row, 'a usage record');
      assert.equal(Number(row.status), 200);
      assert.equal(Number(row.streamed), 0);
      assert.equal(Number(row.input_tokens), resp.usage.input_tokens);
      assert.equal(Number(row.output_tokens), resp.usage.output_tokens);
      assert.equal(BigInt(row.cost_nanousd), expectedCost(price, resp.usage.input_tokens, 0, resp.usage.output_tokens),
        `cost = ${resp.usage.input_tokens} × 1.5 + ${resp.usage.output_tokens} × 3 per 1M`);
      made.push({ id: resp.id, provider: row.provider_id });
    }
    assert.deepEqual(new Set(made.map((m) => m.provider)), new Set([pa.id, pb.id]), 'the two responses were made on different providers');

    // cached input tokens from input_tokens_details.cached_tokens
    {
      const { data: resp, response } = await c.client.responses.create({ model: 'rt-resp', input: 'some cached prefix here mock:cached=3' }).withResponse();
      assert.equal(resp.usage.input_tokens_details?.cached_tokens, 3);
      const row = usageRecord(env, response.headers.get('x-request-id'));
      assert.equal(Number(row.cached_input_tokens), 3, 'cached_input_tokens recorded');
      assert.equal(BigInt(row.cost_nanousd), expectedCost(price, resp.usage.input_tokens, 3, resp.usage.output_tokens),
        'cached tokens at the cached price');
      made.push({ id: resp.id, provider: row.provider_id });
    }

    // streamed
    {
      const { data: stream, response } = await c.client.responses.create({ model: 'rt-resp', input: 'stream it', stream: true }).withResponse();
      const types = [];
      let completed = null;
      let text = '';
      for await (const ev of stream) {
        types.push(ev.type);
        if (ev.type === 'response.output_text.delta') text += ev.delta;
        if (ev.type === 'response.completed') completed = ev.response;
      }
      assert.equal(types[0], 'response.created', `first event: ${types.join(', ')}`);
      assert.equal(types[types.length - 1], 'response.completed', `last event: ${types.join(', ')}`);
      assert.equal(text, MOCK_CONTENT);
      assert.ok(completed?.usage, 'response.completed carries the usage');
      const row = usageRecord(env, response.headers.get('x-request-id'));
      assert.ok(row, 'a usage record for the stream');
      assert.equal(Number(row.streamed), 1);
      assert.equal(Number(row.status), 200);
      assert.equal(Number(row.input_tokens), completed.usage.input_tokens);
      assert.equal(Number(row.output_tokens), completed.usage.output_tokens);
      assert.equal(BigInt(row.cost_nanousd), expectedCost(price, completed.usage.input_tokens, 0, completed.usage.output_tokens));
      made.push({ id: completed.id, provider: row.provider_id });
    }
    // streamed, raw: the events pass through, no [DONE]
    {
      const r = await fetch(`${env.origin}/v1/responses`, {
        method: 'POST',
        headers: { authorization: `Bearer ${c.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'rt-resp', input: 'raw stream', stream: true }),
      });
      const text = await r.text();
      assert.equal(r.status, 200, text.slice(0, 300));
      const evs = parseSSE(text);
      assert.ok(!evs.includes('[DONE]'), 'no data: [DONE] on a Responses stream');
      assert.match(text, /^event: response\.created$/m);
      const last = JSON.parse(evs[evs.length - 1]);
      assert.equal(last.type, 'response.completed');
      const row = usageRecord(env, r.headers.get('x-request-id'));
      assert.equal(Number(row?.output_tokens), last.response.usage.output_tokens);
      assert.equal(BigInt(row.cost_nanousd), expectedCost(price, last.response.usage.input_tokens, 0, last.response.usage.output_tokens));
    }

    // every response is retrieved from the provider that made it (the other one would 404)
    for (const m of made) {
      const got = await c.client.responses.retrieve(m.id);
      assert.equal(got.id, m.id, `retrieve ${m.id}`);
      assert.equal(got.output_text, MOCK_CONTENT);
      await expectAPIError(other.client.responses.retrieve(m.id), 404);
      const raw = await request(env.origin, 'DELETE', `/v1/responses/${m.id}`, { key: other.apiKey });
      assert.equal(raw.status, 404, 'another organisation cannot delete it either');
    }
    const del = await c.client.responses.delete(made[0].id).withResponse();
    assert.equal(del.response.status, 200);
    const again = await c.client.responses.delete(made[1].id).withResponse();
    assert.equal(again.response.status, 200);
    await expectAPIError(c.client.responses.retrieve(made[0].id), 404);
    await expectAPIError(c.client.responses.retrieve(made[1].id), 404);
    const still = await c.client.responses.retrieve(made[2].id);
    assert.equal(still.id, made[2].id, 'the others are still there');

    // background: 400
    await expectAPIError(c.client.responses.create({ model: 'rt-resp', input: 'later', background: true }), 400, { param: 'background' });

    const d = c.db();
    assert.equal(d.records, 5, 'one usage record per created response (2 plain, 1 cached, 2 streamed)');
    const b = await c.settled('responses');
    assert.equal(b.used - before.used, d.cost, 'balance used == Σ usage cost');
    assert.equal(other.db().records, 0, 'nothing for the other organisation');
  });

  it('8. key rotation: api_keys ["…a", "…b"] alternate; a key refused with 401 rests while the other serves', async () => {
    const m = await startMock();
    await addModel(env, 'rt-keys');
    const KA = 'sk-rotation-key-aaaa';
    const KB = 'sk-rotation-key-bbbb';
    const prov = await addProvider(env, { name: 'two keys', base_url: m.baseURL, api_key: undefined, api_keys: [KA, KB], models: [{ model: 'rt-keys' }] });
    assert.equal(prov.api_key_count, 2);
    const { p, text } = await providerView(env, prov.id);
    assert.equal(p.api_key_count, 2);
    assert.ok(!text.includes(KA) && !text.includes(KB), 'no key in the provider list');
    const auths = [];
    for (let i = 0; i < 4; i++) {
      const r = await env.api('POST', '/v1/chat/completions', { json: chat('rt-keys', `k ${i}`) });
      assert.equal(r.status, 200, r.text);
      auths.push((await m.stats()).last_request.authorization);
    }
    assert.deepEqual(new Set(auths), new Set([`Bearer ${KA}`, `Bearer ${KB}`]), `both keys used: ${auths}`);
    for (let i = 1; i < auths.length; i++) assert.notEqual(auths[i], auths[i - 1], `consecutive requests use the other key: ${auths}`);

    // every other upstream request is refused with 401 (the 2nd, 4th, …)
    await m.config({ fail_status: 401, fail_percent: 50 });
    await m.reset();
    const r1 = await env.api('POST', '/v1/chat/completions', { json: chat('rt-keys', 'r1') });
    assert.equal(r1.status, 200, r1.text);
    const k1 = (await m.stats()).last_request.authorization;
    const r2 = await env.api('POST', '/v1/chat/completions', { json: chat('rt-keys', 'r2') });
    assert.equal(r2.status, 200, `the provider's other key serves the request its refused key could not: ${r2.text}`);
    const s2 = await m.stats();
    assert.equal(s2.requests, 3, 'the refused attempt, then the other key');
    assert.equal(s2.last_request.authorization, k1, 'answered with the key that was not refused');
    const mt = await metricsText(env);
    assert.equal(metric(mt, 'tollgate_upstream_requests_total', `provider="${prov.id}",outcome="auth_error"`), 1, 'one auth_error attempt');
    // the refused key rests (60 s): with the failures off, only the good key is used
    await m.config({ fail_status: 0 });
    for (let i = 0; i < 3; i++) {
      const r = await env.api('POST', '/v1/chat/completions', { json: chat('rt-keys', `after ${i}`) });
      assert.equal(r.status, 200, r.text);
      assert.equal((await m.stats()).last_request.authorization, k1, `request ${i} after the 401: the refused key rests`);
    }
  });

  it('9. timeout_ms: a primary that has not answered within 300 ms is given up for the secondary; alone, 504 server_error', async () => {
    const slow = await startMock(['--latency-ms', '2000']);
    const good = await startMock();
    await addModel(env, 'rt-timeout');
    await addModel(env, 'rt-timeout-only');
    await addProvider(env, { name: 'slow', base_url: slow.baseURL, priority: 0, timeout_ms: 300, models: [{ model: 'rt-timeout' }] });
    const secondary = await addProvider(env, { name: 'quick', base_url: good.baseURL, priority: 1, models: [{ model: 'rt-timeout' }] });
    const c = await Customer.create(env, 'Timeout');
    const before = await c.balance();
    const t0 = Date.now();
    const { completion, rid } = await sdkChat(c.client, chat('rt-timeout'));
    const ms = Date.now() - t0;
    assert.equal(completion.choices[0].message.content, MOCK_CONTENT);
    assert.ok(ms < 1500, `answered in ${ms} ms, well under the slow upstream's 2 s`);
    assert.equal(usageRecord(env, rid)?.provider_id, secondary.id, 'answered by the secondary');
    assert.equal((await slow.stats()).requests, 1, 'the slow primary was tried');

    await addProvider(env, { name: 'slow alone', base_url: slow.baseURL, timeout_ms: 300, models: [{ model: 'rt-timeout-only' }] });
    const t1 = Date.now();
    const e = await expectAPIError(c.client.chat.completions.create(chat('rt-timeout-only')), 504, { type: 'server_error' });
    const ms1 = Date.now() - t1;
    assert.ok(ms1 < 1500, `504 after ${ms1} ms (timeout_ms 300), not the upstream's 2 s`);
    const row = usageRecord(env, e.headers?.get('x-request-id'));
    if (row) assert.equal(BigInt(row.cost_nanousd), 0n, 'a timed-out request costs nothing');
    const b = await c.settled('timeout');
    assert.equal(b.used - before.used, c.db().cost);
  });

  it('10. /readyz names a model asked for that no provider serves', async () => {
    await addModel(env, 'rt-unserved');
    const before = await env.request('GET', '/readyz');
    assert.equal(before.status, 200);
    await expectAPIError(env.client().chat.completions.create(chat('rt-unserved')), 404, { code: 'model_not_found' });
    const r = await env.request('GET', '/readyz');
    assert.equal(r.status, 200, `GET /readyz: ${r.text}`);
    assert.equal(r.json?.status, 'ok');
    assert.ok(Array.isArray(r.json?.warnings), `warnings: ${r.text}`);
    assert.ok(r.json.warnings.includes('no provider serves rt-unserved'), `warnings name the model: ${r.text}`);
    assert.ok(!r.json.warnings.some((w) => /gpt-4o-mini|rt-failover/.test(w)), `served models are not named: ${r.text}`);
  });
});

describe('readyz without any provider', () => {
  it('10b. no provider at all: /readyz 200 warns "no provider serves any model"', async () => {
    const dir = makeTempDir();
    const db = path.join(dir, 't.db');
    let s;
    try {
      await tollgateInit(db);
      s = await tollgateServe(db);
      const r = await request(s.origin, 'GET', '/readyz');
      assert.equal(r.status, 200, `GET /readyz: ${r.text}`);
      assert.ok(Array.isArray(r.json?.warnings), `warnings: ${r.text}`);
      assert.ok(r.json.warnings.some((w) => w.startsWith('no provider serves any model')), `warnings: ${r.text}`);
    } finally {
      if (s) await stopProcess(s.proc);
      try { dropDb(db); } catch { /* ignore */ }
      removeTempDir(dir);
    }
  });
});

describe('circuit breaker (--breaker-failures 3 --breaker-cooldown-ms 2000)', () => {
  const COOLDOWN = 2000;
  let env;
  before(async () => { env = await Env.start({ serveArgs: ['--breaker-failures', '3', '--breaker-cooldown-ms', String(COOLDOWN)] }); });
  after(async () => { await env?.stop(); });

  it('7. opens after 3 failures (503 fast while open, nothing reaches the upstream), a failed probe reopens it, a good probe closes it', async () => {
    const m = await startMock(['--fail-status', '503']);
    await addModel(env, 'rt-breaker');
    const prov = await addProvider(env, { name: 'flaky', base_url: m.baseURL, models: [{ model: 'rt-breaker' }] });
    const id = prov.id;
    const client = env.client();
    const lbl = (outcome) => `provider="${id}",outcome="${outcome}"`;

    for (let i = 1; i <= 3; i++) {
      await expectAPIError(client.chat.completions.create(chat('rt-breaker', `f ${i}`)), 502, { type: 'server_error' });
      assert.equal((await m.stats()).requests, i, `failure ${i}: one attempt on the only provider`);
      if (i < 3) assert.equal((await providerView(env, id)).p.status, 'failing', `after ${i} failure(s)`);
    }
    const { p } = await providerView(env, id);
    assert.equal(p.status, 'open', `open after 3 consecutive failures: ${JSON.stringify(p)}`);
    assert.match(p.last_error ?? '', /503/, `last_error: ${p.last_error}`);
    let mt = await metricsText(env);
    assert.equal(metric(mt, 'tollgate_provider_up', `provider="${id}"`), 0, 'tollgate_provider_up 0 while open');
    assert.equal(metric(mt, 'tollgate_upstream_requests_total', lbl('failed')), 3, 'three failed attempts');
    assert.equal(metric(mt, 'tollgate_upstream_requests_total', lbl('ok')), 0);

    // open and the only provider: 503 at once, nothing sent upstream
    const t0 = Date.now();
    const e = await expectAPIError(client.chat.completions.create(chat('rt-breaker', 'while open')), 503, { type: 'server_error' });
    const ms = Date.now() - t0;
    assert.ok(ms < COOLDOWN, `refused at once (${ms} ms), not after the cool-down`);
    assert.ok(e.message.length > 0);
    assert.equal((await m.stats()).requests, 3, 'no request reached the upstream while the breaker is open');

    // cool-down over: half_open; the probe fails → open again at once
    const half = await waitFor(async () => (await providerView(env, id)).p.status === 'half_open', { timeoutMs: COOLDOWN + 10000, intervalMs: 100 });
    assert.ok(half, `half_open after the cool-down (status ${(await providerView(env, id)).p.status})`);
    await expectAPIError(client.chat.completions.create(chat('rt-breaker', 'probe 1')), 502, { type: 'server_error' });
    assert.equal((await m.stats()).requests, 4, 'the probe reached the upstream');
    assert.equal((await providerView(env, id)).p.status, 'open', 'a failed probe opens the breaker again');

    // upstream healthy again (and slow, so that the probe is in flight while others arrive)
    await m.config({ fail_status: 0, latency_ms: 800 });
    const half2 = await waitFor(async () => (await providerView(env, id)).p.status === 'half_open', { timeoutMs: COOLDOWN + 10000, intervalMs: 100 });
    assert.ok(half2, 'half_open again after the second cool-down');
    const outs = await Promise.all([0, 1, 2].map((i) => client.chat.completions.create(chat('rt-breaker', `probe 2.${i}`))
      .then((r) => ({ ok: true, content: r.choices[0].message.content }), (err) => ({ ok: false, status: err.status, type: err.type }))));
    const oks = outs.filter((o) => o.ok);
    assert.equal(oks.length, 1, `exactly one request probes the half-open breaker: ${JSON.stringify(outs)}`);
    assert.equal(oks[0].content, MOCK_CONTENT);
    for (const o of outs.filter((x) => !x.ok)) {
      assert.equal(o.status, 503, `the others are refused while the probe is in flight: ${JSON.stringify(o)}`);
      assert.equal(o.type, 'server_error');
    }
    assert.equal((await m.stats()).requests, 5, 'only the probe reached the upstream');
    const closed = (await providerView(env, id)).p;
    assert.equal(closed.status, 'healthy', `a good probe closes the breaker: ${JSON.stringify(closed)}`);
    mt = await metricsText(env);
    assert.equal(metric(mt, 'tollgate_provider_up', `provider="${id}"`), 1, 'tollgate_provider_up 1 once closed');
    assert.equal(metric(mt, 'tollgate_upstream_requests_total', lbl('ok')), 1);
    assert.equal(metric(mt, 'tollgate_upstream_requests_total', lbl('failed')), 4);

    await m.config({ latency_ms: 0 });
    const { completion } = await sdkChat(client, chat('rt-breaker', 'after'));
    assert.equal(completion.choices[0].message.content, MOCK_CONTENT, 'requests flow again');
  });
});
