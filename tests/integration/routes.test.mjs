// The route table (src/api/router.c) as a client sees it: every Admin API and platform path
// asks for a key before anything else happens; a path that exists but not for the method answers
// 405 with an Allow header; a path that does not exist answers 404 unknown_url, with or without
// a key; HEAD is a read (the read scope is enough) answered like GET without a body; a
// project of another organisation is not found; customers' admin keys are refused on the
// operator's rows.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Env, assertErrorResponse } from './harness.mjs';

// One row per (method, path) of the route table that needs an admin key. `P` stands for a
// project of the caller's organisation, `O` for an organisation.
const ADMIN_ROWS = [
  ['GET', '/v1/organization/admin_api_keys'], ['POST', '/v1/organization/admin_api_keys'],
  ['GET', '/v1/organization/admin_api_keys/key_x'], ['DELETE', '/v1/organization/admin_api_keys/key_x'],
  ['GET', '/v1/organization/projects'], ['POST', '/v1/organization/projects'],
  ['GET', '/v1/organization/projects/P'], ['POST', '/v1/organization/projects/P'],
  ['POST', '/v1/organization/projects/P/archive'],
  ['GET', '/v1/organization/projects/P/api_keys'], ['POST', '/v1/organization/projects/P/api_keys'],
  ['GET', '/v1/organization/projects/P/api_keys/key_x'], ['DELETE', '/v1/organization/projects/P/api_keys/key_x'],
  ['GET', '/v1/organization/projects/P/rate_limits'], ['GET', '/v1/organization/projects/P/rate_limits/rl-gpt-4o-mini'],
  ['POST', '/v1/organization/projects/P/rate_limits/rl-gpt-4o-mini'],
  ['GET', '/v1/organization/projects/P/spend_limit'], ['POST', '/v1/organization/projects/P/spend_limit'],
  ['DELETE', '/v1/organization/projects/P/spend_limit'],
  ['GET', '/v1/organization/projects/P/spend_alerts'], ['POST', '/v1/organization/projects/P/spend_alerts'],
  ['GET', '/v1/organization/spend_limit'], ['POST', '/v1/organization/spend_limit'], ['DELETE', '/v1/organization/spend_limit'],
  ['GET', '/v1/organization/spend_alerts'], ['POST', '/v1/organization/spend_alerts'],
  ['GET', '/v1/organization/spend_alerts/alert_x'], ['DELETE', '/v1/organization/spend_alerts/alert_x'],
  ['GET', '/v1/organization/usage/completions'], ['GET', '/v1/organization/usage/embeddings'],
  ['GET', '/v1/organization/costs'], ['GET', '/v1/organization/usage_tier'],
  ['GET', '/v1/organization/billing/balance'], ['GET', '/v1/organization/billing/credit_grants'],
  ['POST', '/v1/organization/billing/credit_grants'],
  ['GET', '/v1/organization/billing/payment_methods'], ['POST', '/v1/organization/billing/payment_methods'],
  ['GET', '/v1/organization/billing/top_ups'], ['POST', '/v1/organization/billing/top_ups'],
  ['GET', '/v1/organization/billing/auto_recharge'], ['POST', '/v1/organization/billing/auto_recharge'],
  ['GET', '/v1/organization/billing/invoices'],
  ['GET', '/v1/organization/invites'], ['POST', '/v1/organization/invites'],
  ['GET', '/v1/organization/users'], ['GET', '/v1/organization/settings'], ['POST', '/v1/organization/settings'],
  ['GET', '/v1/organization/models'], ['GET', '/v1/organization/models/gpt-4o-mini'],
  ['POST', '/v1/organization/models/gpt-4o-mini'],
  ['GET', '/v1/organization/providers'], ['POST', '/v1/organization/providers'],
  ['GET', '/v1/platform/organizations'], ['POST', '/v1/platform/organizations'],
  ['GET', '/v1/platform/organizations/O'], ['POST', '/v1/platform/organizations/O'],
  ['POST', '/v1/platform/organizations/O/credit_grants'],
];

// Rows only the operator's organisation may call: a customer's admin key gets OpenAI's
// missing-scope 401 for them (and for nothing else in ADMIN_ROWS).
const OPERATOR_ROWS = new Set([
  'POST /v1/organization/billing/credit_grants', 'POST /v1/organization/models/gpt-4o-mini',
  'GET /v1/organization/providers', 'POST /v1/organization/providers',
  'GET /v1/platform/organizations', 'POST /v1/platform/organizations',
  'GET /v1/platform/organizations/O', 'POST /v1/platform/organizations/O',
  'POST /v1/platform/organizations/O/credit_grants',
]);

describe('routes: one table, authentication first', () => {
  let env, customer;
  before(async () => {
    env = await Env.start();
    const r = await env.admin('POST', '/v1/platform/organizations', { name: 'routes customer' });
    assert.equal(r.status, 200, r.text);
    customer = { id: r.json.id, adminKey: r.json.admin_key.value, projectId: r.json.default_project_id };
  });
  after(async () => { await env?.stop(); });

  const fill = (p, projectId, orgId) => p.replace('/P', `/${projectId}`).replace('/O', `/${orgId}`);
  const bad = (m) => (m === 'GET' ? {} : { body: '{not json' }); // a body that would be refused, if it were read

  it('every admin row asks for a key first, and a body is not read before it', async () => {
    for (const [m, p] of ADMIN_ROWS) {
      const r = await env.request(m, fill(p, env.projectId, customer.id), bad(m));
      assertErrorResponse(r, 401, { type: 'invalid_request_error' }, `${m} ${p}`);
      assert.match(r.json.error.message, /You didn't provide an API key/, `${m} ${p}`);
    }
  });

  it('a project key is not an admin key on any admin row', async () => {
    for (const [m, p] of ADMIN_ROWS) {
      const r = await env.request(m, fill(p, env.projectId, customer.id), { key: env.apiKey, ...bad(m) });
      const e = assertErrorResponse(r, 401, { type: 'invalid_request_error' }, `${m} ${p}`);
      assert.match(e.message, m === 'GET' ? /Missing scopes: api\.management\.read/ : /Missing scopes: api\.management\.write/, `${m} ${p}`);
    }
  });

  it("a customer's admin key is refused exactly on the operator's rows", async () => {
    for (const [m, p] of ADMIN_ROWS) {
      const op = OPERATOR_ROWS.has(`${m} ${p}`);
      const r = await env.request(m, fill(p, customer.projectId, customer.id), { key: customer.adminKey, ...bad(m) });
      if (op) {
        const e = assertErrorResponse(r, 401, { type: 'invalid_request_error' }, `${m} ${p}`);
        assert.match(e.message, /Missing scopes/, `${m} ${p}`);
      } else {
        // past authentication: an answer of the row itself (200, 400 for the bad body, 404 for x ids)
        assert.ok([200, 400, 404].includes(r.status), `${m} ${p}: ${r.status} ${r.text}`);
        assert.doesNotMatch(r.text, /Missing scopes/, `${m} ${p}`);
      }
    }
  });

  it('HEAD is a read: a read-only admin key gets GET\'s status and headers, no body', async () => {
    const ro = await env.admin('POST', '/v1/organization/admin_api_keys', { name: 'ro', permissions: 'read_only' });
    assert.equal(ro.status, 200, ro.text);
    for (const p of ['/v1/organization/projects', `/v1/organization/projects/${env.projectId}`, '/v1/organization/usage_tier']) {
      const g = await env.request('GET', p, { key: ro.json.value });
      const h = await env.request('HEAD', p, { key: ro.json.value });
      assert.equal(g.status, 200, g.text);
      assert.equal(h.status, 200, p);
      assert.equal(h.text, '', p);
      assert.equal(h.headers.get('content-type'), g.headers.get('content-type'));
      assert.equal(h.headers.get('content-length'), g.headers.get('content-length'), p);
    }
    // a write with the same key is still refused, and HEAD without a key is still a 401
    const w = await env.request('POST', '/v1/organization/projects', { key: ro.json.value, json: { name: 'x' } });
    assert.match(assertErrorResponse(w, 401, {}).message, /Missing scopes: api\.management\.write/);
    assert.equal((await env.request('HEAD', '/v1/organization/projects')).status, 401);
  });

  it('a known path with another method → 405 with Allow, before any key is asked for', async () => {
    const cases = [
      ['PUT', '/v1/organization/projects', 'GET, HEAD, POST'],
      ['DELETE', `/v1/organization/projects/${env.projectId}`, 'GET, HEAD, POST'],
      ['GET', '/v1/chat/completions', 'POST'],
      ['PATCH', '/v1/organization/spend_limit', 'GET, HEAD, POST, DELETE'],
      ['GET', `/v1/organization/projects/${env.projectId}/archive`, 'POST'],
      ['DELETE', '/v1/platform/organizations', 'GET, HEAD, POST'],
      ['POST', '/healthz', 'GET, HEAD'],
    ];
    for (const [m, p, allow] of cases) {
      for (const key of [undefined, env.adminKey]) {
        const r = await env.request(m, p, { key });
        assertErrorResponse(r, 405, { type: 'invalid_request_error' }, `${m} ${p}`);
        assert.equal(r.headers.get('allow'), allow, `${m} ${p}`);
        assert.equal(r.json.error.message, `Invalid method for URL (${m} ${p}).`);
      }
    }
  });

  it('paths that are not in the table → 404 unknown_url, with or without a key', async () => {
    const paths = [
      '/v1/organization', '/v1/organization/', '/v1/organization/projects/', '/v1/organization//projects',
      `/v1/organization/projects/${env.projectId}/nothing`, `/v1/organization/projects/${'p'.repeat(300)}`,
      '/v1/organization/usage/moderations', '/v1/organization/billing/balance/x',
      '/v1/platform', '/v1/platform/organizations/x/y/z', '/console/api/nothing', '/v1/models/',
      '/v1/responses/', '/v1/responses/resp_1/other',
    ];
    for (const p of paths) {
      for (const key of [undefined, env.adminKey]) {
        const r = await env.request('GET', p, { key });
        assertErrorResponse(r, 404, { type: 'invalid_request_error', code: 'unknown_url' }, p);
      }
    }
    // outside /v1 and /console/api a GET is one of the console's pages
    const page = await env.request('GET', '/usage');
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type'), /text\/html/);
  });

  it("{project} and {org} are resolved before the handler: another organisation's project is not found", async () => {
    const theirs = await env.request('GET', `/v1/organization/projects/${customer.projectId}`, { key: env.adminKey });
    assertErrorResponse(theirs, 404, { type: 'invalid_request_error' });
    assert.equal(theirs.json.error.message, `No project found with id '${customer.projectId}'.`);
    // …nor can a key be made in it, or its limits be read
    for (const [m, sub] of [['POST', '/api_keys'], ['GET', '/rate_limits'], ['GET', '/spend_limit']]) {
      const r = await env.request(m, `/v1/organization/projects/${customer.projectId}${sub}`, { key: env.adminKey, ...(m === 'POST' ? { json: { name: 'k' } } : {}) });
      assertErrorResponse(r, 404, {}, sub);
    }
    const keys = await env.request('GET', `/v1/organization/projects/${customer.projectId}/api_keys`, { key: customer.adminKey });
    assert.equal(keys.status, 200);
    assert.equal(keys.json.data.length, 0);
    const org = await env.admin('GET', '/v1/platform/organizations/org-nothing');
    assertErrorResponse(org, 404, {});
    assert.equal(org.json.error.message, "No organization found with id 'org-nothing'.");
  });
});
