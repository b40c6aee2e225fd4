// tollgate backup / restore: a backup taken while serve handles requests is a consistent,
// self-contained copy; restored into a new place and served with the saved master key, its
// keys, balances and usage are all there. restore refuses to overwrite a database without
// --force, never pulls one from under a running serve, and checks a backup before using it.
// PostgreSQL is backed up with pg_dump (the command says so).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import {
  Env, PG_URL, TOLLGATE_BIN, UPSTREAM_KEY, sqliteJson, spawnAndWait, stopProcess, request,
  assertNoSanitizerReport,
} from './harness.mjs';

function run(args, env = process.env) {
  return new Promise((resolve) => {
    execFile(TOLLGATE_BIN, args, { env, timeout: 60000, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code ?? err.signal) : 0, stdout, stderr });
    });
  });
}

describe('backup and restore', { skip: PG_URL ? 'SQLite only (PostgreSQL: pg_dump, docs/operations.md)' : false }, () => {
  let env, customer, restored;

  before(async () => {
    env = await Env.start({ models: ['gpt-4o-mini'] });
  });

  after(async () => {
    if (restored) await stopProcess(restored.child);
    await env?.stop();
  });

  it('a backup taken under load restores into a new place with keys, balances and usage', async () => {
    // state: a customer with credit, usage by the env's project key
    customer = await env.admin('POST', '/v1/platform/organizations', { name: 'Customer' });
    assert.equal(customer.status, 200, customer.text);
    const grant = await env.admin('POST', `/v1/platform/organizations/${customer.json.id}/credit_grants`, { amount: 42 });
    assert.equal(grant.status, 200, grant.text);
    const chat = (content) => env.api('POST', '/v1/chat/completions', { json: { model: 'gpt-4o-mini', messages: [{ role: 'user', content }] } });
    for (let i = 0; i < 5; i++) assert.equal((await chat(`before ${i}`)).status, 200);
    const balanceBefore = (await env.admin('GET', '/v1/organization/billing/balance', undefined, { key: customer.json.admin_key.value })).json;
    const before = env.sql('SELECT request_id, cost_nanousd FROM usage_records ORDER BY request_id');
    assert.equal(before.length, 5);

    // requests keep coming (and being recorded) while the backup runs
    let stop = false, sent = 0, failed = 0;
    const load = Promise.all([0, 1, 2].map(async (w) => {
      while (!stop) {
        const r = await chat(`during ${w} ${sent}`);
        sent++;
        if (r.status !== 200) failed++;
      }
    }));
    while (sent < 6) await new Promise((r) => setTimeout(r, 10));
    const backupFile = path.join(env.dir, 'backup.db');
    const b = await run(['backup', '--db', `sqlite:${env.dbPath}`, '--to', backupFile]);
    const sentAtEnd = sent;
    while (sent < sentAtEnd + 6) await new Promise((r) => setTimeout(r, 10));
    stop = true;
    await load;
    assert.equal(failed, 0, 'no request failed during the backup');
    assert.equal(b.code, 0, `backup: ${b.stdout}${b.stderr}`);
    assert.match(b.stdout, /^Backed up .*t\.db to .*backup\.db \(\d+ bytes, integrity ok/);
    const keyId = env.sql('SELECT key_id FROM master_key')[0].key_id;
    assert.match(b.stdout, new RegExp(`Its secrets are sealed with master key ${keyId}\\.`));
    assert.match(b.stdout, /The master key is not in the backup: keep a copy of .*t\.db\.key/);
    // one self-contained file: no WAL beside it, and it reads on its own
    assert.ok(!fs.existsSync(`${backupFile}-wal`), 'no WAL beside the backup');
    assert.ok(!fs.readdirSync(env.dir).some((f) => f.includes('.tmp-')), 'no temporary file left');
    const inBackup = sqliteJson(backupFile, 'SELECT request_id, cost_nanousd FROM usage_records ORDER BY request_id');
    assert.ok(inBackup.length >= 5 + 6, `the backup has the usage up to when it ran: ${inBackup.length}`);
    for (const u of before) assert.ok(inBackup.some((x) => x.request_id === u.request_id && x.cost_nanousd === u.cost_nanousd), `usage ${u.request_id} in the backup`);
    assert.equal(sqliteJson(backupFile, 'PRAGMA integrity_check')[0].integrity_check, 'ok');

    // restored into a new place, served with the saved master key
    const dir2 = path.join(env.dir, 'restored');
    fs.mkdirSync(dir2);
    const db2 = path.join(dir2, 'r.db');
    const r = await run(['restore', '--from', backupFile, '--db', `sqlite:${db2}`]);
    assert.equal(r.code, 0, `restore: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /^Restored .*backup\.db into .*r\.db \(\d+ bytes, integrity ok\)\./);
    assert.match(r.stdout, new RegExp(`master key ${keyId}`));
    assert.match(r.stdout, /copy the key file saved with the backup to .*r\.db\.key/);
    // without its key, that database does not start (no new key is made for it)
    const nokey = await run(['serve', '--listen', '127.0.0.1:0', '--db', `sqlite:${db2}`]);
    assert.equal(nokey.code, 1);
    assert.match(nokey.stderr, /r\.db\.key is missing, but the secrets in .* are sealed with master key/);
    fs.copyFileSync(`${env.dbPath}.key`, `${db2}.key`);
    fs.chmodSync(`${db2}.key`, 0o600);
    restored = await spawnAndWait(TOLLGATE_BIN, ['serve', '--listen', '127.0.0.1:0', '--db', `sqlite:${db2}`], {
      stream: 'stderr', pattern: /listening on http:\/\/127\.0\.0\.1:(\d+)/, name: 'tollgate(restored)',
    });
    const origin = `http://127.0.0.1:${restored.match[1]}`;
    const balanceAfter = (await request(origin, 'GET', '/v1/organization/billing/balance', { key: customer.json.admin_key.value })).json;
    assert.deepEqual(balanceAfter, balanceBefore, 'the customer\'s balance is the same');
    const usage = sqliteJson(db2, 'SELECT request_id, cost_nanousd FROM usage_records ORDER BY request_id');
    assert.deepEqual(usage, inBackup, 'every usage record of the backup');
    await env.mock.reset();
    const after = await request(origin, 'POST', '/v1/chat/completions', { key: env.apiKey, json: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'restored' }] } });
    assert.equal(after.status, 200, `the project key and the sealed upstream key work: ${after.text}`);
    assert.equal((await env.mock.stats()).last_request.authorization, `Bearer ${UPSTREAM_KEY}`);
    const admin = await request(origin, 'GET', '/v1/organization/projects', { key: env.adminKey });
    assert.equal(admin.status, 200, 'the admin key works');

    // a running serve's database is never replaced, even with --force
    const busy = await run(['restore', '--from', backupFile, '--db', `sqlite:${db2}`, '--force']);
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, /^tollgate: restore: a `tollgate serve` is running on .*r\.db; stop it first\n$/);
    await stopProcess(restored.child);
    assertNoSanitizerReport(restored.output.stdout + restored.output.stderr);
    restored = null;
  });

  it('restore refuses an existing database without --force, and a damaged backup always', async () => {
    const backupFile = path.join(env.dir, 'backup.db');
    const db2 = path.join(env.dir, 'restored', 'r.db');
    const before = fs.readFileSync(db2);
    const r = await run(['restore', '--from', backupFile, '--db', `sqlite:${db2}`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^tollgate: restore: .*r\.db exists; restore replaces a database only with --force/);
    // a damaged backup: refused, the database untouched
    const bad = path.join(env.dir, 'bad.db');
    const bytes = fs.readFileSync(backupFile);
    for (let i = 8192; i < bytes.length; i += 4096) bytes.fill(0x5a, i + 100, i + 400);
    fs.writeFileSync(bad, bytes);
    const d = await run(['restore', '--from', bad, '--db', `sqlite:${db2}`, '--force']);
    assert.equal(d.code, 1);
    assert.match(d.stderr, /^tollgate: restore: .*bad\.db (fails PRAGMA integrity_check|is not a Tollgate database)/);
    assert.ok(fs.readFileSync(db2).equals(before), 'the database is untouched');
    const notdb = await run(['restore', '--from', `${env.dbPath}.key`, '--db', `sqlite:${path.join(env.dir, 'x.db')}`]);
    assert.equal(notdb.code, 1);
    assert.ok(!fs.existsSync(path.join(env.dir, 'x.db')), 'nothing created');
    // with --force and no serve: replaced
    const f = await run(['restore', '--from', backupFile, '--db', `sqlite:${db2}`, '--force']);
    assert.equal(f.code, 0, f.stderr);
    assert.equal(sqliteJson(db2, 'PRAGMA integrity_check')[0].integrity_check, 'ok');
    // backup refuses to overwrite its target without --force
    const again = await run(['backup', '--db', `sqlite:${env.dbPath}`, '--to', backupFile]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /backup\.db exists; give another file, or --force to replace it/);
  });

  it('a PostgreSQL URL is answered with pg_dump / pg_restore', async () => {
    for (const args of [['backup', '--db', 'postgres://u@127.0.0.1:1/db', '--to', '/tmp/x'], ['restore', '--from', '/tmp/x', '--db', 'postgres://u@127.0.0.1:1/db']]) {
      const r = await run(args);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^tollgate: (backup|restore): back up PostgreSQL with `pg_dump -Fc` and restore with `pg_restore` \(see docs\/operations\.md\)\n$/);
    }
  });
});
