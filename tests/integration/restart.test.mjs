// Durability: everything answered survives kill -9; the server restarts on the same DB with
// the same keys and providers; SIGTERM settles in-flight requests before exiting.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Env, MOCK_CONTENT, MODELS, REQUEST_ID_RE, exited, waitFor, stopProcess } from './harness.mjs';

const CHAT = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'persist me!!' }] };

describe('restart', () => {
  let env;
  before(async () => { env = await Env.start(); });
  after(async () => { await env?.stop(); });

  it('20 answered requests survive kill -9; restart on the same DB serves the same key', async () => {
    const client = env.client();
    const ids = [];
    for (let i = 0; i < 20; i++) {
      const { data, response } = await client.chat.completions.create(CHAT).withResponse();
      assert.equal(data.choices[0].message.content, MOCK_CONTENT);
      const rid = response.headers.get('x-request-id');
      assert.match(rid, REQUEST_ID_RE);
      ids.push(rid);
    }
    const pid = env.proc.pid;
    const r = await env.killServer('SIGKILL');
    assert.equal(r.signal, 'SIGKILL', `server killed by SIGKILL (pid ${pid})`);
    assert.ok(exited(env.proc));

    const rows = env.sql('SELECT request_id, status, output_tokens, streamed, aborted FROM usage_records ORDER BY request_id');
    assert.equal(rows.length, 20, `20 usage records after kill -9, found ${rows.length}`);
    assert.deepEqual(rows.map((x) => x.request_id).sort(), [...ids].sort(), 'exactly the answered request ids');
    for (const row of rows) {
      assert.equal(row.status, 200);
      assert.equal(row.output_tokens, 5);
      assert.equal(row.streamed, 0);
      assert.equal(row.aborted, 0);
    }

    await env.restartServer();
    const { data, response } = await env.client().chat.completions.create(CHAT).withResponse();
    assert.equal(data.choices[0].message.content, MOCK_CONTENT, 'same project key works after restart');
    const rid = response.headers.get('x-request-id');
    assert.ok(!ids.includes(rid), 'a fresh request id after restart');
    assert.ok(env.usageRow(rid), 'usage recorded after restart');
    assert.equal(env.usageCount(), 21);
    const models = [];
    for await (const m of env.client().models.list()) models.push(m.id);
    assert.deepEqual(models.sort(), [...MODELS].sort(), 'providers and models survived the restart');
    const admin = await env.admin('GET', `/v1/organization/projects/${env.projectId}`);
    assert.equal(admin.status, 200, 'admin key works after restart');
  });

  it('concurrent answered requests survive kill -9 too', async () => {
    const n0 = env.usageCount();
    const client = env.client();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) =>
      (i % 2
        ? client.chat.completions.create(CHAT).withResponse()
        : client.embeddings.create({ model: 'text-embedding-3-small', input: 'durable', encoding_format: 'float' }).withResponse())));
    const ids = results.map(({ response }) => response.headers.get('x-request-id'));
    await env.killServer('SIGKILL');
    const rows = env.sql('SELECT request_id FROM usage_records');
    assert.equal(rows.length, n0 + 20);
    const have = new Set(rows.map((r) => r.request_id));
    for (const id of ids) assert.ok(have.has(id), `usage record for ${id} after kill -9`);
    await env.restartServer();
    await env.assertAlive('after the second restart');
  });

  it('SIGTERM during a stream: the request is settled and recorded, the process exits 0', async () => {
    await env.mock.reset();
    const ac = new AbortController();
    const r = await fetch(`${env.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${env.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'mock:slow' }] }),
      signal: ac.signal,
    });
    assert.equal(r.status, 200);
    const rid = r.headers.get('x-request-id');
    // read a couple of events, then ask the server to stop
    const reader = r.body.getReader();
    let got = '';
    while ((got.match(/\n\n/g) ?? []).length < 2) {
      const { value, done } = await reader.read();
      if (done) break;
      got += new TextDecoder().decode(value);
    }
    const proc = env.proc;
    // keep draining in the background; the server may finish the stream or end it
    const drained = (async () => {
      try {
        for (;;) {
          const { done } = await reader.read();
          if (done) return 'done';
        }
      } catch {
        return 'error';
      }
    })();
    const stopped = await stopProcess(proc, { signal: 'SIGTERM', timeoutMs: 30000 });
    assert.equal(stopped.forced, false, 'exited on SIGTERM without needing SIGKILL');
    assert.equal(stopped.code, 0, `exit code 0 on SIGTERM (got ${stopped.code}, signal ${stopped.signal})`);
    await Promise.race([drained, new Promise((res) => setTimeout(res, 2000))]);
    ac.abort();
    const row = await waitFor(() => env.usageRow(rid), { timeoutMs: 1000 });
    if (!row) assert.fail(`no usage record for the in-flight stream after SIGTERM: ${JSON.stringify(env.usageRows())}`);
    assert.equal(row.streamed, 1);
    assert.ok(row.output_tokens >= 1, `tokens produced so far are charged: ${row.output_tokens}`);
    await env.restartServer();
    await env.assertAlive('after SIGTERM and restart');
  });
});
