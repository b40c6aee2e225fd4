// Organizations (operator only): every organisation, its tier and status; set the tier,
// suspend / reactivate, grant credit.
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { t } from '../i18n.js';
import { formatDate, formatNumber } from '../format.js';
import { Button, Field, Select, ErrorBox, Table, Dialog, Confirm, PageHeader, Badge, useLoad } from '../ui.jsx';

export const strings = {
  en: {
    'orgs.title': 'Organizations',
    'orgs.description':
      'Every organization on this Tollgate. Set a usage tier by hand, suspend or reactivate an organization, or grant it credit.',
    'orgs.empty': 'No organizations.',
    'orgs.col_name': 'Name',
    'orgs.col_id': 'ID',
    'orgs.col_tier': 'Usage tier',
    'orgs.col_status': 'Status',
    'orgs.col_created': 'Created',
    'orgs.tier_free': 'Free',
    'orgs.tier_n': 'Tier {n}',
    'orgs.set_by_hand': '(set by hand)',
    'orgs.operator': 'Operator',
    'orgs.status_active': 'Active',
    'orgs.status_suspended': 'Suspended',
    'orgs.set_tier': 'Set tier',
    'orgs.suspend': 'Suspend',
    'orgs.reactivate': 'Reactivate',
    'orgs.grant': 'Grant credit',
    'orgs.suspend_title': 'Suspend organization',
    'orgs.suspend_text':
      'Its API keys, admin keys and console sessions stop working at once. Nothing is deleted; reactivating restores everything.',
    'orgs.reactivate_title': 'Reactivate organization',
    'orgs.reactivate_text': 'Its keys and console access work again.',
    'orgs.org_line': 'Organization: {name} ({id})',
    'orgs.grant_title': 'Grant credit to {name}',
    'orgs.grant_amount': 'Amount (USD)',
    'orgs.grant_amount_hint': 'In dollars, e.g. 25 or 12.50.',
    'orgs.grant_description': 'Description',
    'orgs.grant_submit': 'Grant credit',
    'orgs.grant_invalid': 'Enter an amount greater than zero, in dollars with at most two decimals.',
    'orgs.granted': 'Granted {amount} to {name}.',
    'orgs.load_more': 'Load more',
    'orgs.shown_more': 'Showing the first {count}.',
    'orgs.shown_all': 'Total: {count}.',
  },
  zh: {
    'orgs.title': '组织管理',
    'orgs.description': '此 Tollgate 上的所有组织。可以手动设置用量等级、暂停或恢复组织，或为其发放额度。',
    'orgs.empty': '没有组织。',
    'orgs.col_name': '名称',
    'orgs.col_id': '编号',
    'orgs.col_tier': '用量等级',
    'orgs.col_status': '状态',
    'orgs.col_created': '创建时间',
    'orgs.tier_free': '免费',
    'orgs.tier_n': '等级 {n}',
    'orgs.set_by_hand': '（手动设置）',
    'orgs.operator': '运营方',
    'orgs.status_active': '活跃',
    'orgs.status_suspended': '已暂停',
    'orgs.set_tier': '设置等级',
    'orgs.suspend': '暂停',
    'orgs.reactivate': '恢复',
    'orgs.grant': '发放额度',
    'orgs.suspend_title': '暂停组织',
    'orgs.suspend_text': '它的 API 密钥、管理密钥和控制台会话将立即失效。不会删除任何数据；恢复后一切照旧。',
    'orgs.reactivate_title': '恢复组织',
    'orgs.reactivate_text': '它的密钥和控制台访问将重新可用。',
    'orgs.org_line': '组织：{name}（{id}）',
    'orgs.grant_title': '为 {name} 发放额度',
    'orgs.grant_amount': '金额（美元）',
    'orgs.grant_amount_hint': '以美元计，例如 25 或 12.50。',
    'orgs.grant_description': '说明',
    'orgs.grant_submit': '发放额度',
    'orgs.grant_invalid': '请输入大于零的金额（美元，最多两位小数）。',
    'orgs.granted': '已为 {name} 发放 {amount}。',
    'orgs.load_more': '加载更多',
    'orgs.shown_more': '已显示前 {count} 个。',
    'orgs.shown_all': '共 {count} 个。',
  },
};

const PATH = '/v1/platform/organizations';
const PAGE = 100;

// The first `pages` pages of the list (has_more / after = the previous page's last_id).
async function loadOrgs(pages) {
  const orgs = [];
  let after = null;
  let hasMore = false;
  for (let i = 0; i < pages; i++) {
    const p = await api.page(PATH, { after, limit: PAGE });
    orgs.push(...p.data);
    hasMore = !!(p.has_more && p.last_id && p.data.length);
    if (!hasMore) break;
    after = p.last_id;
  }
  return { orgs, hasMore };
}

const TIERS = ['free', 'tier_1', 'tier_2', 'tier_3', 'tier_4', 'tier_5'];

export function tierLabel(tier) {
  if (tier === 'free') return t('orgs.tier_free');
  const m = /^tier_(\d+)$/.exec(tier || '');
  return m ? t('orgs.tier_n', { n: m[1] }) : tier;
}

function TierCell({ org, onError, onDone }) {
  const [tier, setTier] = useState(org.tier);
  const [busy, setBusy] = useState(false);
  const save = async () => {
    setBusy(true);
    onError(null);
    try {
      await api.post(`/v1/platform/organizations/${encodeURIComponent(org.id)}`, { tier });
      await onDone();
    } catch (e) {
      onError(e);
    }
    setBusy(false);
  };
  return (
    <div class="input-group">
      <Select
        testid="org-tier-select"
        aria-label={t('orgs.col_tier')}
        value={tier}
        onChange={(e) => setTier(e.currentTarget.value)}
        options={TIERS.map((v) => ({ value: v, label: tierLabel(v) }))}
      />
      <Button small testid="org-tier-save" disabled={busy || tier === org.tier} onClick={save}>
        {busy ? t('common.saving') : t('orgs.set_tier')}
      </Button>
    </div>
  );
}

function GrantDialog({ org, onClose, onGranted }) {
  const [amount, setAmount] = useState('');
  const [description, setDescription] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    const s = amount.trim();
    if (!/^\d+(\.\d{1,2})?$/.test(s) || Number(s) <= 0) {
      setError(t('orgs.grant_invalid'));
      return;
    }
    const [whole, frac = ''] = s.split('.');
    const cents = Number(whole) * 100 + Number((frac + '00').slice(0, 2));
    const body = { amount: cents };
    if (description.trim()) body.description = description.trim();
    setBusy(true);
    setError(null);
    try {
      await api.post(`/v1/platform/organizations/${encodeURIComponent(org.id)}/credit_grants`, body);
      onGranted(t('orgs.granted', { name: org.name, amount: `$${(cents / 100).toFixed(2)}` }));
      onClose();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <Dialog title={t('orgs.grant_title', { name: org.name })} onClose={busy ? undefined : onClose}>
      <form onSubmit={submit} noValidate>
        <Field
          label={t('orgs.grant_amount')}
          hint={t('orgs.grant_amount_hint')}
          inputMode="decimal"
          value={amount}
          onInput={(e) => setAmount(e.currentTarget.value)}
          testid="org-grant-amount"
        />
        <Field
          label={`${t('orgs.grant_description')} (${t('common.optional')})`}
          value={description}
          maxLength={255}
          onInput={(e) => setDescription(e.currentTarget.value)}
          testid="org-grant-description"
        />
        <ErrorBox error={error} />
        <div class="modal-footer modal-footer-inline">
          <Button onClick={onClose} disabled={busy}>
            {t('common.cancel')}
          </Button>
          <Button type="submit" variant="primary" disabled={busy} testid="org-grant-submit">
            {busy ? t('common.working') : t('orgs.grant_submit')}
          </Button>
        </div>
      </form>
    </Dialog>
  );
}

export default function OrganizationsPage() {
  const [pages, setPages] = useState(1); // pages of PAGE organisations shown
  const { data, error, loading, reload } = useLoad(() => loadOrgs(pages), [pages]);
  const [actionError, setActionError] = useState(null);
  const [changing, setChanging] = useState(null); // {org, status}
  const [granting, setGranting] = useState(null);
  const [notice, setNotice] = useState(null);
  const orgs = data ? data.orgs : [];

  return (
    <div class="page">
      <PageHeader title={t('orgs.title')} description={t('orgs.description')} />
      <ErrorBox error={error || actionError} />
      {notice && (
        <div class="notice notice-success" role="status" data-testid="org-notice">
          {notice}
        </div>
      )}
      <Table
        loading={loading && !data}
        empty={t('orgs.empty')}
        columns={[
          t('orgs.col_name'),
          t('orgs.col_id'),
          t('orgs.col_tier'),
          t('orgs.col_status'),
          t('orgs.col_created'),
          { label: '', class: 'actions' },
        ]}
      >
        {orgs.map((o) => (
          <tr key={o.id} data-testid="org-row" data-org-id={o.id} data-tier={o.tier} data-status={o.status}>
            <td class="cell-strong">
              {o.name} {o.is_operator && <Badge>{t('orgs.operator')}</Badge>}
            </td>
            <td>
              <code>{o.id}</code>
            </td>
            <td class="nowrap">
              <span data-testid="org-tier">
                {tierLabel(o.tier)}
                {o.tier_set_by === 'operator' && <span class="muted"> {t('orgs.set_by_hand')}</span>}
              </span>
              <TierCell key={`${o.id}:${o.tier}`} org={o} onError={setActionError} onDone={reload} />
            </td>
            <td>
              <Badge kind={o.status === 'suspended' ? 'danger' : 'success'} testid="org-status">
                {o.status === 'suspended' ? t('orgs.status_suspended') : t('orgs.status_active')}
              </Badge>
            </td>
            <td class="nowrap">{formatDate(o.created_at)}</td>
            <td class="actions nowrap">
              {!o.is_operator &&
                (o.status === 'suspended' ? (
                  <Button small testid="org-reactivate" onClick={() => setChanging({ org: o, status: 'active' })}>
                    {t('orgs.reactivate')}
                  </Button>
                ) : (
                  <Button small variant="danger" testid="org-suspend" onClick={() => setChanging({ org: o, status: 'suspended' })}>
                    {t('orgs.suspend')}
                  </Button>
                ))}{' '}
              <Button small testid="org-grant" onClick={() => { setNotice(null); setGranting(o); }}>
                {t('orgs.grant')}
              </Button>
            </td>
          </tr>
        ))}
      </Table>
      {data && orgs.length > 0 && (
        <div class="table-footer">
          <span class="muted" data-testid="org-count">
            {data.hasMore ? t('orgs.shown_more', { count: formatNumber(orgs.length) }) : t('orgs.shown_all', { count: formatNumber(orgs.length) })}
          </span>
          {data.hasMore && (
            <Button small testid="org-load-more" disabled={loading} onClick={() => setPages(pages + 1)}>
              {loading ? t('common.loading') : t('orgs.load_more')}
            </Button>
          )}
        </div>
      )}
      {changing && (
        <Confirm
          title={changing.status === 'suspended' ? t('orgs.suspend_title') : t('orgs.reactivate_title')}
          message={
            <>
              <p>{changing.status === 'suspended' ? t('orgs.suspend_text') : t('orgs.reactivate_text')}</p>
              <p class="cell-strong">{t('orgs.org_line', { name: changing.org.name, id: changing.org.id })}</p>
            </>
          }
          danger={changing.status === 'suspended'}
          confirmLabel={changing.status === 'suspended' ? t('orgs.suspend') : t('orgs.reactivate')}
          testid="confirm-org-status"
          onConfirm={async () => {
            await api.post(`/v1/platform/organizations/${encodeURIComponent(changing.org.id)}`, { status: changing.status });
            await reload();
          }}
          onClose={() => setChanging(null)}
        />
      )}
      {granting && <GrantDialog org={granting} onClose={() => setGranting(null)} onGranted={setNotice} />}
    </div>
  );
}
