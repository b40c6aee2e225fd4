// kill -9 under load: no usage is lost or charged twice, and the ledger rebuilt at restart
// is exactly what the database holds.
//
// A customer organisation with credit sends 50 requests (non-streamed chat, streamed chat
// with and without include_usage, embeddings) to a slow upstream (600 ms before the answer,
// 50 ms between stream chunks), staggered over one second; the server is killed with SIGKILL
// as soon as some answers (streamed and not) are complete, some streams are mid-way and many
// requests still wait for the upstream; it is restarted on the same database and the books
// are checked. Twice: the second crash hits a ledger that was itself rebuilt from the
// database.
//
// What a crash does to a request, by where it is:
//  - answered (a non-streamed body, or a stream's `data: [DONE]`): the server sends the end
//    of the response only after the usage record, its aggregate and its credit charges have
//    committed in one SQLite transaction, so it has exactly one record and is charged once;
//  - in flight (waiting for the upstream, or mid-stream): nothing was committed for it, so
//    it has no record and is charged nothing, which is never more than its reservation (the
//    reservation lived only in memory and dies with the process). The one exception is a
//    request whose record committed in the instant between the commit and the last bytes of
//    its response: it has one record and one charge, like an answered request, although its
//    client saw the connection drop;
//  - not yet admitted: nothing at all.
// A client that did not get a complete answer may retry; the retry is a new request (a new
// request id) and is charged on its own.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import OpenAI from 'openai';
import { Env, Mock, MOCK_BIN, spawnAndWait, sleep, REQUEST_ID_RE, exited } from './harness.mjs';

const N = 50;
const SPREAD_MS = 1000;
const KILL_DEADLINE_MS = 2500;

function nanos(dec) {
  const m = /^(-?)(\d+)(?:\.(\d{1,9}))?$/.exec(String(dec));
  assert.ok(m, `an exact dollar amount: ${dec}`);
  const v = BigInt(m[2]) * 1_000_000_000n + BigInt((m[3] ?? '').padEnd(9, '0'));
  return m[1] ? -v : v;
}

function exactJson(text) {
  return JSON.parse(text.replace(/("(?:[^"\\]|\\.)*")|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g,
    (m, s) => (s ? s : JSON.stringify(m))));
}

const q = (s) => `'${String(s).replace(/'/g, "''")}'`;

async function startMock(args) {
  const { child, match, logs } = await spawnAndWait(MOCK_BIN, ['--listen', '127.0.0.1:0', ...args], {
    stream: 'stdout', pattern: /listening on (?:[^\s]*:)?(\d+)/, name: 'mock_upstream(slow)',
  });
  const m = new Mock();
  m.proc = child;
  m.port = Number(match[1]);
  m.origin = `http://127.0.0.1:${m.port}`;
  m.baseURL = `${m.origin}/v1`;
  m.logs = logs;
  return m;
}

/**
 * fetch for the SDK that notes, per response, whether a stream delivered `data: [DONE]`:
 * the SDK ends a stream quietly when the body ends early, so "complete" is decided here.
 */
const streamState = new WeakMap();
async function trackingFetch(url, init) {
  const res = await fetch(url, init);
  if (!(res.headers.get('content-type') ?? '').includes('text/event-stream') || !res.body) return res;
  const st = { done: false, tail: '' };
  const dec = new TextDecoder();
  const body = res.body.pipeThrough(new TransformStream({
    transform(chunk, ctl) {
      const t = st.tail + dec.decode(chunk, { stream: true });
      if (/(^|\n)data: \[DONE\]\r?\n/.test(t)) st.done = true;
      st.tail = t.slice(-64);
      ctl.enqueue(chunk);
    },
  }));
  const out = new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  streamState.set(out, st);
  return out;
}

describe('kill -9 under load', () => {
  let env;
  let mock;
  let org;
  let client;

  before(async () => {
    mock = await startMock(['--latency-ms', '600', '--chunk-delay-ms', '50', '--threads', '2']);
    env = await Env.start({ mock: false, upstreamBaseURL: mock.baseURL });
    env.mock = mock;
    const r = await env.admin('POST', '/v1/platform/organizations', { name: 'Crash customer' });
    assert.equal(r.status, 200, r.text);
    org = { id: r.json.id, projectId: r.json.default_project_id, adminKey: r.json.admin_key.value };
    // Tier Free allows 3 chat requests a minute; this test is about money, so the customer is
    // moved to Tier 5 in the database (the platform API cannot set a tier yet); creating the
    // key below reloads the catalog and with it the tier.
    env.sql(`UPDATE organizations SET tier='tier_5' WHERE id=${q(org.id)}`);
    const k = await env.admin('POST', `/v1/organization/projects/${org.projectId}/api_keys`, { name: 'k' }, { key: org.adminKey });
    assert.equal(k.status, 200, k.text);
    org.apiKey = k.json.value;
    // $10 in two grants (so charges are spread over grants too), and a monthly limit high
    // enough never to refuse, so that GET spend_limit shows the month spend the ledger rebuilt
    for (const body of [{ amount: 300, expires_at: Math.floor(Date.now() / 1000) + 86400 }, { amount: 700 }]) {
      const g = await env.admin('POST', `/v1/platform/organizations/${org.id}/credit_grants`, body);
      assert.equal(g.status, 200, g.text);
    }
    const l = await env.admin('POST', '/v1/organization/spend_limit', { threshold_amount: 100000 }, { key: org.adminKey });
    assert.equal(l.status, 200, l.text);
    client = () => new OpenAI({ apiKey: org.apiKey, baseURL: env.baseURL, maxRetries: 0, timeout: 10000, fetch: trackingFetch });
  });

  after(async () => {
    await env?.stop();
  });

  /**
   * One request of kind i % 4; resolves with `out` = {kind, state, complete, rid, error},
   * which is updated as the request progresses (state: sent, headers, streaming, done).
   */
  async function send(cl, i, out = {}) {
    const kind = ['chat', 'stream', 'stream+usage', 'embeddings'][i % 4];
    const content = `crash test request ${i}`;
    Object.assign(out, { kind, state: 'sent', complete: false, rid: null, error: null });
    try {
      if (kind === 'chat') {
        const { data, response } = await cl.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] }).withResponse();
        out.rid = response.headers.get('x-request-id');
        assert.equal(data._request_id, out.rid, 'the SDK exposes the x-request-id');
        out.complete = data.choices?.[0]?.message?.content?.length > 0 && !!data.usage;
      } else if (kind === 'embeddings') {
        const { data, response } = await cl.embeddings.create({ model: 'text-embedding-3-small', input: content, encoding_format: 'float' }).withResponse();
        out.rid = response.headers.get('x-request-id');
        out.complete = data.data?.length === 1 && !!data.usage;
      } else {
        const body = { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content }] };
        if (kind === 'stream+usage') body.stream_options = { include_usage: true };
        const { data: s, response } = await cl.chat.completions.create(body).withResponse();
        out.rid = response.headers.get('x-request-id');
        out.state = 'headers';
        const st = streamState.get(response);
        assert.ok(st, 'the SDK hands back the response of our fetch');
        for await (const ch of s) {
          if (ch.choices?.[0]?.delta?.content) out.state = 'streaming';
        }
        out.complete = st.done;
      }
      if (out.complete) out.state = 'done';
    } catch (e) {
      out.error = e;
      if (e instanceof OpenAI.APIError && e.headers) out.rid ??= e.headers.get('x-request-id');
    }
    return out;
  }

  function books() {
    const one = (sql) => BigInt(env.sql(sql)[0].v);
    return {
      cost: one(`SELECT CAST(COALESCE(SUM(cost_nanousd),0) AS TEXT) v FROM usage_records WHERE organization_id=${q(org.id)}`),
      records: one(`SELECT CAST(COUNT(*) AS TEXT) v FROM usage_records WHERE organization_id=${q(org.id)}`),
      consumed: one(`SELECT CAST(COALESCE(SUM(consumed),0) AS TEXT) v FROM credit_grants WHERE organization_id=${q(org.id)}`),
      granted: one(`SELECT CAST(COALESCE(SUM(amount),0) AS TEXT) v FROM credit_grants WHERE organization_id=${q(org.id)}`),
      overdraft: one(`SELECT CAST(overdraft AS TEXT) v FROM organizations WHERE id=${q(org.id)}`),
      aggCost: one(`SELECT CAST(COALESCE(SUM(cost_nanousd),0) AS TEXT) v FROM usage_agg WHERE organization_id=${q(org.id)}`),
      aggRequests: one(`SELECT CAST(COALESCE(SUM(requests),0) AS TEXT) v FROM usage_agg WHERE organization_id=${q(org.id)}`),
      grants: env.sql(`SELECT id, CAST(consumed AS TEXT) AS consumed FROM credit_grants WHERE organization_id=${q(org.id)}`),
    };
  }

  /** The database alone (server dead): every charge belongs to a record and vice versa. */
  function checkDb(ctx) {
    const b = books();
    const dup = env.sql('SELECT request_id, COUNT(*) AS n FROM usage_records GROUP BY request_id HAVING COUNT(*) > 1');
    assert.deepEqual(dup, [], `${ctx}: no request id recorded twice`);
    assert.equal(b.overdraft, 0n, `${ctx}: no overdraft`);
    assert.equal(b.consumed, b.cost, `${ctx}: Σ credit_grants.consumed (${b.consumed}) == Σ usage_records.cost_nanousd (${b.cost})`);
    assert.equal(b.aggCost, b.cost, `${ctx}: Σ usage_agg.cost_nanousd == Σ usage_records.cost_nanousd`);
    assert.equal(b.aggRequests, b.records, `${ctx}: Σ usage_agg.requests == number of usage records`);
    return b;
  }

  /** The rebuilt ledger (server up) against the database. */
  async function checkApi(ctx) {
    const b = books();
    const r = await env.admin('GET', '/v1/organization/billing/balance', undefined, { key: org.adminKey });
    assert.equal(r.status, 200, r.text);
    const j = exactJson(r.text);
    assert.equal(nanos(j.reserved), 0n, `${ctx}: no reservation survives a restart`);
    assert.equal(nanos(j.granted), b.granted, `${ctx}: granted`);
    assert.equal(nanos(j.used), b.cost, `${ctx}: used == Σ cost`);
    assert.equal(nanos(j.available), b.granted - b.cost, `${ctx}: available == granted − Σ cost`);
    for (const g of j.grants) {
      const row = b.grants.find((x) => x.id === g.id);
      assert.equal(nanos(g.used), BigInt(row.consumed), `${ctx}: grant ${g.id} used == consumed column`);
    }
    const l = await env.admin('GET', '/v1/organization/spend_limit', undefined, { key: org.adminKey });
    assert.equal(l.status, 200, l.text);
    assert.equal(nanos(exactJson(l.text).current_spend), b.cost, `${ctx}: the month spend rebuilt from usage_agg == Σ cost`);
  }

  async function crashRound(round) {
    const ctx = `crash ${round}`;
    const cl = client();
    const t0 = Date.now();
    const pending = [];
    const live = [];
    for (let i = 0; i < N; i++) {
      const o = {};
      live.push(o);
      pending.push(send(cl, i, o));
      await sleep(SPREAD_MS / N);
    }
    // Kill when the load is cut at every stage: answers complete (streamed and not), streams
    // mid-way, and many requests still waiting for the upstream — or at the deadline.
    const ready = () => live.some((o) => o.kind === 'chat' && o.complete)
      && live.some((o) => o.kind.startsWith('stream') && o.complete)
      && live.some((o) => o.state === 'streaming')
      && live.filter((o) => !o.complete && o.kind !== 'embeddings').length >= 10;
    while (!ready() && Date.now() - t0 < KILL_DEADLINE_MS) await sleep(2);
    // kill -9 (not env.killServer: its 15 s fallback timer would keep node alive after the tests)
    const pid = env.proc.pid;
    const gone = once(env.proc, 'exit');
    process.kill(pid, 'SIGKILL');
    const [, signal] = await gone;
    assert.equal(signal, 'SIGKILL', `${ctx}: server pid ${pid} killed by SIGKILL`);
    const killedAt = Date.now() - t0;
    const outs = await Promise.all(pending);

    const complete = outs.filter((o) => o.complete);
    const incomplete = outs.filter((o) => !o.complete);
    const summary = ['chat', 'stream', 'stream+usage', 'embeddings'].map((kd) =>
      `${kd}: ${outs.filter((o) => o.kind === kd && o.complete).length}/${outs.filter((o) => o.kind === kd).length}`).join(', ');
    // the test is only meaningful if the kill cut through the load
    assert.ok(complete.some((o) => o.kind === 'chat'), `${ctx}: some non-streamed answers completed before the kill (${summary}; kill at ${killedAt} ms)`);
    assert.ok(complete.some((o) => o.kind.startsWith('stream')), `${ctx}: some streams completed before the kill (${summary})`);
    assert.ok(incomplete.length >= 10, `${ctx}: many requests were in flight at the kill (${summary})`);
    assert.ok(incomplete.some((o) => o.kind.startsWith('stream') && o.rid), `${ctx}: some streams were cut mid-way (${summary})`);
    for (const o of incomplete) assert.ok(o.error || o.kind.startsWith('stream'), `${ctx}: an incomplete ${o.kind} ended in an error`);

    // the database, with the server dead
    const b = checkDb(ctx);
    for (const o of complete) {
      assert.match(o.rid ?? '', REQUEST_ID_RE);
      const rows = env.sql(`SELECT status, aborted, cost_nanousd FROM usage_records WHERE request_id=${q(o.rid)}`);
      assert.equal(rows.length, 1, `${ctx}: the answered ${o.kind} ${o.rid} has exactly one usage record`);
      assert.equal(rows[0].status, 200);
      assert.equal(rows[0].aborted, 0);
      assert.ok(rows[0].cost_nanousd > 0, `${ctx}: and was charged`);
    }
    for (const o of incomplete.filter((x) => x.rid)) {
      const rows = env.sql(`SELECT COUNT(*) AS n FROM usage_records WHERE request_id=${q(o.rid)}`);
      assert.ok(rows[0].n <= 1, `${ctx}: the interrupted ${o.kind} ${o.rid} has at most one record`);
    }

    // restart on the same database: the ledger is rebuilt from it
    await env.restartServer();
    assert.ok(!exited(env.proc));
    await checkApi(`${ctx}, after restart`);
    assert.equal(books().records, b.records, `${ctx}: the restart recorded nothing more`);

    // and it keeps counting from there
    const more = await Promise.all(Array.from({ length: 8 }, (_, i) => send(client(), i)));
    assert.ok(more.every((o) => o.complete), `${ctx}: requests after the restart complete: ${more.map((o) => o.error?.message).filter(Boolean)}`);
    checkDb(`${ctx}, after more requests`);
    await checkApi(`${ctx}, after more requests`);
    return { complete: complete.length, incomplete: incomplete.length, summary, killedAt };
  }

  it('twice: answered requests have exactly one record each, Σ consumed == Σ cost, the rebuilt balance matches the database', async (t) => {
    for (let round = 1; round <= 2; round++) {
      const r = await crashRound(round);
      t.diagnostic(`crash ${round} at ${r.killedAt} ms: ${r.complete} answered, ${r.incomplete} interrupted (${r.summary})`);
    }
  });
});
