// Several instances (SPEC.md §6): three `tollgate serve` on one PostgreSQL and one Redis, a
// mock upstream, the official openai SDK. One credit balance and one rate limit for all of
// them; a change on one is in force on the others within 2 s; a killed instance leaves no
// money held; Redis going away refuses requests (503) and everything comes back by itself,
// rebuilt from the store when Redis comes back empty. Runs on a private PostgreSQL server and
// a private Redis that it kills.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import OpenAI from 'openai';
import {
  Mock, REPO, TOLLGATE_BIN, UPSTREAM_KEY, spawnAndWait, stopProcess, request, waitFor, sleep,
  getFreePort, assertNoSanitizerReport,
} from './harness.mjs';
import { pgQuery } from './pgsync.mjs';
import { nanos, exactJson } from './money.mjs';

const PGS = path.join(REPO, 'tools/pg_test_server.sh');
const KEY = 'c3'.repeat(32);
const env = { ...process.env, TOLLGATE_SECRET_KEY: KEY };
const MODEL = 'gpt-4o-mini';

async function startRedis(port) {
  const { child } = await spawnAndWait('/usr/bin/redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stream: 'stdout', pattern: /Ready to accept connections/, name: 'redis' });
  return child;
}

describe('several instances on one PostgreSQL and one Redis', () => {
  let pg;
  let redis;
  let redisPort;
  let mock;
  let init;
  const tgs = [];
  let customer; // {orgId, projectId, adminKey, apiKey}

  const origin = (i) => tgs[i].origin;
  const admin = (i, m, p, json, key = init.admin_key) => request(origin(i), m, p, { key, json });
  const sql = (q) => pgQuery(pg.url, q);
  const q = (s) => `'${String(s).replace(/'/g, "''")}'`;

  async function serve() {
    const t = await spawnAndWait(TOLLGATE_BIN, ['serve', '--listen', '127.0.0.1:0', '--db', pg.url,
      '--redis', `redis://127.0.0.1:${redisPort}`, '--workers', '2'], {
      stream: 'stderr', pattern: /listening on http:\/\/127\.0\.0\.1:(\d+)/, name: 'tollgate(redis)', env,
    });
    t.origin = `http://127.0.0.1:${t.match[1]}`;
    tgs.push(t);
    return t;
  }

  async function balance(i) {
    const r = await admin(i, 'GET', '/v1/organization/billing/balance', undefined, customer.adminKey);
    assert.equal(r.status, 200, r.text);
    const j = exactJson(r.text);
    return { available: nanos(j.available), reserved: nanos(j.reserved), used: nanos(j.used), granted: nanos(j.granted) };
  }

  const client = (i, apiKey = customer.apiKey) => new OpenAI({ apiKey, baseURL: `${origin(i)}/v1`, maxRetries: 0, timeout: 60000 });

  before(async () => {
    const out = execFileSync(PGS, ['start'], { encoding: 'utf8' }).trim().split(' ');
    pg = { url: out[0], dir: out[1] };
    redisPort = await getFreePort();
    redis = await startRedis(redisPort);
    mock = await Mock.start(['--latency-ms', '200']);
    init = JSON.parse(execFileSync(TOLLGATE_BIN, ['init', '--db', pg.url, '--json'], { encoding: 'utf8', env }));
    for (let i = 0; i < 3; i++) await serve();
    assert.equal((await admin(0, 'POST', '/v1/organization/providers', {
      name: 'mock', type: 'openai_compatible', base_url: mock.baseURL, api_key: UPSTREAM_KEY, models: [{ model: MODEL }],
    })).status, 200);
    const org = await admin(0, 'POST', '/v1/platform/organizations', { name: 'Customer' });
    assert.equal(org.status, 200, org.text);
    customer = { orgId: org.json.id, projectId: org.json.default_project_id, adminKey: org.json.admin_key.value };
    // Tier 5 (10,000 RPM): money and the project's own limits are what this file tests
    sql(`UPDATE organizations SET tier='tier_5' WHERE id=${q(customer.orgId)}`);
    const key = await admin(1, 'POST', `/v1/organization/projects/${customer.projectId}/api_keys`, { name: 'k' }, customer.adminKey);
    assert.equal(key.status, 200, key.text);
    customer.apiKey = key.json.value;
  });

  after(async () => {
    for (const t of tgs) {
      if (t.child.exitCode === null && t.child.signalCode === null) await stopProcess(t.child);
      assertNoSanitizerReport(t.output.stdout + t.output.stderr);
    }
    await mock?.stop();
    if (redis) await stopProcess(redis);
    if (pg) execFileSync(PGS, ['stop', pg.dir]);
  });

  it('a key made on one instance is known to the others within 2 s', async () => {
    const k = await admin(1, 'POST', `/v1/organization/projects/${customer.projectId}/api_keys`, { name: 'new' }, customer.adminKey);
    const t0 = Date.now();
    await waitFor(async () => (await request(origin(0), 'GET', '/v1/models', { key: k.json.value })).status === 200 &&
      (await request(origin(2), 'GET', '/v1/models', { key: k.json.value })).status === 200, { timeoutMs: 2000, intervalMs: 50 });
    assert.ok(Date.now() - t0 < 2000);
  });

  it('what one instance made is usable through the next at once (a round-robin balancer)', async () => {
    // no waiting between the calls: a miss re-reads the store before it says "not found"
    const o = await admin(0, 'POST', '/v1/platform/organizations', { name: 'Right away' });
    assert.equal(o.status, 200, o.text);
    const g = await admin(1, 'POST', `/v1/platform/organizations/${o.json.id}/credit_grants`, { amount: 1 });
    assert.equal(g.status, 200, g.text);
    const p = await admin(2, 'POST', '/v1/organization/projects', { name: 'fresh' }, o.json.admin_key.value);
    assert.equal(p.status, 200, p.text);
    const got = await admin(0, 'GET', `/v1/organization/projects/${p.json.id}`, undefined, o.json.admin_key.value);
    assert.equal(got.status, 200, got.text);
    assert.equal(got.json.name, 'fresh');
    // a project whose notice has not reached the instances yet (written to the store behind
    // their back: no pub/sub message, the periodic refresh is 30 s away) is found all the same
    sql(`INSERT INTO projects (id, organization_id, name, created_at) VALUES ('proj_behind', ${q(o.json.id)}, 'behind', 1)`);
    for (let i = 0; i < 3; i++) {
      const b = await admin(i, 'GET', '/v1/organization/projects/proj_behind', undefined, o.json.admin_key.value);
      assert.equal(b.status, 200, `instance ${i}: ${b.text}`);
      assert.equal(b.json.name, 'behind');
    }
    // another organisation's project is still not found, from any instance
    const other = await admin(1, 'GET', `/v1/organization/projects/${p.json.id}`, undefined, customer.adminKey);
    assert.equal(other.status, 404, other.text);
  });

  it('2 cents of credit, 100 concurrent requests over three instances: never more than 2 cents charged', async () => {
    const g = await admin(0, 'POST', `/v1/platform/organizations/${customer.orgId}/credit_grants`, { amount: 2 });
    assert.equal(g.status, 200, g.text);
    // each request may cost up to 8,000 output tokens × $0.60/M = 0.48 cents, and the mock
    // says it used all of them: at most 4 fit in 2 cents, however they are spread
    const one = (i) => client(i % 3).chat.completions.create({
      model: MODEL, max_tokens: 8000, messages: [{ role: 'user', content: `mock:completion_tokens=8000 ${i}` }],
    }).then(() => 'ok', (e) => (e.status === 429 && e.type === 'insufficient_quota' ? 'quota' : `other ${e.status} ${e.message}`));
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => one(i)));
    const ok = results.filter((r) => r === 'ok').length;
    assert.deepEqual(results.filter((r) => r !== 'ok' && r !== 'quota'), [], 'only answers and insufficient_quota');
    assert.ok(ok >= 1 && ok <= 4, `answered: ${ok} (between 1 and 4 fit in 2 cents)`);
    // every instance sees the same balance, nothing reserved, at most the 2 cents used
    await waitFor(async () => (await balance(0)).reserved === 0n, { timeoutMs: 5000, intervalMs: 100 });
    const bs = [await balance(0), await balance(1), await balance(2)];
    for (const b of bs) {
      assert.equal(b.reserved, 0n);
      assert.deepEqual(b, bs[0], 'the same balance from every instance');
    }
    assert.ok(bs[0].used <= 20_000_000n, `used ${bs[0].used} nano-dollars ≤ 2 cents`);
    assert.ok(bs[0].available >= 0n, `available ${bs[0].available} ≥ 0`);
    // and the store says the same once the usage records are written
    await waitFor(() => BigInt(sql(`SELECT CAST(COALESCE(SUM(cost_nanousd),0) AS TEXT) AS v FROM usage_records WHERE organization_id=${q(customer.orgId)}`)[0].v) === bs[0].used,
      { timeoutMs: 5000, intervalMs: 100 });
    const consumed = BigInt(sql(`SELECT CAST(COALESCE(SUM(consumed),0) AS TEXT) AS v FROM credit_grants WHERE organization_id=${q(customer.orgId)}`)[0].v);
    assert.equal(consumed, bs[0].used, 'Σ credit_grants.consumed == what was charged');
  });

  it('a project limit of 10 RPM: 30 requests alternating between instances, exactly 10 answered', async () => {
    await admin(0, 'POST', `/v1/platform/organizations/${customer.orgId}/credit_grants`, { amount: 500 });
    const proj = await admin(0, 'POST', '/v1/organization/projects', { name: 'rpm' }, customer.adminKey);
    const rl = await admin(1, 'POST', `/v1/organization/projects/${proj.json.id}/rate_limits/rl-${MODEL}`,
      { max_requests_per_1_minute: 10 }, customer.adminKey);
    assert.equal(rl.status, 200, rl.text);
    const key = await admin(2, 'POST', `/v1/organization/projects/${proj.json.id}/api_keys`, { name: 'k' }, customer.adminKey);
    await sleep(300); // the other instances re-read the catalog (well within 2 s)
    let ok = 0;
    let limited = 0;
    for (let i = 0; i < 30; i++) {
      try {
        await client(i % 3, key.json.value).chat.completions.create({ model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
        ok++;
      } catch (e) {
        assert.equal(e.status, 429, e.message);
        assert.equal(e.code, 'rate_limit_exceeded');
        limited++;
      }
    }
    assert.equal(ok, 10);
    assert.equal(limited, 20);
  });

  it('a key revoked on one instance is refused by the others within 2 s', async () => {
    const k = await admin(0, 'POST', `/v1/organization/projects/${customer.projectId}/api_keys`, { name: 'short-lived' }, customer.adminKey);
    await waitFor(async () => (await request(origin(2), 'GET', '/v1/models', { key: k.json.value })).status === 200, { timeoutMs: 2000, intervalMs: 50 });
    const del = await admin(0, 'DELETE', `/v1/organization/projects/${customer.projectId}/api_keys/${k.json.id}`, undefined, customer.adminKey);
    assert.equal(del.status, 200, del.text);
    const t0 = Date.now();
    await waitFor(async () => (await request(origin(1), 'GET', '/v1/models', { key: k.json.value })).status === 401 &&
      (await request(origin(2), 'GET', '/v1/models', { key: k.json.value })).status === 401, { timeoutMs: 2000, intervalMs: 50 });
    assert.ok(Date.now() - t0 < 2000);
  });

  it('an instance killed mid-stream: its reservation is back within 60 s, the others keep serving', async () => {
    const victim = await serve();
    const i = tgs.length - 1;
    const stream = await client(i).chat.completions.create({
      model: MODEL, max_tokens: 1000, stream: true, messages: [{ role: 'user', content: 'mock:slow' }],
    });
    const it0 = stream[Symbol.asyncIterator]();
    await it0.next(); // the first chunk: the request is in flight, its reservation held
    assert.ok((await balance(0)).reserved > 0n, 'a reservation is held');
    await stopProcess(victim.child, { signal: 'SIGKILL' });
    const t0 = Date.now();
    const c = await client(1).chat.completions.create({ model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(c.object, 'chat.completion', 'the others keep serving');
    await waitFor(async () => (await balance(0)).reserved === 0n, { timeoutMs: 60000, intervalMs: 500 });
    assert.ok(Date.now() - t0 < 60000);
  });

  it('a request that ends while Redis does not answer is recorded, and Redis gets the same charge once it answers', async () => {
    const stream = await client(0).chat.completions.create({
      model: MODEL, max_tokens: 1000, stream: true, messages: [{ role: 'user', content: 'mock:slow' }],
    });
    const it0 = stream[Symbol.asyncIterator]();
    await it0.next(); // admitted: its reservation is held; the stream runs ~10 s
    execFileSync('redis-cli', ['-p', String(redisPort), 'CLIENT', 'PAUSE', '16000', 'ALL']);
    const t0 = Date.now();
    // a request admitted now waits for an answer that does not come: 503 after 2 s, not a hang
    const r = await request(origin(2), 'POST', '/v1/chat/completions', {
      key: customer.apiKey, json: { model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] },
    });
    assert.equal(r.status, 503, r.text);
    assert.equal(r.json.error.type, 'server_error');
    assert.ok(Date.now() - t0 < 5000, `503 after ${Date.now() - t0} ms`);
    const n0 = Number(sql(`SELECT COUNT(*) AS n FROM usage_records WHERE organization_id=${q(customer.orgId)}`)[0].n);
    for (let r = await it0.next(); !r.done; r = await it0.next()); // ends during the pause
    assert.ok(Date.now() - t0 < 16000, 'the answer ended while Redis was paused');
    // its usage record is in PostgreSQL already (the end of an answer waits for it)
    assert.equal(Number(sql(`SELECT COUNT(*) AS n FROM usage_records WHERE organization_id=${q(customer.orgId)}`)[0].n), n0 + 1);
    // Redis answers again: the charge (recorded as overdraft) reaches it, the reservation goes
    await waitFor(async () => (await request(origin(1), 'GET', '/readyz')).status === 200, { timeoutMs: 20000, intervalMs: 200 });
    const cost = () => BigInt(sql(`SELECT CAST(COALESCE(SUM(cost_nanousd),0) AS TEXT) AS v FROM usage_records WHERE organization_id=${q(customer.orgId)}`)[0].v);
    await waitFor(async () => {
      const b = await balance(1);
      return b.reserved === 0n && b.used === cost();
    }, { timeoutMs: 10000, intervalMs: 200 });
  });

  it('Redis killed: 503 within 5 s and /readyz names it; back (empty): rebuilt from the store, 200 within 15 s', async () => {
    const before = await balance(0);
    await stopProcess(redis, { signal: 'SIGKILL' });
    redis = null;
    await waitFor(async () => {
      const r = await request(origin(0), 'POST', '/v1/chat/completions', {
        key: customer.apiKey, json: { model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] },
      });
      return r.status === 503 && r.json?.error?.type === 'server_error';
    }, { timeoutMs: 5000, intervalMs: 100 });
    await waitFor(async () => {
      const r = await request(origin(1), 'GET', '/readyz');
      return r.status === 503 && r.json?.unavailable?.includes('redis');
    }, { timeoutMs: 5000, intervalMs: 100 });

    redis = await startRedis(redisPort); // empty: the instances rebuild it from PostgreSQL
    const t0 = Date.now();
    await waitFor(async () => (await request(origin(0), 'GET', '/readyz')).status === 200 &&
      (await request(origin(1), 'GET', '/readyz')).status === 200 &&
      (await request(origin(2), 'GET', '/readyz')).status === 200, { timeoutMs: 15000, intervalMs: 200 });
    const c = await client(0).chat.completions.create({ model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(c.object, 'chat.completion');
    assert.ok(Date.now() - t0 < 15000);
    // the balance came back from the store: what was used before, plus that one request
    const after = await balance(2);
    assert.equal(after.granted, before.granted);
    assert.equal(after.reserved, 0n);
    assert.ok(after.used > before.used && after.used - before.used < 1_000_000n, `used ${before.used} → ${after.used}`);
    for (const t of tgs.slice(0, 3)) assert.match(t.output.stderr, /redis: .*unreachable/);
    const lines = tgs[0].output.stderr.split('\n').filter((l) => /unreachable/.test(l));
    assert.ok(lines.length <= 2, `said once, not once per request: ${lines.length} lines`);
  });
});
