// Rate limits through the official SDK (maxRetries: 0): the N+1th request in a minute gets a
// RateLimitError with OpenAI's type, code, headers and message; token limits count the
// reservation; concurrent bursts never admit more than the limit; OpenAI's header formats.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

import { Env, assertErrorResponse } from './harness.mjs';

const DURATION_RE = /^(\d+h)?(\d+m)?(\d+(\.\d+)?s|\d+ms)$/; // Go-style: 1s, 6m0s, 20ms, 1m30s

describe('rate limits', () => {
  let env, customer, ckey, cproj;

  before(async () => {
    env = await Env.start({ models: ['gpt-4o-mini', 'text-embedding-3-small'] });
    // a customer organisation (tier free) with credit, for the tier defaults
    const org = await env.admin('POST', '/v1/platform/organizations', { name: 'Customer' });
    assert.equal(org.status, 200, org.text);
    customer = org.json;
    cproj = customer.default_project_id;
    const g = await env.admin('POST', `/v1/platform/organizations/${customer.id}/credit_grants`, { amount: 10000 });
    assert.equal(g.status, 200, g.text);
    const k = await env.admin('POST', `/v1/organization/projects/${cproj}/api_keys`, { name: 'k' },
      { key: customer.admin_key.value });
    assert.equal(k.status, 200, k.text);
    ckey = k.json.value;
  });

  after(async () => { await env?.stop(); });

  const ask = (client, extra = {}) => client.chat.completions.create({
    model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 10, ...extra,
  });

  it('lists one project.rate_limit per model with the tier defaults, and changes them', async () => {
    // OpenAI's default page of project rate limits holds 100: every model of the table at once
    const r = await env.admin('GET', `/v1/organization/projects/${cproj}/rate_limits`, undefined,
      { key: customer.admin_key.value });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.object, 'list');
    const mini = r.json.data.find((x) => x.model === 'gpt-4o-mini');
    assert.deepEqual(mini, {
      object: 'project.rate_limit', id: 'rl-gpt-4o-mini', model: 'gpt-4o-mini',
      max_requests_per_1_minute: 3, max_tokens_per_1_minute: 40000,
      max_requests_per_1_day: 200, max_tokens_per_1_day: 0, served: true,
    });
    assert.ok(r.json.data.length > 20 && r.json.has_more === false, `one page: ${r.json.data.length}`);
    for (const x of r.json.data) assert.equal(x.id, `rl-${x.model}`);
    // a project can only tighten its tier's limits
    const up = await env.admin('POST', `/v1/organization/projects/${cproj}/rate_limits/rl-gpt-4o-mini`,
      { max_requests_per_1_minute: 1000 }, { key: customer.admin_key.value });
    assert.equal(up.status, 200, up.text);
    assert.equal(up.json.max_requests_per_1_minute, 3);
    const bad = await env.admin('POST', `/v1/organization/projects/${cproj}/rate_limits/rl-gpt-4o-mini`,
      { max_requests_per_1_minute: -1 }, { key: customer.admin_key.value });
    assertErrorResponse(bad, 400, { type: 'invalid_request_error', code: 'invalid_value', param: 'max_requests_per_1_minute' });
    const none = await env.admin('GET', `/v1/organization/projects/${cproj}/rate_limits/rl-no-such-model`, undefined,
      { key: customer.admin_key.value });
    assertErrorResponse(none, 404, { type: 'invalid_request_error' });
  });

  it('the 4th request in a minute on a free tier (3 RPM) gets RateLimitError', async () => {
    const client = new OpenAI({ apiKey: ckey, baseURL: env.baseURL, maxRetries: 0 });
    for (let i = 0; i < 3; i++) {
      const { response } = await ask(client).withResponse();
      const h = response.headers;
      assert.equal(h.get('x-ratelimit-limit-requests'), '3');
      assert.equal(h.get('x-ratelimit-remaining-requests'), String(2 - i));
      assert.equal(h.get('x-ratelimit-limit-tokens'), '40000');
      assert.match(h.get('x-ratelimit-remaining-tokens'), /^\d+$/);
      assert.match(h.get('x-ratelimit-reset-requests'), DURATION_RE);
      assert.match(h.get('x-ratelimit-reset-tokens'), DURATION_RE);
    }
    await assert.rejects(ask(client), (e) => {
      assert.ok(e instanceof OpenAI.RateLimitError, `${e.constructor.name}: ${e.message}`);
      assert.equal(e.status, 429);
      assert.equal(e.type, 'requests');
      assert.equal(e.code, 'rate_limit_exceeded');
      assert.equal(e.param, null);
      assert.match(e.error.message, new RegExp(
        `^Rate limit reached for gpt-4o-mini in (organization ${customer.id}|project ${cproj} organization ${customer.id}) on requests per min \\(RPM\\): ` +
        'Limit 3, Used 3, Requested 1\\. Please try again in \\d+(\\.\\d+)?s\\. '));
      const ra = Number(e.headers.get('retry-after'));
      const ram = Number(e.headers.get('retry-after-ms'));
      assert.ok(ra >= 1 && ra <= 21, `retry-after ${ra}`);
      assert.ok(ram > 0 && ram <= 20000, `retry-after-ms ${ram}`);
      assert.ok(Math.abs(ra * 1000 - ram) < 1000);
      return true;
    });
  });

  it('a request larger than the token limit is refused as too large, not made to wait', async () => {
    const p2 = await env.admin('POST', '/v1/organization/projects', { name: 'big' }, { key: customer.admin_key.value });
    let r = await env.admin('POST', `/v1/organization/projects/${p2.json.id}/rate_limits/rl-gpt-4o-mini`,
      { max_tokens_per_1_minute: 1000 }, { key: customer.admin_key.value });
    assert.equal(r.status, 200, r.text);
    const k2 = await env.admin('POST', `/v1/organization/projects/${p2.json.id}/api_keys`, { name: 'k' },
      { key: customer.admin_key.value });
    r = await env.request('POST', '/v1/chat/completions', {
      key: k2.json.value,
      json: { model: 'gpt-4o-mini', max_tokens: 5000, messages: [{ role: 'user', content: 'hi' }] },
    });
    assertErrorResponse(r, 429, { type: 'tokens', code: 'rate_limit_exceeded' });
    assert.match(r.json.error.message, new RegExp(`^Request too large for gpt-4o-mini in project ${p2.json.id} organization ${customer.id} on tokens per min \\(TPM\\): Limit 1000, Requested 50\\d\\d\\. The input or output tokens must be reduced`));
    assert.equal(r.headers.get('x-should-retry'), 'false');
  });

  it('TPM counts the reservation while a request is in flight, then the real usage', async () => {
    const p = await env.admin('POST', '/v1/organization/projects', { name: 'tpm' });
    const proj = p.json.id;
    let r = await env.admin('POST', `/v1/organization/projects/${proj}/rate_limits/rl-gpt-4o-mini`,
      { max_tokens_per_1_minute: 1000, max_requests_per_1_minute: 100 });
    assert.equal(r.status, 200, r.text);
    const k = await env.admin('POST', `/v1/organization/projects/${proj}/api_keys`, { name: 'k' });
    const client = new OpenAI({ apiKey: k.json.value, baseURL: env.baseURL, maxRetries: 0 });
    // A holds ~600 tokens for 3 s (the mock answers `mock:slow` late); B's 600 do not fit
    const slow = ask(client, { max_tokens: 600, messages: [{ role: 'user', content: 'mock:slow' }] });
    await new Promise((res) => setTimeout(res, 300));
    await assert.rejects(ask(client, { max_tokens: 600 }), (e) => {
      assert.ok(e instanceof OpenAI.RateLimitError, e.message);
      assert.equal(e.type, 'tokens');
      assert.equal(e.code, 'rate_limit_exceeded');
      assert.match(e.error.message, /on tokens per min \(TPM\): Limit 1000, Used 6\d\d, Requested 6\d\d\./);
      return true;
    });
    await slow;
    // A is settled at its real usage (a few tokens): 900 fit now
    await ask(client, { max_tokens: 900 });
  });

  it('concurrent bursts never admit more than the limit', async () => {
    const p = await env.admin('POST', '/v1/organization/projects', { name: 'burst' });
    const proj = p.json.id;
    await env.admin('POST', `/v1/organization/projects/${proj}/rate_limits/rl-gpt-4o-mini`, { max_requests_per_1_minute: 7 });
    const k = await env.admin('POST', `/v1/organization/projects/${proj}/api_keys`, { name: 'k' });
    const client = new OpenAI({ apiKey: k.json.value, baseURL: env.baseURL, maxRetries: 0 });
    const results = await Promise.allSettled(Array.from({ length: 60 }, () => ask(client)));
    const ok = results.filter((x) => x.status === 'fulfilled').length;
    const limited = results.filter((x) => x.status === 'rejected' && x.reason instanceof OpenAI.RateLimitError).length;
    assert.equal(ok, 7);
    assert.equal(limited, 53);
    // refused requests reached no provider and wrote no usage record
    const n = env.sql(`SELECT COUNT(*) AS n FROM usage_records WHERE project_id='${proj}'`)[0].n;
    assert.equal(n, 7);
  });

  it('the window refills: after the reset a request passes again', async () => {
    const p = await env.admin('POST', '/v1/organization/projects', { name: 'refill' });
    const proj = p.json.id;
    // 120 RPM → one request every 500 ms, burst 120; use RPM 2 → one every 30 s is too slow,
    // so use a high limit with a known spacing: 600 RPM = 100 ms per request
    await env.admin('POST', `/v1/organization/projects/${proj}/rate_limits/rl-gpt-4o-mini`, { max_requests_per_1_minute: 600 });
    const k = await env.admin('POST', `/v1/organization/projects/${proj}/api_keys`, { name: 'k' });
    const client = new OpenAI({ apiKey: k.json.value, baseURL: env.baseURL, maxRetries: 0 });
    const t0 = Date.now();
    const burst = await Promise.allSettled(Array.from({ length: 650 }, () => ask(client)));
    const refilled = Math.ceil((Date.now() - t0) / 100); // one request per 100 ms refills
    const ok = burst.filter((x) => x.status === 'fulfilled').length;
    assert.ok(ok >= 600 && ok <= 600 + refilled, `burst admitted ${ok} (refill allowance ${refilled})`);
    const rejected = burst.find((x) => x.status === 'rejected');
    const wait = Number(rejected.reason.headers.get('retry-after-ms'));
    assert.ok(wait > 0 && wait <= 200, `retry-after-ms ${wait}`);
    await new Promise((r) => setTimeout(r, wait + 50));
    await ask(client); // passes again
  });

  it('RPD: the 3rd request of the day with a limit of 2 gets a requests-per-day RateLimitError', async () => {
    const p = await env.admin('POST', '/v1/organization/projects', { name: 'rpd' });
    const proj = p.json.id;
    await env.admin('POST', `/v1/organization/projects/${proj}/rate_limits/rl-gpt-4o-mini`, { max_requests_per_1_day: 2 });
    const k = await env.admin('POST', `/v1/organization/projects/${proj}/api_keys`, { name: 'k' });
    const client = new OpenAI({ apiKey: k.json.value, baseURL: env.baseURL, maxRetries: 0 });
    await ask(client);
    await ask(client);
    await assert.rejects(ask(client), (e) => {
      assert.ok(e instanceof OpenAI.RateLimitError);
      assert.equal(e.type, 'requests');
      assert.match(e.error.message, /on requests per day \(RPD\): Limit 2, Used 2, Requested 1\. Please try again in \d+h\d+m[\d.]+s\./);
      const ra = Number(e.headers.get('retry-after'));
      assert.ok(ra > 40000 && ra <= 43200, `retry-after ${ra}`); // half a day: one request refills
      return true;
    });
  });

  it('tiers: the usage tier is visible, models above it answer below_usage_tier, the monthly cap holds', async () => {
    const ck = customer.admin_key.value;
    const t = await env.admin('GET', '/v1/organization/usage_tier', undefined, { key: ck });
    assert.equal(t.status, 200, t.text);
    assert.equal(t.json.tier, 'free');
    // one unit for every amount of the object: decimal dollars (Free's cap is $100, Tier 1 needs $5 paid)
    assert.equal(t.json.currency, 'usd');
    assert.equal(t.json.monthly_usage_limit, 100);
    assert.equal(typeof t.json.month_usage, 'number');
    assert.equal(t.json.paid_to_date, 0);
    assert.deepEqual(t.json.next_tier, { tier: 'tier_1', name: 'Tier 1', paid_required: 5, days_since_first_payment_required: 0 });
    // o1 needs tier 1 (data/tiers.json model_min_tier); map it to the mock
    let r = await env.admin('POST', `/v1/organization/providers/${env.providerId}`, {
      models: [{ model: 'gpt-4o-mini' }, { model: 'text-embedding-3-small' }, { model: 'o1' }],
    });
    assert.equal(r.status, 200, r.text);
    const p = await env.admin('POST', '/v1/organization/projects', { name: 'tier' }, { key: ck });
    const k = await env.admin('POST', `/v1/organization/projects/${p.json.id}/api_keys`, { name: 'k' }, { key: ck });
    r = await env.request('POST', '/v1/chat/completions', {
      key: k.json.value, json: { model: 'o1', max_completion_tokens: 10, messages: [{ role: 'user', content: 'hi' }] },
    });
    assertErrorResponse(r, 400, { type: 'invalid_request_error', code: 'below_usage_tier', param: 'model' });
    assert.match(r.json.error.message, /requires usage tier Tier 1 or higher; your organization is on Free/);
    // the free tier's monthly cap ($100): a request whose worst case passes it is refused
    r = await env.admin('POST', '/v1/organization/models/pricey', { input_price: '0', output_price: '1000000' });
    assert.equal(r.status, 200, r.text);
    r = await env.admin('POST', `/v1/organization/providers/${env.providerId}`, {
      models: [{ model: 'gpt-4o-mini' }, { model: 'text-embedding-3-small' }, { model: 'o1' }, { model: 'pricey' }],
    });
    await env.admin('POST', `/v1/platform/organizations/${customer.id}/credit_grants`, { amount: 100000 }); // $1000
    r = await env.request('POST', '/v1/chat/completions', {
      key: k.json.value, json: { model: 'pricey', max_tokens: 200, messages: [{ role: 'user', content: 'hi' }] },
    }); // worst case 200 tokens × $1 = $200 > the $100 cap
    assertErrorResponse(r, 429, { type: 'insufficient_quota', code: 'organization_usage_limit_exceeded' });
    assert.equal(r.headers.get('x-should-retry'), 'false');
    r = await env.request('POST', '/v1/chat/completions', {
      key: k.json.value, json: { model: 'pricey', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] },
    }); // $20 fits
    assert.equal(r.status, 200, r.text);
  });
});

