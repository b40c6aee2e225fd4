// Money that holds against any upstream (SPEC.md §3, §5): the reservation is an upper bound
// of what a request can cost, a charge never exceeds its reservation, and what an upstream
// reports beyond it (or reports as nonsense) is recorded as unbilled, logged and counted —
// never charged. Every test runs on customer organisations (the operator's own is exempt
// from credit) against a mock upstream that bills differently from Tollgate:
//   mock:prompt_scale=P   reports P % of its own count (another tokenizer),
//   mock:image_tokens=N   bills N tokens per image part,
//   mock:prompt_raw=TEXT  reports TEXT as prompt_tokens (1e300, -5, 1.5).
// The slow mock (800 ms) keeps a whole burst in flight at once.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { Env, Mock, REQUEST_ID_RE } from './harness.mjs';
import { nanos, exactJson } from './money.mjs';

const SLOW_MS = 800;
const CENT = 10_000_000n;
let env;
let slow;

const q = (s) => `'${String(s).replace(/'/g, "''")}'`;

async function ok200(p, what) {
  const r = await p;
  assert.equal(r.status, 200, `${what}: ${r.status} ${r.text}`);
  return r;
}

class Customer {
  static async create(name, { cents } = {}) {
    const c = new Customer();
    const r = await ok200(env.admin('POST', '/v1/platform/organizations', { name }), 'create org');
    c.orgId = r.json.id;
    c.projectId = r.json.default_project_id;
    c.adminKey = r.json.admin_key.value;
    // Tier 5 (gpt-4o, 10,000 RPM): these tests are about money, not rate limits. Set in the
    // database; the key created next is an Admin API write, which reloads the catalog.
    env.sql(`UPDATE organizations SET tier='tier_5' WHERE id=${q(c.orgId)}`);
    const k = await ok200(c.admin('POST', `/v1/organization/projects/${c.projectId}/api_keys`, { name: 'k' }), 'key');
    c.client = new OpenAI({ apiKey: k.json.value, baseURL: env.baseURL, maxRetries: 0, timeout: 60000 });
    if (cents) await c.grant(cents);
    return c;
  }

  admin(method, path, body) {
    return env.admin(method, path, body, { key: this.adminKey });
  }

  grant(cents) {
    return ok200(env.admin('POST', `/v1/platform/organizations/${this.orgId}/credit_grants`, { amount: cents }), 'grant');
  }

  async balance() {
    const r = await ok200(this.admin('GET', '/v1/organization/billing/balance'), 'balance');
    const j = exactJson(r.text);
    return { available: nanos(j.available), reserved: nanos(j.reserved), granted: nanos(j.granted), used: nanos(j.used) };
  }

  /** Σ cost and Σ unbilled of its usage records, and its overdraft, as BigInt. */
  books() {
    const one = (sql) => BigInt(env.sql(sql)[0].v);
    const w = `organization_id=${q(this.orgId)}`;
    return {
      cost: one(`SELECT CAST(COALESCE(SUM(cost_nanousd),0) AS TEXT) AS v FROM usage_records WHERE ${w}`),
      unbilled: one(`SELECT CAST(COALESCE(SUM(unbilled_nanousd),0) AS TEXT) AS v FROM usage_records WHERE ${w}`),
      records: one(`SELECT CAST(COUNT(*) AS TEXT) AS v FROM usage_records WHERE ${w}`),
      consumed: one(`SELECT CAST(COALESCE(SUM(consumed),0) AS TEXT) AS v FROM credit_grants WHERE ${w}`),
      overdraft: one(`SELECT CAST(overdraft AS TEXT) AS v FROM organizations WHERE id=${q(this.orgId)}`),
    };
  }
}

/** n requests at once, every other one streamed; one outcome each. */
async function burst(client, n, body) {
  const one = async (_, i) => {
    try {
      if (i % 2) {
        const { data: s, response } = await client.chat.completions
          .create({ ...body, stream: true }).withResponse();
        for await (const ch of s) void ch;
        return { ok: true, rid: response.headers.get('x-request-id') };
      }
      const { response } = await client.chat.completions.create(body).withResponse();
      return { ok: true, rid: response.headers.get('x-request-id') };
    } catch (e) {
      if (!(e instanceof OpenAI.APIError) || e.status === undefined) throw e;
      return { ok: false, status: e.status, type: e.type, code: e.code, message: e.message };
    }
  };
  return Promise.all(Array.from({ length: n }, one));
}

/** The refusals of a burst are all 429 insufficient_quota with `code`; returns the admitted. */
function admitted(outs, code, ctx) {
  for (const o of outs.filter((x) => !x.ok)) {
    assert.equal(o.status, 429, `${ctx}: ${o.status} ${o.code} ${o.message}`);
    assert.equal(o.type, 'insufficient_quota', ctx);
    assert.equal(o.code, code, ctx);
  }
  const good = outs.filter((o) => o.ok);
  for (const o of good) assert.match(o.rid ?? '', REQUEST_ID_RE);
  return good;
}

async function metric(name) {
  const r = await env.request('GET', '/metrics');
  assert.equal(r.status, 200);
  const m = new RegExp(`^${name.replace(/[{}"=]/g, (c) => `\\${c}`)} (\\d+)$`, 'm').exec(r.text);
  assert.ok(m, `/metrics has ${name}:\n${r.text}`);
  return BigInt(m[1]);
}

/** The maximum cost a 429 message names ("This request's maximum cost, $X, exceeds …"). */
function maxCost(message) {
  const m = /This request's maximum cost, \$([0-9.]+), exceeds the \$([0-9.]+) left/.exec(message);
  assert.ok(m, `a worst-case refusal message: ${message}`);
  return { worst: nanos(m[1]), left: nanos(m[2]) };
}

/** An English prompt of about `tokens` o200k tokens (~4 bytes each). */
const prose = (tokens) => 'The quick brown fox jumps over the lazy dog. '.repeat(Math.ceil(tokens / 10));

/** A 1×1 PNG whose IHDR says w × h (the size is all Tollgate reads). */
function pngDataUrl(w, h) {
  const b = Buffer.alloc(33);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(b, 0);
  b.writeUInt32BE(13, 8);
  b.write('IHDR', 12, 'ascii');
  b.writeUInt32BE(w, 16);
  b.writeUInt32BE(h, 20);
  b[24] = 8; b[25] = 6; // 8-bit RGBA; CRC left zero (not checked)
  return `data:image/png;base64,${b.toString('base64')}`;
}

before(async () => {
  env = await Env.start();
  slow = await Mock.start(['--latency-ms', String(SLOW_MS), '--threads', '2']);
  // a model Tollgate has no tokenizer for (an openai_compatible Llama): $10 / $10 per 1M tokens
  await ok200(env.admin('POST', '/v1/organization/models/llama-open', {
    input_price: '10', output_price: '10', context_window: 8192, max_output_tokens: 1024, tokenizer: null,
  }), 'create llama-open');
  await ok200(env.admin('POST', '/v1/organization/providers', {
    name: 'slow', type: 'openai_compatible', base_url: slow.baseURL, api_key: 'sk-upstream-x',
    models: [{ model: 'gpt-4o' }, { model: 'llama-open' }],
  }), 'slow provider');
});

after(async () => {
  await slow?.stop();
  await env?.stop();
});

describe('an upstream that counts more prompt tokens than Tollgate', () => {
  it('150 concurrent gpt-4o requests against 2 cents of credit: charged ≤ 2 cents, the excess unbilled and counted', async () => {
    const c = await Customer.create('Over-reporting', { cents: 2 });
    const unbilledBefore = await metric('tollgate_unbilled_nanodollars_total');
    const overBefore = await metric('tollgate_upstream_discrepancies_total{kind="over_reservation"}');
    // ~1,000 prompt tokens; the upstream reports 4 × its own bytes/4 count (≈ the bytes)
    const body = {
      model: 'gpt-4o', max_tokens: 5,
      messages: [{ role: 'user', content: `${prose(1000)} mock:prompt_scale=400` }],
    };
    const good = admitted(await burst(c.client, 150, body), 'credit_balance_exhausted', 'burst');
    assert.ok(good.length >= 2, `some requests were admitted (${good.length})`);
    const b = await c.balance();
    const d = c.books();
    assert.equal(b.reserved, 0n, 'nothing stays reserved');
    assert.ok(b.available >= 0n, `the balance never goes negative: ${b.available}`);
    assert.equal(d.overdraft, 0n, 'no overdraft');
    assert.ok(d.cost <= 2n * CENT, `charged ${d.cost} ≤ the 2 cents of credit`);
    assert.equal(d.consumed, d.cost, 'Σ consumed == Σ cost');
    assert.equal(b.used, d.cost, 'balance used == Σ cost');
    assert.equal(d.records, BigInt(good.length), 'one usage record per admitted request');
    // every admitted request was over-reported: charged its reservation, the rest unbilled
    const rows = env.sql(`SELECT request_id, input_tokens, cost_nanousd, unbilled_nanousd FROM usage_records WHERE organization_id=${q(c.orgId)}`);
    for (const row of rows) {
      assert.ok(BigInt(row.unbilled_nanousd) > 0n, `${row.request_id}: unbilled > 0 (${JSON.stringify(row)})`);
      assert.ok(row.input_tokens > 1500, `${row.request_id}: the upstream's count is recorded (${row.input_tokens})`);
    }
    assert.equal(await metric('tollgate_unbilled_nanodollars_total') - unbilledBefore, d.unbilled, '/metrics counts the unbilled amount');
    assert.equal(await metric('tollgate_upstream_discrepancies_total{kind="over_reservation"}') - overBefore, BigInt(rows.length), '/metrics counts each over-reported request');
    assert.match(env.logs(), /upstream discrepancy \(over_reservation\) on req_[0-9a-f]{32}/, 'the log names the request');
  });

  it('120 concurrent requests against a 1-cent project hard limit (plenty of credit): the project is charged ≤ 1 cent', async () => {
    const c = await Customer.create('Project limit', { cents: 500 });
    await ok200(c.admin('POST', `/v1/organization/projects/${c.projectId}/spend_limit`, { threshold_amount: 1 }), 'limit');
    const body = {
      model: 'gpt-4o', max_tokens: 5,
      messages: [{ role: 'user', content: `${prose(400)} mock:prompt_scale=400` }],
    };
    const good = admitted(await burst(c.client, 120, body), 'project_spend_limit_exceeded', 'burst');
    assert.ok(good.length >= 2, `some admitted (${good.length})`);
    const d = c.books();
    assert.ok(d.cost <= CENT, `project charged ${d.cost} ≤ its 1-cent limit`);
    assert.ok(d.unbilled > 0n, 'the over-reported part is unbilled');
    const lim = await ok200(c.admin('GET', `/v1/organization/projects/${c.projectId}/spend_limit`), 'get limit');
    assert.ok(nanos(exactJson(lim.text).current_spend) <= CENT, `current_spend ${lim.text}`);
    assert.equal((await c.balance()).reserved, 0n);
  });
});

describe('images are reserved by their cost', () => {
  it('20 images per request billed at 1,100 tokens each against 20 cents: nothing unbilled, credit never exceeded', async () => {
    // worst case of one request: 20 × 1,445 tokens at $2.50/M ≈ 7.2 cents: two fit
    const c = await Customer.create('Images', { cents: 20 });
    const images = Array.from({ length: 20 }, (_, i) => ({ type: 'image_url', image_url: { url: `https://example.com/${i}.png` } }));
    const body = {
      model: 'gpt-4o', max_tokens: 5,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'describe mock:image_tokens=1100' }, ...images] }],
    };
    const good = admitted(await burst(c.client, 40, body), 'credit_balance_exhausted', 'images');
    assert.equal(good.length, 2, 'two worst cases fit in 20 cents');
    const d = c.books();
    assert.ok(d.cost <= 20n * CENT, `charged ${d.cost} ≤ 20 cents`);
    assert.equal(d.unbilled, 0n, 'the worst case per image (1,445 tokens for gpt-4o) covered the 1,100 billed');
    assert.equal(d.overdraft, 0n);
    const rows = env.sql(`SELECT input_tokens FROM usage_records WHERE organization_id=${q(c.orgId)}`);
    for (const r of rows) assert.ok(r.input_tokens >= 22000, `the upstream billed the images: ${r.input_tokens}`);
    assert.equal((await c.balance()).reserved, 0n);
  });

  it('the maximum cost names the tile arithmetic: a 512×512 data: image, detail low, and an image of unknown size', async () => {
    const c = await Customer.create('Tiles', { cents: 1 });
    const ask = async (image_url) => {
      try {
        await c.client.chat.completions.create({
          model: 'gpt-4o', max_tokens: 1000,
          messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }, { type: 'image_url', image_url }] }],
        });
        assert.fail('refused: the maximum cost exceeds 1 cent');
      } catch (e) {
        assert.equal(e.status, 429);
        assert.equal(e.code, 'credit_balance_exhausted');
        return maxCost(e.message);
      }
    };
    // text: 3 per message + "user" + "hi" + 3 for the reply = 8 tokens; output 1000 at $10/M
    // = $0.01; input at $2.50/M
    const cost = (inputTokens) => BigInt(inputTokens) * 2500n + 1000n * 10000n;
    const known = await ask({ url: pngDataUrl(512, 512) });
    assert.equal(known.worst, cost(8 + 85 + 170), '512×512: 1 tile, 85 + 170 tokens');
    assert.equal(known.left, CENT);
    assert.equal((await ask({ url: pngDataUrl(1024, 1024) })).worst, cost(8 + 85 + 4 * 170), '1024×1024: 4 tiles');
    assert.equal((await ask({ url: pngDataUrl(512, 512), detail: 'low' })).worst, cost(8 + 85), 'detail low: 85');
    assert.equal((await ask({ url: 'https://example.com/cat.jpg' })).worst, cost(8 + 85 + 8 * 170), 'unknown size: the worst case, 8 tiles');
    assert.equal((await c.balance()).reserved, 0n);
  });
});

describe('a model Tollgate has no tokenizer for', () => {
  it('Chinese text is bounded by its UTF-8 bytes, and the bound holds against the upstream', async () => {
    const c = await Customer.create('Llama', { cents: 1 });
    const text = '我们的服务器在上海，今天的天气很好。'.repeat(20); // 18 chars × 3 bytes × 20
    const bytes = Buffer.byteLength(text) + Buffer.byteLength('user');
    try {
      await c.client.chat.completions.create({ model: 'llama-open', messages: [{ role: 'user', content: text }] });
      assert.fail('the default max_tokens (1024) does not fit');
    } catch (e) {
      assert.equal(e.status, 429, e.message);
      // $10 / 1M tokens: input = bytes + 8 per message + 64 per request, output = 1024
      const { worst } = maxCost(e.message);
      assert.equal(worst, BigInt(bytes + 8 + 64) * 10000n + 1024n * 10000n);
    }
    // within the credit: 100 concurrent requests, the upstream counting ~1 token per byte
    await c.grant(9);
    const body = { model: 'llama-open', max_tokens: 5, messages: [{ role: 'user', content: `${text} mock:prompt_scale=400` }] };
    const good = admitted(await burst(c.client, 100, body), 'credit_balance_exhausted', 'llama');
    assert.ok(good.length > 0);
    const d = c.books();
    assert.ok(d.cost <= 10n * CENT, `charged ${d.cost} ≤ 10 cents`);
    assert.equal(d.unbilled, 0n, 'the byte bound covered what the upstream counted');
    assert.equal((await c.balance()).reserved, 0n);
  });
});

describe('absurd and malformed usage', () => {
  for (const [raw, kind] of [['1e300', 'absurd'], ['99999999999999999999', 'absurd'], ['-5', 'malformed'], ['1.5', 'malformed']]) {
    it(`prompt_tokens ${raw}: answered, charged at most the reservation, counted as ${kind}`, async () => {
      const c = await Customer.create(`Absurd ${raw}`, { cents: 100 });
      const before = await metric(`tollgate_upstream_discrepancies_total{kind="${kind}"}`);
      for (const stream of [false, true]) {
        const body = { model: 'gpt-4o', max_tokens: 5, messages: [{ role: 'user', content: `hi mock:prompt_raw=${raw}` }] };
        if (stream) {
          const s = await c.client.chat.completions.create({ ...body, stream: true });
          for await (const ch of s) void ch;
        } else {
          const r = await c.client.chat.completions.create(body);
          assert.equal(r.choices[0].message.content, 'tok '.repeat(5));
        }
      }
      const rows = env.sql(`SELECT input_tokens, output_tokens, cost_nanousd, unbilled_nanousd FROM usage_records WHERE organization_id=${q(c.orgId)}`);
      assert.equal(rows.length, 2);
      // the worst case of one request: ~20 input tokens + 5 output at gpt-4o prices, ~100,000
      for (const r of rows) {
        assert.ok(BigInt(r.cost_nanousd) <= 150000n, `charged at most the reservation: ${JSON.stringify(r)}`);
        assert.ok(r.input_tokens >= 0 && r.input_tokens <= 128000, `tokens stored in range: ${JSON.stringify(r)}`);
        if (kind === 'malformed') assert.equal(BigInt(r.unbilled_nanousd), 0n, 'Tollgate\'s own count is used');
        else assert.ok(BigInt(r.unbilled_nanousd) > 0n, 'the absurd part is unbilled');
      }
      assert.equal(await metric(`tollgate_upstream_discrepancies_total{kind="${kind}"}`) - before, 2n);
      const b = await c.balance();
      assert.equal(b.reserved, 0n);
      assert.equal(b.granted - b.available, c.books().cost);
      await env.assertAlive();
    });
  }
});

describe('an upstream that reports no usage', () => {
  it('a complete answer without usage is charged Tollgate\'s own count and counted as missing', async () => {
    const c = await Customer.create('No usage', { cents: 100 });
    const before = await metric('tollgate_upstream_discrepancies_total{kind="missing"}');
    const body = { model: 'gpt-4o', max_tokens: 50, messages: [{ role: 'user', content: 'hi mock:no_usage' }] };
    const r = await c.client.chat.completions.create(body);
    assert.equal(r.choices[0].message.content, 'tok '.repeat(5));
    assert.equal(r.usage, undefined, 'the upstream sent no usage');
    const s = await c.client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
    let text = '';
    for await (const ch of s) text += ch.choices?.[0]?.delta?.content ?? '';
    assert.equal(text, 'tok '.repeat(5));
    const rows = env.sql(`SELECT input_tokens, output_tokens, cost_nanousd, unbilled_nanousd FROM usage_records WHERE organization_id=${q(c.orgId)}`);
    assert.equal(rows.length, 2);
    for (const row of rows) {
      // the prompt's exact o200k count, and the answer's 5 × "tok " at gpt-4o's $2.50 / $10
      assert.ok(row.input_tokens > 5 && row.input_tokens < 20, JSON.stringify(row));
      assert.ok(row.output_tokens >= 5 && row.output_tokens <= 10, JSON.stringify(row));
      assert.equal(BigInt(row.cost_nanousd), BigInt(row.input_tokens) * 2500n + BigInt(row.output_tokens) * 10000n);
      assert.equal(BigInt(row.unbilled_nanousd), 0n);
    }
    assert.equal(await metric('tollgate_upstream_discrepancies_total{kind="missing"}') - before, 2n);
    assert.equal((await c.balance()).reserved, 0n);
  });
});

describe('credit totals cannot overflow', () => {
  it('ten $1 billion operator grants: the tenth is refused with 400, the balance stays exact', async () => {
    const c = await Customer.create('Billionaire');
    for (let i = 0; i < 9; i++) await c.grant(100_000_000_000);
    const r = await env.admin('POST', `/v1/platform/organizations/${c.orgId}/credit_grants`, { amount: 100_000_000_000 });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.type, 'invalid_request_error');
    assert.equal(r.json.error.code, 'invalid_value');
    assert.equal(r.json.error.param, 'amount');
    const b = await c.balance();
    assert.equal(b.granted, 9_000_000_000n * 1_000_000_000n);
    assert.equal(b.available, b.granted);
    assert.equal(env.sql(`SELECT COUNT(*) AS n FROM credit_grants WHERE organization_id=${q(c.orgId)}`)[0].n, 9);
  });
});
