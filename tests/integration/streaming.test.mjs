// Streaming chat completions: SSE pass-through, usage-chunk handling, what the upstream is
// asked for, usage records, and client aborts mid-stream.

import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  Env, MOCK_CONTENT, MOCK_COMPLETION_TOKENS, UPSTREAM_KEY,
  assertCommonHeaders, mockPromptTokens, parseSSE, checkUsageRow, waitFor, sleep,
} from './harness.mjs';

const MESSAGES = [{ role: 'user', content: 'Stream me a story!!!' }]; // 20 bytes → 6 prompt tokens

/** Checks what the upstream was asked for on a streaming request. */
async function checkUpstreamStreamRequest(env) {
  const s = await env.mock.stats();
  assert.equal(s.requests, 1, 'exactly one upstream request');
  const lr = s.last_request;
  assert.equal(lr.method, 'POST');
  assert.equal(lr.path, '/v1/chat/completions');
  assert.equal(lr.authorization, `Bearer ${UPSTREAM_KEY}`);
  assert.equal(typeof lr.body, 'object', `upstream body is JSON: ${lr.body}`);
  assert.equal(lr.body.stream, true);
  assert.equal(lr.body.model, 'gpt-4o-mini', 'the provider\'s upstream model');
  assert.equal(lr.body.stream_options?.include_usage, true, `upstream always asked for usage: ${JSON.stringify(lr.body)}`);
  assert.deepEqual(lr.body.messages, MESSAGES);
}

/** Common checks on the chunks of a complete stream; returns the joined content. */
function checkChunks(chunks) {
  assert.ok(chunks.length >= 2, `several chunks: ${chunks.length}`);
  const ids = new Set();
  let content = '';
  let finish = null;
  for (const c of chunks) {
    assert.equal(c.object, 'chat.completion.chunk', JSON.stringify(c));
    ids.add(c.id);
    for (const ch of c.choices ?? []) {
      if (typeof ch.delta?.content === 'string') content += ch.delta.content;
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  assert.equal(ids.size, 1, 'every chunk carries the same id');
  assert.equal(finish, 'stop');
  assert.equal(content, MOCK_CONTENT);
  return content;
}

/** Reads an SSE body with fetch until `n` events with non-empty delta content arrived. */
async function readContentEvents(body, n) {
  const reader = body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  let seen = 0;
  while (seen < n) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    const parts = buf.split(/\r?\n\r?\n/);
    buf = parts.pop();
    for (const p of parts) {
      for (const d of parseSSE(p + '\n\n')) {
        if (d === '[DONE]') continue;
        const j = JSON.parse(d);
        if (j.choices?.[0]?.delta?.content) seen++;
      }
    }
  }
  return { reader, seen };
}

describe('streaming', () => {
  let env;
  before(async () => { env = await Env.start(); });
  after(async () => { await env?.stop(); });
  beforeEach(async () => { await env.mock.reset(); });

  it('SDK stream without include_usage: content passes through, no usage chunk reaches the client', async (t) => {
    const startedAt = Date.now();
    const { data: stream, response } = await env.client().chat.completions
      .create({ model: 'gpt-4o-mini', messages: MESSAGES, stream: true })
      .withResponse();
    const rid = assertCommonHeaders(response.headers, { orgId: env.orgId });
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    checkChunks(chunks);
    for (const c of chunks) {
      assert.ok(!('usage' in c), `no usage key at all without include_usage (as OpenAI): ${JSON.stringify(c)}`);
      assert.ok(Array.isArray(c.choices) && c.choices.length > 0, `no chunk with empty choices: ${JSON.stringify(c)}`);
    }
    await checkUpstreamStreamRequest(env);
    await checkUsageRow(env, t, env.usageRow(rid), {
      requestId: rid, model: 'gpt-4o-mini', endpoint: 'chat.completions',
      input: mockPromptTokens(MESSAGES), output: MOCK_COMPLETION_TOKENS, streamed: 1, startedAt,
    });
  });

  it('SDK stream with include_usage: false behaves like no include_usage', async () => {
    const stream = await env.client().chat.completions.create({
      model: 'gpt-4o-mini', messages: MESSAGES, stream: true, stream_options: { include_usage: false },
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    checkChunks(chunks);
    for (const c of chunks) {
      assert.ok(!('usage' in c), `no usage key: ${JSON.stringify(c)}`);
      assert.ok(c.choices.length > 0, `no chunk with empty choices: ${JSON.stringify(c)}`);
    }
    await checkUpstreamStreamRequest(env);
  });

  it('SDK stream with include_usage: the last chunk has choices [] and the usage', async (t) => {
    const startedAt = Date.now();
    const { data: stream, response } = await env.client().chat.completions
      .create({ model: 'gpt-4o-mini', messages: MESSAGES, stream: true, stream_options: { include_usage: true } })
      .withResponse();
    const rid = assertCommonHeaders(response.headers, { orgId: env.orgId });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    checkChunks(chunks);
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, [], `last chunk has empty choices: ${JSON.stringify(last)}`);
    const prompt = mockPromptTokens(MESSAGES);
    assert.equal(prompt, 6);
    assert.equal(last.usage?.prompt_tokens, prompt, JSON.stringify(last));
    assert.equal(last.usage.completion_tokens, MOCK_COMPLETION_TOKENS);
    assert.equal(last.usage.total_tokens, prompt + MOCK_COMPLETION_TOKENS);
    const withUsage = chunks.filter((c) => c.usage);
    assert.equal(withUsage.length, 1, 'exactly one chunk carries usage');
    await checkUpstreamStreamRequest(env);
    await checkUsageRow(env, t, env.usageRow(rid), {
      requestId: rid, model: 'gpt-4o-mini', endpoint: 'chat.completions',
      input: prompt, output: MOCK_COMPLETION_TOKENS, streamed: 1, startedAt,
    });
  });

  it('raw SSE wire format: data-only events ending with [DONE]', async () => {
    for (const includeUsage of [false, true]) {
      await env.mock.reset();
      const body = { model: 'gpt-4o-mini', messages: MESSAGES, stream: true };
      if (includeUsage) body.stream_options = { include_usage: true };
      const r = await env.api('POST', '/v1/chat/completions', { json: body });
      assert.equal(r.status, 200, r.text);
      assert.match(r.headers.get('content-type') ?? '', /^text\/event-stream/);
      const rid = assertCommonHeaders(r.headers, { orgId: env.orgId });
      for (const block of r.text.split(/\r?\n\r?\n/).filter((b) => b.trim())) {
        assert.ok(block.split(/\r?\n/).every((l) => l.startsWith('data:') || l.startsWith(':')),
          `only data events (or comments): ${JSON.stringify(block)}`);
      }
      const events = parseSSE(r.text);
      assert.equal(events.at(-1), '[DONE]', 'the stream ends with data: [DONE]');
      assert.equal(events.filter((e) => e === '[DONE]').length, 1, 'one [DONE]');
      const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
      checkChunks(chunks);
      const usageChunks = chunks.filter((c) => c.usage);
      const emptyChoices = chunks.filter((c) => Array.isArray(c.choices) && c.choices.length === 0);
      if (includeUsage) {
        assert.equal(usageChunks.length, 1, `one usage chunk: ${r.text}`);
        assert.equal(chunks.at(-1), usageChunks[0], 'the usage chunk is the last one before [DONE]');
        assert.deepEqual(chunks.at(-1).choices, []);
        assert.equal(chunks.at(-1).usage.completion_tokens, MOCK_COMPLETION_TOKENS);
      } else {
        assert.equal(usageChunks.length, 0, `no usage chunk: ${r.text}`);
        assert.ok(chunks.every((c) => !('usage' in c)), `no usage key in any chunk: ${r.text}`);
        assert.equal(emptyChoices.length, 0, `no chunk with empty choices: ${r.text}`);
      }
      const row = env.usageRow(rid);
      assert.ok(row, 'usage record');
      assert.equal(row.streamed, 1);
      assert.equal(row.output_tokens, MOCK_COMPLETION_TOKENS);
      assert.equal(row.input_tokens, mockPromptTokens(MESSAGES));
      await checkUpstreamStreamRequest(env);
    }
  });

  it('client abort mid-stream (SDK controller.abort): upstream cancelled, tokens so far charged, status 499', async (t) => {
    const client = env.client();
    const t0 = Date.now();
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'go slowly mock:slow' }], stream: true })
      .withResponse();
    const rid = assertCommonHeaders(response.headers, { orgId: env.orgId });
    let seen = 0;
    let abortedAt = 0;
    for await (const c of stream) {
      if (c.choices?.[0]?.delta?.content) seen++;
      if (seen >= 3) {
        stream.controller.abort();
        abortedAt = Date.now();
        break;
      }
    }
    assert.equal(seen, 3, 'read 3 content chunks before aborting');
    // the mock sends a chunk every 50 ms for 10 s: 3 chunks this early means no buffering
    assert.ok(abortedAt - t0 < 2000, `chunks are relayed as they arrive (3 chunks after ${abortedAt - t0} ms)`);
    const s = await waitFor(async () => {
      const st = await env.mock.stats();
      return st.aborted === 1 ? st : null;
    }, { timeoutMs: 2000 });
    assert.ok(s, `the upstream request was cancelled within 2 s: ${JSON.stringify(await env.mock.stats())}`);
    const row = await waitFor(() => env.usageRow(rid), { timeoutMs: Math.max(0, 2000 - (Date.now() - abortedAt)) });
    if (!row) assert.fail(`no usage record for the aborted request within 2 s of the abort (rows: ${JSON.stringify(env.usageRows())})`);
    await checkUsageRow(env, t, row, {
      requestId: rid, model: 'gpt-4o-mini', endpoint: 'chat.completions',
      input: (n) => Number.isInteger(n) && n > 0, output: (n) => n >= 3 && n < 200,
      status: 499, streamed: 1, aborted: 1,
    });
    await env.assertAlive('after a client abort');
  });

  it('client abort mid-stream (fetch AbortController): same settlement', async (t) => {
    const ac = new AbortController();
    const r = await fetch(`${env.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${env.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'mock:slow' }], stream: true, stream_options: { include_usage: true } }),
      signal: ac.signal,
    });
    assert.equal(r.status, 200);
    const rid = assertCommonHeaders(r.headers, { orgId: env.orgId });
    const { seen } = await readContentEvents(r.body, 3);
    assert.equal(seen, 3);
    ac.abort();
    const abortedAt = Date.now();
    const s = await waitFor(async () => ((await env.mock.stats()).aborted === 1), { timeoutMs: 2000 });
    assert.ok(s, `upstream cancelled within 2 s: ${JSON.stringify(await env.mock.stats())}`);
    const row = await waitFor(() => env.usageRow(rid), { timeoutMs: Math.max(0, 2000 - (Date.now() - abortedAt)) });
    assert.ok(row, 'usage record within 2 s of the abort');
    await checkUsageRow(env, t, row, {
      requestId: rid, model: 'gpt-4o-mini', endpoint: 'chat.completions',
      input: (n) => Number.isInteger(n) && n > 0, output: (n) => n >= 3 && n < 200,
      status: 499, streamed: 1, aborted: 1,
    });
  });

  it('abort right after the headers (before any content) is settled too', async () => {
    const ac = new AbortController();
    const r = await fetch(`${env.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${env.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'mock:slow' }], stream: true }),
      signal: ac.signal,
    });
    assert.equal(r.status, 200);
    const rid = r.headers.get('x-request-id');
    ac.abort();
    assert.ok(await waitFor(async () => ((await env.mock.stats()).aborted === 1), { timeoutMs: 2000 }), 'upstream cancelled');
    const row = await waitFor(() => env.usageRow(rid), { timeoutMs: 2000 });
    assert.ok(row, 'usage record');
    assert.equal(row.status, 499);
    assert.equal(row.aborted, 1);
    assert.equal(row.streamed, 1);
    await env.assertAlive();
  });

  it('after aborts, streams and plain requests still work on the same server', async () => {
    await sleep(100);
    const stream = await env.client().chat.completions.create({ model: 'gpt-4o-mini', messages: MESSAGES, stream: true });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    checkChunks(chunks);
    const done = await env.client().chat.completions.create({ model: 'gpt-4o-mini', messages: MESSAGES });
    assert.equal(done.choices[0].message.content, MOCK_CONTENT);
    await env.assertAlive();
  });

  it('several concurrent streams are each relayed and recorded', async () => {
    const client = env.client();
    const n0 = env.usageCount();
    const runs = await Promise.all(Array.from({ length: 8 }, async () => {
      const { data: stream, response } = await client.chat.completions
        .create({ model: 'gpt-4o-mini', messages: MESSAGES, stream: true, stream_options: { include_usage: true } })
        .withResponse();
      const chunks = [];
      for await (const c of stream) chunks.push(c);
      return { rid: response.headers.get('x-request-id'), chunks };
    }));
    for (const { rid, chunks } of runs) {
      checkChunks(chunks);
      assert.equal(chunks.at(-1).usage.completion_tokens, MOCK_COMPLETION_TOKENS);
      const row = env.usageRow(rid);
      assert.ok(row, `usage record ${rid}`);
      assert.equal(row.streamed, 1);
      assert.equal(row.aborted, 0);
      assert.equal(row.output_tokens, MOCK_COMPLETION_TOKENS);
    }
    assert.equal(env.usageCount(), n0 + runs.length);
  });
});
