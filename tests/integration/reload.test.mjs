// SIGHUP: `serve --config FILE` is re-read (options that can change live do, the others say they
// need a restart, a bad file is refused with its line and changes nothing) and so are the data
// files (models.json, tiers.json, in a copy of the data directory named by TOLLGATE_DATA_DIR),
// without dropping a connection or a stream.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Env, REPO, MOCK_CONTENT, TOLLGATE_BIN, makeTempDir, removeTempDir, waitFor, exited, assertErrorResponse, hup, tollgateInit, dbUrl, tollgateEnv, spawnAndWait, stopProcess, PG_URL, PG_MASTER_KEY } from './harness.mjs';

/** The master key of the database at dbPath as a file (SQLite: the one `init` made beside it). */
function masterKeyFile(dbPath) {
  if (!PG_URL && fs.existsSync(`${dbPath}.key`)) return `${dbPath}.key`;
  const f = `${dbPath}.master.key`;
  fs.writeFileSync(f, `${PG_MASTER_KEY}\n`, { mode: 0o600 });
  return f;
}

const slowStream = (client) => client.chat.completions.create({
  model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true },
  messages: [{ role: 'user', content: 'a long one mock:slow' }],
}).withResponse();

async function readAll(stream) {
  let text = '';
  let finish = null;
  let usage = null;
  for await (const c of stream) {
    text += c.choices?.[0]?.delta?.content ?? '';
    finish = c.choices?.[0]?.finish_reason ?? finish;
    if (c.usage) usage = c.usage;
  }
  return { text, finish, usage };
}

async function signupMode(env) {
  const r = await env.request('GET', '/console/api/config');
  assert.equal(r.status, 200, r.text);
  return r.json.signup;
}

/** A chat call whose upstream never answers: the upstream timeout decides when it ends. */
async function hang(env) {
  const t0 = Date.now();
  const r = await env.api('POST', '/v1/chat/completions', { json: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'mock:hang' }] } });
  return { r, took: Date.now() - t0 };
}

describe('SIGHUP reload', () => {
  let env;
  let dir;
  let conf;
  let data;
  const savedDataDir = process.env.TOLLGATE_DATA_DIR;

  const writeConf = (lines) => fs.writeFileSync(conf, lines.join('\n') + '\n');

  before(async () => {
    dir = makeTempDir('tollgate-reload-');
    data = path.join(dir, 'data');
    fs.mkdirSync(data);
    for (const f of ['models.json', 'tiers.json']) fs.copyFileSync(path.join(REPO, 'data', f), path.join(data, f));
    fs.symlinkSync(path.join(REPO, 'data', 'tokenizer'), path.join(data, 'tokenizer'));
    process.env.TOLLGATE_DATA_DIR = data; // init and serve inherit it (harness tollgateEnv)
    conf = path.join(dir, 'tollgate.conf');
    writeConf(['# the first configuration', 'upstream-timeout-ms = 600000', 'signup = invite', 'log-level = info']);
    env = await Env.start({ serveArgs: ['--config', conf, '--log-format', 'text'] }); // the lines below are read as text
  });

  after(async () => {
    if (savedDataDir === undefined) delete process.env.TOLLGATE_DATA_DIR;
    else process.env.TOLLGATE_DATA_DIR = savedDataDir;
    await env?.stop();
    removeTempDir(dir);
  });

  it('applies --upstream-timeout-ms and --signup live; a stream opened before the reload finishes intact', async () => {
    assert.equal(await signupMode(env), 'invite');
    const client = env.client();
    const { data: stream, response } = await slowStream(client); // ~10 s of tokens
    const rid = response.headers.get('x-request-id');
    const reading = readAll(stream);

    writeConf(['# shorter upstream timeout, open sign-up', 'upstream-timeout-ms = 1000', 'signup = open', 'log-level = info']);
    const log = await hup(env);
    assert.match(log, /reload: upstream-timeout-ms: 600000 -> 1000/);
    assert.match(log, /reload: signup: invite -> open/);
    assert.doesNotMatch(log, /log-level/, 'an unchanged option is not reported');
    assert.equal(await signupMode(env), 'open', 'the sign-up mode changed without a restart');

    const { r, took } = await hang(env);
    assertErrorResponse(r, 504, { type: 'server_error' }, 'the new upstream timeout');
    assert.ok(took >= 900 && took < 8000, `ended by the new 1 s upstream timeout (took ${took} ms)`);

    // the stream began under the old timeout (10 min) and outlives the new one (1 s)
    const got = await reading;
    assert.equal(got.text, 'tok '.repeat(200), 'every token of the stream arrived');
    assert.equal(got.finish, 'stop');
    assert.equal(got.usage?.completion_tokens, 200);
    const row = await waitFor(() => env.usageRow(rid));
    assert.equal(row.status, 200);
    assert.equal(row.aborted, 0);
    assert.equal(row.output_tokens, 200);

    // the SDK's keep-alive connection from before the reload still serves
    const c = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(c.choices[0].message.content, MOCK_CONTENT);
  });

  it('a bad file is refused with its line number, and the running values stay', async () => {
    for (const [lines, why] of [
      [['upstream-timeout-ms = 2000', 'signup = closed', 'idle-timeout-ms = soon'], /:3: --idle-timeout-ms must be an integer from 100 to 86400000/],
      [['upstream-timeout-ms = 2000', 'no-such-option = 1'], /:2: unknown option `no-such-option`/],
      [['upstream-timeout-ms = 2000', 'signup = maybe'], /:2: --signup must be open, invite or closed/],
      [['signup = closed', 'upstream-timeout-ms = 2000', 'signup = open'], /:3: `signup` is already set on line 1/],
      [['signup closed'], /:1: expected `option = value`/],
      [['config = /etc/other.conf'], /:1: --config cannot be nested/],
      [['signup ='], /:1: `signup` has no value/],
      [['signup = open', `smtp-from = ${'a'.repeat(5000)}`], /:2: line longer than 4096 bytes/],
      [['signup = op\0en'], /:1: NUL byte in the line/],
    ]) {
      writeConf(lines);
      const log = await hup(env);
      assert.match(log, /error reload refused: .*tollgate\.conf/, log);
      assert.match(log, why, log);
      assert.match(log, /the running configuration stays/);
      assert.doesNotMatch(log, /reload: (signup|upstream-timeout-ms):/, 'nothing of a refused file applies');
      assert.ok(!exited(env.proc), 'still running');
      assert.equal(await signupMode(env), 'open', 'the running sign-up mode stays');
    }
    const { r, took } = await hang(env);
    assertErrorResponse(r, 504, { type: 'server_error' });
    assert.ok(took < 1900, `the running 1 s upstream timeout stays (took ${took} ms)`);

    // a file that cannot be read at all
    fs.renameSync(conf, `${conf}.away`);
    const log = await hup(env);
    assert.match(log, /reload refused: cannot read --config .*tollgate\.conf: No such file or directory/);
    fs.renameSync(`${conf}.away`, conf);
    await env.assertAlive();
  });

  it('an option that cannot change live is reported as needing a restart and keeps its running value', async () => {
    writeConf(['upstream-timeout-ms = 1000', 'signup = open', 'workers = 7', 'payments = stripe', 'breaker-failures = 9']);
    const log = await hup(env);
    assert.match(log, /warn reload: workers: \d+ -> 7 needs a restart; keeping \d+ until then/);
    assert.match(log, /warn reload: payments: test -> stripe needs a restart; keeping test until then/);
    assert.match(log, /info reload: breaker-failures: 5 -> 9/);
    const cfg = await env.request('GET', '/console/api/config');
    assert.equal(cfg.json.payments.provider, 'test', 'payments stay as started');
    const c = await env.client().chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(c.choices[0].message.content, MOCK_CONTENT);
  });

  it('the command line overrides the file, and the log says so', async () => {
    writeConf(['upstream-timeout-ms = 1000', 'signup = open', 'listen = 127.0.0.1:1']);
    const log = await hup(env);
    assert.match(log, /tollgate\.conf:3: `listen` is overridden by --listen on the command line/);
    assert.doesNotMatch(log, /reload: listen/);
    await env.assertAlive();
  });

  it('a changed models.json applies: new models are added, changed prices apply unless changed through the Admin API', async () => {
    const models = async () => {
      const out = {};
      for (const id of ['gpt-4o-mini', 'gpt-4o', 'gpt-reload-test']) {
        const r = await env.admin('GET', `/v1/organization/models/${id}`);
        assert.ok(r.status === 200 || r.status === 404, r.text);
        if (r.status === 200) out[id] = r.json;
      }
      return out;
    };
    const before = await models();
    assert.ok(before['gpt-4o-mini'], 'gpt-4o-mini is in the table');
    assert.equal(before['gpt-reload-test'], undefined);
    // the operator sets gpt-4o's price by hand: the file must not overwrite it
    const own = await env.admin('POST', '/v1/organization/models/gpt-4o', { input_price: '7' });
    assert.equal(own.status, 200, own.text);

    const file = path.join(data, 'models.json');
    const table = JSON.parse(fs.readFileSync(file, 'utf8'));
    const mini = table.models.find((m) => m.id === 'gpt-4o-mini');
    mini.input_price = '0.3';
    table.models.find((m) => m.id === 'gpt-4o').input_price = '3';
    table.models.push({ ...mini, id: 'gpt-reload-test', input_price: '1.25' });
    table.models.sort((a, b) => (a.id < b.id ? -1 : 1));
    fs.writeFileSync(file, JSON.stringify(table, null, 2));
    const log = await hup(env);
    assert.match(log, /models\.json: gpt-4o-mini updated/);
    assert.match(log, /models\.json: gpt-reload-test added/);
    assert.match(log, /models\.json: gpt-4o was changed through the Admin API; keeping the database's row/);

    const after = await models();
    assert.equal(Number(after['gpt-4o-mini'].input_price), 0.3, JSON.stringify(after['gpt-4o-mini']));
    assert.equal(Number(after['gpt-reload-test'].input_price), 1.25);
    assert.equal(Number(after['gpt-4o'].input_price), 7, 'the Admin API price stays');

    // the new price is what a request costs now
    const { response } = await env.client().chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'price me' }] }).withResponse();
    const row = await waitFor(() => env.usageRow(response.headers.get('x-request-id')));
    assert.equal(row.cost_nanousd, row.input_tokens * 300 + row.output_tokens * Number(mini.output_price) * 1000);

    // a broken file is refused; the models stay
    fs.writeFileSync(file, '{"models": [');
    const bad = await hup(env);
    assert.match(bad, /models\.json refused; the models in force stay/);
    assert.equal(Number((await models())['gpt-4o-mini'].input_price), 0.3);
  });

  it('a changed tiers.json applies, a broken one is refused', async () => {
    const tierName = async () => {
      const r = await env.admin('GET', '/v1/organization/usage_tier');
      assert.equal(r.status, 200, r.text);
      return r.json.name;
    };
    assert.equal(await tierName(), 'Tier 5');
    const file = path.join(data, 'tiers.json');
    const table = JSON.parse(fs.readFileSync(file, 'utf8'));
    table.tiers.find((t) => t.id === 'tier_5').name = 'Tier Five';
    fs.writeFileSync(file, JSON.stringify(table));
    const log = await hup(env);
    assert.match(log, /tiers\.json: changed; requests from now on use it/);
    assert.equal(await tierName(), 'Tier Five');

    fs.writeFileSync(file, 'not json');
    const bad = await hup(env);
    assert.match(bad, /tiers\.json refused; the tier table in force stays/);
    assert.equal(await tierName(), 'Tier Five');
    await env.assertAlive();
  });
});

describe('the config file holds every option', () => {
  it('each option of serve --help is accepted in the file, and serve runs from the file alone', async (t) => {
    const help = execFileSync(TOLLGATE_BIN, ['serve', '--help'], { encoding: 'utf8' });
    const names = [...new Set([...help.matchAll(/^\s+--([a-z-]+)/gm)].map((m) => m[1]))].filter((n) => n !== 'config' && n !== 'help');
    assert.ok(names.length >= 20, `options in --help: ${names}`);
    const dir = makeTempDir('tollgate-conf-');
    try {
      const dbPath = path.join(dir, 't.db');
      await tollgateInit(dbPath);
      const cert = path.join(dir, 'c.pem');
      const key = path.join(dir, 'k.pem');
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
      const values = {
        listen: '127.0.0.1:0', db: dbUrl(dbPath), redis: 'redis://127.0.0.1:1', workers: '1', 'max-connections': '1000',
        'max-body-bytes': '2048', 'max-header-bytes': '4096', 'upstream-timeout-ms': '5000',
        'idle-timeout-ms': '5000', 'breaker-failures': '3', 'breaker-cooldown-ms': '1000',
        'shutdown-timeout-ms': '1000', 'log-level': 'debug', 'smtp-url': 'smtp://127.0.0.1:1',
        'smtp-from': 'ops@example.test', 'alert-retry-ms': '10', payments: 'test',
        'stripe-url': 'https://api.stripe.com', 'stripe-key': 'sk_test_x', 'stripe-webhook-secret': 'whsec_x',
        'stripe-publishable-key': 'pk_test_x', signup: 'closed', 'tls-cert': cert, 'tls-key': key,
        'log-format': 'json', 'access-log': 'off', 'master-key-file': masterKeyFile(dbPath),
      };
      for (const n of names) assert.ok(n in values, `--${n} has a value in this test's file`);
      const conf = path.join(dir, 'all.conf');
      const write = (skip) => fs.writeFileSync(conf, names.filter((n) => !skip.includes(n)).map((n) => `${n} = ${values[n]}`).join('\n') + '\n');
      // --redis needs PostgreSQL: on SQLite the file's redis is read and refused for that reason
      if (!PG_URL) {
        write([]);
        let err = '';
        try { execFileSync(TOLLGATE_BIN, ['serve', '--config', conf], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: tollgateEnv(), timeout: 10000 }); } catch (e) { err = e.stderr; }
        assert.match(err, /--redis shares limits between instances on one PostgreSQL/);
      }
      write(['redis']);
      const { child } = await spawnAndWait(TOLLGATE_BIN, ['serve', '--config', conf], { stream: 'stderr', pattern: /listening on https:\/\/127\.0\.0\.1:\d+ \(1 workers/, name: 'tollgate', env: tollgateEnv() });
      const r = await stopProcess(child);
      assert.equal(r.code, 0);
    } finally {
      removeTempDir(dir);
    }
  });
});
