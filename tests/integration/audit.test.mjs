// The audit log (issue 13, SPEC.md §8): GET /v1/organization/audit_logs in OpenAI's shape —
// every change made with an admin key, a console session or a platform call is there, newest
// first, with its actor (the admin key, or the session's user and address), its project, and an
// object named like its type; filters by time, type, actor and project; paged with limit/after;
// one organisation never sees another's; no secret is ever in it.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Env, UPSTREAM_KEY, assertErrorResponse } from './harness.mjs';

const OWNER = 'audit-owner@example.com';
const PASSWORD = 'audit-password-123';

describe('audit log', () => {
  let env, customer;
  before(async () => {
    env = await Env.start({ initArgs: ['--email', OWNER, '--password', PASSWORD] });
    const r = await env.admin('POST', '/v1/platform/organizations', { name: 'audited customer' });
    assert.equal(r.status, 200, r.text);
    customer = { id: r.json.id, adminKey: r.json.admin_key.value, adminKeyId: r.json.admin_key.id, projectId: r.json.default_project_id };
  });
  after(async () => { await env?.stop(); });

  const logs = async (query = '', key = customer.adminKey) => {
    const r = await env.request('GET', `/v1/organization/audit_logs${query}`, { key });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.object, 'list');
    return r.json;
  };
  const cust = (m, p, body) => env.request(m, p, { key: customer.adminKey, ...(body ? { json: body } : {}) });

  it('records each change with its actor, project and details, newest first', async () => {
    const t0 = Math.floor(Date.now() / 1000);
    const p = await cust('POST', '/v1/organization/projects', { name: 'Audited' });
    assert.equal(p.status, 200);
    const k = await cust('POST', `/v1/organization/projects/${p.json.id}/api_keys`, { name: 'kk' });
    assert.equal(k.status, 200);
    assert.equal((await cust('DELETE', `/v1/organization/projects/${p.json.id}/api_keys/${k.json.id}`)).status, 200);
    assert.equal((await cust('POST', `/v1/organization/projects/${p.json.id}`, { name: 'Audited 2' })).status, 200);
    assert.equal((await cust('POST', `/v1/organization/projects/${p.json.id}/rate_limits/rl-gpt-4o-mini`, { max_requests_per_1_minute: 7 })).status, 200);
    assert.equal((await cust('POST', `/v1/organization/projects/${p.json.id}/spend_limit`, { threshold_amount: 500 })).status, 200);
    const al = await cust('POST', '/v1/organization/spend_alerts', { threshold_amount: 100, notification_channel: { type: 'webhook', url: 'http://127.0.0.1:9/hook' } });
    assert.equal(al.status, 200, al.text);
    assert.equal((await cust('DELETE', `/v1/organization/spend_alerts/${al.json.id}`)).status, 200);
    assert.equal((await cust('POST', '/v1/organization/settings', { name: 'Audited Inc' })).status, 200);
    assert.equal((await cust('POST', `/v1/organization/projects/${p.json.id}/archive`)).status, 200);
    // refused changes leave nothing
    assert.equal((await cust('POST', '/v1/organization/projects', {})).status, 400);
    assert.equal((await cust('POST', `/v1/organization/projects/${p.json.id}/spend_limit`, { threshold_amount: -1 })).status, 400);

    const l = await logs(`?effective_at[gte]=${t0}&limit=100`);
    const types = l.data.map((e) => e.type);
    assert.deepEqual(types, ['project.archived', 'organization.updated', 'spend_alert.deleted', 'spend_alert.created',
      'spend_limit.updated', 'rate_limit.updated', 'project.updated', 'api_key.deleted', 'api_key.created', 'project.created']);
    assert.equal(l.first_id, l.data[0].id);
    assert.equal(l.last_id, l.data.at(-1).id);
    assert.equal(l.has_more, false);
    for (const e of l.data) {
      assert.match(e.id, /^audit_log-/);
      assert.ok(e.effective_at >= t0 && e.effective_at <= Math.floor(Date.now() / 1000) + 1);
      assert.equal(e.actor.type, 'api_key');
      assert.equal(e.actor.api_key.id, customer.adminKeyId);
      assert.equal(e.actor.api_key.type, 'service_account');
      assert.equal(e.actor.ip_address, '127.0.0.1');
      assert.ok(e[e.type], `${e.type}: the object named like the type`);
    }
    const byType = Object.fromEntries(l.data.map((e) => [e.type, e]));
    assert.deepEqual(byType['project.created'].project, { id: p.json.id });
    assert.equal(byType['project.created']['project.created'].data.name, 'Audited');
    assert.equal(byType['api_key.created']['api_key.created'].id, k.json.id);
    assert.equal(byType['api_key.created'].project.id, p.json.id);
    assert.equal(byType['rate_limit.updated']['rate_limit.updated'].id, 'rl-gpt-4o-mini');
    assert.equal(byType['rate_limit.updated']['rate_limit.updated'].changes_requested.max_requests_per_1_minute, 7);
    assert.equal(byType['spend_limit.updated']['spend_limit.updated'].changes_requested.threshold_amount, 500);
    assert.equal(byType['organization.updated']['organization.updated'].changes_requested.name, 'Audited Inc');
    assert.equal(byType['spend_alert.created'].project, undefined);
  });

  it('filters by type, project, actor and time, and pages with limit and after', async () => {
    const all = (await logs('?limit=100')).data;
    const created = await logs('?event_types[]=project.created&event_types[]=project.archived');
    assert.deepEqual(created.data.map((e) => e.type).sort(), ['project.archived', 'project.created']);
    const proj = all.find((e) => e.type === 'project.created').project.id;
    const inProject = await logs(`?project_ids[]=${proj}&limit=100`);
    assert.ok(inProject.data.length >= 6 && inProject.data.every((e) => e.project?.id === proj));
    assert.equal((await logs(`?actor_ids[]=${customer.adminKeyId}&limit=100`)).data.length, all.length);
    assert.equal((await logs('?actor_ids[]=key_nobody')).data.length, 0);
    const future = Math.floor(Date.now() / 1000) + 3600;
    assert.equal((await logs(`?effective_at[gt]=${future}`)).data.length, 0);
    assert.equal((await logs(`?effective_at[lt]=1000`)).data.length, 0);
    // pages of 3 give the same events in the same order
    const seen = [];
    let after = null;
    for (;;) {
      const page = await logs(`?limit=3${after ? `&after=${after}` : ''}`);
      seen.push(...page.data.map((e) => e.id));
      if (!page.has_more) break;
      assert.equal(page.data.length, 3);
      after = page.last_id;
    }
    assert.deepEqual(seen, all.map((e) => e.id));
    assertErrorResponse(await env.request('GET', '/v1/organization/audit_logs?limit=0', { key: customer.adminKey }), 400, { param: 'limit' });
    assertErrorResponse(await env.request('GET', '/v1/organization/audit_logs?after=audit_log-nothing', { key: customer.adminKey }), 400, { param: 'after' });
    assertErrorResponse(await env.request('GET', '/v1/organization/audit_logs?effective_at[gt]=soon', { key: customer.adminKey }), 400, { param: 'effective_at[gt]' });
    // a project key may not read it
    const pk = await cust('POST', `/v1/organization/projects/${customer.projectId}/api_keys`, { name: 'pk' });
    assert.equal((await env.request('GET', '/v1/organization/audit_logs', { key: pk.json.value })).status, 401);
  });

  it("the operator's platform calls and providers are in the operator's log, without secrets; a customer never sees them", async () => {
    const prov = await env.admin('POST', '/v1/organization/providers', {
      name: 'second', type: 'openai_compatible', base_url: env.mock.baseURL, api_key: 'sk-upstream-audit-secret-999', models: [],
    });
    assert.equal(prov.status, 200, prov.text);
    assert.equal((await env.admin('POST', `/v1/platform/organizations/${customer.id}`, { tier: 'tier_2', status: 'suspended' })).status, 200);
    assert.equal((await env.admin('POST', `/v1/platform/organizations/${customer.id}`, { status: 'active' })).status, 200);
    assert.equal((await env.admin('POST', `/v1/platform/organizations/${customer.id}/credit_grants`, { amount: 1234 })).status, 200);
    const op = await logs('?limit=100', env.adminKey);
    const types = op.data.map((e) => e.type);
    for (const t of ['provider.created', 'organization.created', 'organization.updated', 'credit_grant.created'])
      assert.ok(types.includes(t), `${t} in ${types}`);
    const upd = op.data.filter((e) => e.type === 'organization.updated').map((e) => e['organization.updated']);
    assert.deepEqual(upd[1], { id: customer.id, changes_requested: { tier: 'tier_2', status: 'suspended' } });
    assert.deepEqual(upd[0], { id: customer.id, changes_requested: { status: 'active' } });
    const grant = op.data.find((e) => e.type === 'credit_grant.created')['credit_grant.created'];
    assert.equal(grant.data.organization_id, customer.id);
    assert.equal(grant.data.amount, 12.34);
    const text = JSON.stringify(op) + JSON.stringify(await logs('?limit=100'));
    for (const secret of ['sk-upstream-audit-secret-999', UPSTREAM_KEY, 'whsec_', env.adminKey, customer.adminKey])
      assert.ok(!text.includes(secret), `no ${secret.slice(0, 10)}… in the audit log`);
    // the customer's own log holds none of the operator's events
    const mine = (await logs('?limit=100')).data.map((e) => e.type);
    assert.ok(!mine.includes('provider.created') && !mine.includes('organization.created'));
  });

  it('a console session: logins, a failed login and a logout, with the user and the address', async () => {
    const origin = env.origin;
    const post = (p, body, headers = {}) => fetch(origin + p, {
      method: 'POST', headers: { 'content-type': 'application/json', origin, ...headers }, body: JSON.stringify(body),
    });
    assert.equal((await post('/console/api/login', { email: OWNER, password: 'wrong-password-1' })).status, 401);
    const ok = await post('/console/api/login', { email: OWNER, password: PASSWORD });
    assert.equal(ok.status, 200);
    const cookie = ok.headers.get('set-cookie').split(';')[0];
    const session = await ok.json();
    const out = await post('/console/api/logout', {}, { cookie, 'x-csrf-token': session.csrf_token });
    assert.equal(out.status, 200);
    const l = await logs('?event_types[]=login.succeeded&event_types[]=login.failed&event_types[]=logout.succeeded', env.adminKey);
    assert.deepEqual(l.data.map((e) => e.type), ['logout.succeeded', 'login.succeeded', 'login.failed']);
    for (const e of l.data) {
      assert.equal(e.actor.type, 'session');
      assert.equal(e.actor.session.user.email, OWNER);
      assert.equal(e.actor.session.user.id, session.user.id);
      assert.equal(e.actor.session.ip_address, '127.0.0.1');
    }
    assert.equal(l.data[2]['login.failed'].error_code, 'invalid_credentials');
    assert.ok(!JSON.stringify(l).includes(PASSWORD));
  });
});
