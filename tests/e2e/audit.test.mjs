// Settings → Audit log (GET /v1/organization/audit_logs) in the console, in Debian's chromium
// through playwright-core, once in English (en-US) and once in Chinese (zh-CN): a customer signs
// up, creates a project, a key in it, revokes the key and renames the organisation, all in the
// console; the Audit log tab shows those events newest first with the customer's e-mail as the
// actor and the client's address, each event a translated label with its raw type, opening to
// the event's JSON (the API's own); filtering by type, project, actor and date shows what the
// API answers for that filter; with more events than a page (the project renamed through the
// Admin API with the session), "Load more" pages through every event in order, with the
// default 20 a page and with 10. Screenshots at 1280 and 390 px (output/audit-<lang>/), no page
// wider than a 390 px window, no page error or console.error, no layout problem and, in
// Chinese, no English label left.
//
// Run: cd tests/e2e && node --test --test-concurrency=1 --test-timeout=300000 audit.test.mjs

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Env } from '../integration/harness.mjs';
import { launchBrowser, openPage, settle, screenshot, clearOutput, layoutProblems, untranslatedLabels } from './browser.mjs';

const PASSWORD = 'e2e-password-1234';
const OPERATOR_EMAIL = 'operator@example.com';

const LANGS = [
  {
    lang: 'en', locale: 'en-US',
    labels: { 'project.created': 'Project created', 'api_key.created': 'API key created', 'api_key.deleted': 'API key revoked', 'organization.updated': 'Organization changed' },
  },
  {
    lang: 'zh', locale: 'zh-CN',
    labels: { 'project.created': '创建了项目', 'api_key.created': '创建了 API 密钥', 'api_key.deleted': '撤销了 API 密钥', 'organization.updated': '修改了组织' },
  },
];

/** English labels that must not be left on a Chinese page (the audit log's and the shell's). */
const ENGLISH_LABELS = [
  'Settings', 'General', 'Audit log', 'From', 'To', 'Event type', 'Project', 'Actor', 'Per page', 'All event types',
  'All projects', 'All actors', 'Clear filters', 'Refresh', 'Time', 'Event', 'Details', 'Show', 'Hide', 'Load more',
  'Loading', 'No events yet.', 'No events match these filters.', 'Project created', 'Project updated', 'API key created',
  'API key revoked', 'Organization changed', 'Logged in', 'Logged out', 'Menu', 'Open the menu', 'Log out', 'API keys',
  'Projects', 'Billing', 'Limits', 'Usage', 'Unknown',
];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function sessionGet(page, origin, urlPath) {
  const r = await page.request.get(origin + urlPath);
  const text = await r.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: r.status(), text, json };
}

/** A write with the page's session: its cookie, the session's CSRF token, our origin. */
async function sessionPost(page, origin, urlPath, body) {
  const s = await sessionGet(page, origin, '/console/api/session');
  assert.equal(s.status, 200, s.text);
  const r = await page.request.post(origin + urlPath, {
    data: body, headers: { 'x-csrf-token': s.json.csrf_token, origin, 'content-type': 'application/json' },
  });
  const text = await r.text();
  assert.equal(r.status(), 200, `POST ${urlPath}: ${r.status()} ${text}`);
  return JSON.parse(text);
}

/** Every event of the organisation the API has for a query, newest first (pages of 100). */
async function apiEvents(page, origin, query = '') {
  const out = [];
  for (let after = null; ;) {
    const r = await sessionGet(page, origin, `/v1/organization/audit_logs?limit=100${query}${after ? `&after=${after}` : ''}`);
    assert.equal(r.status, 200, r.text);
    out.push(...r.json.data);
    if (!r.json.has_more) break;
    after = r.json.last_id;
  }
  return out;
}

describe('Settings → Audit log', () => {
  let env;
  let browser;

  before(async () => {
    env = await Env.start({
      initArgs: ['--email', OPERATOR_EMAIL, '--password', PASSWORD],
      serveArgs: ['--signup', 'open', '--payments', 'test'],
    });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await env?.stop();
  });

  for (const L of LANGS) {
    describe(`in ${L.locale}`, () => {
      const dir = `audit-${L.lang}`;
      let page;
      let rec;
      let context;
      const problems = []; // layout and language problems, by screen
      const origin = () => env.origin;

      async function shot(name) {
        await settle(page, rec);
        await screenshot(page, rec, dir, name);
        for (const p of await layoutProblems(page)) problems.push(`${name}: ${p}`);
        if (L.lang === 'zh') for (const w of await untranslatedLabels(page, ENGLISH_LABELS)) problems.push(`${name}: English label "${w}"`);
      }

      /** At 1280 px and at 390 px: the page no wider than the window, the navigation folded. */
      async function shotBoth(name) {
        await shot(name);
        const vp = page.viewportSize();
        await page.setViewportSize({ width: 390, height: 844 });
        try {
          await shot(`${name}-390`);
          const m = await page.evaluate(() => ({
            doc: document.documentElement.scrollWidth,
            body: document.body.scrollWidth,
            win: window.innerWidth,
            clip: [getComputedStyle(document.documentElement).overflowX, getComputedStyle(document.body).overflowX],
          }));
          assert.equal(m.win, 390);
          assert.ok(m.doc <= m.win && m.body <= m.win, `${name} at 390 px: the page is ${Math.max(m.doc, m.body)} px wide in a ${m.win} px window`);
          assert.ok(!m.clip.some((o) => o === 'hidden' || o === 'clip'), `${name}: no overflow-x rule on html/body hides a too-wide page (${m.clip})`);
          assert.ok(await page.getByTestId('nav-toggle').isVisible(), `${name} at 390 px: the menu button`);
          // the table scrolls in its own box
          const wrap = await page.evaluate(() => {
            const w = document.querySelector('[data-testid="audit-log"] .table-wrap');
            return w ? { overflow: getComputedStyle(w).overflowX, width: w.getBoundingClientRect().right } : null;
          });
          if (wrap) {
            assert.equal(wrap.overflow, 'auto', 'the table scrolls in its own container');
            assert.ok(wrap.width <= 391, `the table's box ends inside the window (${wrap.width})`);
          }
        } finally {
          await page.setViewportSize(vp);
        }
      }

      async function run(t, fn) {
        try {
          await fn();
        } catch (e) {
          try { await screenshot(page, rec, dir, `FAILED-${t.name.slice(0, 40).replace(/\W+/g, '-')}`); } catch { /* gone */ }
          if (rec.problems.length) e.message += `\n--- page errors / console.error:\n${rec.problems.join('\n')}`;
          if (problems.length) e.message += `\n--- problems so far:\n${problems.join('\n')}`;
          e.message += `\n--- at ${page.url()}`;
          throw e;
        }
        assert.deepEqual(rec.problems, [], `page errors / console.error:\n${rec.problems.join('\n')}`);
        assert.deepEqual(problems, [], `layout / language problems:\n${problems.join('\n')}`);
      }

      /** The rows shown now (after the log has loaded): [{id, type, actor, project}]. */
      async function rows() {
        await page.waitForFunction(() => document.querySelector('[data-testid="audit-log"]')?.dataset.loading === 'false');
        await settle(page, rec);
        return page.getByTestId('audit-row').evaluateAll((els) => els.map((el) => ({
          id: el.dataset.id, type: el.dataset.type, actor: el.dataset.actor, project: el.dataset.project,
        })));
      }

      /** Waits until the table shows exactly these event ids, in this order. */
      async function waitRows(ids, what) {
        const deadline = Date.now() + 10000;
        let got;
        for (;;) {
          got = (await rows()).map((r) => r.id);
          if (JSON.stringify(got) === JSON.stringify(ids) || Date.now() > deadline) break;
          await sleep(100);
        }
        assert.deepEqual(got, ids, what);
      }

      before(async () => {
        clearOutput(dir);
        ({ context, page, rec } = await openPage(browser, { locale: L.locale, origin: env.origin }));
      });
      after(async () => {
        await context?.close().catch(() => {});
      });

      const email = `audit-${L.lang}-${Date.now()}@example.com`;
      const projectName = L.lang === 'zh' ? '审计项目' : 'Audited project';
      const newOrgName = L.lang === 'zh' ? '审计有限公司' : 'Audited Ltd';
      const state = {};

      it('changes made in the console are in the audit log, newest first, by the customer', async (t) => run(t, async () => {
        // --- sign up
        await page.goto(`${origin()}/signup`);
        await page.getByTestId('signup-email').waitFor({ state: 'visible' });
        await page.getByTestId('signup-email').fill(email);
        await page.getByTestId('signup-password').fill(PASSWORD);
        await page.getByTestId('signup-org').fill(L.lang === 'zh' ? '审计测试' : 'Audit test');
        await page.getByTestId('signup-submit').click();
        await page.getByTestId('create-key').waitFor({ state: 'visible' });
        const session = (await sessionGet(page, origin(), '/console/api/session')).json;
        state.userId = session.user.id;
        const t0 = Math.floor(Date.now() / 1000) - 1;

        // --- a project
        await page.getByTestId('nav-projects').click();
        await page.getByTestId('create-project').click();
        await page.getByTestId('dialog').waitFor({ state: 'visible' });
        await page.getByTestId('project-name').fill(projectName);
        await page.getByTestId('project-create-submit').click();
        await page.getByTestId('project-row').filter({ hasText: projectName }).waitFor({ state: 'visible' });
        const projects = (await sessionGet(page, origin(), '/v1/organization/projects?limit=100')).json.data;
        state.projectId = projects.find((p) => p.name === projectName).id;
        state.defaultProjectId = projects.find((p) => p.name !== projectName).id;

        // --- a key in it, then revoked
        await page.getByTestId('nav-api-keys').click();
        await page.getByTestId('create-key').click();
        await page.getByTestId('dialog').waitFor({ state: 'visible' });
        await page.getByTestId('key-name').fill('audited key');
        await page.getByTestId('key-project').selectOption(state.projectId);
        await page.getByTestId('key-create-submit').click();
        await page.getByTestId('key-secret').waitFor({ state: 'visible' });
        await page.getByTestId('key-done').click();
        await page.getByTestId('dialog').waitFor({ state: 'hidden' });
        const keyRow = page.getByTestId('key-row').filter({ hasText: 'audited key' });
        await keyRow.getByTestId('key-revoke').click();
        await page.getByTestId('confirm-revoke').click();
        await keyRow.waitFor({ state: 'detached' });

        // --- rename the organisation
        await page.getByTestId('nav-settings').click();
        await page.getByTestId('settings-org-name').waitFor({ state: 'visible' });
        await page.waitForFunction(() => document.querySelector('[data-testid="settings-org-name"]')?.value !== '');
        await page.getByTestId('settings-org-name').fill(newOrgName);
        await page.getByTestId('settings-save').click();
        await page.waitForFunction((n) => document.querySelector('[data-testid="org-name-label"]')?.textContent.trim() === n, newOrgName);

        // --- Settings → Audit log
        const tab = page.getByTestId('settings-tab-audit');
        assert.equal(await tab.getAttribute('aria-selected'), 'false');
        const tabText = (await tab.innerText()).trim();
        assert.equal(tabText, L.lang === 'zh' ? '审计日志' : 'Audit log', `the tab: "${tabText}"`);
        await tab.click();
        await page.getByTestId('audit-log').waitFor({ state: 'visible' });
        assert.equal(new URL(page.url()).pathname, '/settings/audit-log');
        assert.equal(await page.getByTestId('settings-tab-audit').getAttribute('aria-selected'), 'true');
        assert.equal(await page.getByTestId('nav-settings').getAttribute('aria-current'), 'page', 'Settings stays the current page in the navigation');
        assert.match(await page.title(), L.lang === 'zh' ? /^审计日志/ : /^Audit log/, 'the window title names the tab');

        const api = await apiEvents(page, origin());
        const shown = await rows();
        assert.deepEqual(shown.map((r) => r.id), api.slice(0, 20).map((e) => e.id), 'the first page is the API\'s first 20 events, newest first');
        const mine = api.filter((e) => e.effective_at >= t0);
        const types = mine.map((e) => e.type).filter((ty) => ty !== 'login.succeeded');
        assert.deepEqual(types, ['organization.updated', 'api_key.deleted', 'api_key.created', 'project.created'], 'the changes, newest first');
        for (let i = 1; i < api.length; i++) assert.ok(api[i - 1].effective_at >= api[i].effective_at, 'newest first');

        for (const ty of types) {
          const e = mine.find((x) => x.type === ty);
          const row = page.locator(`[data-testid="audit-row"][data-id="${e.id}"]`);
          assert.equal((await row.getByTestId('audit-event').innerText()).trim(), L.labels[ty], `${ty}: the translated label`);
          assert.equal((await row.getByTestId('audit-type').innerText()).trim(), ty, `${ty}: the raw type`);
          assert.equal((await row.getByTestId('audit-actor').innerText()).trim(), email, `${ty}: the user's e-mail as actor`);
          assert.equal(await row.getAttribute('data-actor'), state.userId);
          assert.equal((await row.getByTestId('audit-address').innerText()).trim(), '127.0.0.1', `${ty}: the address`);
          const time = (await row.getByTestId('audit-time').innerText()).replace(/\s+/g, ' ').trim();
          const expected = await page.evaluate(([ts, loc]) => {
            const d = new Date(ts * 1000);
            const day = new Intl.DateTimeFormat(loc, { year: 'numeric', month: 'short', day: 'numeric' }).format(d);
            const clock = new Intl.DateTimeFormat(loc, { hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(d);
            const full = new Intl.DateTimeFormat(loc, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(d);
            return { text: `${day} ${clock}`.replace(/\s+/g, ' '), full };
          }, [e.effective_at, L.locale]);
          assert.equal(time, expected.text, `${ty}: the date and time in the reader's locale`);
          assert.equal(await row.getByTestId('audit-time').getAttribute('title'), expected.full, `${ty}: the whole moment as the tooltip`);
          if (L.lang === 'zh') assert.match(time, /年/, `a Chinese date: ${time}`);
          if (ty !== 'organization.updated') {
            assert.equal(await row.getAttribute('data-project'), state.projectId, `${ty}: the project`);
            assert.ok((await row.getByTestId('audit-project').innerText()).includes(projectName), `${ty}: the project's name`);
          }
        }
        const orgRow = page.locator(`[data-testid="audit-row"][data-type="organization.updated"]`).first();
        assert.ok((await orgRow.getByTestId('audit-summary').innerText()).includes(newOrgName), 'the rename\'s summary names the new name');
        const projRow = page.locator(`[data-testid="audit-row"][data-type="project.created"]`).first();
        assert.ok((await projRow.getByTestId('audit-summary').innerText()).includes(projectName), 'the project\'s name in its summary');
        await shotBoth('audit-log');

        // the raw JSON: the API's own event
        const keyEvent = mine.find((e) => e.type === 'api_key.created');
        const keyRowShown = page.locator(`[data-testid="audit-row"][data-id="${keyEvent.id}"]`);
        await keyRowShown.getByTestId('audit-expand').click();
        assert.equal(await keyRowShown.getByTestId('audit-expand').getAttribute('aria-expanded'), 'true');
        const json = page.getByTestId('audit-json');
        await json.waitFor({ state: 'visible' });
        assert.deepEqual(JSON.parse(await json.innerText()), keyEvent, 'the expanded JSON is the event as the API gives it');
        await shotBoth('audit-log-expanded');
        await keyRowShown.getByTestId('audit-expand').click();
        await json.waitFor({ state: 'detached' });
        state.mine = mine;
      }));

      it('filters by type, project, actor and date', async (t) => run(t, async () => {
        assert.ok(state.mine, 'the first step ran');
        // type
        await page.getByTestId('audit-filter-type').selectOption('api_key.created');
        let want = await apiEvents(page, origin(), '&event_types[]=api_key.created');
        assert.equal(want.length, 1);
        await waitRows(want.map((e) => e.id), 'only api_key.created');
        assert.ok((await rows()).every((r) => r.type === 'api_key.created'));
        await shotBoth('audit-log-type');
        // type and project together: the default project has no key event
        await page.getByTestId('audit-filter-project').selectOption(state.defaultProjectId);
        await waitRows([], 'no api_key.created in the default project');
        await page.getByTestId('audit-log').getByText(L.lang === 'zh' ? '没有符合筛选条件的事件。' : 'No events match these filters.').waitFor({ state: 'visible' });
        await shot('audit-log-empty');
        // project alone
        await page.getByTestId('audit-filter-type').selectOption('');
        await page.getByTestId('audit-filter-project').selectOption(state.projectId);
        want = await apiEvents(page, origin(), `&project_ids[]=${state.projectId}`);
        assert.deepEqual(want.map((e) => e.type), ['api_key.deleted', 'api_key.created', 'project.created']);
        await waitRows(want.map((e) => e.id), 'the project\'s events');
        assert.ok((await rows()).every((r) => r.project === state.projectId));
        await shotBoth('audit-log-project');
        // clear, then the actor: every event here is the customer's
        await page.getByTestId('audit-filter-clear').click();
        await page.getByTestId('audit-filter-actor').selectOption(state.userId);
        want = await apiEvents(page, origin(), `&actor_ids[]=${state.userId}`);
        await waitRows(want.slice(0, 20).map((e) => e.id), 'the actor\'s events');
        assert.ok((await rows()).every((r) => r.actor === state.userId));
        // dates: today (the reader's day) holds everything; from tomorrow nothing
        await page.getByTestId('audit-filter-actor').selectOption('');
        const today = await page.evaluate(() => { const d = new Date(); return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`; });
        const tomorrow = await page.evaluate(() => { const d = new Date(); d.setDate(d.getDate() + 1); return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`; });
        await page.getByTestId('audit-filter-start').fill(today);
        await page.getByTestId('audit-filter-end').fill(today);
        const all = await apiEvents(page, origin());
        await waitRows(all.slice(0, 20).map((e) => e.id), 'today: every event');
        const dateReq = rec.responses.filter((r) => /\/audit_logs\?/.test(r.url)).at(-1).url;
        assert.match(decodeURIComponent(dateReq), /effective_at\[gte\]=\d+/, `the range is sent: ${dateReq}`);
        assert.match(decodeURIComponent(dateReq), /effective_at\[lt\]=\d+/, `the range is sent: ${dateReq}`);
        await shotBoth('audit-log-dates');
        await page.getByTestId('audit-filter-end').fill(tomorrow);
        await page.getByTestId('audit-filter-start').fill(tomorrow);
        await waitRows([], 'from tomorrow: nothing');
        await page.getByTestId('audit-filter-clear').click();
        await waitRows(all.slice(0, 20).map((e) => e.id), 'cleared: every event again');
      }));

      it('"Load more" pages through more than a page of events', async (t) => run(t, async () => {
        assert.ok(state.projectId, 'the first step ran');
        // more than two pages of 10 and more than one of 20: renames through the Admin API
        // with the session (each a project.updated by the customer)
        for (let i = 0; i < 22; i++) {
          await sessionPost(page, origin(), `/v1/organization/projects/${state.projectId}`, { name: `${projectName} ${i + 1}` });
        }
        const all = await apiEvents(page, origin());
        assert.ok(all.length > 25, `more than 25 events: ${all.length}`);
        await page.getByTestId('audit-refresh').click();
        await waitRows(all.slice(0, 20).map((e) => e.id), 'the first page of 20 after Refresh');
        assert.equal(await page.getByTestId('audit-load-more').isVisible(), true, 'more to load');
        // Refresh reads the projects' names again: the project's row names it as it is now
        await page.waitForFunction((n) => document.querySelector('[data-testid="audit-row"] [data-testid="audit-project"]')?.textContent.includes(n), `${projectName} 22`);
        await shotBoth('audit-log-more');
        await page.getByTestId('audit-load-more').click();
        await waitRows(all.slice(0, 40).map((e) => e.id), 'after Load more: the next page appended');
        const more = rec.responses.filter((r) => /\/audit_logs\?/.test(r.url)).at(-1).url;
        assert.ok(new URL(more).searchParams.get('after') === all[19].id, `after = the first page's last_id: ${more}`);

        // 10 a page: every event, in order, by Load more
        await page.getByTestId('audit-page-size').selectOption('10');
        await waitRows(all.slice(0, 10).map((e) => e.id), 'the first page of 10');
        let pages = 1;
        while (await page.getByTestId('audit-load-more').count()) {
          await page.getByTestId('audit-load-more').click();
          pages++;
          await waitRows(all.slice(0, Math.min(all.length, pages * 10)).map((e) => e.id), `page ${pages} of 10`);
          assert.ok(pages < 50);
        }
        assert.equal(pages, Math.ceil(all.length / 10), 'one Load more per further page');
        assert.match(await page.getByTestId('audit-count').innerText(), new RegExp(`${all.length}`), 'the count of the events shown');
        await shotBoth('audit-log-all');

        // a type with more than a page of 10: project.updated
        await page.getByTestId('audit-filter-type').selectOption('project.updated');
        const updated = all.filter((e) => e.type === 'project.updated');
        assert.ok(updated.length > 20);
        await waitRows(updated.slice(0, 10).map((e) => e.id), 'project.updated, 10 a page');
        await page.getByTestId('audit-load-more').click();
        await waitRows(updated.slice(0, 20).map((e) => e.id), 'project.updated, two pages');
      }));

      it('a reader sees the audit log too', async (t) => run(t, async () => {
        assert.ok(state.projectId, 'the first step ran');
        const readerEmail = `reader-${L.lang}-${Date.now()}@example.com`;
        const inv = await sessionPost(page, origin(), '/v1/organization/invites', { email: readerEmail, role: 'reader' });
        await page.getByTestId('logout').click();
        await page.getByTestId('login-email').waitFor({ state: 'visible' });
        await page.goto(origin() + inv.invite_url);
        await page.getByTestId('signup-password').waitFor({ state: 'visible' });
        if (await page.getByTestId('signup-email').isEditable()) await page.getByTestId('signup-email').fill(readerEmail);
        await page.getByTestId('signup-password').fill(PASSWORD);
        await page.getByTestId('signup-submit').click();
        await page.getByTestId('nav-settings').waitFor({ state: 'visible' });
        await page.goto(`${origin()}/settings/audit-log`);
        await page.getByTestId('audit-log').waitFor({ state: 'visible' });
        const all = await apiEvents(page, origin());
        assert.ok(all.some((e) => e.type === 'invite.sent'), 'the invitation is in the log');
        await waitRows(all.slice(0, 20).map((e) => e.id), 'the reader sees the first page');
        assert.ok((await rows()).some((r) => r.type === 'invite.accepted' || r.type === 'login.succeeded'));
        await shot('audit-log-reader');
      }));
    });
  }
});
