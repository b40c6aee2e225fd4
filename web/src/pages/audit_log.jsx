// Settings → Audit log: GET /v1/organization/audit_logs (OpenAI's audit log shape), newest
// first, for every member of the organisation (a read: readers see it too). Filters: a date
// range in the reader's own days (effective_at[gte] / effective_at[lt]), one event type
// (event_types[]), one project (project_ids[]) and one actor (actor_ids[]: a member, or an
// API key seen in the log); pages of 10 to 100 events, "Load more" with after = last_id
// while has_more.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api.js';
import { t, has } from '../i18n.js';
import { formatTimestamp, formatDate, formatTime, formatNumber } from '../format.js';
import { Button, ErrorBox, Table, Card, useLoad, roleLabel } from '../ui.jsx';

// Every event type the server records, in the order the select lists them.
export const EVENT_TYPES = [
  'api_key.created',
  'api_key.deleted',
  'project.created',
  'project.updated',
  'project.archived',
  'rate_limit.updated',
  'spend_limit.updated',
  'spend_limit.deleted',
  'spend_alert.created',
  'spend_alert.deleted',
  'payment_method.created',
  'payment_method.updated',
  'payment_method.deleted',
  'top_up.created',
  'top_up.failed',
  'auto_recharge.updated',
  'credit_grant.created',
  'provider.created',
  'provider.updated',
  'provider.deleted',
  'model.created',
  'model.updated',
  'invite.sent',
  'invite.deleted',
  'invite.accepted',
  'user.updated',
  'user.deleted',
  'login.succeeded',
  'login.failed',
  'logout.succeeded',
  'organization.created',
  'organization.updated',
];

export const strings = {
  en: {
    'audit.filter_start': 'From',
    'audit.filter_end': 'To',
    'audit.filter_type': 'Event type',
    'audit.filter_project': 'Project',
    'audit.filter_actor': 'Actor',
    'audit.page_size': 'Per page',
    'audit.all_types': 'All event types',
    'audit.all_projects': 'All projects',
    'audit.all_actors': 'All actors',
    'audit.clear': 'Clear filters',
    'audit.refresh': 'Refresh',
    'audit.bad_range': 'The start date is after the end date.',
    'audit.col_time': 'Time',
    'audit.col_event': 'Event',
    'audit.col_actor': 'Actor',
    'audit.col_project': 'Project',
    'audit.col_details': 'Details',
    'audit.empty': 'No events yet.',
    'audit.empty_filtered': 'No events match these filters.',
    'audit.actor_key': 'API key {id}',
    'audit.actor_unknown': 'Unknown',
    'audit.show_json': 'Show',
    'audit.hide_json': 'Hide',
    'audit.json_label': 'The event as JSON',
    'audit.sum_error': 'Error: {code}',
    'audit.load_more': 'Load more',
    'audit.shown_all': '{count} events',
    'audit.shown_more': '{count} events shown; there are more',
    'audit.type.api_key.created': 'API key created',
    'audit.type.api_key.deleted': 'API key revoked',
    'audit.type.project.created': 'Project created',
    'audit.type.project.updated': 'Project updated',
    'audit.type.project.archived': 'Project archived',
    'audit.type.rate_limit.updated': 'Rate limit changed',
    'audit.type.spend_limit.updated': 'Spend limit set',
    'audit.type.spend_limit.deleted': 'Spend limit removed',
    'audit.type.spend_alert.created': 'Spend alert created',
    'audit.type.spend_alert.deleted': 'Spend alert deleted',
    'audit.type.payment_method.created': 'Payment method added',
    'audit.type.payment_method.updated': 'Default payment method changed',
    'audit.type.payment_method.deleted': 'Payment method removed',
    'audit.type.top_up.created': 'Credit purchased',
    'audit.type.top_up.failed': 'Credit purchase failed',
    'audit.type.auto_recharge.updated': 'Auto-recharge changed',
    'audit.type.credit_grant.created': 'Credit granted',
    'audit.type.provider.created': 'Provider added',
    'audit.type.provider.updated': 'Provider changed',
    'audit.type.provider.deleted': 'Provider deleted',
    'audit.type.model.created': 'Model added',
    'audit.type.model.updated': 'Model changed',
    'audit.type.invite.sent': 'Invitation sent',
    'audit.type.invite.deleted': 'Invitation revoked',
    'audit.type.invite.accepted': 'Invitation accepted',
    'audit.type.user.updated': 'Member role changed',
    'audit.type.user.deleted': 'Member removed',
    'audit.type.login.succeeded': 'Logged in',
    'audit.type.login.failed': 'Login failed',
    'audit.type.logout.succeeded': 'Logged out',
    'audit.type.organization.created': 'Organization created',
    'audit.type.organization.updated': 'Organization changed',
  },
  zh: {
    'audit.filter_start': '开始日期',
    'audit.filter_end': '结束日期',
    'audit.filter_type': '事件类型',
    'audit.filter_project': '项目',
    'audit.filter_actor': '操作者',
    'audit.page_size': '每页条数',
    'audit.all_types': '所有事件类型',
    'audit.all_projects': '所有项目',
    'audit.all_actors': '所有操作者',
    'audit.clear': '清除筛选',
    'audit.refresh': '刷新',
    'audit.bad_range': '开始日期晚于结束日期。',
    'audit.col_time': '时间',
    'audit.col_event': '事件',
    'audit.col_actor': '操作者',
    'audit.col_project': '项目',
    'audit.col_details': '详情',
    'audit.empty': '还没有事件。',
    'audit.empty_filtered': '没有符合筛选条件的事件。',
    'audit.actor_key': 'API 密钥 {id}',
    'audit.actor_unknown': '未知',
    'audit.show_json': '展开',
    'audit.hide_json': '收起',
    'audit.json_label': '事件的 JSON',
    'audit.sum_error': '错误：{code}',
    'audit.load_more': '加载更多',
    'audit.shown_all': '共 {count} 个事件',
    'audit.shown_more': '已显示 {count} 个事件，还有更多',
    'audit.type.api_key.created': '创建了 API 密钥',
    'audit.type.api_key.deleted': '撤销了 API 密钥',
    'audit.type.project.created': '创建了项目',
    'audit.type.project.updated': '修改了项目',
    'audit.type.project.archived': '归档了项目',
    'audit.type.rate_limit.updated': '修改了速率限制',
    'audit.type.spend_limit.updated': '设置了支出限额',
    'audit.type.spend_limit.deleted': '移除了支出限额',
    'audit.type.spend_alert.created': '创建了支出提醒',
    'audit.type.spend_alert.deleted': '删除了支出提醒',
    'audit.type.payment_method.created': '添加了付款方式',
    'audit.type.payment_method.updated': '更改了默认付款方式',
    'audit.type.payment_method.deleted': '移除了付款方式',
    'audit.type.top_up.created': '购买了额度',
    'audit.type.top_up.failed': '额度购买失败',
    'audit.type.auto_recharge.updated': '修改了自动充值',
    'audit.type.credit_grant.created': '发放了额度',
    'audit.type.provider.created': '添加了提供方',
    'audit.type.provider.updated': '修改了提供方',
    'audit.type.provider.deleted': '删除了提供方',
    'audit.type.model.created': '添加了模型',
    'audit.type.model.updated': '修改了模型',
    'audit.type.invite.sent': '发送了邀请',
    'audit.type.invite.deleted': '撤销了邀请',
    'audit.type.invite.accepted': '接受了邀请',
    'audit.type.user.updated': '更改了成员角色',
    'audit.type.user.deleted': '移除了成员',
    'audit.type.login.succeeded': '登录成功',
    'audit.type.login.failed': '登录失败',
    'audit.type.logout.succeeded': '退出登录',
    'audit.type.organization.created': '创建了组织',
    'audit.type.organization.updated': '修改了组织',
  },
};

const CSS = `
.au-controls{display:flex;flex-wrap:wrap;gap:12px 16px;align-items:flex-end;margin-bottom:16px}
.au-controls .field{margin:0;flex:0 1 170px;min-width:0}
.au-controls .field.au-wide{flex:0 1 240px}
.au-controls .field.au-narrow{flex:0 1 100px}
.au-controls .input{width:100%;min-width:0}
.au-buttons{display:flex;flex-wrap:wrap;gap:8px}
.au-table td{vertical-align:top}
.au-type{display:block;font-family:var(--mono);font-size:11.5px;color:var(--muted);white-space:nowrap}
.au-summary{overflow-wrap:anywhere;min-width:120px;max-width:300px}
.au-summary code{font-size:12px;word-break:break-all}
.au-wrap{display:block;overflow-wrap:anywhere;min-width:140px;max-width:240px}
.au-id{word-break:break-all;min-width:120px;max-width:200px}
.au-details{display:flex;gap:8px;align-items:flex-start;justify-content:space-between}
.au-json-row td{background:var(--bg-subtle)}
.au-table tbody tr.au-json-row:hover td{background:var(--bg-subtle)}
.au-json{margin:0;white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word;max-height:360px;overflow:auto}
.au-busy{opacity:.55;transition:opacity .15s}
`;
if (typeof document !== 'undefined' && !document.getElementById('tg-audit-css')) {
  const el = document.createElement('style');
  el.id = 'tg-audit-css';
  el.textContent = CSS;
  document.head.appendChild(el);
}

const ORG = '/v1/organization';
const PAGE_SIZES = [10, 20, 50, 100];

// The label of an event type in the reader's language; the raw type for one the console
// does not know (a newer server).
export function eventLabel(type) {
  const key = `audit.type.${type}`;
  return has(key) ? t(key) : type;
}

// A date input's YYYY-MM-DD as the Unix time of that day's start in the reader's own time
// zone (plusDays: a later day's start); null when empty or invalid.
function dayStart(s, plusDays = 0) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s || '');
  if (!m) return null;
  const ms = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + plusDays).getTime();
  return Number.isNaN(ms) ? null : Math.floor(ms / 1000);
}

function actorOf(e) {
  const a = e.actor || {};
  if (a.type === 'session' && a.session) {
    const u = a.session.user || {};
    return { id: u.id || null, name: u.email || u.id || t('audit.actor_unknown'), address: a.session.ip_address || '', kind: 'session' };
  }
  if (a.type === 'api_key' && a.api_key) {
    return { id: a.api_key.id || null, name: t('audit.actor_key', { id: a.api_key.id || '' }), address: a.ip_address || '', kind: 'api_key' };
  }
  return { id: null, name: t('audit.actor_unknown'), address: '', kind: 'unknown' };
}

function scalar(v) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

// One short line from the event's object (named like its type): what the change was about.
// Field names of changes_requested are the API's own (shown as code, like the raw type).
function summary(e) {
  const d = (e && e[e.type]) || {};
  const parts = [];
  if (d.error_code) parts.push(t('audit.sum_error', { code: d.error_code }));
  const data = d.data && typeof d.data === 'object' ? d.data : null;
  if (data) {
    if (data.name !== undefined) parts.push(`“${data.name}”`);
    if (data.email !== undefined) parts.push(data.role ? `${data.email} (${roleLabel(data.role)})` : String(data.email));
    if (data.amount !== undefined && data.name === undefined) parts.push(scalar(data.amount));
  }
  const chg = d.changes_requested && typeof d.changes_requested === 'object' ? d.changes_requested : null;
  if (chg) {
    for (const [k, v] of Object.entries(chg)) {
      parts.push(
        <span key={k}>
          <code>{k}</code> → {k === 'role' ? roleLabel(v) : scalar(v)}
        </span>
      );
    }
  }
  if (d.id && !parts.length) parts.push(<code>{d.id}</code>);
  return parts.length ? parts.flatMap((p, i) => (i ? [' · ', p] : [p])) : null;
}

function AuditRow({ e, projects }) {
  const [open, setOpen] = useState(false);
  const actor = actorOf(e);
  const pid = e.project && e.project.id;
  const pname = pid ? projects.get(pid) : null;
  const sum = summary(e);
  return (
    <>
      <tr data-testid="audit-row" data-id={e.id} data-type={e.type} data-actor={actor.id || ''} data-project={pid || ''}>
        <td class="nowrap">
          <time data-testid="audit-time" dateTime={new Date(e.effective_at * 1000).toISOString()} title={formatTimestamp(e.effective_at)}>
            {formatDate(e.effective_at)}
            <span class="cell-sub">{formatTime(e.effective_at)}</span>
          </time>
        </td>
        <td>
          <span class="cell-strong" data-testid="audit-event">
            {eventLabel(e.type)}
          </span>
          <code class="au-type" data-testid="audit-type">
            {e.type}
          </code>
        </td>
        <td>
          <span class="cell-strong au-wrap" data-testid="audit-actor">
            {actor.name}
          </span>
          {actor.address && (
            <span class="cell-sub mono" data-testid="audit-address">
              {actor.address}
            </span>
          )}
        </td>
        <td data-testid="audit-project">
          {pid ? (
            <>
              {pname && <span class="cell-strong">{pname}</span>}
              <code class="cell-sub au-id">{pid}</code>
            </>
          ) : (
            '—'
          )}
        </td>
        <td>
          <div class="au-details">
            <span class="au-summary" data-testid="audit-summary">
              {sum || '—'}
            </span>
            <Button
              small
              variant="ghost"
              testid="audit-expand"
              aria-expanded={open ? 'true' : 'false'}
              onClick={() => setOpen(!open)}
            >
              {open ? t('audit.hide_json') : t('audit.show_json')}
            </Button>
          </div>
        </td>
      </tr>
      {open && (
        <tr class="au-json-row" data-testid="audit-json-row">
          <td colSpan={5}>
            <pre class="code-block au-json" data-testid="audit-json" aria-label={t('audit.json_label')} tabIndex={0}>
              <code>{JSON.stringify(e, null, 2)}</code>
            </pre>
          </td>
        </tr>
      )}
    </>
  );
}

export default function AuditLog({ session }) {
  const [start, setStart] = useState('');
  const [end, setEnd] = useState('');
  const [type, setType] = useState('');
  const [project, setProject] = useState('');
  const [actor, setActor] = useState('');
  const [pageSize, setPageSize] = useState(20);
  const [tick, setTick] = useState(0); // Refresh
  const [state, setState] = useState({ events: [], hasMore: false, lastId: null, loading: true, error: null, more: false });
  const [keyActors, setKeyActors] = useState([]); // API keys seen as actors, for the actor filter
  const seq = useRef(0);

  const projectsLoad = useLoad(() => api.list(`${ORG}/projects?include_archived=true`), []);
  const usersLoad = useLoad(() => api.list(`${ORG}/users`), []);
  const projects = new Map((projectsLoad.data || []).map((p) => [p.id, p.name]));

  const from = dayStart(start);
  const to = dayStart(end, 1);
  const badRange = from !== null && to !== null && from >= to;
  const filtered = !!(start || end || type || project || actor);

  const query = (after) => {
    const q = [`limit=${pageSize}`];
    if (from !== null) q.push(`effective_at[gte]=${from}`);
    if (to !== null) q.push(`effective_at[lt]=${to}`);
    if (type) q.push(`event_types[]=${encodeURIComponent(type)}`);
    if (project) q.push(`project_ids[]=${encodeURIComponent(project)}`);
    if (actor) q.push(`actor_ids[]=${encodeURIComponent(actor)}`);
    if (after) q.push(`after=${encodeURIComponent(after)}`);
    return `${ORG}/audit_logs?${q.join('&')}`;
  };

  const noteActors = (events) => {
    const ids = events.map((e) => actorOf(e)).filter((a) => a.kind === 'api_key' && a.id).map((a) => a.id);
    if (ids.length) setKeyActors((old) => (ids.every((id) => old.includes(id)) ? old : [...new Set([...old, ...ids])]));
  };

  // the first page, again whenever a filter changes
  useEffect(() => {
    const my = ++seq.current;
    if (badRange) {
      setState({ events: [], hasMore: false, lastId: null, loading: false, error: null, more: false });
      return;
    }
    setState((s) => ({ ...s, loading: true, error: null, more: false }));
    api.get(query(null)).then(
      (page) => {
        if (my !== seq.current) return;
        const events = Array.isArray(page.data) ? page.data : [];
        noteActors(events);
        setState({ events, hasMore: !!page.has_more, lastId: page.last_id || null, loading: false, error: null, more: false });
      },
      (error) => {
        if (my === seq.current) setState({ events: [], hasMore: false, lastId: null, loading: false, error, more: false });
      }
    );
  }, [from, to, type, project, actor, pageSize, tick, badRange]);

  const loadMore = async () => {
    const my = seq.current;
    setState((s) => ({ ...s, more: true, error: null }));
    try {
      const page = await api.get(query(state.lastId));
      if (my !== seq.current) return;
      const events = Array.isArray(page.data) ? page.data : [];
      noteActors(events);
      setState((s) => ({
        events: [...s.events, ...events.filter((e) => !s.events.some((x) => x.id === e.id))],
        hasMore: !!page.has_more && events.length > 0,
        lastId: page.last_id || s.lastId,
        loading: false,
        error: null,
        more: false,
      }));
    } catch (error) {
      if (my === seq.current) setState((s) => ({ ...s, more: false, error }));
    }
  };

  // Refresh: the first page again, and the projects' and members' names with it
  const refresh = () => {
    setTick(tick + 1);
    projectsLoad.reload();
    usersLoad.reload();
  };

  const clear = () => {
    setStart('');
    setEnd('');
    setType('');
    setProject('');
    setActor('');
  };

  const members = usersLoad.data || [];
  const actorOptions = [
    ...members.map((u) => ({ value: u.id, label: u.email })),
    ...keyActors.map((id) => ({ value: id, label: t('audit.actor_key', { id }) })),
  ];
  if (actor && !actorOptions.some((o) => o.value === actor)) actorOptions.push({ value: actor, label: actor });
  const projectOptions = (projectsLoad.data || []).map((p) => ({ value: p.id, label: p.name || p.id }));
  if (project && !projectOptions.some((o) => o.value === project)) projectOptions.push({ value: project, label: project });

  const { events, hasMore, loading, error, more } = state;
  return (
    <Card class="au-card">
      <div class="au-controls">
        <div class="field">
          <label class="field-label" for="au-start">
            {t('audit.filter_start')}
          </label>
          <input id="au-start" class="input" type="date" data-testid="audit-filter-start" value={start} max={end || undefined} onChange={(ev) => setStart(ev.currentTarget.value)} />
        </div>
        <div class="field">
          <label class="field-label" for="au-end">
            {t('audit.filter_end')}
          </label>
          <input id="au-end" class="input" type="date" data-testid="audit-filter-end" value={end} min={start || undefined} onChange={(ev) => setEnd(ev.currentTarget.value)} />
        </div>
        <div class="field au-wide">
          <label class="field-label" for="au-type">
            {t('audit.filter_type')}
          </label>
          <select id="au-type" class="input select" data-testid="audit-filter-type" value={type} onChange={(ev) => setType(ev.currentTarget.value)}>
            <option value="">{t('audit.all_types')}</option>
            {EVENT_TYPES.map((ty) => (
              <option key={ty} value={ty}>
                {eventLabel(ty)}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label class="field-label" for="au-project">
            {t('audit.filter_project')}
          </label>
          <select id="au-project" class="input select" data-testid="audit-filter-project" value={project} onChange={(ev) => setProject(ev.currentTarget.value)}>
            <option value="">{t('audit.all_projects')}</option>
            {projectOptions.map((o) => (
              <option key={o.value} value={o.value}>
                {o.label}
              </option>
            ))}
          </select>
        </div>
        <div class="field au-wide">
          <label class="field-label" for="au-actor">
            {t('audit.filter_actor')}
          </label>
          <select id="au-actor" class="input select" data-testid="audit-filter-actor" value={actor} onChange={(ev) => setActor(ev.currentTarget.value)}>
            <option value="">{t('audit.all_actors')}</option>
            {actorOptions.map((o) => (
              <option key={o.value} value={o.value}>
                {o.label}
              </option>
            ))}
          </select>
        </div>
        <div class="field au-narrow">
          <label class="field-label" for="au-size">
            {t('audit.page_size')}
          </label>
          <select id="au-size" class="input select" data-testid="audit-page-size" value={String(pageSize)} onChange={(ev) => setPageSize(Number(ev.currentTarget.value))}>
            {PAGE_SIZES.map((n) => (
              <option key={n} value={String(n)}>
                {formatNumber(n)}
              </option>
            ))}
          </select>
        </div>
        <div class="au-buttons">
          <Button small testid="audit-refresh" disabled={loading} onClick={refresh}>
            {t('audit.refresh')}
          </Button>
          {filtered && (
            <Button small variant="ghost" testid="audit-filter-clear" onClick={clear}>
              {t('audit.clear')}
            </Button>
          )}
        </div>
      </div>
      {badRange && <ErrorBox error={t('audit.bad_range')} />}
      <ErrorBox error={error || projectsLoad.error || usersLoad.error} />
      <div class={loading && events.length ? 'au-busy' : undefined} data-testid="audit-log" data-loading={loading ? 'true' : 'false'}>
        <Table
          class="au-table"
          loading={loading && !events.length}
          empty={filtered ? t('audit.empty_filtered') : t('audit.empty')}
          columns={[t('audit.col_time'), t('audit.col_event'), t('audit.col_actor'), t('audit.col_project'), t('audit.col_details')]}
        >
          {events.map((e) => (
            <AuditRow key={e.id} e={e} projects={projects} />
          ))}
        </Table>
      </div>
      {!loading && events.length > 0 && (
        <div class="table-footer">
          <span class="muted" data-testid="audit-count">
            {hasMore ? t('audit.shown_more', { count: formatNumber(events.length) }) : t('audit.shown_all', { count: formatNumber(events.length) })}
          </span>
          {hasMore && (
            <Button small testid="audit-load-more" disabled={more} onClick={loadMore}>
              {more ? t('common.loading') : t('audit.load_more')}
            </Button>
          )}
        </div>
      )}
    </Card>
  );
}
