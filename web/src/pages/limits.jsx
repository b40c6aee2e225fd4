// Limits: usage limits (the monthly hard limit and an alert — e-mail or a signed webhook —
// for the organisation and for each project, with every project's month spend) and rate limits (the usage tier, what the next one needs, and the
// per-model limits in force for a project; a model no enabled provider serves, which is
// refused whatever its limits, is listed after the served ones, muted and marked). Amounts
// are typed in dollars and sent in cents; the server decides what is valid.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api.js';
import { t } from '../i18n.js';
import { formatUSD, formatDate, formatNumber } from '../format.js';
import { Button, Field, ErrorBox, Notice, Badge, Card, Table, Dialog, Loading, PageHeader, CopyButton, useLoad } from '../ui.jsx';
import { parseDollars, centsToInput, formatCents, MoneyField } from './billing.jsx';

const ORG = '/v1/organization';

const CSS = `
.lm-stats{display:flex;flex-wrap:wrap;gap:12px 40px;margin:0 0 20px}
.lm-stat-label{color:var(--muted);font-size:13px}
.lm-stat-value{font-size:20px;font-weight:600;color:var(--text);font-variant-numeric:tabular-nums}
.lm-grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(240px,1fr));gap:0 24px}
.lm-sub{margin:8px 0 12px;font-size:15px}
.lm-alerts{margin:4px 0 16px;padding:0;list-style:none}
.lm-alerts li{display:flex;align-items:center;justify-content:space-between;gap:12px;padding:8px 0;border-top:1px solid var(--border)}
.lm-alerts li span{overflow-wrap:anywhere;min-width:0}
.lm-tier{display:flex;flex-wrap:wrap;gap:12px 40px;align-items:flex-start;margin-bottom:8px}
.lm-tier-name{font-size:20px;font-weight:600;color:var(--text)}
.lm-next{max-width:640px;color:var(--text-2)}
.lm-rl-controls{display:flex;flex-wrap:wrap;gap:0 16px}
.lm-rl-controls .field{flex:0 1 280px}
.card .lm-rl-table{max-height:520px;overflow-y:auto;margin-bottom:0;border-bottom:1px solid var(--border)}
.lm-legend{margin-top:12px}
.lm-rl-table thead th{position:sticky;top:0;background:var(--bg);z-index:1}
.lm-rl-table .lm-rl-unserved td{color:var(--muted);background:var(--bg-subtle)}
.lm-rl-unserved .badge{margin-left:8px;font-family:var(--font);vertical-align:1px}
.lm-save-row{display:flex;align-items:center;gap:12px;flex-wrap:wrap}
.lm-save-row .notice{margin:0}
.lm-secret{margin:8px 0 12px}
`;
if (typeof document !== 'undefined' && !document.getElementById('tg-limits-css')) {
  const el = document.createElement('style');
  el.id = 'tg-limits-css';
  el.textContent = CSS;
  document.head.appendChild(el);
}

async function getOrNull(path) {
  try {
    return await api.get(path);
  } catch (e) {
    if (e.status === 404) return null;
    throw e;
  }
}

// GET …/spend_limit answers without a limit too ("threshold_amount": null, and the month's
// current_spend), so the page asks it for every scope without a 404.
function hasLimit(limit) {
  return !!limit && limit.threshold_amount !== null && limit.threshold_amount !== undefined;
}

function recipientsOf(alert) {
  const ch = alert && alert.notification_channel;
  return ch && ch.type === 'email' && Array.isArray(ch.recipients) ? ch.recipients : null;
}

function splitEmails(text) {
  return String(text || '')
    .split(/[\s,;]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

function channelLabel(alert) {
  const ch = alert.notification_channel || {};
  if (ch.type === 'email') return t('limits.alert_email_to', { to: (ch.recipients || []).join(', ') });
  if (ch.type === 'webhook') return t('limits.alert_webhook_to', { url: ch.url || '' });
  return ch.type || '—';
}

// The alert the form edits: the first one with an e-mail or webhook channel.
function primaryAlert(alerts) {
  return alerts.find((a) => recipientsOf(a) || webhookOf(a)) || null;
}

// A translated sentence whose {placeholders} are code (a command, a header): each is shown
// as <code>, the words around it in the reader's language.
function withCode(key, codes) {
  const marks = {};
  Object.keys(codes).forEach((k, i) => (marks[k] = `\u0000${i}\u0000`));
  const parts = t(key, marks).split('\u0000');
  const names = Object.keys(codes);
  return parts.map((p, i) => (i % 2 === 1 ? <code key={i}>{codes[names[Number(p)]]}</code> : p));
}

function webhookOf(alert) {
  const ch = alert && alert.notification_channel;
  return ch && ch.type === 'webhook' && typeof ch.url === 'string' ? ch.url : null;
}

function isHttpUrl(text) {
  try {
    const u = new URL(text);
    return (u.protocol === 'http:' || u.protocol === 'https:') && !!u.host && !/\s/.test(text);
  } catch (e) {
    return false;
  }
}

// The hard limit and one alert (soft limit) of one scope (the organisation, or a project under
// base). The alert goes to e-mail addresses (needs the server's --smtp-url) or to a webhook
// URL, which Tollgate POSTs a signed notification to; a new webhook alert's signing secret is
// shown once, after saving. ids: the data-testid of each control.
function LimitsForm({ base, session, reader, ids, onSaved, noEmail }) {
  const data = useLoad(async () => {
    const [limit, alerts] = await Promise.all([getOrNull(`${base}/spend_limit`), api.list(`${base}/spend_alerts`)]);
    return { limit, alerts };
  }, [base]);
  const [f, setF] = useState(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [saved, setSaved] = useState(false);
  const [secret, setSecret] = useState(null); // the new webhook alert's signing secret, once
  const keepForm = useRef(false); // after a refused save: reload the state, keep what was typed
  const secretRef = useRef(null);

  const primary = data.data ? primaryAlert(data.data.alerts) : null;

  useEffect(() => {
    if (!data.data) return;
    if (keepForm.current) {
      keepForm.current = false;
      return;
    }
    const { limit } = data.data;
    const url = webhookOf(primary);
    setF({
      hard: hasLimit(limit) ? centsToInput(limit.threshold_amount) : '',
      alert: primary ? centsToInput(primary.threshold_amount) : '',
      channel: url !== null ? 'webhook' : recipientsOf(primary) ? 'email' : noEmail ? 'webhook' : 'email',
      email: recipientsOf(primary) ? recipientsOf(primary).join(', ') : session.user.email || '',
      url: url || '',
    });
  }, [data.data]);

  if (data.error) return <ErrorBox error={data.error} />;
  if (!data.data || !f) return <Loading />;
  const { limit, alerts } = data.data;
  const others = alerts.filter((a) => a !== primary);

  const edit = (k) => (v) => {
    setSaved(false);
    setF({ ...f, [k]: v });
  };

  const save = async (e) => {
    e.preventDefault();
    setError(null);
    setSaved(false);
    setSecret(null);
    let hard = null;
    let alert = null;
    if (f.hard.trim() !== '') {
      const p = parseDollars(f.hard);
      if (p.error) return setError(t('billing.field_error', { field: t('limits.hard_limit'), error: p.error }));
      if (p.cents < 1) return setError(t('errors.limit_amount'));
      hard = p.cents;
    }
    const rcpt = splitEmails(f.email);
    const url = f.url.trim();
    if (f.alert.trim() !== '') {
      const p = parseDollars(f.alert);
      if (p.error) return setError(t('billing.field_error', { field: t('limits.alert_threshold'), error: p.error }));
      if (p.cents < 1) return setError(t('errors.limit_amount'));
      alert = p.cents;
      // the destination is checked here as the server will
      if (f.channel === 'email') {
        if (noEmail) return setError(t('errors.alert_no_smtp'));
        if (rcpt.length < 1 || rcpt.length > 10 || rcpt.some((r) => !/^[^\s@<>,;]+@[^\s@<>,;]+$/.test(r)))
          return setError(t('limits.alert_email_invalid'));
      } else if (!isHttpUrl(url)) {
        return setError(t('limits.alert_url_invalid'));
      }
    }
    setBusy(true);
    try {
      if (hard === null && hasLimit(limit)) await api.del(`${base}/spend_limit`);
      else if (hard !== null && (!hasLimit(limit) || limit.threshold_amount !== hard))
        await api.post(`${base}/spend_limit`, { threshold_amount: hard });
      if (alert === null && primary) {
        await api.del(`${base}/spend_alerts/${encodeURIComponent(primary.id)}`);
      } else if (alert !== null) {
        const channel =
          f.channel === 'email' ? { type: 'email', recipients: rcpt } : { type: 'webhook', url };
        const same =
          primary &&
          primary.threshold_amount === alert &&
          (f.channel === 'email'
            ? recipientsOf(primary) && recipientsOf(primary).join(',') === rcpt.join(',')
            : webhookOf(primary) === url);
        if (!same) {
          // an alert is replaced by a new one (the API has no update)
          const made = await api.post(`${base}/spend_alerts`, { threshold_amount: alert, notification_channel: channel });
          if (channel.type === 'webhook' && made.signing_secret) setSecret(made.signing_secret);
          if (primary) await api.del(`${base}/spend_alerts/${encodeURIComponent(primary.id)}`);
        }
      }
      setSaved(true);
      if (onSaved) onSaved();
    } catch (err) {
      setError(err);
      keepForm.current = true;
    }
    setBusy(false);
    data.reload();
  };

  const removeAlert = async (a) => {
    setError(null);
    try {
      await api.del(`${base}/spend_alerts/${encodeURIComponent(a.id)}`);
      if (onSaved) onSaved();
    } catch (err) {
      setError(err);
    }
    data.reload();
  };

  return (
    <form onSubmit={save} noValidate>
      <div class="lm-grid">
        <div>
          <h3 class="lm-sub">{t('limits.hard_title')}</h3>
          <MoneyField
            label={t('limits.hard_limit')}
            hint={t('limits.hard_hint')}
            value={f.hard}
            onInput={edit('hard')}
            testid={ids.hard}
            disabled={reader}
            placeholder={t('limits.none_placeholder')}
          />
          {limit && (
            <div class="field-hint" data-testid={ids.current}>
              {hasLimit(limit)
                ? t('limits.current_of_limit', {
                    spend: formatUSD(limit.current_spend),
                    limit: formatCents(limit.threshold_amount),
                  })
                : t('limits.current_spend', { spend: formatUSD(limit.current_spend) })}{' '}
              {limit.enforcement && limit.enforcement.status === 'enforcing' && (
                <Badge kind="danger">{t('limits.enforcing')}</Badge>
              )}
            </div>
          )}
        </div>
        <div>
          <h3 class="lm-sub">{t('limits.alert_title')}</h3>
          <MoneyField
            label={t('limits.alert_threshold')}
            hint={t('limits.alert_hint')}
            value={f.alert}
            onInput={edit('alert')}
            testid={ids.alert}
            disabled={reader}
            placeholder={t('limits.none_placeholder')}
          />
          <Field label={t('limits.alert_channel')} id={`${ids.channel}-select`}>
            <select
              id={`${ids.channel}-select`}
              class="input select"
              data-testid={ids.channel}
              value={f.channel}
              disabled={reader}
              onChange={(e) => edit('channel')(e.currentTarget.value)}
            >
              <option value="webhook">{t('limits.channel_webhook')}</option>
              <option value="email" disabled={noEmail && f.channel !== 'email'}>
                {noEmail ? t('limits.channel_email_off') : t('limits.channel_email')}
              </option>
            </select>
          </Field>
          {f.channel === 'email' ? (
            <Field
              label={t('limits.alert_email')}
              hint={t('limits.alert_email_hint')}
              type="text"
              inputMode="email"
              value={f.email}
              onInput={(e) => edit('email')(e.currentTarget.value)}
              testid={ids.email}
              disabled={reader || noEmail}
            />
          ) : (
            <Field
              label={t('limits.alert_url')}
              hint={t('limits.alert_url_hint')}
              type="url"
              inputMode="url"
              placeholder="https://"
              value={f.url}
              onInput={(e) => edit('url')(e.currentTarget.value)}
              testid={ids.url}
              disabled={reader}
            />
          )}
          {noEmail && (
            <div class="field-hint" data-testid="alerts-unavailable">
              {withCode('limits.alert_no_smtp', { flag: 'tollgate serve --smtp-url' })}
            </div>
          )}
        </div>
      </div>
      {others.length > 0 && (
        <>
          <div class="field-label">{t('limits.other_alerts')}</div>
          <ul class="lm-alerts">
            {others.map((a) => (
              <li key={a.id} data-testid="alert-row">
                <span>
                  {formatCents(a.threshold_amount)} · {channelLabel(a)}
                </span>
                {!reader && (
                  <Button small variant="ghost" onClick={() => removeAlert(a)}>
                    {t('common.remove')}
                  </Button>
                )}
              </li>
            ))}
          </ul>
        </>
      )}
      {secret && (
        <div class="lm-secret" data-testid={`${ids.secret}-box`}>
          <Notice kind="warning">{t('limits.secret_warning')}</Notice>
          <div class="field">
            <label class="field-label" for={`${ids.secret}-input`}>
              {t('limits.secret_label')}
            </label>
            <div class="input-group">
              <input
                id={`${ids.secret}-input`}
                ref={secretRef}
                class="input secret-input"
                readOnly
                value={secret}
                data-testid={ids.secret}
                onFocus={(e) => e.currentTarget.select()}
              />
              <CopyButton text={secret} testid={`${ids.secret}-copy`} getInput={() => secretRef.current} />
            </div>
            <div class="field-hint">
              {withCode('limits.secret_hint', { header: 'Tollgate-Signature: t=…,v1=…', payload: 't.body' })}
            </div>
          </div>
        </div>
      )}
      <ErrorBox error={error} />
      {!reader && (
        <div class="lm-save-row">
          <Button variant="primary" type="submit" testid={ids.save} disabled={busy}>
            {busy ? t('common.saving') : t('common.save')}
          </Button>
          {saved && (
            <Notice kind="success" testid={ids.saved}>
              {t('limits.saved')}
            </Notice>
          )}
        </div>
      )}
    </form>
  );
}

const ORG_IDS = {
  hard: 'hard-limit',
  alert: 'alert-threshold',
  channel: 'alert-channel',
  email: 'alert-email',
  url: 'alert-webhook-url',
  secret: 'alert-signing-secret',
  save: 'limits-save',
  saved: 'limits-saved',
  current: 'hard-limit-current',
};
const PROJECT_IDS = {
  hard: 'project-hard-limit',
  alert: 'project-alert-threshold',
  channel: 'project-alert-channel',
  email: 'project-alert-email',
  url: 'project-alert-webhook-url',
  secret: 'project-alert-signing-secret',
  save: 'project-limits-save',
  saved: 'project-limits-saved',
  current: 'project-hard-limit-current',
};

function ProjectLimits({ projects, session, reader, noEmail }) {
  const rows = useLoad(async () => {
    const out = [];
    for (const p of projects) {
      const base = `${ORG}/projects/${encodeURIComponent(p.id)}`;
      const [limit, alerts] = await Promise.all([getOrNull(`${base}/spend_limit`), api.list(`${base}/spend_alerts`)]);
      out.push({ project: p, limit, alerts });
    }
    return out;
  }, [projects]);
  const [editing, setEditing] = useState(null);
  return (
    <Card title={t('limits.projects_title')} description={t('limits.projects_description')}>
      <ErrorBox error={rows.error} />
      <Table
        columns={[
          t('limits.col_project'),
          { label: t('limits.col_hard'), class: 'num' },
          { label: t('limits.col_spend'), class: 'num' },
          t('limits.col_alerts'),
          { label: '', class: 'actions' },
        ]}
        empty={t('limits.no_projects')}
        loading={rows.loading && !rows.data}
      >
        {(rows.data || []).map(({ project, limit, alerts }) => (
          <tr key={project.id} data-testid="project-limit-row" data-id={project.id}>
            <td>
              <span class="cell-strong">{project.name}</span>
              <span class="cell-sub mono">{project.id}</span>
            </td>
            <td class="num">{hasLimit(limit) ? formatCents(limit.threshold_amount) : t('limits.no_limit')}</td>
            <td class="num" data-testid="project-month-spend">{limit ? formatUSD(limit.current_spend) : '—'}</td>
            <td>{alerts.length ? alerts.map((a) => formatCents(a.threshold_amount)).join(', ') : t('limits.no_alerts')}</td>
            <td class="actions">
              <Button small variant="ghost" testid="project-limits-edit" onClick={() => setEditing(project)}>
                {reader ? t('limits.view') : t('limits.edit')}
              </Button>
            </td>
          </tr>
        ))}
      </Table>
      {editing && (
        <Dialog
          title={t('limits.project_dialog_title', { name: editing.name })}
          onClose={() => {
            setEditing(null);
            rows.reload();
          }}
          wide
        >
          <p class="muted">{t('limits.project_dialog_description')}</p>
          <LimitsForm
            base={`${ORG}/projects/${encodeURIComponent(editing.id)}`}
            session={session}
            reader={reader}
            ids={PROJECT_IDS}
            noEmail={noEmail}
            onSaved={() => rows.reload()}
          />
        </Dialog>
      )}
    </Card>
  );
}

// A tier's name in the current language (the server's name for a tier it does not know).
function tierName(id, name) {
  if (id === 'free') return t('limits.tier_free');
  const m = /^tier_(\d+)$/.exec(id || '');
  return m ? t('limits.tier_n', { n: m[1] }) : name || id;
}

function limitCell(v) {
  return Number(v) > 0 ? formatNumber(v) : <span class="muted">{t('limits.unlimited')}</span>;
}

// Whether any enabled upstream provider serves the model (Tollgate's "served"; a server
// that does not say is taken to serve it). An unserved model's requests get 404
// model_not_found whatever its limits are, so it is never shown as usable.
function isServed(r) {
  return r.served !== false;
}

function RateLimits({ session, projects, tier }) {
  const [projectId, setProjectId] = useState(projects.length ? projects[0].id : '');
  const [filter, setFilter] = useState('');
  useEffect(() => {
    if (!projects.find((p) => p.id === projectId)) setProjectId(projects.length ? projects[0].id : '');
  }, [projects]);
  const limits = useLoad(
    () => (projectId ? api.list(`${ORG}/projects/${encodeURIComponent(projectId)}/rate_limits`) : Promise.resolve([])),
    [projectId]
  );
  const all = limits.data || [];
  // served models first, then the ones no provider serves (each group in the server's order)
  const ordered = [...all.filter(isServed), ...all.filter((r) => !isServed(r))];
  const noneServed = all.length > 0 && !all.some(isServed);
  const q = filter.trim().toLowerCase();
  const shown = q ? ordered.filter((r) => r.model.toLowerCase().includes(q)) : ordered;
  const tr = tier.data;
  const next = tr && tr.next_tier;
  let nextText = null;
  if (tr) {
    if (session.organization.is_operator) nextText = t('limits.operator_tier');
    else if (!next) nextText = t('limits.top_tier');
    else {
      const paid = t('limits.next_paid', {
        required: formatUSD(next.paid_required),
        paid: formatUSD(tr.paid_to_date),
      });
      const days = Number(next.days_since_first_payment_required) > 0
        ? t('limits.next_days', { days: next.days_since_first_payment_required })
        : '';
      nextText = t('limits.next_tier', { name: tierName(next.tier, next.name), paid, days });
    }
  }
  return (
    <Card title={t('limits.rate_title')} description={t('limits.rate_description')}>
      {tier.error ? (
        <ErrorBox error={tier.error} />
      ) : !tr ? (
        <Loading />
      ) : (
        <div class="lm-tier">
          <div>
            <div class="lm-stat-label">{t('limits.usage_tier')}</div>
            <div class="lm-tier-name" data-testid="usage-tier" data-tier={tr.tier}>
              {tierName(tr.tier, tr.name)}
            </div>
          </div>
          <div class="lm-next">
            <div class="lm-stat-label">{t('limits.next_tier_label')}</div>
            <div data-testid="next-tier" data-tier={next ? next.tier : ''}>
              {nextText}
            </div>
            {tr.first_payment_at && (
              <div class="field-hint">{t('limits.first_payment', { date: formatDate(tr.first_payment_at) })}</div>
            )}
          </div>
        </div>
      )}
      <div class="lm-rl-controls">
        <div class="field">
          <label class="field-label" for="lm-rl-project">
            {t('limits.rate_project')}
          </label>
          <select
            id="lm-rl-project"
            class="input select"
            data-testid="rate-limit-project"
            value={projectId}
            onChange={(e) => setProjectId(e.currentTarget.value)}
          >
            {projects.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label class="field-label" for="lm-rl-filter">
            {t('limits.filter_models')}
          </label>
          <input
            id="lm-rl-filter"
            class="input"
            type="search"
            data-testid="rate-limit-filter"
            placeholder={t('limits.filter_placeholder')}
            value={filter}
            onInput={(e) => setFilter(e.currentTarget.value)}
          />
        </div>
      </div>
      <ErrorBox error={limits.error} />
      {noneServed && (
        <Notice kind="warning" testid="rate-limit-none-served">
          {t('limits.none_served')}
        </Notice>
      )}
      <Table
        class="lm-rl-table"
        columns={[
          t('limits.col_model'),
          { label: 'RPM', class: 'num' },
          { label: 'TPM', class: 'num' },
          { label: 'RPD', class: 'num' },
          { label: 'TPD', class: 'num' },
        ]}
        empty={t('limits.no_models')}
        loading={limits.loading && !limits.data}
      >
        {shown.map((r) => {
          const served = isServed(r);
          return (
            <tr
              key={r.id}
              data-testid="rate-limit-row"
              data-model={r.model}
              data-served={served ? 'true' : 'false'}
              class={served ? undefined : 'lm-rl-unserved'}
              title={served ? undefined : t('limits.unserved_title')}
            >
              <td class="mono">
                {r.model}
                {!served && (
                  <Badge kind="warning" testid="rate-limit-unserved" title={t('limits.unserved_title')}>
                    {t('limits.unserved')}
                  </Badge>
                )}
              </td>
              <td class="num">{limitCell(r.max_requests_per_1_minute)}</td>
              <td class="num">{limitCell(r.max_tokens_per_1_minute)}</td>
              <td class="num">{limitCell(r.max_requests_per_1_day)}</td>
              <td class="num">{limitCell(r.max_tokens_per_1_day)}</td>
            </tr>
          );
        })}
      </Table>
      <div class="field-hint lm-legend">{t('limits.rate_legend')}</div>
    </Card>
  );
}

export default function LimitsPage({ session, config }) {
  const reader = session.user.role === 'reader';
  // e-mail alerts need the server's --smtp-url (GET /console/api/config says whether it has one)
  const noEmail = config?.alerts?.email === false;
  const tier = useLoad(() => api.get(`${ORG}/usage_tier`));
  const projects = useLoad(() => api.list(`${ORG}/projects`));
  const tr = tier.data;
  return (
    <div class="page">
      <PageHeader title={t('limits.title')} description={t('limits.description')} />
      {reader && <Notice>{t('common.read_only_notice')}</Notice>}

      <Card title={t('limits.usage_title')} description={t('limits.usage_description')}>
        {tier.error && <ErrorBox error={tier.error} />}
        {tr && (
          <div class="lm-stats">
            <div>
              <div class="lm-stat-label">{t('limits.month_spend')}</div>
              <div class="lm-stat-value" data-testid="month-spend" data-value={String(tr.month_usage)}>
                {formatUSD(tr.month_usage)}
              </div>
            </div>
            {tr.monthly_usage_limit !== null && tr.monthly_usage_limit !== undefined && (
              <div>
                <div class="lm-stat-label">{t('limits.tier_cap', { tier: tierName(tr.tier, tr.name) })}</div>
                <div class="lm-stat-value">{formatUSD(tr.monthly_usage_limit)}</div>
              </div>
            )}
          </div>
        )}
        <LimitsForm base={ORG} session={session} reader={reader} ids={ORG_IDS} noEmail={noEmail} />
      </Card>

      {projects.error ? (
        <ErrorBox error={projects.error} />
      ) : projects.data ? (
        <>
          <ProjectLimits projects={projects.data} session={session} reader={reader} noEmail={noEmail} />
          <RateLimits session={session} projects={projects.data} tier={tier} />
        </>
      ) : (
        <Loading />
      )}
    </div>
  );
}

export const strings = {
  en: {
    'limits.title': 'Limits',
    'limits.description': 'Control how much your organization can spend each month, and see the rate limits that apply to your requests.',
    'limits.usage_title': 'Usage limits',
    'limits.usage_description': 'Months are calendar months in UTC. Spend includes requests in progress.',
    'limits.month_spend': 'Spend this month',
    'limits.tier_cap': 'Monthly cap of {tier}',
    'limits.hard_title': 'Budget',
    'limits.hard_limit': 'Monthly budget (hard limit)',
    'limits.hard_hint': 'Once this month’s spend reaches the budget, further API requests are refused. Leave empty for none.',
    'limits.current_of_limit': 'This month: {spend} of {limit}',
    'limits.enforcing': 'Limit reached',
    'limits.current_spend': 'This month: {spend}',
    'limits.alert_title': 'Alert (soft limit)',
    'limits.alert_threshold': 'Alert threshold',
    'limits.alert_hint': 'One notification a month when spend reaches this amount; requests go on. Leave empty for none.',
    'limits.alert_channel': 'Notify by',
    'limits.channel_webhook': 'Webhook',
    'limits.channel_email': 'Email',
    'limits.channel_email_off': 'Email (no mail server)',
    'limits.alert_url': 'Webhook URL',
    'limits.alert_url_hint': 'Tollgate POSTs a signed JSON notification to this address.',
    'limits.alert_url_invalid': 'Enter a webhook URL that starts with http:// or https://.',
    'limits.alert_email_invalid': 'Enter 1 to 10 email addresses, separated by commas.',
    'limits.secret_label': 'Signing secret',
    'limits.secret_warning': "Save this signing secret now: it won't be shown again.",
    'limits.secret_hint': 'Each notification carries the header {header}: HMAC-SHA256 with this secret over {payload}. Check it before trusting a notification.',
    'limits.alert_email': 'Send alerts to',
    'limits.alert_email_hint': 'Email addresses, separated by commas',
    'limits.alert_no_smtp': 'Email alerts need a mail server, which this server does not have ({flag}). Webhook alerts work without one.',
    'limits.alert_email_to': 'email to {to}',
    'limits.alert_webhook_to': 'webhook {url}',
    'limits.other_alerts': 'Other alerts',
    'limits.none_placeholder': 'None',
    'limits.saved': 'Your limits have been saved.',
    'limits.no_limit': 'None',
    'limits.no_alerts': 'None',
    'limits.projects_title': 'Project limits',
    'limits.projects_description': "A project's budget applies to that project only, within the organization's budget.",
    'limits.col_project': 'Project',
    'limits.col_hard': 'Monthly budget',
    'limits.col_spend': 'Spend this month',
    'limits.col_alerts': 'Alerts',
    'limits.no_projects': 'No projects.',
    'limits.edit': 'Edit',
    'limits.view': 'View',
    'limits.project_dialog_title': 'Limits of {name}',
    'limits.project_dialog_description': 'These limits count only this project’s requests.',
    'limits.rate_title': 'Rate limits',
    'limits.rate_description': 'Requests and tokens per minute and per day, set by your usage tier. A project’s own limits can only be lower.',
    'limits.usage_tier': 'Usage tier',
    'limits.next_tier_label': 'Next tier',
    'limits.next_tier': '{name}: {paid}{days}.',
    'limits.next_paid': 'after {required} paid in total (paid so far: {paid})',
    'limits.next_days': ' and {days} days since your first payment',
    'limits.top_tier': 'You are at the highest usage tier.',
    'limits.operator_tier': "The operator's organization has no tier limits; only project limits apply.",
    'limits.first_payment': 'First payment: {date}',
    'limits.rate_project': 'Project',
    'limits.filter_models': 'Model',
    'limits.filter_placeholder': 'Filter models',
    'limits.tier_free': 'Free',
    'limits.tier_n': 'Tier {n}',
    'limits.col_model': 'Model',
    'limits.no_models': 'No models.',
    'limits.unlimited': 'No limit',
    'limits.unserved': 'No provider',
    'limits.unserved_title': 'No enabled upstream provider serves this model: requests for it are refused until the operator adds a provider for it.',
    'limits.none_served': 'No upstream provider is configured for any model yet, so no request can be served. The operator must add a provider first.',
    'limits.rate_legend': 'RPM: requests per minute · TPM: tokens per minute · RPD: requests per day · TPD: tokens per day',
  },
  zh: {
    'limits.title': '限额',
    'limits.description': '控制组织每月的支出上限，并查看适用于你的请求的速率限制。',
    'limits.usage_title': '用量限额',
    'limits.usage_description': '按 UTC 自然月计算。支出包含正在进行的请求。',
    'limits.month_spend': '本月支出',
    'limits.tier_cap': '{tier}每月上限',
    'limits.hard_title': '预算',
    'limits.hard_limit': '每月预算（硬性限额）',
    'limits.hard_hint': '本月支出达到预算后，后续 API 请求将被拒绝。留空表示不设预算。',
    'limits.current_of_limit': '本月：{spend} / {limit}',
    'limits.enforcing': '已达上限',
    'limits.current_spend': '本月：{spend}',
    'limits.alert_title': '提醒（软限额）',
    'limits.alert_threshold': '提醒阈值',
    'limits.alert_hint': '本月支出达到该金额时发送一次通知（每月一次），请求不受影响。留空表示不提醒。',
    'limits.alert_channel': '通知方式',
    'limits.channel_webhook': 'Webhook',
    'limits.channel_email': '电子邮件',
    'limits.channel_email_off': '电子邮件（未配置邮件服务器）',
    'limits.alert_url': 'Webhook 地址',
    'limits.alert_url_hint': 'Tollgate 会向此地址 POST 一条带签名的 JSON 通知。',
    'limits.alert_url_invalid': '请输入以 http:// 或 https:// 开头的 Webhook 地址。',
    'limits.alert_email_invalid': '请输入 1 到 10 个电子邮件地址，用逗号分隔。',
    'limits.secret_label': '签名密钥',
    'limits.secret_warning': '请立即保存此签名密钥：它不会再次显示。',
    'limits.secret_hint': '每条通知都带有请求头 {header}：用此密钥对 {payload} 计算的 HMAC-SHA256。请先验证签名，再信任通知内容。',
    'limits.alert_email': '提醒发送至',
    'limits.alert_email_hint': '电子邮件地址，多个地址用逗号分隔',
    'limits.alert_no_smtp': '邮件提醒需要邮件服务器，而此服务器未配置（{flag}）。Webhook 提醒无需邮件服务器。',
    'limits.alert_email_to': '发送邮件至 {to}',
    'limits.alert_webhook_to': 'Webhook {url}',
    'limits.other_alerts': '其他提醒',
    'limits.none_placeholder': '无',
    'limits.saved': '限额已保存。',
    'limits.no_limit': '无',
    'limits.no_alerts': '无',
    'limits.projects_title': '项目限额',
    'limits.projects_description': '项目预算只约束该项目本身，同时受组织预算约束。',
    'limits.col_project': '项目',
    'limits.col_hard': '每月预算',
    'limits.col_spend': '本月支出',
    'limits.col_alerts': '提醒',
    'limits.no_projects': '没有项目。',
    'limits.edit': '编辑',
    'limits.view': '查看',
    'limits.project_dialog_title': '{name} 的限额',
    'limits.project_dialog_description': '这些限额只统计该项目的请求。',
    'limits.rate_title': '速率限制',
    'limits.rate_description': '每分钟和每天的请求数与令牌数，由你的用量等级决定。项目自身的限制只能更低。',
    'limits.usage_tier': '用量等级',
    'limits.next_tier_label': '下一等级',
    'limits.next_tier': '{name}：{paid}{days}。',
    'limits.next_paid': '累计付款达到 {required}（目前已付 {paid}）',
    'limits.next_days': '，且距首次付款满 {days} 天',
    'limits.top_tier': '你已处于最高用量等级。',
    'limits.operator_tier': '运营方的组织不受等级限制，只有项目限制生效。',
    'limits.first_payment': '首次付款：{date}',
    'limits.rate_project': '项目',
    'limits.filter_models': '模型',
    'limits.filter_placeholder': '筛选模型',
    'limits.tier_free': '免费',
    'limits.tier_n': '等级 {n}',
    'limits.col_model': '模型',
    'limits.no_models': '没有模型。',
    'limits.unlimited': '不限',
    'limits.unserved': '无提供方',
    'limits.unserved_title': '没有已启用的上游提供方提供此模型：在运营方为它添加提供方之前，对它的请求都会被拒绝。',
    'limits.none_served': '尚未为任何模型配置上游提供方，因此目前无法处理任何请求。需要运营方先添加提供方。',
    'limits.rate_legend': 'RPM：每分钟请求数 · TPM：每分钟令牌数 · RPD：每天请求数 · TPD：每天令牌数',
  },
};
