// SIGTERM drains: no new connection is accepted, /readyz says 503 "draining" on a connection
// that was already open, a stream in flight finishes (or, past --shutdown-timeout-ms, is ended
// with an error event and charged for what it produced), its usage row is written, the process
// exits 0. Under systemd (Type=notify) the server sends READY=1 and STOPPING=1 to $NOTIFY_SOCKET.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Env, makeTempDir, removeTempDir, waitFor, stopProcess, hup } from './harness.mjs';

/** A unix datagram socket that collects what is sent to it (node has no unix dgram: python3). */
async function notifySocket(dir) {
  const sock = path.join(dir, 'notify.sock');
  const py = 'import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\n' +
    'print("bound",flush=True)\nwhile True:\n  d=s.recv(4096)\n  print(d.decode().replace("\\n","|"),flush=True)\n';
  const proc = spawn('python3', ['-c', py, sock], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = [];
  let buf = '';
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  const ok = await waitFor(() => lines.includes('bound'), { timeoutMs: 5000 });
  assert.ok(ok, 'the notify socket is bound');
  return { path: sock, lines, stop: () => { proc.kill('SIGKILL'); } };
}

/** Starts a streamed chat of 200 tokens, 50 ms apart (mock:slow), and reads it to its end. */
async function slowStream(env) {
  const r = await fetch(`${env.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${env.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'mock:slow' }] }),
  });
  assert.equal(r.status, 200);
  const rid = r.headers.get('x-request-id');
  const reader = r.body.getReader();
  let text = '';
  const firstEvents = (async () => {
    while ((text.match(/\n\n/g) ?? []).length < 3) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
  })();
  await firstEvents;
  const rest = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return { text, ended: 'done' };
        text += new TextDecoder().decode(value);
      }
    } catch (e) {
      return { text, ended: `error ${e.message}` };
    }
  })();
  return { rid, rest };
}

const events = (text) => text.split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice(6));
const tokens = (text) => events(text).filter((d) => d !== '[DONE]').map((d) => JSON.parse(d))
  .reduce((s, c) => s + (c.choices?.[0]?.delta?.content ?? ''), '');

/** Connects and sends the start of a request, to be finished later (the server keeps it). */
async function halfRequest(port) {
  const s = net.connect(port, '127.0.0.1');
  await once(s, 'connect');
  s.write('GET /readyz HTTP/1.1\r\nHost: x\r\n');
  let got = '';
  s.on('data', (d) => { got += d.toString('latin1'); });
  const closed = once(s, 'close');
  return {
    finish: async () => { s.write('\r\n'); await closed; return got; },
  };
}

function connectRefused(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => { s.destroy(); resolve(false); });
    s.on('error', (e) => resolve(e.code === 'ECONNREFUSED'));
  });
}

describe('graceful drain on SIGTERM', () => {
  let dir;
  let notify;
  const saved = process.env.NOTIFY_SOCKET;

  before(async () => {
    dir = makeTempDir('tollgate-drain-');
    notify = await notifySocket(dir);
    process.env.NOTIFY_SOCKET = notify.path; // serve inherits it (harness tollgateEnv)
  });

  after(() => {
    if (saved === undefined) delete process.env.NOTIFY_SOCKET;
    else process.env.NOTIFY_SOCKET = saved;
    notify?.stop();
    removeTempDir(dir);
  });

  it('READY=1 when serving; on SIGTERM STOPPING=1, /readyz 503, no new connection, the stream finishes, exit 0', async () => {
    const env = await Env.start({ serveArgs: ['--shutdown-timeout-ms', '30000'] });
    try {
      assert.ok(await waitFor(() => notify.lines.includes('READY=1')), `READY=1 sent: ${JSON.stringify(notify.lines)}`);
      const ready = await env.request('GET', '/readyz');
      assert.equal(ready.status, 200, ready.text);

      const half = await halfRequest(env.port);
      const { rid, rest } = await slowStream(env);
      const t0 = Date.now();
      env.proc.kill('SIGTERM');
      const exit = once(env.proc, 'exit');
      assert.ok(await waitFor(() => notify.lines.includes('STOPPING=1')), `STOPPING=1 sent: ${JSON.stringify(notify.lines)}`);
      assert.ok(await waitFor(() => connectRefused(env.port), { timeoutMs: 3000 }), 'new connections are refused while draining');

      const answer = await half.finish();
      assert.match(answer, /^HTTP\/1\.1 503 /, `a load balancer's readiness check says no: ${answer}`);
      assert.match(answer, /connection: close/i);
      assert.match(answer, /"status":"draining"/);

      const got = await rest;
      assert.equal(got.ended, 'done', 'the stream ended normally');
      assert.equal(tokens(got.text), 'tok '.repeat(200), 'every token arrived');
      assert.equal(events(got.text).at(-1), '[DONE]');
      const [code, signal] = await exit;
      assert.equal(code, 0, `exit code 0 (signal ${signal})`);
      assert.ok(Date.now() - t0 < 25000, 'exited once the stream had finished');
      const row = env.usageRow(rid);
      assert.ok(row, 'the stream is recorded');
      assert.equal(row.status, 200);
      assert.equal(row.aborted, 0);
      assert.equal(row.output_tokens, 200);
      assert.match(env.logs(), /SIGTERM: stopping; 1 requests in flight, up to 30000 ms to finish/);
    } finally {
      await env.stop();
    }
  });

  it('a stream longer than shutdown-timeout-ms (lowered by a reload) is ended with an error event, charged for what it produced and recorded; exit 0', async () => {
    const conf = path.join(dir, 'drain.conf');
    fs.writeFileSync(conf, 'shutdown-timeout-ms = 30000\n');
    const env = await Env.start({ serveArgs: ['--config', conf] });
    try {
      fs.writeFileSync(conf, 'shutdown-timeout-ms = 1500\n');
      assert.match(await hup(env), /reload: shutdown-timeout-ms: 30000 -> 1500/);
      const { rid, rest } = await slowStream(env);
      const t0 = Date.now();
      const stopped = stopProcess(env.proc, { signal: 'SIGTERM', timeoutMs: 20000 });
      const got = await rest;
      const took = Date.now() - t0;
      assert.ok(took >= 1300 && took < 6000, `ended at the shutdown deadline (${took} ms)`);
      const ev = events(got.text);
      assert.equal(ev.at(-1), '[DONE]', 'the stream is closed properly');
      const err = JSON.parse(ev.at(-2));
      assert.equal(err.error?.type, 'server_error');
      assert.match(err.error?.message, /shutting down/);
      const produced = tokens(got.text).length / 4;
      assert.ok(produced >= 3 && produced < 200, `part of the answer arrived: ${produced} tokens`);
      const r = await stopped;
      assert.equal(r.forced, false);
      assert.equal(r.code, 0);
      assert.match(env.logs(), /SIGTERM: stopping; 1 requests in flight, up to 1500 ms to finish/);
      const row = env.usageRow(rid);
      assert.ok(row, 'the cut stream is recorded');
      assert.equal(row.aborted, 1);
      assert.equal(row.streamed, 1);
      assert.ok(row.output_tokens >= produced, `charged for what it produced: ${row.output_tokens} >= ${produced}`);
      assert.ok(row.cost_nanousd > 0);
      // the ledger's month spend, read again from the store at the next start, is that charge
      await env.restartServer();
      const tier = await env.admin('GET', '/v1/organization/usage_tier');
      const m = /"month_usage":(\d+)(?:\.(\d{1,9}))?/.exec(tier.text);
      assert.ok(m, tier.text);
      const spent = BigInt(m[1]) * 1000000000n + BigInt((m[2] ?? '').padEnd(9, '0'));
      assert.equal(spent, BigInt(row.cost_nanousd), `month spend ${tier.text} = the recorded cost ${row.cost_nanousd}`);
    } finally {
      await env.stop();
    }
  });
});


