// The database goes away: inference requests are refused with 503 server_error (never served
// unmetered), /readyz names the database, the log says so once, and everything comes back by
// itself when the database does. Runs on a private PostgreSQL server that it kills.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import {
  Mock, REPO, TOLLGATE_BIN, UPSTREAM_KEY, spawnAndWait, stopProcess, request, waitFor, assertNoSanitizerReport,
} from './harness.mjs';

const PGS = path.join(REPO, 'tools/pg_test_server.sh');
const KEY = 'b2'.repeat(32);
const env = { ...process.env, TOLLGATE_SECRET_KEY: KEY };

describe('the database goes away and comes back', () => {
  let pg;
  let mock;
  let tg;
  let origin;
  let apiKey;

  before(async () => {
    const out = execFileSync(PGS, ['start'], { encoding: 'utf8' }).trim().split(' ');
    pg = { url: out[0], dir: out[1] };
    mock = await Mock.start();
    const init = JSON.parse(execFileSync(TOLLGATE_BIN, ['init', '--db', pg.url, '--json'], { encoding: 'utf8', env }));
    tg = await spawnAndWait(TOLLGATE_BIN, ['serve', '--listen', '127.0.0.1:0', '--db', pg.url], {
      stream: 'stderr', pattern: /listening on http:\/\/127\.0\.0\.1:(\d+)/, name: 'tollgate(pg)', env,
    });
    origin = `http://127.0.0.1:${tg.match[1]}`;
    const admin = (m, p, json) => request(origin, m, p, { key: init.admin_key, json });
    assert.equal((await admin('POST', '/v1/organization/providers', {
      name: 'mock', type: 'openai_compatible', base_url: mock.baseURL, api_key: UPSTREAM_KEY, models: [{ model: 'gpt-4o-mini' }],
    })).status, 200);
    const proj = await admin('POST', '/v1/organization/projects', { name: 'p' });
    const key = await admin('POST', `/v1/organization/projects/${proj.json.id}/api_keys`, { name: 'k' });
    apiKey = key.json.value;
  });

  after(async () => {
    if (tg) {
      await stopProcess(tg.child);
      assertNoSanitizerReport(tg.output.stdout + tg.output.stderr);
    }
    await mock?.stop();
    if (pg) execFileSync(PGS, ['stop', pg.dir]);
  });

  const chat = () => request(origin, 'POST', '/v1/chat/completions', {
    key: apiKey, json: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] },
  });

  it('503 and /readyz naming the database while it is down; 200 again once it is back', async () => {
    assert.equal((await chat()).status, 200);
    assert.equal((await request(origin, 'GET', '/readyz')).status, 200);

    execFileSync(PGS, ['kill', pg.dir]);
    await waitFor(async () => (await request(origin, 'GET', '/readyz')).status === 503, { timeoutMs: 5000, intervalMs: 100 });
    const ready = await request(origin, 'GET', '/readyz');
    assert.deepEqual(ready.json, { status: 'unavailable', unavailable: ['database'] });
    const refused = await chat();
    assert.equal(refused.status, 503, refused.text);
    assert.equal(refused.json.error.type, 'server_error');
    assert.equal(refused.json.error.code, null);
    assert.equal((await request(origin, 'GET', '/healthz')).status, 200, 'alive, only not ready');
    const before = (await mock.stats()).requests;
    for (let i = 0; i < 20; i++) assert.equal((await chat()).status, 503);
    assert.equal((await mock.stats()).requests, before, 'no refused request reached the upstream');

    execFileSync(PGS, ['resume', pg.dir]);
    await waitFor(async () => (await request(origin, 'GET', '/readyz')).status === 200, { timeoutMs: 15000, intervalMs: 200 });
    assert.equal((await chat()).status, 200, 'served again');
    // said once, not once per request
    const log = tg.output.stderr;
    assert.equal((log.match(/the database is unavailable/g) || []).length, 1, log);
    assert.match(log, /the database answers again/);
  });
});
