// Integration-test harness: starts the real `build/tollgate` against `build/mock_upstream`
// on loopback, configures it through the Admin API, and offers small helpers for raw HTTP,
// SSE parsing, SQLite inspection and the OpenAI error envelope.
//
// Every spawned process and temp dir is registered so that it is cleaned up in `after`
// hooks (env.stop()) and, as a last resort, when the test process exits.
//
// Set TG_IT_DEBUG=1 to echo the children's output to stderr; TG_IT_KEEP=1 to keep temp dirs.
// TOLLGATE_BIN / MOCK_UPSTREAM_BIN override the binaries, e.g. for the sanitizer build:
//   make asan && TOLLGATE_BIN=$PWD/build-asan/tollgate node --test ... (from tests/integration)
// Env.stop() then fails the file if tollgate printed an ASan/LSan/UBSan report; add
// ASAN_OPTIONS=detect_leaks=0 to ignore leaks at exit.

import { spawn, execFile, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { pgQuery } from './pgsync.mjs';
import { fileURLToPath } from 'node:url';
const HERE = path.dirname(fileURLToPath(import.meta.url)); // (import.meta.dirname needs node 20.11)

export const REPO = path.resolve(HERE, '../..');
// Overridable, e.g. TOLLGATE_BIN=$PWD/build-asan/tollgate for the sanitizer build.
export const TOLLGATE_BIN = process.env.TOLLGATE_BIN || path.join(REPO, 'build', 'tollgate');
export const MOCK_BIN = process.env.MOCK_UPSTREAM_BIN || path.join(REPO, 'build', 'mock_upstream');

export const UPSTREAM_KEY = 'sk-upstream-secret-123';
export const MODELS = ['gpt-3.5-turbo-instruct', 'gpt-4o-mini', 'text-embedding-3-small'];
/** The mock's chat answer: "tok " five times, 5 completion tokens. */
export const MOCK_CONTENT = 'tok '.repeat(5);
export const MOCK_COMPLETION_TOKENS = 5;

const DEBUG = !!process.env.TG_IT_DEBUG;
const KEEP = !!process.env.TG_IT_KEEP;
const START_TIMEOUT_MS = 20000;

// ---------------------------------------------------------------------------------------
// Process / temp-dir registry (last-resort cleanup on exit)

const liveProcs = new Set();
const liveDirs = new Set();

process.on('exit', () => {
  for (const p of liveProcs) {
    try { p.kill('SIGKILL'); } catch { /* already gone */ }
  }
  if (!KEEP) {
    for (const d of liveDirs) {
      try { fs.rmSync(d, { recursive: true, force: true }); } catch { /* ignore */ }
    }
  }
});

export function makeTempDir(prefix = 'tollgate-it-') {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  liveDirs.add(d);
  return d;
}

export function removeTempDir(d) {
  if (!d) return;
  liveDirs.delete(d);
  if (KEEP) {
    process.stderr.write(`[harness] keeping ${d}\n`);
    return;
  }
  fs.rmSync(d, { recursive: true, force: true });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A TCP port that was free a moment ago (bound to port 0, then closed). */
export async function getFreePort() {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
}

/** Polls fn() until it returns a truthy value or the time runs out; returns the last value. */
export async function waitFor(fn, { timeoutMs = 2000, intervalMs = 25 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let v;
  for (;;) {
    v = await fn();
    if (v) return v;
    if (Date.now() >= deadline) return v;
    await sleep(intervalMs);
  }
}

// ---------------------------------------------------------------------------------------
// Child processes

const MAX_LOG = 512 * 1024;

/**
 * Spawns a child, captures stdout/stderr (bounded) and resolves once `pattern` matches the
 * chosen stream. Rejects (with the captured output) if the child exits first or on timeout.
 */
export async function spawnAndWait(bin, args, { stream = 'stdout', pattern, name, timeoutMs = START_TIMEOUT_MS, env } = {}) {
  if (!fs.existsSync(bin)) throw new Error(`${bin} does not exist; run \`make all\` first`);
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  liveProcs.add(child);
  const out = { stdout: '', stderr: '' };
  let matched = null;
  let onData = null;
  for (const s of ['stdout', 'stderr']) {
    child[s].setEncoding('utf8');
    child[s].on('data', (chunk) => {
      out[s] += chunk;
      if (out[s].length > MAX_LOG) out[s] = out[s].slice(-MAX_LOG);
      if (DEBUG) process.stderr.write(`[${name}:${s}] ${chunk}`);
      if (s === stream && onData) onData();
    });
  }
  child.on('exit', () => liveProcs.delete(child));
  const logs = () => `--- ${name} ${args.join(' ')}\n--- stdout:\n${out.stdout.slice(-8000)}\n--- stderr:\n${out.stderr.slice(-8000)}`;

  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      child.kill('SIGKILL');
      reject(new Error(`${name} did not report ${pattern} within ${timeoutMs} ms\n${logs()}`));
    }, timeoutMs);
    const onExit = (code, sig) => {
      cleanup();
      reject(new Error(`${name} exited (code ${code}, signal ${sig}) before reporting ${pattern}\n${logs()}`));
    };
    const onError = (err) => {
      cleanup();
      reject(new Error(`${name} failed to start: ${err.message}`));
    };
    function cleanup() {
      clearTimeout(timer);
      child.off('exit', onExit);
      child.off('error', onError);
      onData = null;
    }
    onData = () => {
      const m = out[stream].match(pattern);
      if (m) {
        matched = m;
        cleanup();
        resolve();
      }
    };
    child.on('exit', onExit);
    child.on('error', onError);
    onData();
  });
  return { child, match: matched, logs, output: out };
}

/** True once the child has exited (by code or signal). */
export function exited(child) {
  return child.exitCode !== null || child.signalCode !== null;
}

/** SIGTERM (or `signal`), then SIGKILL after timeoutMs. Resolves with {code, signal, forced}. */
export async function stopProcess(child, { signal = 'SIGTERM', timeoutMs = 5000 } = {}) {
  if (!child) return null;
  if (exited(child)) return { code: child.exitCode, signal: child.signalCode, forced: false };
  const done = once(child, 'exit');
  child.kill(signal);
  const timer = sleep(timeoutMs).then(() => 'timeout');
  const r = await Promise.race([done, timer]);
  if (r !== 'timeout') return { code: r[0], signal: r[1], forced: false };
  child.kill('SIGKILL');
  const [code, sig] = await done;
  return { code, signal: sig, forced: true };
}

// ---------------------------------------------------------------------------------------
// Mock upstream

export class Mock {
  /** args: more mock_upstream flags, e.g. ['--latency-ms', '800']. */
  static async start(args = []) {
    const { child, match, logs } = await spawnAndWait(MOCK_BIN, ['--listen', '127.0.0.1:0', ...args], {
      stream: 'stdout',
      pattern: /listening on (?:[^\s]*:)?(\d+)/,
      name: 'mock_upstream',
    });
    const m = new Mock();
    m.proc = child;
    m.port = Number(match[1]);
    m.origin = `http://127.0.0.1:${m.port}`;
    m.baseURL = `${m.origin}/v1`;
    m.logs = logs;
    return m;
  }

  /** {requests, aborted, failed, last_request: {method, path, query, authorization, api_key, body}};
   * body parsed if JSON text. */
  async stats() {
    const r = await fetch(`${this.origin}/mock/stats`);
    assert.equal(r.status, 200, 'mock /mock/stats');
    const s = await r.json();
    const lr = s.last_request;
    if (lr && typeof lr.body === 'string') {
      try { lr.body = JSON.parse(lr.body); } catch { /* leave as text */ }
    }
    return s;
  }

  async reset() {
    const r = await fetch(`${this.origin}/mock/reset`, { method: 'POST' });
    await r.arrayBuffer();
    assert.ok(r.status >= 200 && r.status < 300, `mock /mock/reset -> ${r.status}`);
  }

  /** Changes the failure mode / latency at runtime, any of {fail_status, fail_percent,
   * retry_after (null: off), latency_ms}; with no argument only reads it. Returns the config. */
  async config(changes) {
    const r = changes === undefined
      ? await fetch(`${this.origin}/mock/config`)
      : await fetch(`${this.origin}/mock/config`, { method: 'POST', body: JSON.stringify(changes) });
    const body = await r.json();
    assert.equal(r.status, 200, `mock /mock/config -> ${r.status} ${JSON.stringify(body)}`);
    return body;
  }

  async stop() {
    const p = this.proc;
    this.proc = null;
    return stopProcess(p);
  }
}

// ---------------------------------------------------------------------------------------
// Tollgate

// ---------------------------------------------------------------------------------------
// The database: SQLite in the test's temp dir, or, with TG_IT_PG_URL (a PostgreSQL server's
// URL, as `make integration-pg` gives), a database of its own on that server, named after the
// temp path, so the whole suite runs against either backend unchanged.

export const PG_URL = process.env.TG_IT_PG_URL || '';
/** The master key the PostgreSQL runs share (no key file sits beside a PostgreSQL database):
 * TOLLGATE_MASTER_KEY, base64 of 32 bytes. */
export const PG_MASTER_KEY = Buffer.from('a1'.repeat(32), 'hex').toString('base64');
const pgMade = new Set();

function pgName(dbPath) {
  return `tg_${path.basename(path.dirname(dbPath))}_${path.basename(dbPath)}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
}

function pgUrl(db) {
  const u = new URL(PG_URL);
  u.pathname = `/${db}`;
  return u.toString();
}

function psql(url, sql) {
  return pgQuery(url, sql);
}

/** The --db value for a test database path (created on the PostgreSQL server if needed). */
export function dbUrl(dbPath) {
  if (!PG_URL) return `sqlite:${dbPath}`;
  const db = pgName(dbPath);
  if (!pgMade.has(db)) {
    psql(PG_URL, `CREATE DATABASE ${db}`);
    pgMade.add(db);
  }
  return pgUrl(db);
}

/** Everything the database holds, as bytes: the SQLite files (database, WAL, …), or a dump of
 * the PostgreSQL database. For tests that look for what must never be stored. */
export function databaseBytes(dbPath) {
  if (PG_URL) return [execFileSync('pg_dump', ['--no-owner', dbUrl(dbPath)], { maxBuffer: 1 << 28 })];
  const dir = path.dirname(dbPath);
  return fs.readdirSync(dir).filter((f) => f.startsWith(path.basename(dbPath)))
    .map((f) => fs.readFileSync(path.join(dir, f)));
}

/** Drops a test database on the PostgreSQL server (nothing with SQLite: the temp dir goes). */
export function dropDb(dbPath) {
  if (!PG_URL) return;
  const db = pgName(dbPath);
  if (pgMade.delete(db)) psql(PG_URL, `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
}

/** The environment tollgate runs with (the shared master key with PostgreSQL). */
export function tollgateEnv(extra = {}) {
  return PG_URL ? { ...process.env, TOLLGATE_MASTER_KEY: PG_MASTER_KEY, ...extra } : { ...process.env, ...extra };
}

/** `tollgate init --db sqlite:DB --json` → {organization_id, admin_key, stdout, stderr}. */
export async function tollgateInit(dbPath, extra = []) {
  const { stdout, stderr } = await new Promise((resolve, reject) => {
    execFile(TOLLGATE_BIN, ['init', '--db', dbUrl(dbPath), '--json', ...extra], { timeout: 60000, env: tollgateEnv() }, (err, so, se) => {
      if (err) reject(new Error(`tollgate init failed: ${err.message}\nstdout: ${so}\nstderr: ${se}`));
      else resolve({ stdout: so, stderr: se });
    });
  });
  let obj;
  try {
    obj = JSON.parse(stdout);
  } catch (e) {
    throw new Error(`tollgate init --json: stdout is not one JSON object: ${JSON.stringify(stdout)}\nstderr: ${stderr}`);
  }
  return { ...obj, stdout, stderr };
}

/** `tollgate serve --listen 127.0.0.1:0 --db sqlite:DB [...extra]`; waits for the listening line
 * (http:// or, with --tls-cert, https://). */
export async function tollgateServe(dbPath, extra = []) {
  const { child, match, logs, output } = await spawnAndWait(
    TOLLGATE_BIN,
    ['serve', '--listen', '127.0.0.1:0', '--db', dbUrl(dbPath), ...extra],
    { stream: 'stderr', pattern: /listening on (https?):\/\/127\.0\.0\.1:(\d+)/, name: 'tollgate', env: tollgateEnv() },
  );
  const port = Number(match[2]);
  return { proc: child, port, origin: `${match[1]}://127.0.0.1:${port}`, logs, output };
}

/** Does `tollgate serve --help` mention this flag? */
export function serveSupportsFlag(flag) {
  let text = '';
  try {
    text = execFileSync(TOLLGATE_BIN, ['serve', '--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10000 });
  } catch (e) {
    text = `${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
  return text.includes(flag);
}

// ---------------------------------------------------------------------------------------
// HTTP helpers

/**
 * Raw HTTP via fetch. opts: key (Bearer), json (object → JSON body), body (raw string/Buffer),
 * headers, signal. Returns {status, headers, text, json}; json is undefined if not JSON.
 */
export async function request(origin, method, urlPath, { key, json, body, headers = {}, signal } = {}) {
  const h = { ...headers };
  if (key !== undefined && key !== null) h.authorization = `Bearer ${key}`;
  let b = body;
  if (json !== undefined) {
    b = JSON.stringify(json);
    h['content-type'] ??= 'application/json';
  } else if (b !== undefined) {
    h['content-type'] ??= 'application/json';
  }
  const r = await fetch(origin + urlPath, { method, headers: h, body: b, signal });
  const text = await r.text();
  let parsed;
  try { parsed = JSON.parse(text); } catch { parsed = undefined; }
  return { status: r.status, headers: r.headers, text, json: parsed };
}

/** Parses a raw HTTP/1.1 response; returns null until the whole response is there. */
function parseHttpResponse(buf, { atEOF = false } = {}) {
  const he = buf.indexOf('\r\n\r\n');
  if (he < 0) return null;
  const lines = buf.subarray(0, he).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  if (!m) throw new Error(`not an HTTP response: ${JSON.stringify(lines[0])}`);
  const headers = new Headers();
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers.append(l.slice(0, i).trim(), l.slice(i + 1).trim());
  }
  let rest = buf.subarray(he + 4);
  let body;
  if ((headers.get('transfer-encoding') ?? '').toLowerCase().includes('chunked')) {
    const parts = [];
    for (;;) {
      const le = rest.indexOf('\r\n');
      if (le < 0) return atEOF ? finish(Buffer.concat(parts)) : null;
      const size = parseInt(rest.subarray(0, le).toString('latin1'), 16);
      if (size === 0) break;
      if (rest.length < le + 2 + size + 2) return atEOF ? finish(Buffer.concat(parts)) : null;
      parts.push(rest.subarray(le + 2, le + 2 + size));
      rest = rest.subarray(le + 2 + size + 2);
    }
    body = Buffer.concat(parts);
  } else if (headers.has('content-length')) {
    const n = Number(headers.get('content-length'));
    if (rest.length < n) return atEOF ? finish(rest) : null;
    body = rest.subarray(0, n);
  } else {
    if (!atEOF) return null;
    body = rest;
  }
  return finish(body);
  function finish(b) {
    const text = b.toString('utf8');
    let json;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: Number(m[1]), headers, text, json };
  }
}

/**
 * Sends one HTTP/1.1 request on a fresh TCP connection and returns the response, even when
 * the server answers (e.g. 413) before it has read the whole body. body: Buffer|string;
 * chunked: send with Transfer-Encoding: chunked instead of Content-Length. Rejects if the
 * connection fails before any response byte arrived.
 */
export function rawHttp(origin, method, urlPath, { headers = {}, body, chunked = false, timeoutMs = 60000 } = {}) {
  const u = new URL(origin + urlPath);
  const buf = body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(body);
  const h = { host: u.host, connection: 'close', ...headers };
  if (chunked) h['transfer-encoding'] = 'chunked';
  else if (body !== undefined || method === 'POST') h['content-length'] = String(buf.length);
  const head = `${method} ${u.pathname}${u.search} HTTP/1.1\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`;
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(u.port), u.hostname);
    let got = Buffer.alloc(0);
    let settled = false;
    let writeErr = null;
    const settle = (fn, v) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      fn(v);
    };
    const tryParse = (atEOF) => {
      let r;
      try { r = parseHttpResponse(got, { atEOF }); } catch (e) { return settle(reject, e); }
      if (r) settle(resolve, r);
      else if (atEOF) {
        settle(reject, new Error(`rawHttp ${method} ${urlPath}: connection closed ${got.length ? 'mid-response' : 'before any response'}`
          + `${writeErr ? ` (while sending: ${writeErr.code ?? writeErr.message})` : ''}; got ${JSON.stringify(got.subarray(0, 300).toString('latin1'))}`));
      }
    };
    const timer = setTimeout(() => settle(reject, new Error(`rawHttp ${method} ${urlPath}: no complete response in ${timeoutMs} ms; got ${got.length} bytes`)), timeoutMs);
    sock.on('data', (c) => { got = Buffer.concat([got, c]); tryParse(false); });
    sock.on('end', () => tryParse(true));
    sock.on('close', () => tryParse(true));
    sock.on('error', (e) => { writeErr = e; tryParse(true); });
    sock.on('connect', () => {
      sock.write(head);
      const CH = 1 << 20;
      let off = 0;
      const pump = () => {
        while (off < buf.length) {
          if (got.length || settled || sock.destroyed) return; // the server already answered
          const piece = buf.subarray(off, off + CH);
          off += piece.length;
          const data = chunked ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]) : piece;
          if (!sock.write(data)) return sock.once('drain', pump);
        }
        if (chunked && !got.length && !sock.destroyed) sock.write('0\r\n\r\n');
      };
      pump();
    });
  });
}

/** Writes raw bytes on a TCP socket, returns whatever comes back before close/timeout. */
export function rawTcp(port, bytes, { timeoutMs = 3000 } = {}) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    const parts = [];
    const done = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve(Buffer.concat(parts).toString('latin1'));
    };
    const timer = setTimeout(done, timeoutMs);
    sock.on('connect', () => sock.write(bytes));
    sock.on('data', (c) => parts.push(c));
    sock.on('end', done);
    sock.on('close', done);
    sock.on('error', done);
  });
}

/** Splits an SSE body into its `data:` payloads (one string per event). */
export function parseSSE(text) {
  const events = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    const data = block
      .split(/\r?\n/)
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).replace(/^ /, ''));
    if (data.length) events.push(data.join('\n'));
  }
  return events;
}

// ---------------------------------------------------------------------------------------
// Assertions

/** The exact OpenAI error envelope: {"error": {message, type, param, code}} and nothing else. */
export function assertErrorEnvelope(body, { type, code, param, message } = {}, ctx = '') {
  const where = ctx ? ` (${ctx})` : '';
  assert.ok(body && typeof body === 'object' && !Array.isArray(body), `error body is a JSON object${where}: ${JSON.stringify(body)}`);
  assert.deepEqual(Object.keys(body), ['error'], `error body has exactly one key "error"${where}: ${JSON.stringify(body)}`);
  const e = body.error;
  assert.ok(e && typeof e === 'object' && !Array.isArray(e), `"error" is an object${where}`);
  assert.deepEqual(Object.keys(e).sort(), ['code', 'message', 'param', 'type'], `"error" has exactly message, type, param, code${where}: ${JSON.stringify(e)}`);
  assert.equal(typeof e.message, 'string', `error.message is a string${where}`);
  assert.ok(e.message.length > 0, `error.message is not empty${where}`);
  assert.equal(typeof e.type, 'string', `error.type is a string${where}`);
  assert.ok(e.param === null || typeof e.param === 'string', `error.param is string|null${where}`);
  assert.ok(e.code === null || typeof e.code === 'string', `error.code is string|null${where}`);
  if (type !== undefined) assert.equal(e.type, type, `error.type${where}: ${JSON.stringify(e)}`);
  if (code !== undefined) assert.equal(e.code, code, `error.code${where}: ${JSON.stringify(e)}`);
  if (param !== undefined) assert.equal(e.param, param, `error.param${where}: ${JSON.stringify(e)}`);
  if (message instanceof RegExp) assert.match(e.message, message, `error.message${where}`);
  else if (typeof message === 'string') assert.equal(e.message, message, `error.message${where}`);
  return e;
}

/** An error response: status, JSON content type, exact envelope. */
export function assertErrorResponse(res, status, expect = {}, ctx = '') {
  const where = ctx ? ` (${ctx})` : '';
  assert.equal(res.status, status, `HTTP status${where}; body: ${res.text?.slice(0, 500)}`);
  const ct = res.headers.get('content-type') ?? '';
  assert.match(ct, /^application\/json/i, `content-type of an error${where}: ${ct}`);
  return assertErrorEnvelope(res.json, expect, ctx);
}

export const REQUEST_ID_RE = /^req_[0-9a-f]{32}$/;

/** x-request-id, openai-processing-ms, openai-version, and (if orgId) openai-organization. */
export function assertCommonHeaders(headers, { orgId } = {}, ctx = '') {
  const where = ctx ? ` (${ctx})` : '';
  const rid = headers.get('x-request-id');
  assert.match(rid ?? '', REQUEST_ID_RE, `x-request-id${where}: ${rid}`);
  const ms = headers.get('openai-processing-ms');
  assert.match(ms ?? '', /^\d+$/, `openai-processing-ms is an integer${where}: ${ms}`);
  assert.equal(headers.get('openai-version'), '2020-10-01', `openai-version${where}`);
  if (orgId) assert.equal(headers.get('openai-organization'), orgId, `openai-organization${where}`);
  return rid;
}

/** Builds a regexp for a key redacted as first 8 chars, a run of '*', last 4 chars. */
export function redactedKeyRe(key) {
  const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`${esc(key.slice(0, 8))}\\*+${esc(key.slice(-4))}`);
}

/** Runs fn, expects it to reject with an openai APIError of this status; returns the error. */
export async function expectAPIError(promise, status, { type, code, param } = {}) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected an APIError with status ${status}, but the call succeeded`);
  assert.ok(err instanceof OpenAI.APIError, `expected an OpenAI.APIError, got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.status, status, `APIError status; message: ${err.message}`);
  if (type !== undefined) assert.equal(err.type, type, `APIError type: ${JSON.stringify(err.error)}`);
  if (code !== undefined) assert.equal(err.code, code, `APIError code: ${JSON.stringify(err.error)}`);
  if (param !== undefined) assert.equal(err.param, param, `APIError param: ${JSON.stringify(err.error)}`);
  return err;
}

// ---------------------------------------------------------------------------------------
// SQLite (through the sqlite3 CLI)

export function sqliteJson(dbPath, sql) {
  if (PG_URL) { /* the same query on PostgreSQL; rows as JSON objects, as sqlite3 -json gives */
    if (!/^\s*select\b/i.test(sql)) {
      psql(dbUrl(dbPath), sql);
      return [];
    }
    return psql(dbUrl(dbPath), `SELECT COALESCE(json_agg(t), '[]'::json) AS j FROM (${sql}) t`)[0].j;
  }
  const out = execFileSync('sqlite3', ['-json', '-cmd', '.timeout 10000', dbPath, sql], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 30000,
  });
  const t = out.trim();
  return t ? JSON.parse(t) : [];
}

const sqlStr = (s) => `'${String(s).replace(/'/g, "''")}'`;

// ---------------------------------------------------------------------------------------
// The environment: mock upstream + tollgate + provider + project + project key

export class Env {
  /**
   * opts.mock: false to start no mock; opts.upstreamBaseURL: provider base_url override
   * (e.g. a closed port); opts.serveArgs: extra `serve` flags; opts.models: provider models;
   * opts.initArgs: extra `init` flags (e.g. ['--email', E, '--password', P] for a first owner).
   */
  static async start(opts = {}) {
    const env = new Env();
    try {
      await env._start(opts);
    } catch (e) {
      await env.stop();
      throw e;
    }
    return env;
  }

  async _start({ mock = true, upstreamBaseURL, serveArgs = [], models = MODELS, initArgs = [] } = {}) {
    this.serveArgs = serveArgs;
    this.dir = makeTempDir();
    this.dbPath = path.join(this.dir, 't.db');
    if (mock) this.mock = await Mock.start();
    const init = await tollgateInit(this.dbPath, initArgs);
    this.init = init;
    this.orgId = init.organization_id;
    this.adminKey = init.admin_key;
    assert.match(this.orgId ?? '', /^org-/, `init organization_id: ${init.stdout}`);
    assert.match(this.adminKey ?? '', /^sk-admin-/, `init admin_key: ${init.stdout}`);
    await this._serve();

    const baseURL = upstreamBaseURL ?? this.mock.baseURL;
    const prov = await this.admin('POST', '/v1/organization/providers', {
      name: 'mock',
      type: 'openai_compatible',
      base_url: baseURL,
      api_key: UPSTREAM_KEY,
      models: models.map((m) => ({ model: m })),
    });
    assert.ok(prov.status === 200 || prov.status === 201, `create provider: ${prov.status} ${prov.text}`);
    this.provider = prov.json;
    this.providerId = prov.json?.id;

    const proj = await this.admin('POST', '/v1/organization/projects', { name: 'Test' });
    assert.equal(proj.status, 200, `create project: ${proj.text}`);
    this.project = proj.json;
    this.projectId = proj.json.id;
    assert.match(this.projectId ?? '', /^proj_/, `project id: ${proj.text}`);

    const key = await this.createKey('test key');
    this.key = key;
    this.keyId = key.id;
    this.apiKey = key.value;
  }

  async _serve() {
    const s = await tollgateServe(this.dbPath, this.serveArgs);
    (this.servers ??= []).push(s);
    this.server = s;
    this.proc = s.proc;
    this.port = s.port;
    this.origin = s.origin;
    this.baseURL = `${s.origin}/v1`;
  }

  /** Creates a project key (in the env's project unless projectId given); returns the key object. */
  async createKey(name, projectId = this.projectId) {
    const r = await this.admin('POST', `/v1/organization/projects/${projectId}/api_keys`, { name });
    assert.equal(r.status, 200, `create key: ${r.text}`);
    assert.match(r.json?.value ?? '', /^sk-proj-/, `key value: ${r.text}`);
    assert.match(r.json?.id ?? '', /^key_/, `key id: ${r.text}`);
    return r.json;
  }

  /** OpenAI SDK client bound to this server. */
  client(apiKey = this.apiKey, extra = {}) {
    return new OpenAI({ apiKey, baseURL: this.baseURL, maxRetries: 0, timeout: 60000, ...extra });
  }

  request(method, urlPath, opts = {}) {
    return request(this.origin, method, urlPath, opts);
  }

  /** Inference request with the project key (unless opts.key is given). */
  api(method, urlPath, opts = {}) {
    return request(this.origin, method, urlPath, { key: this.apiKey, ...opts });
  }

  /** Admin API request with the init admin key. body: object (JSON) or undefined. */
  admin(method, urlPath, body, { key = this.adminKey, raw } = {}) {
    return request(this.origin, method, urlPath, { key, json: body, body: raw });
  }

  async health() {
    const r = await this.request('GET', '/healthz');
    assert.equal(r.status, 200, `GET /healthz: ${r.status} ${r.text}`);
    assert.deepEqual(r.json, { status: 'ok' }, `GET /healthz body: ${r.text}`);
    return r;
  }

  /** Server still up: the process is alive and /healthz answers 200 {"status":"ok"}. */
  async assertAlive(ctx = '') {
    assert.ok(!exited(this.proc), `tollgate exited (code ${this.proc.exitCode}, signal ${this.proc.signalCode}) ${ctx}\n${this.server.logs()}`);
    await this.health();
  }

  sql(query) {
    return sqliteJson(this.dbPath, query);
  }

  /** The column names of a table. */
  columns(table) {
    const sql = PG_URL
      ? `SELECT column_name AS name FROM information_schema.columns WHERE table_name=${sqlStr(table)}`
      : `SELECT name FROM pragma_table_info(${sqlStr(table)})`;
    return this.sql(sql).map((x) => x.name);
  }

  usageRows(where = '1=1') {
    return this.sql(`SELECT * FROM usage_records WHERE ${where} ORDER BY created_at, request_id`);
  }

  usageRow(requestId) {
    const rows = this.sql(`SELECT * FROM usage_records WHERE request_id = ${sqlStr(requestId)}`);
    assert.ok(rows.length <= 1, `more than one usage record for ${requestId}: ${JSON.stringify(rows)}`);
    return rows[0];
  }

  usageCount() {
    return this.sql('SELECT COUNT(*) AS n FROM usage_records')[0].n;
  }

  /** kill -9 (or signal) the server, wait for it to exit. */
  async killServer(signal = 'SIGKILL', timeoutMs = 15000) {
    const r = await stopProcess(this.proc, { signal, timeoutMs });
    return r;
  }

  /** Starts `serve` again on the same DB (after killServer). */
  async restartServer() {
    await this._serve();
  }

  /** Stops everything; then fails if any server run printed a sanitizer report (ASan/UBSan builds). */
  async stop() {
    try {
      if (this.proc) await stopProcess(this.proc);
    } finally {
      try {
        if (this.mock) await this.mock.stop();
      } finally {
        try { dropDb(this.dbPath); } catch { /* the server is going away too */ }
        removeTempDir(this.dir);
      }
    }
    for (const s of this.servers ?? []) assertNoSanitizerReport(s.output.stdout + s.output.stderr);
  }

  logs() {
    return this.server ? this.server.logs() : '';
  }
}

/** Sends SIGHUP and waits for the reload's last line; returns the log lines it wrote. */
export async function hup(env) {
  const count = () => (env.server.output.stderr.match(/reload: done/g) ?? []).length;
  const n = count();
  const from = env.server.output.stderr.length;
  env.proc.kill('SIGHUP');
  const ok = await waitFor(() => count() > n, { timeoutMs: 10000 });
  assert.ok(ok, `the reload finished\n${env.logs()}`);
  return env.server.output.stderr.slice(from);
}


const SANITIZER_RE = /ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer)|runtime error: /;

/** Fails with the report if a child's output contains an ASan/LSan/UBSan/TSan report. */
export function assertNoSanitizerReport(logs) {
  const m = SANITIZER_RE.exec(logs);
  if (m) {
    const at = logs.indexOf(m[0]);
    throw new Error(`sanitizer report in tollgate's output:\n${logs.slice(Math.max(0, at - 200), at + 6000)}`);
  }
}

/** Byte length of all message contents → the mock's prompt_tokens (1 + bytes/4). */
export function mockPromptTokens(messages) {
  const bytes = messages.reduce((n, m) => n + Buffer.byteLength(typeof m.content === 'string' ? m.content : ''), 0);
  return 1 + Math.floor(bytes / 4);
}

/** created_at in a usage row: accept unix seconds, unix ms, or a date string; return ms. */
export function toEpochMs(v) {
  if (typeof v === 'number') return v > 1e12 ? v : v * 1000;
  if (typeof v === 'string' && /^\d+$/.test(v)) return toEpochMs(Number(v));
  return Date.parse(v);
}

// ---------------------------------------------------------------------------------------
// Usage-record checks shared by the test files

/** Price table entry for `model` from GET /v1/organization/models, or null if unavailable. */
export async function priceOf(env, model) {
  const r = await env.admin('GET', '/v1/organization/models');
  if (r.status !== 200 || !Array.isArray(r.json?.data)) return null;
  return r.json.data.find((m) => m.id === model) ?? null;
}

/** Checks a usage record against what the client saw. */
export async function checkUsageRow(env, t, row, { requestId, model, endpoint, input, output, status = 200, streamed = 0, aborted = 0, startedAt }) {
  assert.ok(row, `usage record for ${requestId} exists as soon as the response has ended`);
  assert.equal(row.request_id, requestId);
  assert.equal(row.organization_id, env.orgId, 'organization_id');
  assert.equal(row.project_id, env.projectId, 'project_id');
  assert.equal(row.api_key_id, env.keyId, 'api_key_id');
  assert.equal(row.model, model, 'model');
  if (env.providerId) assert.equal(row.provider_id, env.providerId, 'provider_id');
  else assert.ok(row.provider_id, 'provider_id set');
  assert.equal(row.endpoint, endpoint, 'endpoint');
  if (typeof input === 'function') assert.ok(input(row.input_tokens), `input_tokens: ${row.input_tokens}`);
  else assert.equal(row.input_tokens, input, 'input_tokens');
  assert.equal(row.cached_input_tokens, 0, 'cached_input_tokens');
  if (typeof output === 'function') assert.ok(output(row.output_tokens), `output_tokens: ${row.output_tokens}`);
  else assert.equal(row.output_tokens, output, 'output_tokens');
  assert.equal(row.status, status, 'status');
  assert.equal(row.streamed, streamed, 'streamed');
  assert.equal(row.aborted, aborted, 'aborted');
  assert.ok(Number.isInteger(row.latency_ms) && row.latency_ms >= 0, `latency_ms: ${row.latency_ms}`);
  assert.ok(row.latency_ms < 60000, `latency_ms plausible: ${row.latency_ms}`);
  const created = toEpochMs(row.created_at);
  assert.ok(Number.isFinite(created), `created_at readable: ${row.created_at}`);
  if (startedAt) {
    assert.ok(created >= startedAt - 2000 && created <= Date.now() + 2000, `created_at ${row.created_at} is around now`);
  }
  assert.ok(Number.isInteger(row.cost_nanousd) && row.cost_nanousd >= 0, `cost_nanousd integer: ${row.cost_nanousd}`);
  const price = await priceOf(env, model);
  const ip = price ? Number(price.input_price) : NaN;
  const op = price ? Number(price.output_price) : NaN;
  if (Number.isFinite(ip) && Number.isFinite(op)) {
    // dollars per 1M tokens → nano-dollars per token = price * 1000 (cached_input_tokens is 0 here)
    const out = row.output_tokens;
    const inp = row.input_tokens;
    const expected = inp * ip * 1000 + out * op * 1000;
    assert.ok(Math.abs(row.cost_nanousd - expected) <= 1, `cost_nanousd ${row.cost_nanousd} = ${inp}×${ip} + ${out}×${op} per 1M → ${expected}`);
    if (expected > 0) assert.ok(row.cost_nanousd > 0);
  } else {
    t?.diagnostic(`no price for ${model} from GET /v1/organization/models; cost checked as integer only`);
  }
}
