// One `tollgate serve` per database: the ledger and the rate limits live in one process's
// memory, so until limits are shared across instances (--redis) a second instance on the
// same database is refused at start, and the claim ends with the process, however it ends.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { Env, TOLLGATE_BIN, dbUrl, tollgateEnv } from './harness.mjs';

function serveOnce(dbPath) {
  return new Promise((resolve) => {
    execFile(TOLLGATE_BIN, ['serve', '--listen', '127.0.0.1:0', '--db', dbUrl(dbPath)],
      { timeout: 20000, env: tollgateEnv() }, (err, stdout, stderr) => resolve({ code: err?.code ?? 0, stderr }));
  });
}

describe('one instance per database', () => {
  let env;
  before(async () => { env = await Env.start(); });
  after(async () => { await env?.stop(); });

  it('a second serve on the same database exits with a clear error; the first keeps serving', async () => {
    const r = await serveOnce(env.dbPath);
    assert.notEqual(r.code, 0, 'the second instance exits non-zero');
    assert.match(r.stderr, /another `tollgate serve` is running on .*; several instances need shared limits/);
    await env.assertAlive();
  });

  it('after kill -9 of the first, a new instance starts at once', async () => {
    await env.killServer('SIGKILL');
    await env.restartServer();
    await env.assertAlive();
  });
});
