// Hardening (issue 14): what a client can do to the server's descriptors. With a soft
// RLIMIT_NOFILE of 256 and 400 idle sockets, the server must not spin on a failing accept()
// nor flood its log (it pauses accepting with a back-off and says so once per interval), and
// it serves again once the sockets go; --max-connections caps open connections the same way.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  Env, assertErrorResponse, TOLLGATE_BIN, makeTempDir, removeTempDir, tollgateInit, dbUrl, tollgateEnv, spawnAndWait, stopProcess, sleep, waitFor,
} from './harness.mjs';

/** user + system CPU seconds of a process (Linux /proc). */
function cpuSeconds(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100/s)
}

function openIdle(port, n) {
  return Promise.all(Array.from({ length: n }, () => new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.once('connect', () => resolve(s));
    setTimeout(() => resolve(s), 3000); // queued by the kernel: still a socket to close later
  })));
}

async function healthz(origin, ms = 1500) {
  try {
    const r = await fetch(`${origin}/healthz`, { signal: AbortSignal.timeout(ms) });
    return r.status;
  } catch {
    return 0;
  }
}

async function serve(dir, args, prefix = []) {
  const dbPath = path.join(dir, 't.db');
  await tollgateInit(dbPath);
  const bin = prefix.length ? prefix[0] : TOLLGATE_BIN;
  const argv = [...prefix.slice(1), ...(prefix.length ? [TOLLGATE_BIN] : []), 'serve', '--db', dbUrl(dbPath), '--listen', '127.0.0.1:0', '--log-format', 'text', ...args];
  const s = await spawnAndWait(bin, argv, { stream: 'stderr', pattern: /listening on http:\/\/127\.0\.0\.1:(\d+)/, name: 'tollgate', env: tollgateEnv() });
  return { ...s, port: Number(s.match[1]), origin: `http://127.0.0.1:${s.match[1]}` };
}

describe('hardening: descriptors and connections', () => {
  for (const [what, args, reason] of [
    ['the default cap (half the descriptors)', [], /the connection cap/],
    ['a cap above the descriptors', ['--max-connections', '100000'], /no file descriptor left/],
  ]) it(`out of descriptors with ${what}: no spinning, no flood, one line per interval, and it serves again`, async () => {
    const dir = makeTempDir();
    let srv;
    const socks = [];
    try {
      // the soft and the hard limit at 256: the server cannot raise it
      srv = await serve(dir, args, ['/usr/bin/prlimit', '--nofile=256:256']);
      assert.equal(await healthz(srv.origin), 200);
      const errBefore = srv.output.stderr.length;
      const cpu0 = cpuSeconds(srv.child.pid);
      socks.push(...await openIdle(srv.port, 400));
      await sleep(4000);
      const cpu = cpuSeconds(srv.child.pid) - cpu0;
      const written = srv.output.stderr.slice(errBefore);
      assert.ok(cpu < 0.5, `the server used ${cpu} CPU-seconds in 4 s while out of descriptors`);
      assert.ok(written.length < 16384, `it wrote ${written.length} bytes of log`);
      const lines = written.split('\n').filter((l) => /not accepting new connections/.test(l));
      assert.ok(lines.length >= 1 && lines.length <= 2, `one line per 10 s: ${lines.length}\n${written.slice(0, 2000)}`);
      assert.match(lines[0], reason);
      assert.doesNotMatch(written, /Error from accept/);
      for (const s of socks) s.destroy();
      await waitFor(async () => (await healthz(srv.origin, 500)) === 200, { timeoutMs: 8000, intervalMs: 200 });
    } finally {
      for (const s of socks) s.destroy();
      if (srv) await stopProcess(srv.child);
      removeTempDir(dir);
    }
  });

  it('--max-connections: beyond the cap a client waits or is closed; below it again, it is served', async () => {
    const dir = makeTempDir();
    let srv;
    const socks = [];
    try {
      srv = await serve(dir, ['--max-connections', '20']);
      socks.push(...await openIdle(srv.port, 20));
      await sleep(200);
      assert.equal(await healthz(srv.origin, 800), 0, 'the 21st connection is not served');
      await waitFor(() => /not accepting new connections for a while: the connection cap \(--max-connections\) \(\d+ open, the cap is 20/.test(srv.output.stderr), { timeoutMs: 3000 });
      for (const s of socks.splice(0, 5)) s.destroy();
      await waitFor(async () => (await healthz(srv.origin, 800)) === 200, { timeoutMs: 8000, intervalMs: 100 });
    } finally {
      for (const s of socks) s.destroy();
      if (srv) await stopProcess(srv.child);
      removeTempDir(dir);
    }
  });
});

// Numbers a client sends are checked before any conversion to an integer: a double out of
// int64_t's range converted first is undefined behaviour (the ASan/UBSan build, with
// float-cast-overflow, reports it, and Env.stop fails on any sanitizer report).
describe('hardening: numbers out of range', () => {
  let env;
  before(async () => { env = await Env.start(); });
  after(async () => { await env?.stop(); });

  it('huge, tiny and fractional integers get OpenAI\'s 400, nothing is converted first', async () => {
    const chat = (extra) => env.api('POST', '/v1/chat/completions', {
      body: `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],${extra}}`,
    });
    for (const [field, v] of [['max_tokens', '1e300'], ['max_tokens', '-1e300'], ['max_tokens', '1e19'],
      ['max_completion_tokens', '9.3e18'], ['n', '1e300'], ['n', '2.5']]) {
      const r = await chat(`"${field}":${v}`);
      assertErrorResponse(r, 400, { type: 'invalid_request_error', param: field }, `${field}=${v}`);
    }
    const big = await chat('"max_tokens":4503599627370496');
    assert.equal(big.status, 400, 'an integer too large for the model is a 400 too');
    for (const [p, body, param] of [
      [`/v1/organization/projects/${env.projectId}/rate_limits/rl-gpt-4o-mini`, '{"max_requests_per_1_minute":1e300}', 'max_requests_per_1_minute'],
      ['/v1/organization/spend_limit', '{"threshold_amount":-1e300}', 'threshold_amount'],
      [`/v1/organization/projects/${env.projectId}/api_keys`, '{"name":"k","expires_in_seconds":1e300}', 'expires_in_seconds'],
    ]) {
      const r = await env.request('POST', p, { key: env.adminKey, body });
      assertErrorResponse(r, 400, { param }, p);
    }
  });
});

// A JSON text is UTF-8 (RFC 8259). A body whose strings are not is refused whole — a project's
// name, an organisation's, a prompt alike — so nothing stored is ever echoed back as text that
// is not JSON.
describe('hardening: invalid UTF-8', () => {
  let env;
  before(async () => { env = await Env.start(); });
  after(async () => { await env?.stop(); });

  const raw = (parts) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));

  it('names and prompts that are not UTF-8 get 400 invalid_value and change nothing; UTF-8 passes', async () => {
    const before = await env.admin('GET', '/v1/organization/projects?limit=100');
    for (const bad of [[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe4, 0xb8], [0x80]]) {
      const p = await env.request('POST', '/v1/organization/projects', { key: env.adminKey, body: raw(['{"name":"x', bad, 'y"}']) });
      assertErrorResponse(p, 400, { type: 'invalid_request_error', code: 'invalid_value' }, JSON.stringify(bad));
      const o = await env.request('POST', '/v1/platform/organizations', { key: env.adminKey, body: raw(['{"name":"', bad, '"}']) });
      assertErrorResponse(o, 400, { code: 'invalid_value' });
      const c = await env.api('POST', '/v1/chat/completions', {
        body: raw(['{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi ', bad, '"}]}']),
      });
      assertErrorResponse(c, 400, { code: 'invalid_value' });
    }
    const after1 = await env.admin('GET', '/v1/organization/projects?limit=100');
    assert.equal(after1.json.data.length, before.json.data.length, 'no project was made');
    const orgs = await env.admin('GET', '/v1/platform/organizations?limit=100');
    assert.doesNotThrow(() => JSON.parse(orgs.text), 'the organisation list is JSON');
    // well-formed UTF-8 of every length is fine, escaped or not
    const ok = await env.request('POST', '/v1/organization/projects', { key: env.adminKey, body: raw(['{"name":"é 中文 😀 \\u00e9"}']) });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.name, 'é 中文 😀 é');
    const chat = await env.api('POST', '/v1/chat/completions', { json: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: '中文 😀' }] } });
    assert.equal(chat.status, 200, chat.text);
  });
});
