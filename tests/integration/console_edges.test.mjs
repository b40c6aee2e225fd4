// Two server answers the console relies on (issue 12, "the console's rough edges"):
//  - GET …/spend_limit without a limit answers 200 with "threshold_amount": null and the
//    month's spend (it used to be a 404, which the console's Limits page logged for every
//    project without a budget), for the organisation and for each project;
//  - sign-up names what the person did not name in the language the console sends
//    ("language": a BCP 47 tag): the default project ("Default project" / "默认项目") and,
//    without organization_name, the organisation ("Personal" / "个人"). They are ordinary
//    user data afterwards (renamed like any name); other languages and no language: English.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Env } from './harness.mjs';

const PASSWORD = 'correct horse battery staple';
let seq = 0;
const uniqueEmail = (tag) => `${tag}-${process.pid}-${Date.now()}-${++seq}@example.com`;

async function call(origin, method, urlPath, { cookie, csrf, key, json } = {}) {
  const h = {};
  if (cookie) h.cookie = `tg_session=${cookie}`;
  if (csrf) h['x-csrf-token'] = csrf;
  if (key) h.authorization = `Bearer ${key}`;
  if (json !== undefined) h['content-type'] = 'application/json';
  const r = await fetch(origin + urlPath, { method, headers: h, body: json === undefined ? undefined : JSON.stringify(json) });
  const text = await r.text();
  let parsed;
  try { parsed = JSON.parse(text); } catch { parsed = undefined; }
  return { status: r.status, headers: r.headers, text, json: parsed };
}

/** Signs up; returns {cookie, csrf, session}. */
async function signup(origin, body) {
  const r = await call(origin, 'POST', '/console/api/signup', { json: body });
  assert.equal(r.status, 201, `signup ${JSON.stringify(body)}: ${r.text}`);
  const line = (r.headers.getSetCookie?.() ?? []).find((l) => l.startsWith('tg_session='));
  assert.ok(line, 'the session cookie');
  const cookie = line.split(';')[0].slice('tg_session='.length);
  return { cookie, csrf: r.json.csrf_token, session: r.json };
}

describe('console edges: spend limits without a limit, names chosen at sign-up', () => {
  let env;

  before(async () => {
    env = await Env.start({ serveArgs: ['--signup', 'open'] });
  });
  after(async () => {
    await env?.stop();
  });

  it('GET spend_limit without a limit: 200, threshold_amount null, the month spend', async () => {
    // the operator's organisation (no credit needed): one request, so there is a spend
    const key = await env.admin('POST', `/v1/organization/projects/${env.projectId}/api_keys`, { name: 'k' });
    assert.equal(key.status, 200, key.text);
    const chat = await call(env.origin, 'POST', '/v1/chat/completions', {
      key: key.json.value, json: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 },
    });
    assert.equal(chat.status, 200, chat.text);

    for (const [path, object] of [
      ['/v1/organization/spend_limit', 'organization.spend_limit'],
      [`/v1/organization/projects/${env.projectId}/spend_limit`, 'project.spend_limit'],
    ]) {
      await env.admin('DELETE', path);
      const r = await env.admin('GET', path);
      assert.equal(r.status, 200, `${path}: ${r.text}`);
      assert.equal(r.json.object, object);
      assert.equal(r.json.threshold_amount, null, `no limit: ${r.text}`);
      assert.equal(r.json.currency, 'USD');
      assert.equal(r.json.interval, 'month');
      assert.deepEqual(r.json.enforcement, { status: 'inactive' }, 'nothing to enforce');
      assert.equal(typeof r.json.current_spend, 'number', r.text);

      // the same spend as with a limit
      const set = await env.admin('POST', path, { threshold_amount: 100000 });
      assert.equal(set.status, 200, set.text);
      assert.equal(set.json.threshold_amount, 100000);
      assert.equal(set.json.current_spend, r.json.current_spend, 'the same month spend with and without a limit');
      const del = await env.admin('DELETE', path);
      assert.equal(del.status, 200, del.text);
      const again = await env.admin('GET', path);
      assert.equal(again.status, 200, again.text);
      assert.equal(again.json.threshold_amount, null, 'deleted: no limit again');
    }

    // a project of another organisation is still a 404, and the wrong method a 405
    const other = await env.admin('GET', '/v1/organization/projects/proj_doesnotexist000000000000/spend_limit');
    assert.equal(other.status, 404, other.text);
    const put = await env.admin('PUT', '/v1/organization/spend_limit', {});
    assert.equal(put.status, 405, put.text);
  });

  it('a month spend shows for a project without a budget (the console\'s project table)', async () => {
    const u = await signup(env.origin, { email: uniqueEmail('spend'), password: PASSWORD, organization_name: 'Spend Co' });
    const projects = await call(env.origin, 'GET', '/v1/organization/projects', { cookie: u.cookie });
    assert.equal(projects.status, 200, projects.text);
    for (const p of projects.json.data) {
      const r = await call(env.origin, 'GET', `/v1/organization/projects/${p.id}/spend_limit`, { cookie: u.cookie });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.threshold_amount, null);
      assert.equal(r.json.current_spend, 0, 'a new organisation has spent nothing');
    }
  });

  it('sign-up names the default project (and an unnamed organisation) in the console\'s language', async () => {
    const cases = [
      { language: 'zh', project: '默认项目', org: '个人' },
      { language: 'zh-CN', project: '默认项目', org: '个人' },
      { language: 'en', project: 'Default project', org: 'Personal' },
      { language: 'fr-FR', project: 'Default project', org: 'Personal' },
      { language: undefined, project: 'Default project', org: 'Personal' },
      { language: 42, project: 'Default project', org: 'Personal' }, // not a string: ignored
    ];
    for (const c of cases) {
      const body = { email: uniqueEmail('lang'), password: PASSWORD };
      if (c.language !== undefined) body.language = c.language;
      const u = await signup(env.origin, body);
      assert.equal(u.session.organization.name, c.org, `organisation name for ${JSON.stringify(c.language)}`);
      const projects = await call(env.origin, 'GET', '/v1/organization/projects', { cookie: u.cookie });
      assert.equal(projects.status, 200, projects.text);
      assert.deepEqual(projects.json.data.map((p) => p.name), [c.project], `default project for ${JSON.stringify(c.language)}`);
    }

    // a name the person typed is kept as typed, whatever the language
    const named = await signup(env.origin, { email: uniqueEmail('named'), password: PASSWORD, organization_name: 'Acme', language: 'zh' });
    assert.equal(named.session.organization.name, 'Acme');

    // the default project is user data: renamed like any project, and stays renamed
    const projects = await call(env.origin, 'GET', '/v1/organization/projects', { cookie: named.cookie });
    const pid = projects.json.data[0].id;
    assert.equal(projects.json.data[0].name, '默认项目');
    const ren = await call(env.origin, 'POST', `/v1/organization/projects/${pid}`, { cookie: named.cookie, csrf: named.csrf, json: { name: 'Main' } });
    assert.equal(ren.status, 200, ren.text);
    const after = await call(env.origin, 'GET', `/v1/organization/projects/${pid}`, { cookie: named.cookie });
    assert.equal(after.json.name, 'Main');

    // organisations made by the operator (API) and by init keep the English name
    const org = await env.admin('POST', '/v1/platform/organizations', { name: 'By the operator' });
    assert.ok(org.status === 200 || org.status === 201, org.text);
    const op = await env.admin('GET', '/v1/organization/projects?limit=100');
    assert.ok(op.json.data.some((p) => p.name === 'Default project'), `init's default project: ${op.text}`);
  });
});
