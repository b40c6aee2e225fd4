// Secrets at rest: the upstream API keys and the webhook signing secrets are stored sealed under
// the master key ("v1:" key id ":" base64), never in plain text, in the database file and its
// WAL (or PostgreSQL's dump); plain-text rows from before are sealed at start; rotate-master-key
// moves them to a new key, after which only the new key starts a server; a wrong, missing or
// world-readable key is a one-line refusal to start. Runs on SQLite, and on PostgreSQL with
// TG_IT_PG_URL (make integration-pg).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

import {
  Env, PG_URL, TOLLGATE_BIN, UPSTREAM_KEY, databaseBytes, dbUrl, stopProcess, tollgateEnv,
  waitFor, sleep,
} from './harness.mjs';

const PLAIN_UPSTREAM = 'sk-plain-upstream-from-before-0123456789';
const PLAIN_WHSEC = 'whsec_plain_from_before_0123456789abcdef';

/** Runs tollgate; resolves {code, stdout, stderr} (never rejects on a non-zero exit). */
function run(args, env = tollgateEnv(), timeout = 20000) {
  return new Promise((resolve) => {
    execFile(TOLLGATE_BIN, args, { env, timeout, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code ?? err.signal) : 0, stdout, stderr });
    });
  });
}

/** serve must refuse to start: exit 1 with exactly one line on stderr matching re. */
async function refusesToStart(dbPath, extra, re, env = tollgateEnv()) {
  const r = await run(['serve', '--listen', '127.0.0.1:0', '--db', dbUrl(dbPath), ...extra], env);
  assert.equal(r.code, 1, `serve exits 1: ${r.code}\n${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stderr: ${r.stderr}`);
  assert.match(lines[0], /^tollgate: serve: /);
  assert.match(lines[0], re);
  assert.equal(r.stdout, '');
  return lines[0];
}

async function startReceiver() {
  const got = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { got, url: `http://127.0.0.1:${server.address().port}/hook`, close: () => new Promise((r) => server.close(r)) };
}

function verify(sigHeader, body, secret) {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(sigHeader ?? '');
  if (!m) return false;
  const mac = crypto.createHmac('sha256', secret).update(`${m[1]}.${body}`).digest('hex');
  return crypto.timingSafeEqual(Buffer.from(mac), Buffer.from(m[2]));
}

/** The stored secret column as text (it is ASCII once sealed). */
const asText = (col) => (PG_URL ? `encode(${col}, 'escape')` : `CAST(${col} AS TEXT)`);
/** A plain-text value written as an older release or a hand edit would have. */
const asBlob = (s) => (PG_URL ? `convert_to('${s}', 'UTF8')` : `CAST('${s}' AS BLOB)`);

/** The database file and its WAL (not the key file beside them), or PostgreSQL's dump. */
function storedBytes(dbPath) {
  if (PG_URL) return databaseBytes(dbPath);
  return [dbPath, `${dbPath}-wal`].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f));
}

function assertNotStored(dbPath, secrets) {
  const parts = storedBytes(dbPath);
  assert.ok(parts.length >= 1 && parts[0].length > 0, 'database contents found');
  for (const [i, bytes] of parts.entries()) {
    for (const [what, s] of Object.entries(secrets)) {
      assert.equal(bytes.indexOf(Buffer.from(s)), -1, `${what} stored in plain text (part ${i})`);
      assert.equal(bytes.indexOf(Buffer.from(s.slice(-16))), -1, `the tail of the ${what} stored in plain text (part ${i})`);
    }
  }
}

describe('secrets at rest', () => {
  let env, recv, alert, keyId;

  before(async () => {
    recv = await startReceiver();
    env = await Env.start({ models: ['gpt-4o-mini'] });
    // 5 output tokens × $1000 per 1M = 0.5 cent per request: an alert at 1 cent fires on the 2nd
    let r = await env.admin('POST', '/v1/organization/models/alert-model', { input_price: '0', output_price: '1000' });
    assert.equal(r.status, 200, r.text);
    r = await env.admin('POST', `/v1/organization/providers/${env.providerId}`, { models: [{ model: 'gpt-4o-mini' }, { model: 'alert-model' }] });
    assert.equal(r.status, 200, r.text);
  });

  after(async () => {
    await env?.stop();
    await recv?.close();
  });

  it('neither the upstream key nor the webhook secret is in the database files; inference still works', async () => {
    alert = await env.admin('POST', '/v1/organization/spend_alerts', {
      threshold_amount: 1, notification_channel: { type: 'webhook', url: recv.url },
    });
    assert.equal(alert.status, 200, alert.text);
    const whsec = alert.json.signing_secret;
    assert.match(whsec, /^whsec_/);

    const chat = await env.api('POST', '/v1/chat/completions', { json: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] } });
    assert.equal(chat.status, 200, chat.text);
    assert.equal((await env.mock.stats()).last_request.authorization, `Bearer ${UPSTREAM_KEY}`, 'the upstream got its key');

    assertNotStored(env.dbPath, { 'upstream key': UPSTREAM_KEY, 'webhook secret': whsec });
    // sealed in the v1 form, under the key whose id the database records
    keyId = env.sql('SELECT key_id FROM master_key')[0]?.key_id;
    assert.match(keyId ?? '', /^[0-9a-f]{8}$/, 'the master key id is recorded');
    for (const table of ['providers', 'spend_alerts']) {
      const rows = env.sql(`SELECT ${asText('secret')} AS s FROM ${table}`);
      assert.equal(rows.length, 1, table);
      assert.match(rows[0].s, new RegExp(`^v1:${keyId}:[A-Za-z0-9+/]+=*$`), `${table}.secret is sealed: ${rows[0].s.slice(0, 20)}…`);
    }
    if (!PG_URL) {
      const st = fs.statSync(`${env.dbPath}.key`);
      assert.equal(st.mode & 0o777, 0o600, 'the generated key file is 0600');
      assert.match(fs.readFileSync(`${env.dbPath}.key`, 'utf8'), /^[A-Za-z0-9+/]{43}=\n$/, 'base64 of 32 bytes');
    }
  });

  it('plain-text rows from before are sealed at start, and both secrets still work', async () => {
    await stopProcess(env.proc);
    // as a database from before key ids would hold them: plain text, no recorded key id
    env.sql(`UPDATE providers SET secret = ${asBlob(PLAIN_UPSTREAM)}`);
    env.sql(`UPDATE spend_alerts SET secret = ${asBlob(PLAIN_WHSEC)}`);
    env.sql('DELETE FROM master_key');
    await env.restartServer();
    assert.match(env.server.output.stderr, /secrets: sealed 2 plain-text and 0 older values under master key/);
    assert.equal(env.sql('SELECT key_id FROM master_key')[0]?.key_id, keyId, 'the same key, recorded again');
    assertNotStored(env.dbPath, { 'plain upstream key': PLAIN_UPSTREAM, 'plain webhook secret': PLAIN_WHSEC });
    for (const table of ['providers', 'spend_alerts']) {
      assert.match(env.sql(`SELECT ${asText('secret')} AS s FROM ${table}`)[0].s, new RegExp(`^v1:${keyId}:`), table);
    }

    const chat = await env.api('POST', '/v1/chat/completions', { json: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'after' }] } });
    assert.equal(chat.status, 200, chat.text);
    assert.equal((await env.mock.stats()).last_request.authorization, `Bearer ${PLAIN_UPSTREAM}`, 'the key from the plain row');
    // the alert signs with the secret from its plain row
    for (let i = 0; i < 3; i++) {
      const r = await env.api('POST', '/v1/chat/completions', { json: { model: 'alert-model', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] } });
      assert.equal(r.status, 200, r.text);
    }
    await waitFor(() => recv.got.length >= 1, { timeoutMs: 10000 });
    assert.equal(recv.got.length, 1, 'one notification');
    assert.ok(verify(recv.got[0].headers['tollgate-signature'], recv.got[0].body, PLAIN_WHSEC), 'signed with the migrated secret');
  });

  it('rotate-master-key: the new key serves, the old one is refused', async () => {
    await stopProcess(env.proc);
    const newKey = path.join(env.dir, 'new.key');
    // with every server stopped: the new key file is created
    const r = await run(['rotate-master-key', '--db', dbUrl(env.dbPath), '--new-master-key-file', newKey]);
    assert.equal(r.code, 0, `rotate: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /^Re-sealed 2 secrets in .* under master key [0-9a-f]{8} \(from .*new\.key\); master key [0-9a-f]{8} opens nothing there any more\./);
    assert.equal(fs.statSync(newKey).mode & 0o777, 0o600, 'the new key file is 0600');
    const newId = env.sql('SELECT key_id FROM master_key')[0].key_id;
    assert.notEqual(newId, keyId);
    assert.match(env.sql(`SELECT ${asText('secret')} AS s FROM providers`)[0].s, new RegExp(`^v1:${newId}:`));

    // the old key (PATH.key, or TOLLGATE_MASTER_KEY with PostgreSQL) no longer starts a server
    await refusesToStart(env.dbPath, [], new RegExp(`\\(id ${keyId}\\) is not the key that sealed the secrets in .* \\(id ${newId}\\)`));
    // the new one does, and the upstream still gets its key
    env.serveArgs = ['--master-key-file', newKey];
    await env.restartServer();
    const chat = await env.api('POST', '/v1/chat/completions', { json: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'rotated' }] } });
    assert.equal(chat.status, 200, chat.text);
    assert.equal((await env.mock.stats()).last_request.authorization, `Bearer ${PLAIN_UPSTREAM}`);
    // rotating while it runs is refused, and changes nothing
    const busy = await run(['rotate-master-key', '--db', dbUrl(env.dbPath), '--master-key-file', newKey, '--new-master-key-file', path.join(env.dir, 'newer.key')]);
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, /a `tollgate serve` is running on .*; stop every instance first/);
    assert.ok(!fs.existsSync(path.join(env.dir, 'newer.key')), 'no key file left behind');
    assert.equal(env.sql('SELECT key_id FROM master_key')[0].key_id, newId);
  });

  it('a wrong, absent, malformed or world-readable key is a one-line refusal to start', async () => {
    await stopProcess(env.proc);
    const other = path.join(env.dir, 'other.key');
    fs.writeFileSync(other, `${crypto.randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    await refusesToStart(env.dbPath, ['--master-key-file', other], /the master key from .*other\.key \(id [0-9a-f]{8}\) is not the key that sealed the secrets/);
    await refusesToStart(env.dbPath, ['--master-key-file', path.join(env.dir, 'absent.key')], /cannot read the master key file .*absent\.key: No such file or directory/);
    const open = path.join(env.dir, 'open.key');
    fs.copyFileSync(path.join(env.dir, 'new.key'), open);
    fs.chmodSync(open, 0o644);
    await refusesToStart(env.dbPath, ['--master-key-file', open], /the master key file .*open\.key is open to group or others \(mode 0644\); `chmod 600/);
    const junk = path.join(env.dir, 'junk.key');
    fs.writeFileSync(junk, 'not a key\n', { mode: 0o600 });
    await refusesToStart(env.dbPath, ['--master-key-file', junk], /does not hold a master key/);
    await refusesToStart(env.dbPath, [], /TOLLGATE_MASTER_KEY must be the base64 of 32 bytes/, tollgateEnv({ TOLLGATE_MASTER_KEY: 'short' }));
    if (PG_URL) {
      const { TOLLGATE_MASTER_KEY, TOLLGATE_SECRET_KEY, ...bare } = tollgateEnv();
      void TOLLGATE_MASTER_KEY; void TOLLGATE_SECRET_KEY;
      await refusesToStart(env.dbPath, [], /with PostgreSQL, give the master key with --master-key-file FILE or TOLLGATE_MASTER_KEY/, bare);
    } else {
      // the key file beside the database lost: never replaced by a new one
      fs.rmSync(`${env.dbPath}.key`);
      await refusesToStart(env.dbPath, [], /the master key file .*t\.db\.key is missing, but the secrets in .* are sealed with master key [0-9a-f]{8}: put the key file back/);
      assert.ok(!fs.existsSync(`${env.dbPath}.key`), 'no new key file was made');
    }
    // and the right one still starts (the harness stops it)
    await sleep(10);
    env.serveArgs = ['--master-key-file', path.join(env.dir, 'new.key')];
    await env.restartServer();
  });
});
