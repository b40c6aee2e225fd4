// Admin API (SPEC §1.2): projects, project API keys, admin keys, providers; list shapes and
// paging; secrets shown once, only redacted afterwards, never stored or logged in plain text.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  Env, UPSTREAM_KEY, tollgateInit, makeTempDir, removeTempDir, assertErrorResponse, waitFor, databaseBytes,
} from './harness.mjs';

const nowSec = () => Date.now() / 1000;

function assertUnixSecondsNow(v, what) {
  assert.ok(Number.isInteger(v), `${what} is an integer: ${v}`);
  assert.ok(Math.abs(v - nowSec()) < 120, `${what} is unix seconds near now: ${v}`);
}

function assertListShape(body, ctx) {
  assert.equal(body.object, 'list', `${ctx}: object`);
  assert.ok(Array.isArray(body.data), `${ctx}: data is an array`);
  assert.equal(typeof body.has_more, 'boolean', `${ctx}: has_more`);
  assert.ok('first_id' in body && 'last_id' in body, `${ctx}: first_id and last_id present: ${JSON.stringify(body)}`);
  assert.equal(body.first_id, body.data.length ? body.data[0].id : null, `${ctx}: first_id`);
  assert.equal(body.last_id, body.data.length ? body.data.at(-1).id : null, `${ctx}: last_id`);
}

/** Walks a list endpoint with limit/after; checks each page; returns all items in order. */
async function pageAll(env, basePath, limit) {
  const items = [];
  const pages = [];
  let after = null;
  for (let i = 0; i < 100; i++) {
    const sep = basePath.includes('?') ? '&' : '?';
    const r = await env.admin('GET', `${basePath}${sep}limit=${limit}${after ? `&after=${after}` : ''}`);
    assert.equal(r.status, 200, `${basePath} page ${i}: ${r.text}`);
    assertListShape(r.json, `${basePath} page ${i}`);
    assert.ok(r.json.data.length <= limit, `page size ≤ limit: ${r.json.data.length}`);
    pages.push(r.json);
    items.push(...r.json.data);
    if (!r.json.has_more) break;
    assert.ok(r.json.data.length > 0, 'has_more with an empty page');
    after = r.json.last_id;
  }
  const ids = items.map((x) => x.id);
  assert.equal(new Set(ids).size, ids.length, `no item twice across pages: ${ids}`);
  return { items, pages };
}

/** Checks a project key object; `withValue`: the create response (has the secret). */
function assertProjectKey(k, { name, withValue }) {
  assert.equal(k.object, 'organization.project.api_key');
  assert.match(k.id, /^key_[A-Za-z0-9]+$/);
  if (name !== undefined) assert.equal(k.name, name);
  assert.equal(typeof k.redacted_value, 'string');
  assertUnixSecondsNow(k.created_at, 'created_at');
  assert.ok('last_used_at' in k, 'last_used_at present');
  assert.ok(k.owner && typeof k.owner === 'object', `owner is an object: ${JSON.stringify(k.owner)}`);
  if (withValue) {
    assert.match(k.value, /^sk-proj-[A-Za-z0-9_-]+$/);
    assert.ok(k.value.length >= 'sk-proj-'.length + 43, `≥256 bits of secret: ${k.value.length} chars`);
    assertRedacted(k.redacted_value, k.value, 'sk-proj-');
  } else {
    assert.ok(!('value' in k), `value only on create: ${JSON.stringify(k)}`);
  }
}

/** redacted_value like `sk-proj-abc…wxyz`: prefix, a few chars, last 4; never the secret. */
function assertRedacted(redacted, secret, prefix) {
  assert.ok(redacted.startsWith(prefix), `redacted starts with ${prefix}: ${redacted}`);
  assert.ok(redacted.endsWith(secret.slice(-4)), `redacted ends with the last 4: ${redacted}`);
  assert.ok(redacted.length <= prefix.length + 12, `redacted is short: ${redacted}`);
  assert.ok(!redacted.includes(secret), 'redacted never contains the secret');
  const body = secret.slice(prefix.length);
  for (let i = 0; i + 8 <= body.length - 4; i++) {
    assert.ok(!redacted.includes(body.slice(i, i + 8)), `redacted shows no 8-char run of the secret: ${redacted}`);
  }
}

describe('admin API', () => {
  let env;
  before(async () => { env = await Env.start(); });
  after(async () => { await env?.stop(); });

  describe('init', () => {
    it('init --json prints exactly one JSON object with organization_id and admin_key', async () => {
      const dir = makeTempDir();
      try {
        const out = await tollgateInit(path.join(dir, 'x.db'));
        assert.match(out.stdout, /^\s*\{[\s\S]*\}\s*$/, `stdout is one JSON object: ${JSON.stringify(out.stdout)}`);
        const obj = JSON.parse(out.stdout);
        assert.deepEqual(Object.keys(obj).sort(), ['admin_key', 'organization_id']);
        assert.match(obj.organization_id, /^org-[A-Za-z0-9]+$/);
        assert.match(obj.admin_key, /^sk-admin-[A-Za-z0-9_-]{20,}$/);
        assert.notEqual(obj.admin_key, env.adminKey, 'a fresh admin key per init');
      } finally {
        removeTempDir(dir);
      }
    });
  });

  describe('authentication', () => {
    it('Admin API without a key → 401', async () => {
      const r = await env.request('GET', '/v1/organization/projects');
      assertErrorResponse(r, 401, { type: 'invalid_request_error', code: null });
    });
  });

  describe('projects', () => {
    let created;

    it('POST /v1/organization/projects creates a project', async () => {
      const r = await env.admin('POST', '/v1/organization/projects', { name: 'Alpha' });
      assert.equal(r.status, 200, r.text);
      const p = r.json;
      assert.match(p.id, /^proj_[A-Za-z0-9]+$/);
      assert.equal(p.object, 'organization.project');
      assert.equal(p.name, 'Alpha');
      assertUnixSecondsNow(p.created_at, 'created_at');
      assert.equal(p.archived_at, null);
      assert.equal(p.status, 'active');
      created = p;
    });

    it('GET /v1/organization/projects/{id} returns the same object', async () => {
      const r = await env.admin('GET', `/v1/organization/projects/${created.id}`);
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json, created);
    });

    it('GET an unknown project → 404 envelope', async () => {
      const r = await env.admin('GET', '/v1/organization/projects/proj_doesnotexist000');
      assertErrorResponse(r, 404, { type: 'invalid_request_error' });
    });

    it('POST /v1/organization/projects/{id} renames', async () => {
      const r = await env.admin('POST', `/v1/organization/projects/${created.id}`, { name: 'Alpha 2' });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.id, created.id);
      assert.equal(r.json.name, 'Alpha 2');
      const g = await env.admin('GET', `/v1/organization/projects/${created.id}`);
      assert.equal(g.json.name, 'Alpha 2');
    });

    it('list pages with limit/after', async () => {
      for (const n of ['P1', 'P2', 'P3']) {
        const r = await env.admin('POST', '/v1/organization/projects', { name: n });
        assert.equal(r.status, 200, r.text);
      }
      const all = await env.admin('GET', '/v1/organization/projects?limit=100');
      assert.equal(all.status, 200, all.text);
      assertListShape(all.json, 'projects');
      const ids = all.json.data.map((p) => p.id);
      assert.ok(ids.length >= 5, `at least Test, Alpha and P1..P3: ${ids}`);
      for (const p of all.json.data) assert.equal(p.object, 'organization.project');
      const { items, pages } = await pageAll(env, '/v1/organization/projects', 2);
      assert.deepEqual(items.map((p) => p.id), ids, 'paging yields the same list in the same order');
      assert.equal(pages.length, Math.ceil(ids.length / 2));
      assert.ok(pages.slice(0, -1).every((p) => p.has_more === true && p.data.length === 2));
    });

    it('archive: status archived, archived_at set, hidden from the default list', async () => {
      const mk = await env.admin('POST', '/v1/organization/projects', { name: 'To archive' });
      const id = mk.json.id;
      const r = await env.admin('POST', `/v1/organization/projects/${id}/archive`);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.id, id);
      assert.equal(r.json.status, 'archived');
      assertUnixSecondsNow(r.json.archived_at, 'archived_at');
      const list = await env.admin('GET', '/v1/organization/projects?limit=100');
      assert.ok(!list.json.data.some((p) => p.id === id), 'archived project not in the default list');
      const withArch = await env.admin('GET', '/v1/organization/projects?limit=100&include_archived=true');
      assert.ok(withArch.json.data.some((p) => p.id === id), 'include_archived=true lists it');
    });

    it('a missing name → 400, nothing created', async () => {
      const countBefore = (await env.admin('GET', '/v1/organization/projects?limit=100&include_archived=true')).json.data.length;
      const r = await env.admin('POST', '/v1/organization/projects', {});
      assertErrorResponse(r, 400, { type: 'invalid_request_error', code: 'missing_required_parameter', param: 'name' });
      const countAfter = (await env.admin('GET', '/v1/organization/projects?limit=100&include_archived=true')).json.data.length;
      assert.equal(countAfter, countBefore);
      await env.assertAlive();
    });
  });

  describe('project API keys', () => {
    let proj;
    const keys = [];

    before(async () => {
      const r = await env.admin('POST', '/v1/organization/projects', { name: 'Keys' });
      assert.equal(r.status, 200, r.text);
      proj = r.json;
    });

    it('create 3 keys: value only on create, redacted_value never the secret', async () => {
      for (const name of ['k1', 'k2', 'k3']) {
        const r = await env.admin('POST', `/v1/organization/projects/${proj.id}/api_keys`, { name });
        assert.equal(r.status, 200, r.text);
        assertProjectKey(r.json, { name, withValue: true });
        assert.equal(r.json.last_used_at, null, 'never used yet');
        keys.push(r.json);
      }
      assert.equal(new Set(keys.map((k) => k.value)).size, 3, 'distinct secrets');
      assert.equal(new Set(keys.map((k) => k.id)).size, 3, 'distinct ids');
    });

    it('list with limit=2 pages through the 3 keys', async () => {
      const base = `/v1/organization/projects/${proj.id}/api_keys`;
      const p1 = await env.admin('GET', `${base}?limit=2`);
      assert.equal(p1.status, 200, p1.text);
      assertListShape(p1.json, 'keys page 1');
      assert.equal(p1.json.data.length, 2);
      assert.equal(p1.json.has_more, true);
      const p2 = await env.admin('GET', `${base}?limit=2&after=${p1.json.last_id}`);
      assert.equal(p2.status, 200, p2.text);
      assertListShape(p2.json, 'keys page 2');
      assert.equal(p2.json.data.length, 1);
      assert.equal(p2.json.has_more, false);
      const listed = [...p1.json.data, ...p2.json.data];
      assert.deepEqual(listed.map((k) => k.id).sort(), keys.map((k) => k.id).sort());
      for (const k of listed) {
        const orig = keys.find((x) => x.id === k.id);
        assertProjectKey(k, { name: orig.name, withValue: false });
        assert.equal(k.redacted_value, orig.redacted_value);
        assert.ok(!JSON.stringify(k).includes(orig.value), 'the secret never appears in a list');
      }
      const full = await pageAll(env, base, 2);
      assert.equal(full.items.length, 3);
    });

    it('GET one key: no value', async () => {
      const k = keys[0];
      const r = await env.admin('GET', `/v1/organization/projects/${proj.id}/api_keys/${k.id}`);
      assert.equal(r.status, 200, r.text);
      assertProjectKey(r.json, { name: 'k1', withValue: false });
      assert.equal(r.json.id, k.id);
      assert.ok(!r.text.includes(k.value));
    });

    it('the new keys work for inference, and a chat request sets last_used_at', async () => {
      for (const k of keys) {
        const r = await env.api('GET', '/v1/models', { key: k.value });
        assert.equal(r.status, 200, r.text);
      }
      const c = await env.api('POST', '/v1/chat/completions', { key: keys[0].value, json: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'use' }] } });
      assert.equal(c.status, 200, c.text);
      const got = await waitFor(async () => {
        const r = await env.admin('GET', `/v1/organization/projects/${proj.id}/api_keys/${keys[0].id}`);
        return r.json.last_used_at !== null ? r.json : null;
      }, { timeoutMs: 5000, intervalMs: 200 });
      assert.ok(got, 'last_used_at set within 5 s of a chat request');
      assertUnixSecondsNow(got.last_used_at, 'last_used_at');
    });

    it('any authenticated use (GET /v1/models) sets last_used_at', async () => {
      // keys[1] was used above for GET /v1/models only
      const got = await waitFor(async () => {
        const r = await env.admin('GET', `/v1/organization/projects/${proj.id}/api_keys/${keys[1].id}`);
        return r.json.last_used_at !== null ? r.json : null;
      }, { timeoutMs: 5000, intervalMs: 200 });
      assert.ok(got, 'last_used_at set within 5 s of a GET /v1/models with the key');
      assertUnixSecondsNow(got.last_used_at, 'last_used_at');
    });

    it('a key of another project cannot be read or deleted through the wrong project', async () => {
      const k = keys[1];
      const g = await env.admin('GET', `/v1/organization/projects/${env.projectId}/api_keys/${k.id}`);
      assertErrorResponse(g, 404, { type: 'invalid_request_error' }, 'GET through the wrong project');
      const d = await env.admin('DELETE', `/v1/organization/projects/${env.projectId}/api_keys/${k.id}`);
      assertErrorResponse(d, 404, { type: 'invalid_request_error' }, 'DELETE through the wrong project');
      const still = await env.api('GET', '/v1/models', { key: k.value });
      assert.equal(still.status, 200, 'the key still works');
    });

    it('DELETE: deleted object, then 404, gone from the list, unusable', async () => {
      const k = keys[2];
      const base = `/v1/organization/projects/${proj.id}/api_keys`;
      const d = await env.admin('DELETE', `${base}/${k.id}`);
      assert.equal(d.status, 200, d.text);
      assert.deepEqual(d.json, { object: 'organization.project.api_key.deleted', id: k.id, deleted: true });
      const g = await env.admin('GET', `${base}/${k.id}`);
      assertErrorResponse(g, 404, { type: 'invalid_request_error' }, 'GET a deleted key');
      const d2 = await env.admin('DELETE', `${base}/${k.id}`);
      assertErrorResponse(d2, 404, { type: 'invalid_request_error' }, 'DELETE twice');
      const l = await env.admin('GET', `${base}?limit=100`);
      assert.deepEqual(l.json.data.map((x) => x.id).sort(), [keys[0].id, keys[1].id].sort());
      const u = await env.api('GET', '/v1/models', { key: k.value });
      assertErrorResponse(u, 401, { type: 'invalid_request_error', code: 'invalid_api_key' });
    });

    it('creating a key in an unknown project → 404, nothing created', async () => {
      const r = await env.admin('POST', '/v1/organization/projects/proj_doesnotexist000/api_keys', { name: 'ghost' });
      assertErrorResponse(r, 404, { type: 'invalid_request_error' });
      const l = await env.admin('GET', `/v1/organization/projects/${proj.id}/api_keys?limit=100`);
      assert.equal(l.json.data.length, 2);
      await env.assertAlive();
    });
  });

  describe('admin API keys', () => {
    let created;

    it('POST creates an admin key shown once', async () => {
      const r = await env.admin('POST', '/v1/organization/admin_api_keys', { name: 'ci key' });
      assert.equal(r.status, 200, r.text);
      const k = r.json;
      assert.equal(k.object, 'organization.admin_api_key');
      assert.match(k.id, /^key_[A-Za-z0-9]+$/);
      assert.equal(k.name, 'ci key');
      assertUnixSecondsNow(k.created_at, 'created_at');
      assert.match(k.value, /^sk-admin-[A-Za-z0-9_-]+$/);
      assert.ok(k.value.length >= 'sk-admin-'.length + 43, '≥256 bits of secret');
      assertRedacted(k.redacted_value, k.value, 'sk-admin-');
      created = k;
    });

    it('the new admin key works on the Admin API, not on inference', async () => {
      const r = await env.admin('GET', '/v1/organization/projects', undefined, { key: created.value });
      assert.equal(r.status, 200, r.text);
      const inf = await env.request('POST', '/v1/chat/completions', { key: created.value, json: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] } });
      const e = assertErrorResponse(inf, 401, { type: 'invalid_request_error', code: null });
      assert.match(e.message, /Missing scopes: model\.request/);
    });

    it('list and GET show it without the value', async () => {
      const l = await env.admin('GET', '/v1/organization/admin_api_keys?limit=100');
      assert.equal(l.status, 200, l.text);
      assertListShape(l.json, 'admin keys');
      const item = l.json.data.find((k) => k.id === created.id);
      assert.ok(item, 'listed');
      assert.equal(item.object, 'organization.admin_api_key');
      assert.ok(!('value' in item), 'no value in the list');
      assert.ok(!l.text.includes(created.value), 'secret not in the list');
      assert.ok(!l.text.includes(env.adminKey), 'init admin key not in the list');
      assert.equal(item.redacted_value, created.redacted_value);
      const g = await env.admin('GET', `/v1/organization/admin_api_keys/${created.id}`);
      assert.equal(g.status, 200, g.text);
      assert.equal(g.json.id, created.id);
      assert.ok(!('value' in g.json));
      const { items } = await pageAll(env, '/v1/organization/admin_api_keys', 1);
      assert.ok(items.length >= 2, 'the init key and the new one');
    });

    it('DELETE revokes it: deleted object, then 401 with it', async () => {
      const d = await env.admin('DELETE', `/v1/organization/admin_api_keys/${created.id}`);
      assert.equal(d.status, 200, d.text);
      assert.deepEqual(d.json, { id: created.id, object: 'organization.admin_api_key.deleted', deleted: true });
      const r = await env.admin('GET', '/v1/organization/projects', undefined, { key: created.value });
      const e = assertErrorResponse(r, 401, { type: 'invalid_request_error', code: 'invalid_api_key' }, 'deleted admin key');
      assert.ok(!e.message.includes(created.value));
      const g = await env.admin('GET', `/v1/organization/admin_api_keys/${created.id}`);
      assertErrorResponse(g, 404, { type: 'invalid_request_error' }, 'GET a deleted admin key');
      const still = await env.admin('GET', '/v1/organization/projects');
      assert.equal(still.status, 200, 'the init admin key still works');
    });

    it('a missing name → 400 missing_required_parameter', async () => {
      const r = await env.admin('POST', '/v1/organization/admin_api_keys', {});
      assertErrorResponse(r, 400, { type: 'invalid_request_error', code: 'missing_required_parameter', param: 'name' });
    });
  });

  describe('providers', () => {
    it('the upstream secret is never returned', async () => {
      assert.ok(env.provider, 'create response parsed');
      assert.ok(!JSON.stringify(env.provider).includes(UPSTREAM_KEY), 'not in the create response');
      const l = await env.admin('GET', '/v1/organization/providers');
      assert.equal(l.status, 200, l.text);
      assert.ok(!l.text.includes(UPSTREAM_KEY), 'not in the list');
      assert.equal(l.json.object, 'list');
      const p = l.json.data.find((x) => x.name === 'mock');
      assert.ok(p, `provider listed: ${l.text}`);
      if (env.providerId) {
        assert.equal(p.id, env.providerId);
        const g = await env.admin('GET', `/v1/organization/providers/${env.providerId}`);
        assert.equal(g.status, 200, g.text);
        assert.ok(!g.text.includes(UPSTREAM_KEY), 'not in GET');
      }
    });

    it('a project key cannot see providers', async () => {
      const r = await env.request('GET', '/v1/organization/providers', { key: env.apiKey });
      const e = assertErrorResponse(r, 401, { type: 'invalid_request_error', code: null });
      assert.match(e.message, /Missing scopes: api\.management\.read/);
    });
  });

  describe('secrets at rest', () => {
    it('no key secret in the database files or the server log', async () => {
      const extra = await env.admin('POST', '/v1/organization/admin_api_keys', { name: 'at rest' });
      assert.equal(extra.status, 200, extra.text);
      // use the keys, so that anything written on use (last_used_at, usage) is there too
      await env.api('POST', '/v1/chat/completions', { json: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] } });
      await env.admin('GET', '/v1/organization/projects', undefined, { key: extra.json.value });
      const secrets = { 'project key': env.apiKey, 'init admin key': env.adminKey, 'new admin key': extra.json.value };
      const stored = databaseBytes(env.dbPath);
      assert.ok(stored.length >= 1 && stored[0].length > 0, 'database contents found');
      for (const [i, bytes] of stored.entries()) {
        for (const [what, s] of Object.entries(secrets)) {
          assert.equal(bytes.indexOf(Buffer.from(s)), -1, `${what} stored in plain text (part ${i})`);
          assert.equal(bytes.indexOf(Buffer.from(s.slice(-24))), -1, `the tail of the ${what} stored in plain text (part ${i})`);
        }
      }
      const log = env.logs();
      for (const [what, s] of Object.entries(secrets)) {
        assert.ok(!log.includes(s), `${what} in the server log`);
      }
      assert.ok(!log.includes(UPSTREAM_KEY), 'upstream key in the server log');
    });
  });
});
