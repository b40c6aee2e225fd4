// HTTPS: `serve --tls-cert FILE --tls-key FILE` with a self-signed certificate made here by the
// openssl CLI. The official SDK (in a child node, trusting the certificate through
// NODE_EXTRA_CA_CERTS, as a user would) makes a chat call and a streamed call; the handshake has
// the modern defaults (TLS 1.2+, ALPN http/1.1); SIGHUP replaces the certificate for new
// connections while an open one keeps working, and a bad certificate is refused.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { Env, MOCK_CONTENT, TOLLGATE_BIN, dbUrl, tollgateEnv, exited, stopProcess, hup } from './harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** A self-signed certificate for 127.0.0.1 (its own CA): {cert, key} paths under dir/name. */
function makeCert(dir, name, cn) {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${cn}`,
    '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  return { cert, key };
}

const fingerprint = (pem) => new crypto.X509Certificate(pem).fingerprint256;

/** The certificate a new TLS connection gets, plus what was negotiated. */
function handshake(port, opts = {}) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['h2', 'http/1.1'], ...opts }, () => {
      const c = s.getPeerX509Certificate();
      const out = { fingerprint: c?.fingerprint256, alpn: s.alpnProtocol, version: s.getProtocol(), cipher: s.getCipher()?.name };
      s.end();
      resolve(out);
    });
    s.on('error', reject);
  });
}

/** The official SDK in a child node that trusts `ca` (NODE_EXTRA_CA_CERTS): a chat call and a
 * streamed one. Resolves with what it printed, or rejects with its error output. */
function sdkChild(baseURL, apiKey, ca) {
  const script = `
    import OpenAI from 'openai';
    const client = new OpenAI({ apiKey: process.env.KEY, baseURL: process.env.BASE, maxRetries: 0, timeout: 30000 });
    const messages = [{ role: 'user', content: 'hello over TLS' }];
    const chat = await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true, stream_options: { include_usage: true } });
    let streamed = '', usage = null, chunks = 0;
    for await (const c of stream) { chunks++; streamed += c.choices[0]?.delta?.content ?? ''; if (c.usage) usage = c.usage; }
    console.log(JSON.stringify({ content: chat.choices[0].message.content, usage: chat.usage, streamed, chunks, streamUsage: usage }));
  `;
  const env = { ...process.env, KEY: apiKey, BASE: baseURL };
  if (ca) env.NODE_EXTRA_CA_CERTS = ca;
  else delete env.NODE_EXTRA_CA_CERTS;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { cwd: HERE, env, timeout: 60000 }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(new Error(`${err.message}\n${stderr}`), { stderr }));
      else resolve(JSON.parse(stdout));
    });
  });
}

describe('HTTPS (--tls-cert, --tls-key)', () => {
  let env;
  let dir;
  let first;
  let agent;

  before(async () => {
    // set up over plain HTTP, then serve the same database over HTTPS
    env = await Env.start({ initArgs: ['--email', 'owner@tls.test', '--password', 'correct-horse-9'] });
    dir = env.dir;
    first = makeCert(dir, 'first', 'tollgate-first');
    await stopProcess(env.proc);
    env.serveArgs = ['--tls-cert', first.cert, '--tls-key', first.key];
    await env.restartServer();
    agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: fs.readFileSync(first.cert) });
  });

  after(async () => {
    agent?.destroy();
    await env?.stop();
  });

  it('logs https:// and serves the certificate with TLS 1.2+ and ALPN http/1.1', async () => {
    assert.match(env.origin, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(env.logs(), /listening on https:\/\/127\.0\.0\.1:\d+/);
    const h = await handshake(env.port);
    assert.equal(h.fingerprint, fingerprint(fs.readFileSync(first.cert)));
    assert.equal(h.alpn, 'http/1.1', 'ALPN picks http/1.1 over h2');
    assert.match(h.version, /^TLSv1\.[23]$/);
    await assert.rejects(handshake(env.port, { maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }), 'TLS 1.1 is refused');
    await assert.rejects(handshake(env.port, { ALPNProtocols: ['h2'] }), 'a client that speaks only h2 is told no');
    // a plain-HTTP request to the TLS port gets no HTTP answer
    const plain = await fetch(`http://127.0.0.1:${env.port}/healthz`).then((r) => r.status, () => 'failed');
    assert.equal(plain, 'failed');
  });

  it('the official SDK makes a chat call and a streamed call over HTTPS', async () => {
    const out = await sdkChild(env.baseURL, env.apiKey, first.cert);
    assert.equal(out.content, MOCK_CONTENT);
    assert.equal(out.usage.completion_tokens, 5);
    assert.equal(out.streamed, MOCK_CONTENT);
    assert.ok(out.chunks >= 6, `several chunks: ${out.chunks}`);
    assert.equal(out.streamUsage?.completion_tokens, 5);
    assert.equal(env.usageCount(), 2, 'both calls recorded');
    // and without trusting the certificate, the SDK refuses the server
    const err = await sdkChild(env.baseURL, env.apiKey, null).then(() => null, (e) => e);
    assert.ok(err, 'an untrusted self-signed certificate fails');
    assert.match(err.stderr, /Connection error|self[- ]signed|certificate/i);
  });

  it('SIGHUP loads a new certificate for new connections; an open connection keeps working; a bad one is refused', async () => {
    const get = (p) => new Promise((resolve, reject) => {
      const req = https.get({ host: '127.0.0.1', port: env.port, path: p, agent }, (res) => {
        let body = '';
        res.on('data', (d) => { body += d; });
        res.on('end', () => resolve({ status: res.statusCode, body, reused: req.reusedSocket }));
      });
      req.on('error', reject);
    });
    const a = await get('/healthz');
    assert.equal(a.status, 200);

    // a new key and certificate at the same paths
    const second = makeCert(dir, 'second', 'tollgate-second');
    fs.copyFileSync(second.cert, first.cert);
    fs.copyFileSync(second.key, first.key);
    const log = await hup(env);
    assert.match(log, /reload: TLS certificate .*first\.crt: sha256 [0-9a-f]{16}… -> [0-9a-f]{16}…/);
    const h = await handshake(env.port);
    assert.equal(h.fingerprint, fingerprint(fs.readFileSync(second.cert)), 'new connections get the new certificate');

    const b = await get('/healthz'); // the connection accepted before the reload
    assert.equal(b.status, 200);
    assert.equal(b.reused, true, 'the same kept-alive connection');

    const out = await sdkChild(env.baseURL, env.apiKey, second.cert);
    assert.equal(out.content, MOCK_CONTENT, 'the SDK trusts the new certificate');

    // a broken certificate, then a key that does not match: refused, the second stays
    fs.writeFileSync(first.cert, '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
    let bad = await hup(env);
    assert.match(bad, /reload refused: cannot load the certificate .*first\.crt/);
    const other = makeCert(dir, 'other', 'tollgate-other');
    fs.copyFileSync(second.cert, first.cert);
    fs.copyFileSync(other.key, first.key);
    bad = await hup(env);
    assert.match(bad, /reload refused: .*(private key|key values mismatch)/);
    assert.equal((await handshake(env.port)).fingerprint, fingerprint(fs.readFileSync(second.cert)), 'the running certificate stays');
    assert.ok(!exited(env.proc));
    const again = await sdkChild(env.baseURL, env.apiKey, second.cert);
    assert.equal(again.content, MOCK_CONTENT);
  });

  it('the console session cookie is Secure over HTTPS', async () => {
    // (a new connection, trusting the certificate now in force at first.crt's path)
    const body = JSON.stringify({ email: 'owner@tls.test', password: 'correct-horse-9' });
    const res = await new Promise((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: env.port, path: '/console/api/login', method: 'POST', agent: false, ca: fs.readFileSync(first.cert), headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (r) => {
        r.resume();
        r.on('end', () => resolve(r));
      });
      req.on('error', reject);
      req.end(body);
    });
    assert.equal(res.statusCode, 200);
    const cookie = String(res.headers['set-cookie'] ?? '');
    assert.match(cookie, /tg_session=.*; Secure/, cookie);
  });

  it('start-up refuses a missing or mismatched certificate with a one-line error', async () => {
    const run = (args) => new Promise((resolve) => {
      execFile(TOLLGATE_BIN, ['serve', '--listen', '127.0.0.1:0', '--db', dbUrl(env.dbPath), ...args], { timeout: 10000, env: tollgateEnv() }, (err, so, se) => resolve({ code: err?.code ?? 0, stderr: se }));
    });
    let r = await run(['--tls-cert', path.join(dir, 'none.crt'), '--tls-key', first.key]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /tollgate: serve: cannot load the certificate .*none\.crt/);
    r = await run(['--tls-cert', first.cert]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /tollgate: serve: --tls-cert and --tls-key go together/);
  });
});
