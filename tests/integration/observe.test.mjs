// What the operator sees (issue 13, SPEC.md §8): /metrics in Prometheus' text format with the
// families the spec lists, summed over the workers, whose money and tokens agree with the usage
// and costs endpoints to the nano-dollar; and the access log, one JSON line per request on
// standard error, naming the request the client got back (x-request-id), never a secret, a
// prompt or an answer. A customer organisation (with credit) makes the calls.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Env, UPSTREAM_KEY, sleep, waitFor } from './harness.mjs';
import { nanos, exactJson } from './money.mjs';

const PROMPT = 'the secret recipe is 7 parts of sugar';

/** Prometheus text → [{name, labels: {…}, value: BigInt|number}] (no comments). */
function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `a sample line: ${line}`);
    const labels = {};
    if (m[2]) for (const p of m[2].matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)) labels[p[1]] = p[2];
    out.push({ name: m[1], labels, value: /^\d+$/.test(m[3]) ? BigInt(m[3]) : Number(m[3]) });
  }
  return out;
}

function sample(samples, name, labels = {}) {
  const s = samples.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  assert.ok(s.length <= 1, `one series ${name} ${JSON.stringify(labels)}: ${s.length}`);
  return s[0]?.value;
}

function accessLines(env) {
  return env.server.output.stderr.split('\n').filter((l) => l.startsWith('{') && l.includes('"type":"access"')).map((l) => JSON.parse(l));
}

describe('observe: metrics and the access log', () => {
  let env, customer, client;
  before(async () => {
    env = await Env.start();
    const r = await env.admin('POST', '/v1/platform/organizations', { name: 'observed' });
    assert.equal(r.status, 200, r.text);
    // a paying customer's tier (Free allows 3 requests a minute)
    assert.equal((await env.admin('POST', `/v1/platform/organizations/${r.json.id}`, { tier: 'tier_3' })).status, 200);
    customer = { id: r.json.id, adminKey: r.json.admin_key.value, projectId: r.json.default_project_id };
    assert.equal((await env.admin('POST', `/v1/platform/organizations/${customer.id}/credit_grants`, { amount: 10000 })).status, 200);
    const k = await env.admin('POST', `/v1/organization/projects/${customer.projectId}/api_keys`, { name: 'k' }, { key: customer.adminKey });
    customer.key = k.json;
    client = env.client(k.json.value);
  });
  after(async () => { await env?.stop(); });

  const metrics = async () => {
    const r = await env.request('GET', '/metrics');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
    return { text: r.text, s: parseMetrics(r.text) };
  };

  it('counts requests, tokens and cost per model exactly as the costs endpoint bills them', async () => {
    const before = (await metrics()).s;
    const c1 = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: PROMPT }] });
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini', messages: [{ role: 'user', content: PROMPT }], stream: true, stream_options: { include_usage: true },
    });
    let usage2;
    for await (const ch of stream) if (ch.usage) usage2 = ch.usage;
    // a refusal: a wrong key
    await assert.rejects(env.client('sk-proj-nothing').chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }));

    const after1 = (await metrics()).s;
    const d = (name, labels) => (sample(after1, name, labels) ?? 0n) - (sample(before, name, labels) ?? 0n);
    assert.equal(d('tollgate_requests_total', { endpoint: '/v1/chat/completions', method: 'POST', model: 'gpt-4o-mini', status: '200' }), 2n);
    assert.equal(d('tollgate_requests_total', { endpoint: '/v1/chat/completions', method: 'POST', model: '', status: '401' }), 1n);
    assert.equal(d('tollgate_refusals_total', { code: 'invalid_api_key', status: '401' }), 1n);
    const inTok = BigInt(c1.usage.prompt_tokens + usage2.prompt_tokens);
    const outTok = BigInt(c1.usage.completion_tokens + usage2.completion_tokens);
    assert.equal(d('tollgate_tokens_total', { model: 'gpt-4o-mini', kind: 'input' }), inTok);
    assert.equal(d('tollgate_tokens_total', { model: 'gpt-4o-mini', kind: 'output' }), outTok);
    // the money: the same nano-dollars the customer's costs endpoint bills
    const costs = await env.request('GET', `/v1/organization/costs?start_time=${Math.floor(Date.now() / 1000) - 3600}`, { key: customer.adminKey });
    assert.equal(costs.status, 200, costs.text);
    let billed = 0n;
    for (const b of exactJson(costs.text).data) for (const r of b.results) billed += nanos(r.amount.value);
    assert.ok(billed > 0n);
    assert.equal(d('tollgate_cost_nanodollars_total', { model: 'gpt-4o-mini' }), billed);
    // histograms: one observation per request, an upstream one per attempt
    assert.equal(d('tollgate_request_duration_seconds_count', { endpoint: '/v1/chat/completions', method: 'POST' }), 3n);
    assert.equal(d('tollgate_upstream_duration_seconds_count', { provider: env.providerId }), 2n);
    assert.equal(d('tollgate_upstream_requests_total', { provider: env.providerId, outcome: 'ok' }), 2n);
    assert.equal(sample(after1, 'tollgate_open_streams'), 0n);
    assert.equal(sample(after1, 'tollgate_reservations_outstanding'), 0n);
    assert.ok(sample(after1, 'tollgate_usage_records_committed_total') >= 2n);
    assert.ok(sample(after1, 'tollgate_usage_batch_records_count') >= 1n);
    assert.ok(sample(after1, 'tollgate_usage_commit_seconds_count') >= 1n);
    assert.equal(typeof sample(after1, 'tollgate_usage_queue_records'), 'bigint');
    assert.ok(after1.some((x) => x.name === 'tollgate_build_info' && x.labels.version && x.value === 1n));
  });

  it('a stream in flight is an open stream holding a reservation', async () => {
    const ctl = new AbortController();
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'mock:slow please' }], stream: true,
    }, { signal: ctl.signal });
    const it = stream[Symbol.asyncIterator]();
    await it.next(); // the first chunk is here: the stream is open
    const during = (await metrics()).s;
    assert.equal(sample(during, 'tollgate_open_streams'), 1n);
    assert.equal(sample(during, 'tollgate_reservations_outstanding'), 1n);
    ctl.abort();
    await waitFor(async () => sample((await metrics()).s, 'tollgate_open_streams') === 0n, { timeoutMs: 5000 });
    await waitFor(async () => sample((await metrics()).s, 'tollgate_reservations_outstanding') === 0n, { timeoutMs: 5000 });
  });

  it('no organisation, project or key id is a label; every family has its TYPE; series are unique', async () => {
    // one pattern, two methods, the same status: two series
    assert.equal((await env.request('GET', '/v1/organization/projects', { key: customer.adminKey })).status, 200);
    assert.equal((await env.request('POST', '/v1/organization/projects', { key: customer.adminKey, json: { name: 'p2' } })).status, 200);
    const { text, s } = await metrics();
    for (const id of [env.orgId, customer.id, customer.projectId, env.projectId, customer.key.id, env.keyId])
      assert.ok(!text.includes(id), `${id} is not in /metrics`);
    const typed = new Set([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => m[1]));
    for (const x of s) {
      const family = x.name.replace(/_(bucket|sum|count)$/, '');
      assert.ok(typed.has(x.name) || typed.has(family), `# TYPE for ${x.name}`);
    }
    for (const f of ['tollgate_requests_total', 'tollgate_request_duration_seconds', 'tollgate_upstream_requests_total',
      'tollgate_upstream_duration_seconds', 'tollgate_tokens_total', 'tollgate_cost_nanodollars_total', 'tollgate_refusals_total',
      'tollgate_open_streams', 'tollgate_reservations_outstanding', 'tollgate_usage_queue_records',
      'tollgate_usage_batch_records', 'tollgate_usage_commit_seconds', 'tollgate_build_info'])
      assert.ok(typed.has(f), `family ${f}`);
    // series are unique (a pattern served by several methods is one series per method)
    assert.ok(s.some((x) => x.name === 'tollgate_requests_total' && x.labels.endpoint === '/metrics' && x.labels.method === 'GET'));
    const keys = s.map((x) => `${x.name}${JSON.stringify(x.labels)}`);
    assert.equal(new Set(keys).size, keys.length, 'no duplicate series');
  });

  it('the access log: one JSON line per request, with what the client was told, and no secret, prompt or answer', async () => {
    const r = await env.request('POST', '/v1/chat/completions', {
      key: customer.key.value, json: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: PROMPT }] },
    });
    assert.equal(r.status, 200);
    const answer = r.json.choices[0].message.content;
    const bad = await env.request('GET', '/v1/organization/projects', { key: 'sk-admin-not-a-key-at-all' });
    assert.equal(bad.status, 401);
    const tokenPath = await env.request('GET', '/console/api/invites/secret-invite-token-xyz');
    assert.equal(tokenPath.status, 404);
    let lines;
    await waitFor(() => {
      lines = accessLines(env);
      return [r, bad, tokenPath].every((x) => lines.some((l) => l.request_id === x.headers.get('x-request-id')));
    }, { timeoutMs: 3000 });
    const chat = lines.find((l) => l.request_id === r.headers.get('x-request-id'));
    assert.equal(chat.method, 'POST');
    assert.equal(chat.route, '/v1/chat/completions');
    assert.equal(chat.status, 200);
    assert.equal(chat.organization, customer.id);
    assert.equal(chat.project, customer.projectId);
    assert.equal(chat.key, customer.key.id);
    assert.equal(chat.model, 'gpt-4o-mini');
    assert.equal(chat.provider, env.providerId);
    assert.equal(chat.input_tokens, r.json.usage.prompt_tokens);
    assert.equal(chat.output_tokens, r.json.usage.completion_tokens);
    assert.ok(chat.cost_nanousd > 0);
    assert.ok(chat.latency_ms >= chat.upstream_ms && chat.upstream_ms > 0, `${chat.latency_ms} ≥ ${chat.upstream_ms} > 0`);
    assert.match(chat.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const refused = lines.find((l) => l.request_id === bad.headers.get('x-request-id'));
    assert.equal(refused.status, 401);
    assert.equal(refused.error, 'invalid_api_key');
    const invite = lines.find((l) => l.request_id === tokenPath.headers.get('x-request-id'));
    assert.equal(invite.route, '/console/api/invites/{id}'); // the pattern, not the path with its token
    const all = env.server.output.stdout + env.server.output.stderr;
    for (const secret of [PROMPT, answer, customer.key.value, customer.adminKey, env.adminKey, env.apiKey, UPSTREAM_KEY,
      'sk-admin-not-a-key-at-all', 'secret-invite-token-xyz'])
      assert.ok(!all.includes(secret), `the server's output does not hold ${secret.slice(0, 12)}…`);
    // every line of standard error is JSON (the default when it is not a terminal)
    for (const l of env.server.output.stderr.split('\n').filter(Boolean)) assert.doesNotThrow(() => JSON.parse(l), l);
  });
});

describe('observe: log format and switching the access log off', () => {
  it('--log-format text writes text lines; --access-log off writes none', async () => {
    const env = await Env.start({ serveArgs: ['--log-format', 'text', '--access-log', 'off'] });
    try {
      const r = await env.api('GET', '/v1/models');
      assert.equal(r.status, 200);
      await sleep(200);
      const err = env.server.output.stderr;
      assert.match(err, /^\d{4}-\d\d-\d\dT[\d:.]+Z info listening on /m);
      assert.ok(!err.includes(r.headers.get('x-request-id')), 'no access line');
      assert.ok(!err.includes('{"time"'));
    } finally {
      await env.stop();
    }
    const t = await Env.start({ serveArgs: ['--log-format', 'text'] });
    try {
      const r = await t.api('GET', '/v1/models');
      const id = r.headers.get('x-request-id');
      await waitFor(() => t.server.output.stderr.includes(id), { timeoutMs: 3000 });
      const line = t.server.output.stderr.split('\n').find((l) => l.includes(id));
      assert.match(line, new RegExp(`^\\S+Z access ${id} method=GET route=/v1/models status=200 latency_ms=[\\d.]+ organization=${t.orgId} project=${t.projectId} key=${t.keyId}$`));
    } finally {
      await t.stop();
    }
  });
});
