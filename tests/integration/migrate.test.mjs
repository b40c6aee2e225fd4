// tollgate migrate: a populated SQLite installation copied into PostgreSQL serves the same
// keys, balances, usage and console logins, and copying again changes nothing. Starts a
// private PostgreSQL server of its own (tools/pg_test_server.sh).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFile, execFileSync } from 'node:child_process';
import {
  Env, REPO, TOLLGATE_BIN, PG_URL, spawnAndWait, stopProcess, request, assertNoSanitizerReport,
} from './harness.mjs';

const EMAIL = 'owner@migrate.test';
const PASSWORD = 'a long enough password';

function run(args, env = process.env) {
  return execFileSync(TOLLGATE_BIN, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env, timeout: 120000 });
}

describe('migrate from SQLite to PostgreSQL', { skip: PG_URL ? 'the suite runs on PostgreSQL already' : false }, () => {
  let env;
  let pg;
  let pgUrl;
  let served;
  let masterKey;

  before(async () => {
    const out = execFileSync(path.join(REPO, 'tools/pg_test_server.sh'), ['start'], { encoding: 'utf8' }).trim();
    [pg] = [{ url: out.split(' ')[0], dir: out.split(' ')[1] }];
    pgUrl = pg.url.replace(/\/tollgate$/, '/migrated');
    execFileSync('psql', [pg.url, '-X', '-q', '-c', 'CREATE DATABASE migrated']);
    env = await Env.start({ initArgs: ['--email', EMAIL, '--password', PASSWORD] });
  });

  after(async () => {
    if (served) await stopProcess(served.child);
    await env?.stop();
    if (pg) execFileSync(path.join(REPO, 'tools/pg_test_server.sh'), ['stop', pg.dir]);
  });

  it('keys, balances, usage and logins survive the copy; a second copy adds nothing', async () => {
    // some state: a customer with credit and a spend limit, usage by the env's project key
    const org = await env.admin('POST', '/v1/platform/organizations', { name: 'Customer' });
    assert.equal(org.status, 200, org.text);
    const grant = await env.admin('POST', `/v1/platform/organizations/${org.json.id}/credit_grants`, { amount: 123 });
    assert.equal(grant.status, 200, grant.text);
    for (let i = 0; i < 3; i++) {
      const r = await env.api('POST', '/v1/chat/completions', { json: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `hi ${i}` }] } });
      assert.equal(r.status, 200, r.text);
    }
    const balanceBefore = (await env.admin('GET', '/v1/organization/billing/balance', undefined, { key: org.json.admin_key.value })).text;
    const usageBefore = env.sql('SELECT request_id, cost_nanousd FROM usage_records ORDER BY request_id');
    await env.killServer('SIGTERM');

    // the copy, with its progress and the way to the key
    masterKey = fs.readFileSync(`${env.dbPath}.key`, 'utf8').trim();
    const res = await new Promise((resolve) => {
      execFile(TOLLGATE_BIN, ['migrate', '--from', `sqlite:${env.dbPath}`, '--to', pgUrl],
        { encoding: 'utf8', env: { ...process.env, TOLLGATE_MASTER_KEY: '', TOLLGATE_SECRET_KEY: '' } },
        (err, stdout, stderr) => resolve({ err, stderr }));
    });
    assert.ifError(res.err);
    assert.ok(res.stderr.includes(`export TOLLGATE_MASTER_KEY=$(cat ${env.dbPath}.key)`), `how to serve it: ${res.stderr}`);
    const psql = (sql) => execFileSync('psql', [pgUrl, '-X', '-At', '-c', sql], { encoding: 'utf8' }).trim();
    assert.equal(psql('SELECT COUNT(*) FROM usage_records'), String(usageBefore.length));
    // a wrong key is refused before anything is copied
    assert.throws(() => run(['migrate', '--from', `sqlite:${env.dbPath}`, '--to', pgUrl], { ...process.env, TOLLGATE_MASTER_KEY: Buffer.alloc(32).toString('base64') }),
      /TOLLGATE_MASTER_KEY is not the key in .*\.key/);
    // again: idempotent
    run(['migrate', '--from', `sqlite:${env.dbPath}`, '--to', pgUrl], { ...process.env, TOLLGATE_MASTER_KEY: masterKey });
    assert.equal(psql('SELECT COUNT(*) FROM usage_records'), String(usageBefore.length));
    assert.equal(psql('SELECT COUNT(*) FROM credit_grants'), '1');

    // served from PostgreSQL with the same key
    served = await spawnAndWait(TOLLGATE_BIN, ['serve', '--listen', '127.0.0.1:0', '--db', pgUrl], {
      stream: 'stderr', pattern: /listening on http:\/\/127\.0\.0\.1:(\d+)/, name: 'tollgate(pg)',
      env: { ...process.env, TOLLGATE_MASTER_KEY: masterKey },
    });
    const origin = `http://127.0.0.1:${served.match[1]}`;
    const chat = await request(origin, 'POST', '/v1/chat/completions', { key: env.apiKey, json: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'after' }] } });
    assert.equal(chat.status, 200, `the project key and the sealed upstream key still work: ${chat.text}`);
    const balanceAfter = (await request(origin, 'GET', '/v1/organization/billing/balance', { key: org.json.admin_key.value })).text;
    assert.equal(balanceAfter, balanceBefore, 'the customer\'s balance is the same');
    const login = await request(origin, 'POST', '/console/api/login', { json: { email: EMAIL, password: PASSWORD } });
    assert.equal(login.status, 200, `the console login still works: ${login.text}`);
    const usage = JSON.parse(psql(`SELECT COALESCE(json_agg(t ORDER BY request_id), '[]') FROM (SELECT request_id, cost_nanousd FROM usage_records WHERE request_id IN (${usageBefore.map((u) => `'${u.request_id}'`).join(',')})) t`));
    assert.deepEqual(usage, usageBefore, 'every usage record with its cost');
    await stopProcess(served.child);
    assertNoSanitizerReport(served.output.stdout + served.output.stderr);
    served = null;
  });
});
