// Errors (SPEC §4): exact status/type/code and the exact envelope for every error, the
// headers on error responses, upstream failures, and bad input that must never crash the
// server nor change its state.

import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  Env, UPSTREAM_KEY, assertCommonHeaders, assertErrorResponse, assertErrorEnvelope, expectAPIError,
  redactedKeyRe, rawHttp, rawTcp, getFreePort, serveSupportsFlag, waitFor,
} from './harness.mjs';

const CHAT = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] };
const INSUFFICIENT = 'You have insufficient permissions for this operation. Missing scopes: ';

/** A syntactically plausible project key that was never issued. */
const FAKE_KEY = 'sk-proj-' + 'Zq9XbT4kLmN2pR7sV1wY3aC5eG8iJ0oU6hD'.repeat(2) + 'wxyz';

describe('errors', () => {
  let env;
  before(async () => { env = await Env.start(); });
  after(async () => { await env?.stop(); });
  beforeEach(async () => { await env.mock.reset(); });

  /** Asserts that nothing reached the upstream and no usage record was written since `n0`. */
  async function assertNothingForwarded(n0, ctx) {
    assert.equal((await env.mock.stats()).requests, 0, `upstream saw nothing (${ctx})`);
    assert.equal(env.usageCount(), n0, `no usage record (${ctx})`);
  }

  describe('authentication', () => {
    it('no key → 401 invalid_request_error, code null', async () => {
      const n0 = env.usageCount();
      for (const [method, p, json] of [['POST', '/v1/chat/completions', CHAT], ['GET', '/v1/models', undefined]]) {
        const r = await env.request(method, p, { json });
        assertErrorResponse(r, 401, { type: 'invalid_request_error', code: null, param: null }, `${method} ${p}`);
        assertCommonHeaders(r.headers, {}, `${method} ${p}`);
      }
      await assertNothingForwarded(n0, 'no key');
      await env.assertAlive();
    });

    it('empty or non-Bearer Authorization → 401', async () => {
      for (const auth of ['Bearer ', 'Bearer', 'Basic dXNlcjpwYXNz', 'sk-proj-abc', 'Bearer  ']) {
        const r = await env.request('POST', '/v1/chat/completions', { json: CHAT, headers: { authorization: auth } });
        assertErrorResponse(r, 401, { type: 'invalid_request_error' }, `Authorization: ${JSON.stringify(auth)}`);
      }
      await env.assertAlive();
    });

    it('wrong key → 401 invalid_api_key, message redacts the key', async () => {
      const n0 = env.usageCount();
      const r = await env.request('POST', '/v1/chat/completions', { key: FAKE_KEY, json: CHAT });
      const e = assertErrorResponse(r, 401, { type: 'invalid_request_error', code: 'invalid_api_key' });
      assertCommonHeaders(r.headers);
      assert.match(e.message, redactedKeyRe(FAKE_KEY), `message shows the redacted key: ${e.message}`);
      assert.ok(!e.message.includes(FAKE_KEY), 'message never contains the full key');
      assert.ok(!r.text.includes(FAKE_KEY.slice(8, -4)), 'body never contains the secret part of the key');
      const err = await expectAPIError(env.client(FAKE_KEY).chat.completions.create(CHAT), 401, { code: 'invalid_api_key', type: 'invalid_request_error' });
      assert.match(err.requestID ?? '', /^req_[0-9a-f]{32}$/);
      // a wrong admin-looking key on the Admin API is also invalid_api_key
      const fakeAdmin = 'sk-admin-' + 'Q'.repeat(40) + 'abcd';
      const r2 = await env.admin('GET', '/v1/organization/projects', undefined, { key: fakeAdmin });
      const e2 = assertErrorResponse(r2, 401, { type: 'invalid_request_error', code: 'invalid_api_key' }, 'wrong admin key');
      assert.match(e2.message, redactedKeyRe(fakeAdmin));
      assert.ok(!r2.text.includes(fakeAdmin));
      await assertNothingForwarded(n0, 'wrong key');
      await env.assertAlive();
    });

    it('a short garbage key is rejected without echoing it whole', async () => {
      for (const key of ['x', 'sk-proj-', 'sk-short1234', 'sk-proj-' + 'a'.repeat(5000)]) {
        const r = await env.request('POST', '/v1/chat/completions', { key, json: CHAT });
        const e = assertErrorResponse(r, 401, { type: 'invalid_request_error', code: 'invalid_api_key' }, `key length ${key.length}`);
        if (key.length >= 16) assert.ok(!e.message.includes(key), 'full key not echoed');
      }
      await env.assertAlive();
    });

    it('revoked key → 401 invalid_api_key right after DELETE', async () => {
      const k = await env.createKey('to revoke');
      const ok = await env.api('POST', '/v1/chat/completions', { key: k.value, json: CHAT });
      assert.equal(ok.status, 200, ok.text);
      const del = await env.admin('DELETE', `/v1/organization/projects/${env.projectId}/api_keys/${k.id}`);
      assert.equal(del.status, 200, del.text);
      assert.deepEqual(del.json, { object: 'organization.project.api_key.deleted', id: k.id, deleted: true });
      const n0 = env.usageCount();
      await env.mock.reset();
      const r = await env.api('POST', '/v1/chat/completions', { key: k.value, json: CHAT });
      const e = assertErrorResponse(r, 401, { type: 'invalid_request_error', code: 'invalid_api_key' }, 'revoked key');
      assert.match(e.message, redactedKeyRe(k.value));
      assert.ok(!r.text.includes(k.value));
      await expectAPIError(env.client(k.value).models.list(), 401, { code: 'invalid_api_key' });
      await assertNothingForwarded(n0, 'revoked key');
      // the env's own key is unaffected
      const still = await env.api('POST', '/v1/chat/completions', { json: CHAT });
      assert.equal(still.status, 200, still.text);
    });

    it('admin key on inference → 401 missing scope model.request', async (t) => {
      const n0 = env.usageCount();
      for (const [method, p, json] of [
        ['POST', '/v1/chat/completions', CHAT],
        ['POST', '/v1/completions', { model: 'gpt-3.5-turbo-instruct', prompt: 'x' }],
        ['POST', '/v1/embeddings', { model: 'text-embedding-3-small', input: 'x' }],
      ]) {
        const r = await env.request(method, p, { key: env.adminKey, json });
        const e = assertErrorResponse(r, 401, { type: 'invalid_request_error', code: null }, `admin key ${method} ${p}`);
        assert.ok(e.message.startsWith(`${INSUFFICIENT}model.request`), `message: ${e.message}`);
        assert.ok(!r.text.includes(env.adminKey));
        assertCommonHeaders(r.headers, {}, `${method} ${p}`);
      }
      // Listing models is a read, not a model request: OpenAI names that scope api.model.read,
      // so only the insufficient-permissions form is required here.
      const m = await env.request('GET', '/v1/models', { key: env.adminKey });
      const em = assertErrorResponse(m, 401, { type: 'invalid_request_error', code: null }, 'admin key GET /v1/models');
      assert.ok(em.message.startsWith(INSUFFICIENT), `message: ${em.message}`);
      t.diagnostic(`admin key on GET /v1/models: ${em.message.slice(0, 90)}`);
      await expectAPIError(env.client(env.adminKey).chat.completions.create(CHAT), 401, { code: null });
      await assertNothingForwarded(n0, 'admin key on inference');
    });

    it('project key on the Admin API → 401 missing scope api.management.read / .write', async () => {
      const r = await env.request('GET', '/v1/organization/projects', { key: env.apiKey });
      const e = assertErrorResponse(r, 401, { type: 'invalid_request_error', code: null }, 'project key, GET projects');
      assert.ok(e.message.startsWith(`${INSUFFICIENT}api.management.read`), `message: ${e.message}`);
      assert.ok(!r.text.includes(env.apiKey));

      const projBefore = await env.admin('GET', '/v1/organization/projects?limit=100');
      const w = await env.request('POST', '/v1/organization/projects', { key: env.apiKey, json: { name: 'sneaky' } });
      const ew = assertErrorResponse(w, 401, { type: 'invalid_request_error', code: null }, 'project key, POST projects');
      assert.ok(ew.message.startsWith(INSUFFICIENT), `message: ${ew.message}`);
      assert.ok(ew.message.includes('api.management.write'), `message names api.management.write: ${ew.message}`);
      const afterList = await env.admin('GET', '/v1/organization/projects?limit=100');
      assert.deepEqual(afterList.json.data.map((p) => p.id), projBefore.json.data.map((p) => p.id), 'no project created');

      const k = await env.request('POST', `/v1/organization/projects/${env.projectId}/api_keys`, { key: env.apiKey, json: { name: 'escalate' } });
      assertErrorResponse(k, 401, { type: 'invalid_request_error', code: null }, 'project key creating keys');
      await env.assertAlive();
    });
  });

  describe('request validation', () => {
    it('body not JSON → 400 invalid_request_error, code null', async () => {
      const n0 = env.usageCount();
      for (const body of ['{"model": "gpt-4o-mini", "messages": [', 'not json at all', '{"model":"gpt-4o-mini",}', '\u0000\u0001\u0002']) {
        const r = await env.api('POST', '/v1/chat/completions', { body });
        assertErrorResponse(r, 400, { type: 'invalid_request_error', code: null }, `body ${JSON.stringify(body)}`);
        assertCommonHeaders(r.headers, {}, `body ${JSON.stringify(body)}`);
      }
      await assertNothingForwarded(n0, 'non-JSON body');
      await env.assertAlive();
    });

    it('missing messages → 400 missing_required_parameter, param messages', async () => {
      const n0 = env.usageCount();
      const r = await env.api('POST', '/v1/chat/completions', { json: { model: 'gpt-4o-mini' } });
      assertErrorResponse(r, 400, { type: 'invalid_request_error', code: 'missing_required_parameter', param: 'messages' });
      assertCommonHeaders(r.headers);
      await expectAPIError(env.client().chat.completions.create({ model: 'gpt-4o-mini' }), 400, { code: 'missing_required_parameter', param: 'messages' });
      await assertNothingForwarded(n0, 'missing messages');
    });

    it('missing model → 400 missing_required_parameter, param model', async () => {
      const r = await env.api('POST', '/v1/chat/completions', { json: { messages: [{ role: 'user', content: 'x' }] } });
      assertErrorResponse(r, 400, { type: 'invalid_request_error', code: 'missing_required_parameter', param: 'model' });
      const r2 = await env.api('POST', '/v1/embeddings', { json: { model: 'text-embedding-3-small' } });
      assertErrorResponse(r2, 400, { type: 'invalid_request_error', code: 'missing_required_parameter', param: 'input' }, 'embeddings without input');
      const r3 = await env.api('POST', '/v1/completions', { json: { model: 'gpt-3.5-turbo-instruct' } });
      assertErrorResponse(r3, 400, { type: 'invalid_request_error', code: 'missing_required_parameter', param: 'prompt' }, 'completions without prompt');
      assert.equal((await env.mock.stats()).requests, 0);
    });

    it('unknown model → 404 model_not_found', async () => {
      const n0 = env.usageCount();
      for (const model of ['gpt-4o', 'no-such-model-123']) {
        const r = await env.api('POST', '/v1/chat/completions', { json: { ...CHAT, model } });
        assertErrorResponse(r, 404, { type: 'invalid_request_error', code: 'model_not_found' }, model);
        assertCommonHeaders(r.headers, { orgId: env.orgId }, model);
        await expectAPIError(env.client().chat.completions.create({ ...CHAT, model }), 404, { code: 'model_not_found' });
      }
      const emb = await env.api('POST', '/v1/embeddings', { json: { model: 'text-embedding-ada-999', input: 'x' } });
      assertErrorResponse(emb, 404, { type: 'invalid_request_error', code: 'model_not_found' }, 'embeddings');
      await assertNothingForwarded(n0, 'unknown model');
    });

    it('unknown URL → 404 unknown_url', async () => {
      const r = await env.api('POST', '/v1/nope', { json: {} });
      const e = assertErrorResponse(r, 404, { type: 'invalid_request_error', code: 'unknown_url' });
      assert.ok(e.message.startsWith('Unknown request URL: POST /v1/nope.'), `message: ${e.message}`);
      const r2 = await env.api('GET', '/v1/chat/completions/extra/segments');
      const e2 = assertErrorResponse(r2, 404, { type: 'invalid_request_error', code: 'unknown_url' });
      assert.ok(e2.message.startsWith('Unknown request URL: GET /v1/chat/completions/extra/segments.'), `message: ${e2.message}`);
      await env.assertAlive();
    });

    it('body over 32 MiB → 413 invalid_request_error, server unharmed', async () => {
      const n0 = env.usageCount();
      const big = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'a'.repeat(33 * 1024 * 1024) }] });
      const headers = { authorization: `Bearer ${env.apiKey}`, 'content-type': 'application/json' };
      const r = await rawHttp(env.origin, 'POST', '/v1/chat/completions', { headers, body: big });
      assertErrorResponse(r, 413, { type: 'invalid_request_error' }, 'Content-Length body');
      await env.assertAlive('after a 413 (Content-Length)');
      const rc = await rawHttp(env.origin, 'POST', '/v1/chat/completions', { headers, body: big, chunked: true });
      assertErrorResponse(rc, 413, { type: 'invalid_request_error' }, 'chunked body');
      await env.assertAlive('after a 413 (chunked)');
      await assertNothingForwarded(n0, '413');
    });

    it('a body just under the limit is not refused as too large', async () => {
      // 31 MiB: must not be 413 (it may well fail later, e.g. context_length_exceeded)
      const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'b '.repeat(31 * 512 * 1024) }] });
      const r = await rawHttp(env.origin, 'POST', '/v1/chat/completions', {
        headers: { authorization: `Bearer ${env.apiKey}`, 'content-type': 'application/json' }, body,
      });
      assert.notEqual(r.status, 413, `31 MiB refused as too large: ${r.text.slice(0, 300)}`);
      if (r.status >= 400) assertErrorEnvelope(r.json, {}, '31 MiB body');
      await env.assertAlive();
    });
  });

  describe('upstream failures', () => {
    it('upstream 500 with an OpenAI error, no other provider → 502 server_error naming the status', async () => {
      // SPEC.md §3: when every candidate fails, a 4xx other than 429 passes through, a 5xx
      // becomes 502 server_error (the upstream's words are not the client's business)
      const r = await env.api('POST', '/v1/chat/completions', { json: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'please mock:status=500' }] } });
      assertErrorResponse(r, 502, { type: 'server_error' }, 'upstream 500');
      assert.match(r.json.error.message, /HTTP 500/);
      const rid = assertCommonHeaders(r.headers, { orgId: env.orgId });
      assert.ok(!r.text.includes(UPSTREAM_KEY), 'upstream secret never leaks');
      const s = await env.mock.stats();
      assert.ok(s.requests >= 1, 'the request reached the upstream');
      const row = env.usageRow(rid);
      assert.ok(row, 'a request that reached a provider gets a usage record');
      assert.equal(row.status, 502);
      assert.equal(row.output_tokens, 0);
      assert.equal(row.cost_nanousd, 0);
      await expectAPIError(env.client().chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'mock:status=500' }] }), 502, { type: 'server_error' });
      await env.assertAlive();
    });

    it('upstream 400 with an OpenAI error → passed through with its status and body', async () => {
      const r = await env.api('POST', '/v1/chat/completions', { json: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'mock:status=400' }] } });
      assertErrorResponse(r, 400, {}, 'upstream 400');
      assert.deepEqual(r.json, { error: { message: 'mock upstream error 400', type: 'invalid_request_error', param: null, code: null } },
        'the upstream error body is passed through');
    });

    it('upstream 500 on a streaming request → 502 error before any stream', async () => {
      const r = await env.api('POST', '/v1/chat/completions', { json: { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'mock:status=500' }] } });
      // nothing was streamed yet, so the client gets a plain error, as from OpenAI
      assertErrorResponse(r, 502, { type: 'server_error' }, 'streaming upstream 500');
      assertCommonHeaders(r.headers, { orgId: env.orgId });
      await env.assertAlive();
    });

    it('upstream answers non-JSON 500 → 502 server_error', async () => {
      const r = await env.api('POST', '/v1/chat/completions', { json: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'mock:nonjson' }] } });
      assertErrorResponse(r, 502, { type: 'server_error' }, 'non-JSON upstream');
      const rid = assertCommonHeaders(r.headers, { orgId: env.orgId });
      const row = env.usageRow(rid);
      assert.ok(row, 'usage record');
      assert.equal(row.status, 502);
      await expectAPIError(env.client().chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'mock:nonjson' }] }), 502, { type: 'server_error' });
      await env.assertAlive();
    });

    it('upstream hangs, server started with --upstream-timeout-ms 1000 → 504 server_error', async (t) => {
      if (!serveSupportsFlag('--upstream-timeout-ms')) {
        t.todo('tollgate serve has no --upstream-timeout-ms flag yet');
        return;
      }
      const env2 = await Env.start({ serveArgs: ['--upstream-timeout-ms', '1000'] });
      try {
        for (const stream of [false, true]) {
          const t0 = Date.now();
          const r = await env2.api('POST', '/v1/chat/completions', { json: { model: 'gpt-4o-mini', stream, messages: [{ role: 'user', content: 'mock:hang' }] } });
          const took = Date.now() - t0;
          assertErrorResponse(r, 504, { type: 'server_error' }, `hang, stream=${stream}`);
          assertCommonHeaders(r.headers, { orgId: env2.orgId }, `hang, stream=${stream}`);
          assert.ok(took >= 900 && took < 10000, `answered after the 1 s upstream timeout, took ${took} ms`);
        }
        await env2.assertAlive();
      } finally {
        await env2.stop();
      }
    });

    describe('upstream down (provider on a closed port)', () => {
      let down;
      before(async () => {
        const port = await getFreePort();
        down = await Env.start({ mock: false, upstreamBaseURL: `http://127.0.0.1:${port}/v1` });
      });
      after(async () => { await down?.stop(); });

      it('→ 502 server_error, for plain and streaming requests', async () => {
        for (const stream of [false, true]) {
          const r = await down.api('POST', '/v1/chat/completions', { json: { ...CHAT, stream } });
          assertErrorResponse(r, 502, { type: 'server_error' }, `upstream down, stream=${stream}`);
          assertCommonHeaders(r.headers, { orgId: down.orgId });
        }
        await expectAPIError(down.client().chat.completions.create(CHAT), 502, { type: 'server_error' });
        await expectAPIError(down.client().embeddings.create({ model: 'text-embedding-3-small', input: 'x', encoding_format: 'float' }), 502, { type: 'server_error' });
        await down.assertAlive();
      });
    });
  });

  describe('bad input never crashes the server', () => {
    const cases = [
      ['empty body', ''],
      ['JSON null', 'null'],
      ['JSON array', '[]'],
      ['JSON string', '"hello"'],
      ['JSON number', '42'],
      ['deep nesting', '['.repeat(200000)],
      ['deep object nesting', '{"a":'.repeat(100000)],
      ['messages not an array', '{"model":"gpt-4o-mini","messages":"hi"}'],
      ['messages empty', '{"model":"gpt-4o-mini","messages":[]}'],
      ['message not an object', '{"model":"gpt-4o-mini","messages":[42]}'],
      ['model is a number', '{"model":123,"messages":[{"role":"user","content":"x"}]}'],
      ['model is null', '{"model":null,"messages":[{"role":"user","content":"x"}]}'],
      ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0x6d, 0x6f, 0x64, 0x65, 0x6c, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])],
      ['NUL inside a string', '{"model":"gpt-4o-mini\\u0000evil","messages":[{"role":"user","content":"x"}]}'],
      ['huge number', '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"max_tokens":1e999999}'],
      ['negative max_tokens', '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"max_tokens":-5}'],
      ['n too large', '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"n":100000000000}'],
      ['stream not a bool', '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"stream":"yes"}'],
      ['duplicate keys', '{"model":"nope","model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"messages":7}'],
      ['trailing garbage', '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}]} trailing'],
    ];
    for (const [name, body] of cases) {
      it(`${name} → 4xx envelope, server alive, no state change`, async () => {
        const n0 = env.usageCount();
        const r = await rawHttp(env.origin, 'POST', '/v1/chat/completions', {
          headers: { authorization: `Bearer ${env.apiKey}`, 'content-type': 'application/json' }, body,
        });
        assert.ok(r.status >= 400 && r.status < 500, `4xx for ${name}, got ${r.status}: ${r.text.slice(0, 300)}`);
        assertErrorEnvelope(r.json, { type: 'invalid_request_error' }, name);
        await env.assertAlive(name);
        await assertNothingForwarded(n0, name);
      });
    }

    it('bad bodies on the Admin API → 400 and no state change', async () => {
      const keysBefore = (await env.admin('GET', `/v1/organization/projects/${env.projectId}/api_keys?limit=100`)).json.data.map((k) => k.id);
      const projectsBefore = (await env.admin('GET', '/v1/organization/projects?limit=100')).json.data.map((p) => p.id);
      for (const raw of ['{"name":', 'garbage', '[]', '{"name": 12}']) {
        const r1 = await env.admin('POST', `/v1/organization/projects/${env.projectId}/api_keys`, undefined, { raw });
        assertErrorResponse(r1, 400, { type: 'invalid_request_error' }, `create key with ${raw}`);
        const r2 = await env.admin('POST', '/v1/organization/projects', undefined, { raw });
        assertErrorResponse(r2, 400, { type: 'invalid_request_error' }, `create project with ${raw}`);
        await env.assertAlive();
      }
      const r3 = await env.admin('POST', '/v1/organization/providers', undefined, { raw: '{"name":"x","type":"nonsense","base_url":"not a url"}' });
      assertErrorResponse(r3, 400, { type: 'invalid_request_error' }, 'provider with a bad type');
      const keysAfter = (await env.admin('GET', `/v1/organization/projects/${env.projectId}/api_keys?limit=100`)).json.data.map((k) => k.id);
      const projectsAfter = (await env.admin('GET', '/v1/organization/projects?limit=100')).json.data.map((p) => p.id);
      assert.deepEqual(keysAfter, keysBefore, 'no key created by a failed creation');
      assert.deepEqual(projectsAfter, projectsBefore, 'no project created by a failed creation');
      const m = await env.api('GET', '/v1/models');
      assert.equal(m.json.data.length, 3, 'no provider/model added by a failed creation');
    });

    it('malformed HTTP, oversized headers and truncated bodies leave the server running', async () => {
      const port = env.port;
      const replies = [];
      replies.push(await rawTcp(port, 'GARBAGE\r\n\r\n'));
      replies.push(await rawTcp(port, 'GET / HTTP/9.9\r\n\r\n'));
      replies.push(await rawTcp(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(200 * 1024)}\r\n\r\n`));
      replies.push(await rawTcp(port, `GET /healthz HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 5000 }, (_, i) => `X-H${i}: v`).join('\r\n')}\r\n\r\n`));
      replies.push(await rawTcp(port, 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"model":', { timeoutMs: 500 }));
      replies.push(await rawTcp(port, 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n'));
      replies.push(await rawTcp(port, 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n'));
      replies.push(await rawTcp(port, 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzzzz\r\n'));
      replies.push(await rawTcp(port, 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n'));
      replies.push(await rawTcp(port, `GET /${'x'.repeat(100000)} HTTP/1.1\r\nHost: x\r\n\r\n`));
      replies.push(await rawTcp(port, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) & 0xff))));
      for (const rep of replies) {
        if (rep.startsWith('HTTP/1.')) {
          const status = Number(rep.split(' ')[1]);
          assert.ok((status >= 400 && status < 500) || status === 505 || status === 200, `status line: ${rep.split('\r\n')[0]}`);
        }
      }
      await env.assertAlive('after malformed HTTP');
      const ok = await env.api('POST', '/v1/chat/completions', { json: CHAT });
      assert.equal(ok.status, 200, ok.text);
    });

    it('many half-open connections do not block new requests', async () => {
      const socks = await Promise.all(Array.from({ length: 100 }, () => new Promise((res) => {
        const s = net.connect(env.port, '127.0.0.1', () => { s.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n'); res(s); });
        s.on('error', () => res(s));
      })));
      try {
        await env.assertAlive('with 100 idle half-sent connections');
        const ok = await env.api('POST', '/v1/chat/completions', { json: CHAT });
        assert.equal(ok.status, 200, ok.text);
      } finally {
        for (const s of socks) s.destroy();
      }
      assert.ok(await waitFor(async () => { try { await env.health(); return true; } catch { return false; } }, { timeoutMs: 2000 }));
    });
  });
});
