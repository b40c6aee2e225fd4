// Inference API: /v1/models, /v1/chat/completions, /v1/completions, /v1/embeddings through
// the official SDK and raw fetch; headers; what reaches the upstream; usage records.

import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  Env, MODELS, MOCK_CONTENT, MOCK_COMPLETION_TOKENS, UPSTREAM_KEY, REQUEST_ID_RE,
  assertCommonHeaders, assertErrorResponse, expectAPIError, mockPromptTokens, checkUsageRow,
} from './harness.mjs';

describe('inference', () => {
  let env;
  before(async () => { env = await Env.start(); });
  after(async () => { await env?.stop(); });
  beforeEach(async () => { await env.mock.reset(); });

  describe('models', () => {
    it('GET /v1/models lists exactly the models that have a provider', async () => {
      const r = await env.api('GET', '/v1/models');
      assert.equal(r.status, 200, r.text);
      assertCommonHeaders(r.headers, { orgId: env.orgId });
      assert.equal(r.json.object, 'list');
      assert.ok(Array.isArray(r.json.data));
      assert.deepEqual(r.json.data.map((m) => m.id).sort(), [...MODELS].sort());
      for (const m of r.json.data) {
        assert.equal(m.object, 'model');
        assert.ok(Number.isInteger(m.created), `created is an integer: ${JSON.stringify(m)}`);
        assert.equal(typeof m.owned_by, 'string');
      }
      assert.equal((await env.mock.stats()).requests, 0, 'listing models does not call the upstream');
    });

    it('SDK models.list() and models.retrieve()', async () => {
      const client = env.client();
      const ids = [];
      for await (const m of client.models.list()) ids.push(m.id);
      assert.deepEqual(ids.sort(), [...MODELS].sort());
      const { data: m, response } = await client.models.retrieve('gpt-4o-mini').withResponse();
      assert.equal(m.id, 'gpt-4o-mini');
      assert.equal(m.object, 'model');
      assert.ok(Number.isInteger(m.created));
      assert.equal(typeof m.owned_by, 'string');
      assertCommonHeaders(response.headers, { orgId: env.orgId });
    });

    it('GET /v1/models/{id} for a model without a provider is 404 model_not_found', async () => {
      for (const id of ['gpt-4o', 'no-such-model-xyz']) {
        const r = await env.api('GET', `/v1/models/${id}`);
        assertErrorResponse(r, 404, { type: 'invalid_request_error', code: 'model_not_found' }, id);
        assertCommonHeaders(r.headers, { orgId: env.orgId }, id);
        await expectAPIError(env.client().models.retrieve(id), 404, { code: 'model_not_found' });
      }
    });
  });

  describe('chat completions', () => {
    it('non-streaming via the SDK: answer, usage, headers', async (t) => {
      const messages = [
        { role: 'system', content: 'Be brief.' + '...' }, // 12 bytes
        { role: 'user', content: 'Say hi!!' }, // 8 bytes
      ];
      const startedAt = Date.now();
      const { data, response } = await env.client().chat.completions
        .create({ model: 'gpt-4o-mini', messages })
        .withResponse();
      const rid = assertCommonHeaders(response.headers, { orgId: env.orgId });
      assert.equal(data.object, 'chat.completion');
      assert.equal(typeof data.id, 'string');
      assert.equal(data.choices.length, 1);
      assert.equal(data.choices[0].message.role, 'assistant');
      assert.equal(data.choices[0].message.content, MOCK_CONTENT);
      const prompt = mockPromptTokens(messages);
      assert.equal(prompt, 6);
      assert.equal(data.usage.prompt_tokens, prompt);
      assert.equal(data.usage.completion_tokens, MOCK_COMPLETION_TOKENS);
      assert.equal(data.usage.total_tokens, prompt + MOCK_COMPLETION_TOKENS);

      const row = env.usageRow(rid);
      await checkUsageRow(env, t, row, {
        requestId: rid, model: 'gpt-4o-mini', endpoint: 'chat.completions',
        input: prompt, output: MOCK_COMPLETION_TOKENS, startedAt,
      });
    });

    it('forwards to the upstream with the provider credential and the client fields intact', async () => {
      const body = {
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'abcd' }],
        temperature: 0.5,
        max_tokens: 50,
        user: 'user-1234',
        metadata: { k: 'v' },
      };
      const r = await env.api('POST', '/v1/chat/completions', { json: body });
      assert.equal(r.status, 200, r.text);
      assertCommonHeaders(r.headers, { orgId: env.orgId });
      assert.match(r.headers.get('content-type') ?? '', /^application\/json/);

      const s = await env.mock.stats();
      assert.equal(s.requests, 1, 'exactly one upstream request');
      const lr = s.last_request;
      assert.equal(lr.method, 'POST');
      assert.equal(lr.path, '/v1/chat/completions');
      assert.equal(lr.authorization, `Bearer ${UPSTREAM_KEY}`, 'upstream Authorization is the provider key');
      assert.ok(!JSON.stringify(lr).includes(env.apiKey), 'the client key never reaches the upstream');
      assert.equal(typeof lr.body, 'object', `upstream body is JSON: ${lr.body}`);
      assert.equal(lr.body.model, 'gpt-4o-mini');
      assert.deepEqual(lr.body.messages, body.messages);
      assert.equal(lr.body.temperature, 0.5);
      assert.equal(lr.body.max_tokens, 50);
      assert.equal(lr.body.user, 'user-1234');
      assert.deepEqual(lr.body.metadata, { k: 'v' });
      assert.ok(!lr.body.stream, 'non-streaming request stays non-streaming upstream');
      assert.ok(!('stream_options' in lr.body) || lr.body.stream_options === null,
        `stream_options must not be sent upstream without stream (OpenAI rejects it): ${JSON.stringify(lr.body)}`);
    });

    it('every response has a distinct request id, and each gets its own usage record', async () => {
      const client = env.client();
      const n0 = env.usageCount();
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          client.chat.completions
            .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `n=${String(i).padStart(2, '0')}` }] })
            .withResponse()),
      );
      const ids = results.map(({ response }) => response.headers.get('x-request-id'));
      for (const id of ids) assert.match(id, REQUEST_ID_RE);
      assert.equal(new Set(ids).size, ids.length, 'request ids are unique');
      for (const { data } of results) assert.equal(data.choices[0].message.content, MOCK_CONTENT);
      assert.equal(env.usageCount(), n0 + ids.length);
      for (const id of ids) {
        const row = env.usageRow(id);
        assert.ok(row, `usage record for ${id}`);
        assert.equal(row.input_tokens, 2); // 1 + 4 bytes / 4
        assert.equal(row.output_tokens, MOCK_COMPLETION_TOKENS);
        assert.equal(row.status, 200);
      }
      assert.equal((await env.mock.stats()).requests, ids.length);
    });
  });

  describe('rate-limit headers', () => {
    // The operator's own organisation has no tier limits: no x-ratelimit-* headers until a
    // project limit applies (customer organisations always have their tier's limits; see
    // ratelimits.test.mjs).
    it('inference responses carry the six x-ratelimit-* headers when a limit applies', async () => {
      let r = await env.api('POST', '/v1/chat/completions', { json: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'rl' }] } });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get('x-ratelimit-limit-requests'), null);
      const set = await env.admin('POST', `/v1/organization/projects/${env.projectId}/rate_limits/rl-gpt-4o-mini`,
        { max_requests_per_1_minute: 100000, max_tokens_per_1_minute: 100000000 });
      assert.equal(set.status, 200, set.text);
      r = await env.api('POST', '/v1/chat/completions', { json: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'rl' }] } });
      assert.equal(r.status, 200, r.text);
      for (const kind of ['requests', 'tokens']) {
        assert.match(r.headers.get(`x-ratelimit-limit-${kind}`) ?? '', /^\d+$/, `x-ratelimit-limit-${kind}`);
        assert.match(r.headers.get(`x-ratelimit-remaining-${kind}`) ?? '', /^\d+$/, `x-ratelimit-remaining-${kind}`);
        assert.match(r.headers.get(`x-ratelimit-reset-${kind}`) ?? '', /^(\d+h)?(\d+m)?(\d+(\.\d+)?s|\d+ms)$/, `x-ratelimit-reset-${kind}`);
      }
      assert.equal(r.headers.get('x-ratelimit-limit-requests'), '100000');
      assert.equal(r.headers.get('x-ratelimit-remaining-requests'), '99999');
      // back to no project limit for the other tests
      const unset = await env.admin('POST', `/v1/organization/projects/${env.projectId}/rate_limits/rl-gpt-4o-mini`,
        { max_requests_per_1_minute: 0, max_tokens_per_1_minute: 0 });
      assert.equal(unset.status, 200, unset.text);
    });
  });

  describe('completions (legacy)', () => {
    it('SDK completions.create() reaches the upstream and is recorded', async (t) => {
      const startedAt = Date.now();
      const { data, response } = await env.client().completions
        .create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Once upon', max_tokens: 16 })
        .withResponse();
      const rid = assertCommonHeaders(response.headers, { orgId: env.orgId });
      assert.equal(data.object, 'text_completion');
      assert.ok(Array.isArray(data.choices) && data.choices.length >= 1);
      assert.equal(typeof data.choices[0].text, 'string');
      assert.ok(data.usage, 'usage present');
      assert.ok(Number.isInteger(data.usage.prompt_tokens));
      assert.ok(Number.isInteger(data.usage.completion_tokens));

      const s = await env.mock.stats();
      assert.equal(s.last_request.path, '/v1/completions');
      assert.equal(s.last_request.authorization, `Bearer ${UPSTREAM_KEY}`);
      assert.equal(s.last_request.body.model, 'gpt-3.5-turbo-instruct');
      assert.equal(s.last_request.body.prompt, 'Once upon');

      const row = env.usageRow(rid);
      await checkUsageRow(env, t, row, {
        requestId: rid, model: 'gpt-3.5-turbo-instruct', endpoint: 'completions',
        input: data.usage.prompt_tokens, output: data.usage.completion_tokens, startedAt,
      });
    });
  });

  describe('embeddings', () => {
    it('SDK embeddings.create() reaches the upstream and is recorded', async (t) => {
      const startedAt = Date.now();
      const { data, response } = await env.client().embeddings
        .create({ model: 'text-embedding-3-small', input: ['hello world', 'second'], encoding_format: 'float' })
        .withResponse();
      const rid = assertCommonHeaders(response.headers, { orgId: env.orgId });
      assert.equal(data.object, 'list');
      assert.ok(Array.isArray(data.data) && data.data.length >= 1);
      assert.equal(data.data[0].object, 'embedding');
      assert.ok(Array.isArray(data.data[0].embedding) && data.data[0].embedding.length > 0);
      assert.ok(data.data[0].embedding.every((x) => typeof x === 'number'));
      assert.ok(Number.isInteger(data.usage.prompt_tokens));

      const s = await env.mock.stats();
      assert.equal(s.last_request.path, '/v1/embeddings');
      assert.equal(s.last_request.authorization, `Bearer ${UPSTREAM_KEY}`);
      assert.deepEqual(s.last_request.body.input, ['hello world', 'second']);

      const row = env.usageRow(rid);
      await checkUsageRow(env, t, row, {
        requestId: rid, model: 'text-embedding-3-small', endpoint: 'embeddings',
        input: data.usage.prompt_tokens, output: 0, startedAt,
      });
    });
  });

  describe('usage records', () => {
    it('a refused request (unknown model, bad body, wrong key) writes no usage record and reaches no upstream', async () => {
      const n0 = env.usageCount();
      const r1 = await env.api('POST', '/v1/chat/completions', { json: { model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] } });
      assert.equal(r1.status, 404, r1.text);
      const r2 = await env.api('POST', '/v1/chat/completions', { body: '{"model":' });
      assert.equal(r2.status, 400, r2.text);
      const r3 = await env.api('POST', '/v1/chat/completions', {
        key: 'sk-proj-thisisnotarealkey0000000000000000000000', json: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] },
      });
      assert.equal(r3.status, 401, r3.text);
      assertErrorResponse(r1, 404, { code: 'model_not_found' });
      assertErrorResponse(r2, 400, { type: 'invalid_request_error', code: null });
      assertErrorResponse(r3, 401, { type: 'invalid_request_error', code: 'invalid_api_key' });
      assert.equal(env.usageCount(), n0, 'no usage record for refused requests');
      assert.equal((await env.mock.stats()).requests, 0, 'the upstream saw nothing');
      for (const r of [r1, r2, r3]) {
        const rid = r.headers.get('x-request-id');
        if (rid) assert.equal(env.usageRow(rid), undefined);
      }
    });
  });
});
