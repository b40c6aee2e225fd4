// Usage and costs endpoints: GET /v1/organization/usage/{completions,embeddings} and
// GET /v1/organization/costs, read back after real requests made through the openai SDK with
// two keys in two projects. Totals are checked against the usage_records rows (SQLite), the
// usage the SDK reported, and (costs) Σ tokens × prices from GET /v1/organization/models to
// the nano-dollar; then shapes per bucket_width, limits, paging, bad parameters and auth.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { Env, assertErrorResponse, assertCommonHeaders } from './harness.mjs';

const DAY = 86400;
const HOUR = 3600;

let env;
let adminSdk; // the openai SDK as an admin client (query arrays as group_by[]=…)
let keyA; // project A (env's project)
let keyB; // project B
let projB;
let t0; // unix seconds before the first request
const calls = []; // {key, project, model, endpoint, input, cached, output, requestId}
let prices; // model id → {input, cached, output} in nano-dollars per 1M tokens (BigInt)

/** Decimal JSON text of a dollar amount → BigInt nano-dollars (exact, no floating point). */
function decToNanos(text) {
  const m = /^(-?)(\d+)(?:\.(\d{1,9}))?$/.exec(String(text));
  assert.ok(m, `a decimal with at most 9 places: ${text}`);
  const v = BigInt(m[2]) * 1000000000n + BigInt((m[3] ?? '').padEnd(9, '0'));
  return m[1] ? -v : v;
}

/** Nano-dollars → the decimal text Tollgate prints (tg_format_nanos). */
function nanosToDec(n) {
  const v = BigInt(n);
  const neg = v < 0n;
  const a = neg ? -v : v;
  const whole = a / 1000000000n;
  const frac = (a % 1000000000n).toString().padStart(9, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${whole}${frac ? `.${frac}` : ''}`;
}

/** The one rounding rule: ceil(Σ tokens × price / 10^6), per request. */
function costOf(model, input, cached, output) {
  const p = prices[model];
  assert.ok(p, `price of ${model}`);
  const cp = p.cached ?? p.input;
  const sum = BigInt(input - cached) * p.input + BigInt(cached) * cp + BigInt(output) * p.output;
  return (sum + 999999n) / 1000000n;
}

/** What a call was charged: its cost at the reported usage, less what was above its
 * reservation (unbilled: the mock counts a short embedding input as 1 + bytes/4 tokens, more
 * than its exact BPE count, which is what Tollgate reserves). Only embeddings may have any. */
function charged(c) {
  const row = env.usageRow(c.requestId);
  const unbilled = BigInt(row.unbilled_nanousd);
  if (c.endpoint !== 'embeddings') assert.equal(unbilled, 0n, `${c.requestId}: nothing unbilled`);
  return costOf(c.model, c.input, c.cached, c.output) - unbilled;
}

/** The raw `"value":…` texts of every amount in a costs response, in document order. */
function rawAmounts(text) {
  return [...text.matchAll(/"amount":\{"value":([-0-9.eE+]+),"currency":"usd"\}/g)].map((m) => m[1]);
}

const nowS = () => Math.floor(Date.now() / 1000);

function qs(params) {
  const parts = [];
  for (const [k, v] of Object.entries(params)) {
    if (Array.isArray(v)) for (const x of v) parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(x)}`);
    else parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  }
  return parts.join('&');
}

async function getPage(path, params, key = env.adminKey) {
  const r = await env.request('GET', `/v1/organization/${path}?${qs(params)}`, { key });
  return r;
}

async function okPage(path, params) {
  const r = await getPage(path, params);
  assert.equal(r.status, 200, `GET ${path} ${JSON.stringify(params)}: ${r.text}`);
  assertCommonHeaders(r.headers, { orgId: env.orgId });
  assertPageShape(r.json, path);
  return r;
}

/** {"object":"page","data":[{"object":"bucket",start_time,end_time,results}],"has_more","next_page"} */
function assertPageShape(page, path) {
  assert.deepEqual(Object.keys(page).sort(), ['data', 'has_more', 'next_page', 'object']);
  assert.equal(page.object, 'page');
  assert.ok(Array.isArray(page.data));
  assert.equal(typeof page.has_more, 'boolean');
  if (page.has_more) assert.match(page.next_page, /^page_[A-Za-z0-9_-]+$/);
  else assert.equal(page.next_page, null);
  for (const b of page.data) {
    assert.deepEqual(Object.keys(b).sort(), ['end_time', 'object', 'results', 'start_time']);
    assert.equal(b.object, 'bucket');
    assert.ok(Number.isInteger(b.start_time) && Number.isInteger(b.end_time));
    assert.ok(Array.isArray(b.results));
    for (const res of b.results) assertResultShape(res, path);
  }
}

const COMPLETIONS_KEYS = ['object', 'input_tokens', 'output_tokens', 'input_cached_tokens', 'input_audio_tokens',
  'output_audio_tokens', 'num_model_requests', 'project_id', 'user_id', 'api_key_id', 'model', 'batch', 'service_tier'];
const EMBEDDINGS_KEYS = ['object', 'input_tokens', 'num_model_requests', 'project_id', 'user_id', 'api_key_id', 'model'];
const COSTS_KEYS = ['object', 'amount', 'line_item', 'project_id', 'api_key_id', 'quantity', 'quantity_unit'];

function assertResultShape(res, path) {
  if (path === 'usage/completions') {
    assert.deepEqual(Object.keys(res).sort(), [...COMPLETIONS_KEYS].sort());
    assert.equal(res.object, 'organization.usage.completions.result');
    for (const k of ['input_tokens', 'output_tokens', 'input_cached_tokens', 'num_model_requests']) assert.ok(Number.isInteger(res[k]), k);
    assert.equal(res.input_audio_tokens, 0);
    assert.equal(res.output_audio_tokens, 0);
    assert.equal(res.user_id, null);
    assert.equal(res.service_tier, null);
  } else if (path === 'usage/embeddings') {
    assert.deepEqual(Object.keys(res).sort(), [...EMBEDDINGS_KEYS].sort());
    assert.equal(res.object, 'organization.usage.embeddings.result');
    assert.ok(Number.isInteger(res.input_tokens) && Number.isInteger(res.num_model_requests));
    assert.equal(res.user_id, null);
  } else {
    assert.deepEqual(Object.keys(res).sort(), [...COSTS_KEYS].sort());
    assert.equal(res.object, 'organization.costs.result');
    assert.deepEqual(Object.keys(res.amount).sort(), ['currency', 'value']);
    assert.equal(res.amount.currency, 'usd');
    assert.equal(typeof res.amount.value, 'number');
  }
}

/** Sums results over all buckets, keyed by the group fields. */
function tally(pages, fields, valueOf) {
  const m = new Map();
  for (const page of pages) {
    for (const b of page.data) {
      for (const r of b.results) {
        const k = fields.map((f) => r[f]).join('|');
        const cur = m.get(k) ?? {};
        const v = valueOf(r);
        for (const [f, x] of Object.entries(v)) cur[f] = (cur[f] ?? 0n) + BigInt(x);
        m.set(k, cur);
      }
    }
  }
  return m;
}

/** The same sums from our own record of calls (what the SDK reported). */
function tallyCalls(pred, fields, valueOf) {
  const m = new Map();
  for (const c of calls.filter(pred)) {
    const k = fields.map((f) => ({ project_id: c.project, api_key_id: c.key, model: c.model }[f])).join('|');
    const cur = m.get(k) ?? {};
    for (const [f, x] of Object.entries(valueOf(c))) cur[f] = (cur[f] ?? 0n) + BigInt(x);
    m.set(k, cur);
  }
  return m;
}

const isCompletion = (c) => c.endpoint === 'chat.completions' || c.endpoint === 'completions';
const isEmbedding = (c) => c.endpoint === 'embeddings';

before(async () => {
  env = await Env.start();
  keyA = { id: env.keyId, value: env.apiKey, project: env.projectId };
  const p = await env.admin('POST', '/v1/organization/projects', { name: 'Usage B' });
  assert.equal(p.status, 200, p.text);
  projB = p.json.id;
  const kb = await env.createKey('usage key B', projB);
  keyB = { id: kb.id, value: kb.value, project: projB };
  adminSdk = new OpenAI({ adminAPIKey: env.adminKey, apiKey: null, baseURL: env.baseURL, maxRetries: 0 });

  prices = {};
  // exact prices from the JSON text (dollars per 1M tokens) → nano-dollars per 1M tokens
  for (const id of ['gpt-4o-mini', 'gpt-3.5-turbo-instruct', 'text-embedding-3-small']) {
    const one = await env.admin('GET', `/v1/organization/models/${id}`);
    assert.equal(one.status, 200, one.text);
    const raw = (f) => {
      const mm = new RegExp(`"${f}":(null|[-0-9.]+)`).exec(one.text);
      assert.ok(mm, `${f} in ${one.text}`);
      return mm[1] === 'null' ? null : decToNanos(mm[1]);
    };
    prices[id] = { input: raw('input_price'), cached: raw('cached_input_price'), output: raw('output_price') };
  }

  t0 = nowS();
  const record = (key, model, endpoint, usage, requestId, cached = 0) => {
    calls.push({
      key: key.id, project: key.project, model, endpoint, requestId,
      input: usage.prompt_tokens, cached, output: usage.completion_tokens ?? 0,
    });
  };
  const chat = async (key, content, { stream = false } = {}) => {
    const client = env.client(key.value);
    if (stream) {
      const { data: s, response } = await client.chat.completions.create({
        model: 'gpt-4o-mini', messages: [{ role: 'user', content }], stream: true,
        stream_options: { include_usage: true },
      }).withResponse();
      let usage;
      for await (const ch of s) if (ch.usage) usage = ch.usage;
      assert.ok(usage, 'streamed usage chunk');
      record(key, 'gpt-4o-mini', 'chat.completions', usage, response.headers.get('x-request-id'),
        usage.prompt_tokens_details?.cached_tokens ?? 0);
      return;
    }
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] })
      .withResponse();
    record(key, 'gpt-4o-mini', 'chat.completions', data.usage, response.headers.get('x-request-id'),
      data.usage.prompt_tokens_details?.cached_tokens ?? 0);
  };
  const legacy = async (key, prompt) => {
    const { data, response } = await env.client(key.value).completions
      .create({ model: 'gpt-3.5-turbo-instruct', prompt }).withResponse();
    record(key, 'gpt-3.5-turbo-instruct', 'completions', data.usage, response.headers.get('x-request-id'));
  };
  const embed = async (key, input) => {
    const { data, response } = await env.client(key.value).embeddings
      .create({ model: 'text-embedding-3-small', input }).withResponse();
    record(key, 'text-embedding-3-small', 'embeddings', data.usage, response.headers.get('x-request-id'));
  };

  await chat(keyA, 'Hello there, how are you today?');
  await chat(keyA, 'x'.repeat(401));
  await chat(keyA, 'mock:cached=12 ' + 'y'.repeat(100)); // 12 cached input tokens
  await chat(keyA, 'a streamed one', { stream: true });
  await legacy(keyA, 'Say this is a test, please, in full.');
  await embed(keyA, 'The food was delicious and the waiter was kind.');
  await embed(keyA, ['one', 'two two', 'three three three']);
  await chat(keyB, 'B says hi');
  await chat(keyB, 'z'.repeat(1000));
  await embed(keyB, 'B embeds '.repeat(30));
  assert.ok(calls.some((c) => c.cached > 0), 'one request had cached input tokens');
});

after(async () => {
  await env?.stop();
});

describe('usage matches usage_records and the SDK-reported usage', () => {
  test('usage_records hold exactly the calls made (the reference the endpoints are checked against)', () => {
    const rows = env.usageRows();
    assert.equal(rows.length, calls.length);
    const sum = (arr, f) => arr.reduce((n, x) => n + x[f], 0);
    assert.equal(sum(rows, 'input_tokens'), sum(calls, 'input'));
    assert.equal(sum(rows, 'output_tokens'), sum(calls, 'output'));
    assert.equal(sum(rows, 'cached_input_tokens'), sum(calls, 'cached'));
    for (const c of calls.filter((x) => x.requestId)) {
      const r = env.usageRow(c.requestId);
      assert.equal(r.input_tokens, c.input);
      assert.equal(r.output_tokens, c.output);
      assert.equal(r.api_key_id, c.key);
      assert.equal(r.project_id, c.project);
    }
  });

  test('completions, ungrouped and grouped by project_id, api_key_id, model (through the SDK)', async () => {
    const params = { start_time: t0 - 60, bucket_width: '1d', limit: 2 };
    const flat = await adminSdk.admin.organization.usage.completions(params);
    assertPageShape(flat, 'usage/completions');
    const fields = ['project_id', 'api_key_id', 'model'];
    const val = (r) => ({ in: r.input_tokens, out: r.output_tokens, cached: r.input_cached_tokens, n: r.num_model_requests });
    const cval = (c) => ({ in: c.input, out: c.output, cached: c.cached, n: 1 });
    // ungrouped: one result per non-empty bucket, group fields null
    for (const b of flat.data) for (const r of b.results) for (const f of [...fields, 'batch']) assert.equal(r[f], null);
    assert.deepEqual(tally([flat], [], val), tallyCalls(isCompletion, [], cval));

    const grouped = await adminSdk.admin.organization.usage.completions({ ...params, group_by: fields });
    assertPageShape(grouped, 'usage/completions');
    const got = tally([grouped], fields, val);
    assert.deepEqual(got, tallyCalls(isCompletion, fields, cval));
    assert.equal(got.size, 3, 'A×gpt-4o-mini, A×gpt-3.5-turbo-instruct, B×gpt-4o-mini');

    // and against SQLite, per group
    const sql = env.sql(`SELECT project_id, api_key_id, model, COUNT(*) AS n, SUM(input_tokens) AS i,
      SUM(output_tokens) AS o, SUM(cached_input_tokens) AS c FROM usage_records
      WHERE endpoint IN ('chat.completions','completions') GROUP BY 1, 2, 3`);
    assert.equal(sql.length, got.size);
    for (const s of sql) {
      const g = got.get(`${s.project_id}|${s.api_key_id}|${s.model}`);
      assert.deepEqual(g, { in: BigInt(s.i), out: BigInt(s.o), cached: BigInt(s.c), n: BigInt(s.n) }, JSON.stringify(s));
    }
  });

  test('group_by spellings: group_by[]=, repeated group_by=, comma list, group_by[0]=', async () => {
    const base = `start_time=${t0 - 60}&limit=2`;
    const want = tallyCalls(isCompletion, ['model', 'project_id'], (c) => ({ n: 1, in: c.input }));
    for (const q of ['group_by%5B%5D=model&group_by%5B%5D=project_id', 'group_by=model&group_by=project_id',
      'group_by=model,project_id', 'group_by[0]=model&group_by[1]=project_id']) {
      const r = await env.admin('GET', `/v1/organization/usage/completions?${base}&${q}`);
      assert.equal(r.status, 200, `${q}: ${r.text}`);
      const got = tally([r.json], ['model', 'project_id'], (x) => ({ n: x.num_model_requests, in: x.input_tokens }));
      assert.deepEqual(got, want, q);
    }
  });

  test('group_by user_id, batch, service_tier are accepted (user_id and service_tier null, batch false)', async () => {
    const r = await okPage('usage/completions', { start_time: t0 - 60, limit: 2, 'group_by[]': ['user_id', 'batch', 'service_tier'] });
    const results = r.json.data.flatMap((b) => b.results);
    assert.ok(results.length >= 1);
    for (const x of results) {
      assert.equal(x.user_id, null);
      assert.equal(x.batch, false);
      assert.equal(x.service_tier, null);
    }
    // every request is a non-batch one, made with a key: batch=true and user_ids[] match nothing
    for (const extra of [{ batch: 'true' }, { 'user_ids[]': 'user_abc' }]) {
      const e = await okPage('usage/completions', { start_time: t0 - 60, limit: 2, ...extra });
      assert.equal(e.json.data.flatMap((b) => b.results).length, 0, JSON.stringify(extra));
    }
    const f = await okPage('usage/completions', { start_time: t0 - 60, limit: 2, batch: 'false' });
    assert.equal(tally([f.json], [], (x) => ({ n: x.num_model_requests })).get('').n, BigInt(calls.filter(isCompletion).length));
  });

  test('embeddings, ungrouped and grouped, totals = records = SDK usage', async () => {
    const params = { start_time: t0 - 60, limit: 2 };
    const val = (r) => ({ in: r.input_tokens, n: r.num_model_requests });
    const cval = (c) => ({ in: c.input, n: 1 });
    const flat = await adminSdk.admin.organization.usage.embeddings(params);
    assertPageShape(flat, 'usage/embeddings');
    assert.deepEqual(tally([flat], [], val), tallyCalls(isEmbedding, [], cval));
    const fields = ['project_id', 'api_key_id', 'model'];
    const g = await adminSdk.admin.organization.usage.embeddings({ ...params, group_by: fields });
    assertPageShape(g, 'usage/embeddings');
    const got = tally([g], fields, val);
    assert.deepEqual(got, tallyCalls(isEmbedding, fields, cval));
    const sql = env.sql(`SELECT project_id, api_key_id, model, COUNT(*) AS n, SUM(input_tokens) AS i
      FROM usage_records WHERE endpoint = 'embeddings' GROUP BY 1, 2, 3`);
    assert.equal(sql.length, 2);
    for (const s of sql) assert.deepEqual(got.get(`${s.project_id}|${s.api_key_id}|${s.model}`), { in: BigInt(s.i), n: BigInt(s.n) });
  });

  test('filters: project_ids[], api_key_ids[], models[]', async () => {
    const val = (r) => ({ in: r.input_tokens, n: r.num_model_requests });
    const cval = (c) => ({ in: c.input, n: 1 });
    const base = { start_time: t0 - 60, limit: 2 };
    let r = await adminSdk.admin.organization.usage.completions({ ...base, project_ids: [projB] });
    assert.deepEqual(tally([r], [], val), tallyCalls((c) => isCompletion(c) && c.project === projB, [], cval));
    r = await adminSdk.admin.organization.usage.completions({ ...base, api_key_ids: [keyA.id], models: ['gpt-3.5-turbo-instruct'] });
    assert.deepEqual(tally([r], [], val), tallyCalls((c) => c.key === keyA.id && c.model === 'gpt-3.5-turbo-instruct', [], cval));
    r = await adminSdk.admin.organization.usage.embeddings({ ...base, api_key_ids: [keyA.id, keyB.id], group_by: ['api_key_id'] });
    assert.deepEqual(tally([r], ['api_key_id'], val), tallyCalls(isEmbedding, ['api_key_id'], cval));
    r = await adminSdk.admin.organization.usage.completions({ ...base, models: ['no-such-model'] });
    assert.equal(r.data.flatMap((b) => b.results).length, 0);
    // a usage endpoint never shows the other kind: embeddings models under completions
    r = await adminSdk.admin.organization.usage.completions({ ...base, models: ['text-embedding-3-small'] });
    assert.equal(r.data.flatMap((b) => b.results).length, 0);
  });
});

describe('costs', () => {
  test('total = Σ usage_records.cost_nanousd = Σ tokens × prices, printed exactly', async () => {
    const r = await okPage('costs', { start_time: t0 - 60, limit: 2 });
    const raw = rawAmounts(r.text);
    const results = r.json.data.flatMap((b) => b.results);
    assert.equal(raw.length, results.length);
    for (const x of results) {
      for (const f of ['line_item', 'project_id', 'api_key_id', 'quantity', 'quantity_unit']) assert.equal(x[f], null, f);
    }
    const total = raw.reduce((n, v) => n + decToNanos(v), 0n);
    const recorded = BigInt(env.sql('SELECT SUM(cost_nanousd) AS s FROM usage_records')[0].s);
    const expected = calls.reduce((n, c) => n + charged(c), 0n);
    assert.equal(total, recorded);
    assert.equal(total, expected);
    assert.ok(total > 0n);
    // exactly one bucket has the cost unless the run straddles midnight UTC
    if (results.length === 1) assert.equal(raw[0], nanosToDec(expected));
  });

  test('group_by project_id and api_key_id (through the SDK); costs count every endpoint', async () => {
    const r = await adminSdk.admin.organization.usage.costs({ start_time: t0 - 60, limit: 2, group_by: ['project_id', 'api_key_id'] });
    assertPageShape(r, 'costs');
    const raw = await getPage('costs', { start_time: t0 - 60, limit: 2, 'group_by[]': ['project_id', 'api_key_id'] });
    const amounts = rawAmounts(raw.text);
    const results = raw.json.data.flatMap((b) => b.results);
    assert.equal(amounts.length, results.length);
    const got = new Map();
    results.forEach((x, i) => {
      assert.equal(x.line_item, null);
      const k = `${x.project_id}|${x.api_key_id}`;
      got.set(k, (got.get(k) ?? 0n) + decToNanos(amounts[i]));
    });
    const want = new Map();
    for (const c of calls) {
      const k = `${c.project}|${c.key}`;
      want.set(k, (want.get(k) ?? 0n) + charged(c));
    }
    assert.deepEqual(got, want);
    const sql = env.sql('SELECT project_id, api_key_id, SUM(cost_nanousd) AS s FROM usage_records GROUP BY 1, 2');
    for (const s of sql) assert.equal(got.get(`${s.project_id}|${s.api_key_id}`), BigInt(s.s));
    // project filter
    const onlyB = await getPage('costs', { start_time: t0 - 60, limit: 2, 'project_ids[]': projB });
    assert.equal(rawAmounts(onlyB.text).reduce((n, v) => n + decToNanos(v), 0n), want.get(`${projB}|${keyB.id}`));
  });

  test('group_by line_item: "<model>, input" and "<model>, output" with token quantities; lines sum to the total', async () => {
    const r = await okPage('costs', { start_time: t0 - 60, limit: 2, 'group_by[]': ['line_item', 'project_id'] });
    const raw = rawAmounts(r.text);
    const results = r.json.data.flatMap((b) => b.results);
    assert.equal(raw.length, results.length);
    const got = new Map();
    results.forEach((x, i) => {
      assert.match(x.line_item, /^[a-z0-9.-]+, (input|output)$/);
      assert.equal(x.quantity_unit, 'tokens');
      assert.ok(Number.isInteger(x.quantity));
      assert.equal(x.api_key_id, null);
      const k = `${x.project_id}|${x.line_item}`;
      const cur = got.get(k) ?? { nanos: 0n, qty: 0n };
      got.set(k, { nanos: cur.nanos + decToNanos(raw[i]), qty: cur.qty + BigInt(x.quantity) });
    });
    // expected: every price here is a whole number of nano-dollars per token, so the split is
    // exact: input = Σ (uncached × input price + cached × cached price), output = Σ out × price
    const want = new Map();
    const add = (k, nanos, qty) => {
      const cur = want.get(k) ?? { nanos: 0n, qty: 0n };
      want.set(k, { nanos: cur.nanos + nanos, qty: cur.qty + BigInt(qty) });
    };
    for (const c of calls) {
      const p = prices[c.model];
      const inCost = c.endpoint === 'embeddings' ? charged(c)
        : (BigInt(c.input - c.cached) * p.input + BigInt(c.cached) * (p.cached ?? p.input)) / 1000000n;
      add(`${c.project}|${c.model}, input`, inCost, c.input);
      if (c.endpoint !== 'embeddings') add(`${c.project}|${c.model}, output`, charged(c) - inCost, c.output);
    }
    assert.deepEqual(got, want);
    const total = [...got.values()].reduce((n, v) => n + v.nanos, 0n);
    assert.equal(total, BigInt(env.sql('SELECT SUM(cost_nanousd) AS s FROM usage_records')[0].s));
    assert.ok(!got.has(`${keyA.project}|text-embedding-3-small, output`), 'no empty output line for embeddings');
  });

  test('costs buckets: 1d only, limit 1..180 (default 7), every day present', async () => {
    const start = t0 - 10 * DAY;
    let r = await okPage('costs', { start_time: start });
    assert.equal(r.json.data.length, 7);
    assert.equal(r.json.has_more, true);
    r = await okPage('costs', { start_time: start, limit: 180 });
    const lo = start - (start % DAY);
    assert.equal(r.json.data[0].start_time, lo);
    assert.equal(r.json.data.at(-1).end_time, Math.ceil((nowS() + 1) / DAY) * DAY);
    assert.equal(r.json.has_more, false);
    r.json.data.forEach((b, i) => {
      assert.equal(b.start_time, lo + i * DAY);
      assert.equal(b.end_time, b.start_time + DAY);
    });
    await okPage('costs', { start_time: start, bucket_width: '1d', limit: 1 });
  });
});

describe('buckets, limits and paging', () => {
  test('1m: minute-aligned buckets, empty ones with results: [], default limit 60 / max 1440', async () => {
    const start = t0 - 5 * 60 + 17; // not aligned
    const end = nowS() + 120;
    const r = await okPage('usage/completions', { start_time: start, end_time: end, bucket_width: '1m' });
    const lo = start - (start % 60);
    const hi = Math.ceil(end / 60) * 60;
    assert.equal(r.json.data.length, (hi - lo) / 60);
    assert.equal(r.json.has_more, false);
    r.json.data.forEach((b, i) => {
      assert.equal(b.start_time, lo + i * 60);
      assert.equal(b.end_time, b.start_time + 60);
    });
    assert.ok(r.json.data.some((b) => b.results.length === 0), 'empty minutes are listed');
    const n = tally([r.json], [], (x) => ({ n: x.num_model_requests })).get('').n;
    assert.equal(n, BigInt(calls.filter(isCompletion).length));

    const long = await okPage('usage/completions', { start_time: t0 - 3 * HOUR, bucket_width: '1m' });
    assert.equal(long.json.data.length, 60);
    assert.equal(long.json.has_more, true);
    const max = await okPage('usage/embeddings', { start_time: t0 - 30 * HOUR, bucket_width: '1m', limit: 1440 });
    assert.equal(max.json.data.length, 1440);
    assert.equal(max.json.has_more, true);
  });

  test('1h: default limit 24 / max 168; next_page walks the rest and totals add up', async () => {
    const start = t0 - 30 * HOUR;
    const first = await okPage('usage/completions', { start_time: start, bucket_width: '1h', 'group_by[]': 'model' });
    assert.equal(first.json.data.length, 24);
    assert.equal(first.json.has_more, true);
    assert.equal(first.json.data[0].start_time, start - (start % HOUR));
    const pages = [first.json];
    let page = first.json;
    while (page.has_more) {
      const r = await okPage('usage/completions', { start_time: start, bucket_width: '1h', 'group_by[]': 'model', page: page.next_page });
      assert.equal(r.json.data[0].start_time, page.data.at(-1).end_time, 'pages are contiguous');
      pages.push(r.json);
      page = r.json;
      assert.ok(pages.length < 5);
    }
    const buckets = pages.flatMap((p) => p.data);
    assert.equal(buckets.at(-1).end_time, Math.ceil((nowS() + 1) / HOUR) * HOUR);
    assert.deepEqual(tally(pages, ['model'], (x) => ({ n: x.num_model_requests, in: x.input_tokens })),
      tallyCalls(isCompletion, ['model'], (c) => ({ n: 1, in: c.input })));
    const max = await okPage('usage/completions', { start_time: t0 - 10 * DAY, bucket_width: '1h', limit: 168 });
    assert.equal(max.json.data.length, 168);
  });

  test('1d (default): midnight-UTC buckets, default limit 7 / max 31, end_time exclusive', async () => {
    const start = t0 - 40 * DAY;
    const r = await okPage('usage/embeddings', { start_time: start });
    assert.equal(r.json.data.length, 7);
    assert.equal(r.json.data[0].start_time % DAY, 0);
    assert.equal(r.json.data[0].start_time, start - (start % DAY));
    assert.equal(r.json.has_more, true);
    const max = await okPage('usage/embeddings', { start_time: start, limit: 31 });
    assert.equal(max.json.data.length, 31);
    const today = t0 - (t0 % DAY);
    // end_time exactly at a bucket boundary: that bucket is not included
    const e = await okPage('usage/embeddings', { start_time: today - 3 * DAY, end_time: today });
    assert.equal(e.json.data.length, 3);
    assert.equal(e.json.data.at(-1).end_time, today);
    assert.equal(e.json.data.flatMap((b) => b.results).length, 0);
    // one second more: today's bucket (with this test's requests, unless it straddles midnight) appears
    const e2 = await okPage('usage/embeddings', { start_time: today - 3 * DAY, end_time: today + 1 });
    assert.equal(e2.json.data.length, 4);
    // a window in the future is all empty buckets
    const fut = await okPage('usage/completions', { start_time: today + 30 * DAY, end_time: today + 32 * DAY });
    assert.equal(fut.json.data.length, 2);
    assert.equal(fut.json.data.flatMap((b) => b.results).length, 0);
  });
});

describe('errors and auth', () => {
  const bad = [
    ['usage/completions', '', 400, 'missing_required_parameter', 'start_time'],
    ['usage/embeddings', 'bucket_width=1h', 400, 'missing_required_parameter', 'start_time'],
    ['costs', 'group_by=project_id', 400, 'missing_required_parameter', 'start_time'],
    ['usage/completions', 'start_time=abc', 400, 'invalid_value', 'start_time'],
    ['usage/completions', 'start_time=-5', 400, 'invalid_value', 'start_time'],
    ['usage/completions', 'start_time=1.5', 400, 'invalid_value', 'start_time'],
    ['usage/completions', 'start_time=1000&end_time=1000', 400, 'invalid_value', 'end_time'],
    ['usage/completions', 'start_time=1000&end_time=x', 400, 'invalid_value', 'end_time'],
    ['usage/completions', 'start_time=1000&bucket_width=2h', 400, 'invalid_value', 'bucket_width'],
    ['usage/embeddings', 'start_time=1000&bucket_width=', 400, 'invalid_value', 'bucket_width'],
    ['costs', 'start_time=1000&bucket_width=1h', 400, 'invalid_value', 'bucket_width'],
    ['usage/completions', 'start_time=1000&group_by[]=line_item', 400, 'invalid_value', 'group_by'],
    ['usage/embeddings', 'start_time=1000&group_by[]=batch', 400, 'invalid_value', 'group_by'],
    ['costs', 'start_time=1000&group_by[]=model', 400, 'invalid_value', 'group_by'],
    ['usage/completions', 'start_time=1000&limit=0', 400, 'invalid_value', 'limit'],
    ['usage/completions', 'start_time=1000&limit=32', 400, 'invalid_value', 'limit'],
    ['usage/completions', 'start_time=1000&bucket_width=1h&limit=169', 400, 'invalid_value', 'limit'],
    ['usage/completions', 'start_time=1000&bucket_width=1m&limit=1441', 400, 'invalid_value', 'limit'],
    ['costs', 'start_time=1000&limit=181', 400, 'invalid_value', 'limit'],
    ['costs', 'start_time=1000&limit=ten', 400, 'invalid_value', 'limit'],
    ['usage/completions', 'start_time=1000&page=nonsense', 400, 'invalid_value', 'page'],
    ['usage/completions', 'start_time=1000&batch=maybe', 400, 'invalid_value', 'batch'],
    ['usage/completions', 'start_time=1000&project_ids[]=a%00b', 400, 'invalid_value', 'project_ids'],
  ];
  for (const [path, q, status, code, param] of bad) {
    test(`GET ${path}?${q} → ${status} ${code} (${param})`, async () => {
      const r = await env.admin('GET', `/v1/organization/${path}${q ? `?${q}` : ''}`);
      assertErrorResponse(r, status, { type: 'invalid_request_error', code, param });
      assertCommonHeaders(r.headers, { orgId: env.orgId });
    });
  }

  test('a page cursor of another bucket width or outside the range → 400 page', async () => {
    const start = t0 - 30 * HOUR;
    const h = await okPage('usage/completions', { start_time: start, bucket_width: '1h' });
    assert.ok(h.json.next_page);
    let r = await getPage('usage/completions', { start_time: start, bucket_width: '1m', page: h.json.next_page });
    assertErrorResponse(r, 400, { code: 'invalid_value', param: 'page' });
    r = await getPage('usage/completions', { start_time: start, end_time: start + HOUR, bucket_width: '1h', page: h.json.next_page });
    assertErrorResponse(r, 400, { code: 'invalid_value', param: 'page' });
    r = await getPage('usage/completions', { start_time: t0 + HOUR, bucket_width: '1h', page: h.json.next_page });
    assertErrorResponse(r, 400, { code: 'invalid_value', param: 'page' });
  });

  test('the SDK surfaces a 400 as BadRequestError with param', async () => {
    await assert.rejects(adminSdk.admin.organization.usage.completions({ start_time: 1000, bucket_width: '2h' }), (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError);
      assert.equal(e.param, 'bucket_width');
      assert.equal(e.code, 'invalid_value');
      return true;
    });
  });

  test('a project key → 401 (missing api.management.read); no key → 401', async () => {
    for (const path of ['usage/completions', 'usage/embeddings', 'costs']) {
      let r = await getPage(path, { start_time: t0 }, keyA.value);
      assertErrorResponse(r, 401, { type: 'invalid_request_error', message: /insufficient permissions.*api\.management\.read/ });
      r = await env.request('GET', `/v1/organization/${path}?start_time=${t0}`);
      assertErrorResponse(r, 401, { type: 'invalid_request_error' });
    }
    const sdk = new OpenAI({ adminAPIKey: keyB.value, apiKey: null, baseURL: env.baseURL, maxRetries: 0 });
    await assert.rejects(sdk.admin.organization.usage.costs({ start_time: t0 }), OpenAI.AuthenticationError);
  });

  test('other methods → 405; other usage kinds → 404 unknown_url', async () => {
    const r = await env.admin('POST', `/v1/organization/usage/completions?start_time=${t0}`, {});
    assertErrorResponse(r, 405, { type: 'invalid_request_error' });
    const d = await env.admin('DELETE', `/v1/organization/costs?start_time=${t0}`);
    assertErrorResponse(d, 405, { type: 'invalid_request_error' });
    for (const kind of ['images', 'moderations', 'nope']) {
      const u = await env.admin('GET', `/v1/organization/usage/${kind}?start_time=${t0}`);
      assertErrorResponse(u, 404, { code: 'unknown_url' });
    }
  });
});
