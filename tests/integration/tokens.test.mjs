// The BPE tokenizer on the request path: the context window is enforced before any upstream
// sees the request (400 context_length_exceeded), and an aborted stream without a usage
// chunk is charged the exact tokens of the text relayed so far.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

import { Env, assertErrorResponse, waitFor } from './harness.mjs';

describe('tokens', () => {
  let env;

  before(async () => {
    env = await Env.start({ models: ['gpt-4o-mini', 'text-embedding-3-small'] });
    // a tiny context window: 50 tokens
    let r = await env.admin('POST', '/v1/organization/models/tiny-ctx', {
      input_price: '1', output_price: '1', context_window: 50, max_output_tokens: 40, tokenizer: 'o200k_base',
    });
    assert.equal(r.status, 200, r.text);
    r = await env.admin('POST', `/v1/organization/providers/${env.providerId}`, {
      models: [{ model: 'gpt-4o-mini' }, { model: 'text-embedding-3-small' }, { model: 'tiny-ctx' }],
    });
    assert.equal(r.status, 200, r.text);
  });

  after(async () => { await env?.stop(); });

  // "hello" is 1 token in o200k_base: 3 (message) + 1 (role "user") + n + 3 (reply priming)
  const msgs = (n) => [{ role: 'user', content: Array(n).fill('hello').join(' ') }];

  it('refuses a prompt that does not fit, before the upstream sees it', async () => {
    await env.mock.reset();
    const r = await env.api('POST', '/v1/chat/completions', { json: { model: 'tiny-ctx', messages: msgs(60) } });
    assertErrorResponse(r, 400, { type: 'invalid_request_error', code: 'context_length_exceeded', param: 'messages' });
    assert.equal(r.json.error.message,
      "This model's maximum context length is 50 tokens. However, your messages resulted in 67 tokens. " +
      'Please reduce the length of the messages.');
    assert.equal((await env.mock.stats()).requests, 0);
  });

  it('counts the completion asked for', async () => {
    const r = await env.api('POST', '/v1/chat/completions', {
      json: { model: 'tiny-ctx', max_tokens: 40, messages: msgs(4) },
    });
    assertErrorResponse(r, 400, { code: 'context_length_exceeded', param: 'messages' });
    assert.equal(r.json.error.message,
      "This model's maximum context length is 50 tokens. However, you requested 51 tokens " +
      '(11 in the messages, 40 in the completion). Please reduce the length of the messages or completion.');
    // exactly at the limit: 10 + 40 = 50 passes
    const ok = await env.api('POST', '/v1/chat/completions', {
      json: { model: 'tiny-ctx', max_tokens: 40, messages: msgs(3) },
    });
    assert.equal(ok.status, 200, ok.text);
  });

  it('the SDK sees a BadRequestError with the code', async () => {
    const client = env.client();
    await assert.rejects(client.chat.completions.create({ model: 'tiny-ctx', messages: msgs(100) }), (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError);
      assert.equal(e.code, 'context_length_exceeded');
      assert.equal(e.param, 'messages');
      return true;
    });
  });

  it('an embedding input over the model limit is refused', async () => {
    const big = Array(9000).fill('hello').join(' '); // 9000 tokens in cl100k_base > 8192
    const r = await env.api('POST', '/v1/embeddings', {
      json: { model: 'text-embedding-3-small', input: ['short', big] },
    });
    assertErrorResponse(r, 400, { code: 'context_length_exceeded', param: 'input' });
    assert.match(r.json.error.message, /maximum context length is 8192 tokens, however you requested 9000 tokens in input\[1\]/);
  });

  it('an aborted slow stream: output = the tokens of the relayed text', async () => {
    const ac = new AbortController();
    const res = await fetch(`${env.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${env.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'mock:slow' }] }),
      signal: ac.signal,
    });
    const rid = res.headers.get('x-request-id');
    const reader = res.body.getReader();
    let text = '';
    for (;;) {
      const { value } = await reader.read();
      text += Buffer.from(value).toString('utf8');
      if ((text.match(/"content":"tok "/g) ?? []).length >= 4) break;
    }
    ac.abort();
    await waitFor(() => env.sql(`SELECT COUNT(*) AS n FROM usage_records WHERE request_id='${rid}'`)[0].n === 1,
      { timeoutMs: 5000 });
    const row = env.sql(`SELECT output_tokens, aborted FROM usage_records WHERE request_id='${rid}'`)[0];
    assert.equal(row.aborted, 1);
    // "tok " is 2 tokens in o200k_base ("tok", " "), but "tok tok " merges: the count is the
    // tokenizer's for the concatenated text, between one per chunk and two per chunk
    assert.ok(row.output_tokens >= 4 && row.output_tokens <= 12, JSON.stringify(row));
  });
});
