import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api.js';
import { t } from '../i18n.js';
import { formatDate } from '../format.js';
import {
  Button,
  Field,
  Select,
  ErrorBox,
  Notice,
  Table,
  Card,
  Confirm,
  CopyButton,
  PageHeader,
  Badge,
  LangSelect,
  TrashIcon,
  roleLabel,
  statusLabel,
  useLoad,
  Link,
} from '../ui.jsx';
import AuditLog from './audit_log.jsx';

export const AUDIT_PATH = '/settings/audit-log';

export const strings = {
  en: {
    'settings.title': 'Settings',
    'settings.tabs': 'Settings sections',
    'settings.tab_general': 'General',
    'settings.tab_audit': 'Audit log',
    'settings.audit_description': 'Every change made in this organization, by whom and from where, newest first.',
    'settings.description': "Your organization's name, its members and invitations, and the console's language.",
    'settings.org_title': 'Organization',
    'settings.org_name': 'Organization name',
    'settings.org_name_hint': 'Shown in the console to everyone in the organization.',
    'settings.org_id': 'Organization ID',
    'settings.org_id_hint': 'The identifier of your organization in the Admin API.',
    'settings.tier': 'Usage tier',
    'settings.save': 'Save',
    'settings.saving': 'Saving…',
    'settings.saved': 'Saved',
    'settings.password_title': 'Your password',
    'settings.password_description': 'The password you log in with as {email}. Changing it logs you out everywhere else.',
    'settings.password_current': 'Current password',
    'settings.password_current_hint': 'The one you logged in with.',
    'settings.password_new': 'New password',
    'settings.password_new_hint': 'At least 8 characters.',
    'settings.password_save': 'Change password',
    'settings.password_saved': 'Password changed',
    'settings.name_required': 'Enter a name for the organization.',
    'settings.lang_title': 'Language',
    'settings.lang_hint': 'The language of the console in this browser.',
    'settings.members_title': 'Members',
    'settings.members_description': 'Owners can change everything; readers can see but not change.',
    'settings.col_email': 'Email',
    'settings.col_role': 'Role',
    'settings.col_added': 'Added',
    'settings.col_status': 'Status',
    'settings.col_invited': 'Invited',
    'settings.col_expires': 'Expires',
    'settings.you': 'You',
    'settings.members_empty': 'No members.',
    'settings.change_role': 'Role of {email}',
    'settings.remove_member': 'Remove member',
    'settings.remove_title': 'Remove member',
    'settings.remove_text': 'Remove {email} from the organization? They will lose access to this console at once.',
    'settings.remove_submit': 'Remove',
    'settings.invites_title': 'Invitations',
    'settings.invites_description':
      'Invite people by link: send them the link, and they sign up with the invited email address.',
    'settings.invite_email': 'Email address',
    'settings.invite_email_placeholder': 'name@example.com',
    'settings.invite_email_required': 'Enter the email address to invite.',
    'settings.invite_role': 'Role',
    'settings.invite_submit': 'Send invite',
    'settings.inviting': 'Inviting…',
    'settings.invite_created': 'Invitation created for {email}. Send them this link; it is shown only now.',
    'settings.invite_link': 'Invitation link',
    'settings.invites_empty': 'No invitations.',
    'settings.revoke_invite': 'Revoke invitation',
    'settings.revoke_invite_title': 'Revoke invitation',
    'settings.revoke_invite_text': 'Revoke the invitation for {email}? Its link will stop working.',
    'settings.revoke_invite_submit': 'Revoke',
  },
  zh: {
    'settings.title': '设置',
    'settings.tabs': '设置分区',
    'settings.tab_general': '常规',
    'settings.tab_audit': '审计日志',
    'settings.audit_description': '此组织中的每一项更改：由谁、从哪里做出，最新的在前。',
    'settings.description': '组织名称、成员与邀请，以及控制台的显示语言。',
    'settings.org_title': '组织',
    'settings.org_name': '组织名称',
    'settings.org_name_hint': '组织内所有成员都会在控制台中看到此名称。',
    'settings.org_id': '组织 ID',
    'settings.org_id_hint': '你的组织在管理 API 中的标识符。',
    'settings.tier': '用量等级',
    'settings.save': '保存',
    'settings.saving': '正在保存…',
    'settings.saved': '已保存',
    'settings.password_title': '你的密码',
    'settings.password_description': '你以 {email} 登录时使用的密码。修改后，你在其他地方的登录都会退出。',
    'settings.password_current': '当前密码',
    'settings.password_current_hint': '你登录时使用的密码。',
    'settings.password_new': '新密码',
    'settings.password_new_hint': '至少 8 个字符。',
    'settings.password_save': '修改密码',
    'settings.password_saved': '密码已修改',
    'settings.name_required': '请输入组织名称。',
    'settings.lang_title': '语言',
    'settings.lang_hint': '此浏览器中控制台的显示语言。',
    'settings.members_title': '成员',
    'settings.members_description': '所有者可以更改所有设置；只读成员只能查看。',
    'settings.col_email': '电子邮件',
    'settings.col_role': '角色',
    'settings.col_added': '加入时间',
    'settings.col_status': '状态',
    'settings.col_invited': '邀请时间',
    'settings.col_expires': '过期时间',
    'settings.you': '你',
    'settings.members_empty': '没有成员。',
    'settings.change_role': '{email} 的角色',
    'settings.remove_member': '移除成员',
    'settings.remove_title': '移除成员',
    'settings.remove_text': '确定将 {email} 移出组织吗？对方将立即失去此控制台的访问权限。',
    'settings.remove_submit': '移除',
    'settings.invites_title': '邀请',
    'settings.invites_description': '通过链接邀请成员：把链接发给对方，对方使用受邀的电子邮件地址注册即可。',
    'settings.invite_email': '电子邮件地址',
    'settings.invite_email_placeholder': 'name@example.com',
    'settings.invite_email_required': '请输入要邀请的电子邮件地址。',
    'settings.invite_role': '角色',
    'settings.invite_submit': '发送邀请',
    'settings.inviting': '正在邀请…',
    'settings.invite_created': '已为 {email} 创建邀请。请把此链接发给对方；链接只显示这一次。',
    'settings.invite_link': '邀请链接',
    'settings.invites_empty': '没有邀请。',
    'settings.revoke_invite': '撤销邀请',
    'settings.revoke_invite_title': '撤销邀请',
    'settings.revoke_invite_text': '确定撤销对 {email} 的邀请吗？邀请链接将失效。',
    'settings.revoke_invite_submit': '撤销',
  },
};

const roleOptions = () => [
  { value: 'owner', label: roleLabel('owner') },
  { value: 'reader', label: roleLabel('reader') },
];

function OrganizationCard({ owner, refreshSession }) {
  const { data, error } = useLoad(() => api.get('/v1/organization/settings'), []);
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState(false);
  const [saveError, setSaveError] = useState(null);
  useEffect(() => {
    if (data) setName(data.name || '');
  }, [data]);

  const save = async (e) => {
    e.preventDefault();
    if (!name.trim()) {
      setSaveError(t('settings.name_required'));
      return;
    }
    setBusy(true);
    setSaved(false);
    setSaveError(null);
    try {
      const org = await api.post('/v1/organization/settings', { name: name.trim() });
      setName(org.name || name.trim());
      setSaved(true);
      await refreshSession();
    } catch (err) {
      setSaveError(err);
    }
    setBusy(false);
  };

  return (
    <Card title={t('settings.org_title')}>
      <ErrorBox error={error} />
      <form onSubmit={save} noValidate>
        <div class="field-row">
          <Field
            label={t('settings.org_name')}
            hint={t('settings.org_name_hint')}
            value={name}
            maxLength={255}
            readOnly={!owner}
            disabled={!data}
            onInput={(e) => {
              setName(e.currentTarget.value);
              setSaved(false);
            }}
            testid="settings-org-name"
          />
          <Field label={t('settings.org_id')} hint={t('settings.org_id_hint')} value={data ? data.id : ''} readOnly class="mono-field" />
        </div>
        <ErrorBox error={saveError} />
        {owner && (
          <div class="inline-actions">
            <Button type="submit" variant="primary" disabled={busy || !data} testid="settings-save">
              {busy ? t('settings.saving') : t('settings.save')}
            </Button>
            {saved && (
              <span class="saved-note" role="status">
                {t('settings.saved')}
              </span>
            )}
          </div>
        )}
      </form>
    </Card>
  );
}

function MembersCard({ owner, session }) {
  const { data, error, loading, reload } = useLoad(() => api.list('/v1/organization/users'), []);
  const [rowError, setRowError] = useState(null);
  const [removing, setRemoving] = useState(null);
  const [busyId, setBusyId] = useState(null);

  const changeRole = async (u, role) => {
    setRowError(null);
    setBusyId(u.id);
    try {
      await api.post(`/v1/organization/users/${encodeURIComponent(u.id)}`, { role });
    } catch (err) {
      setRowError(err);
    }
    setBusyId(null);
    await reload();
  };

  return (
    <Card title={t('settings.members_title')} description={t('settings.members_description')}>
      <ErrorBox error={error || rowError} />
      <Table
        loading={loading && !data}
        empty={t('settings.members_empty')}
        columns={[
          t('settings.col_email'),
          t('settings.col_role'),
          t('settings.col_added'),
          ...(owner ? [{ label: '', class: 'actions' }] : []),
        ]}
      >
        {(data || []).map((u) => {
          const me = u.id === session.user.id || u.email === session.user.email;
          return (
            <tr key={u.id} data-testid="member-row">
              <td class="cell-strong">
                {u.email} {me && <Badge>{t('settings.you')}</Badge>}
              </td>
              <td>
                {owner ? (
                  <Select
                    class="select-inline"
                    aria-label={t('settings.change_role', { email: u.email })}
                    value={u.role}
                    disabled={busyId === u.id}
                    onChange={(e) => changeRole(u, e.currentTarget.value)}
                    options={roleOptions()}
                    testid="member-role"
                  />
                ) : (
                  roleLabel(u.role)
                )}
              </td>
              <td class="nowrap">{formatDate(u.added_at)}</td>
              {owner && (
                <td class="actions">
                  <Button
                    variant="ghost"
                    small
                    class="icon-btn"
                    aria-label={t('settings.remove_member')}
                    title={t('settings.remove_member')}
                    testid="member-remove"
                    onClick={() => setRemoving(u)}
                  >
                    <TrashIcon />
                  </Button>
                </td>
              )}
            </tr>
          );
        })}
      </Table>
      {removing && (
        <Confirm
          title={t('settings.remove_title')}
          message={t('settings.remove_text', { email: removing.email })}
          confirmLabel={t('settings.remove_submit')}
          testid="confirm-remove-member"
          onConfirm={async () => {
            await api.del(`/v1/organization/users/${encodeURIComponent(removing.id)}`);
            await reload();
          }}
          onClose={() => setRemoving(null)}
        />
      )}
    </Card>
  );
}

function InvitesCard({ owner }) {
  const { data, error, loading, reload } = useLoad(() => api.list('/v1/organization/invites'), []);
  const [email, setEmail] = useState('');
  const [role, setRole] = useState('reader');
  const [busy, setBusy] = useState(false);
  const [formError, setFormError] = useState(null);
  const [created, setCreated] = useState(null); // {email, url}
  const [revoking, setRevoking] = useState(null);
  const linkRef = useRef(null);

  const invite = async (e) => {
    e.preventDefault();
    if (!email.trim()) {
      setFormError(t('settings.invite_email_required'));
      return;
    }
    setBusy(true);
    setFormError(null);
    setCreated(null);
    try {
      const inv = await api.post('/v1/organization/invites', { email: email.trim(), role });
      setCreated({ email: inv.email, url: location.origin + inv.invite_url });
      setEmail('');
      await reload();
    } catch (err) {
      setFormError(err);
    }
    setBusy(false);
  };

  return (
    <Card title={t('settings.invites_title')} description={t('settings.invites_description')}>
      {owner && (
        <form class="inline-form" onSubmit={invite} noValidate>
          <Field
            label={t('settings.invite_email')}
            type="email"
            placeholder={t('settings.invite_email_placeholder')}
            value={email}
            onInput={(e) => setEmail(e.currentTarget.value)}
            testid="invite-email"
          />
          <Field label={t('settings.invite_role')} id="invite-role" class="narrow">
            <Select
              id="invite-role"
              testid="invite-role"
              value={role}
              onChange={(e) => setRole(e.currentTarget.value)}
              options={roleOptions()}
            />
          </Field>
          <Button type="submit" variant="primary" disabled={busy} testid="invite-submit">
            {busy ? t('settings.inviting') : t('settings.invite_submit')}
          </Button>
        </form>
      )}
      {owner && <ErrorBox error={formError} />}
      {created && (
        <Notice kind="success">
          <div>{t('settings.invite_created', { email: created.email })}</div>
          <div class="link-box">
            <input
              ref={linkRef}
              class="input"
              readOnly
              aria-label={t('settings.invite_link')}
              value={created.url}
              data-testid="invite-link"
              onFocus={(e) => e.currentTarget.select()}
            />
            <CopyButton text={created.url} testid="invite-copy" getInput={() => linkRef.current} />
          </div>
        </Notice>
      )}
      <ErrorBox error={error} />
      <div class={owner ? 'card-table-gap' : undefined}>
        <Table
          loading={loading && !data}
          empty={t('settings.invites_empty')}
          columns={[
            t('settings.col_email'),
            t('settings.col_role'),
            t('settings.col_status'),
            t('settings.col_invited'),
            t('settings.col_expires'),
            ...(owner ? [{ label: '', class: 'actions' }] : []),
          ]}
        >
          {(data || []).map((inv) => (
            <tr key={inv.id} data-testid="invite-row">
              <td class="cell-strong">{inv.email}</td>
              <td>{roleLabel(inv.role)}</td>
              <td>
                <Badge kind={inv.status === 'pending' ? 'warning' : inv.status === 'accepted' ? 'success' : 'neutral'}>
                  {statusLabel(inv.status)}
                </Badge>
              </td>
              <td class="nowrap">{formatDate(inv.invited_at)}</td>
              <td class="nowrap">{formatDate(inv.expires_at)}</td>
              {owner && (
                <td class="actions">
                  {inv.status === 'pending' && (
                    <Button
                      variant="ghost"
                      small
                      class="icon-btn"
                      aria-label={t('settings.revoke_invite')}
                      title={t('settings.revoke_invite')}
                      testid="invite-revoke"
                      onClick={() => setRevoking(inv)}
                    >
                      <TrashIcon />
                    </Button>
                  )}
                </td>
              )}
            </tr>
          ))}
        </Table>
      </div>
      {revoking && (
        <Confirm
          title={t('settings.revoke_invite_title')}
          message={t('settings.revoke_invite_text', { email: revoking.email })}
          confirmLabel={t('settings.revoke_invite_submit')}
          testid="confirm-revoke-invite"
          onConfirm={async () => {
            await api.del(`/v1/organization/invites/${encodeURIComponent(revoking.id)}`);
            await reload();
          }}
          onClose={() => setRevoking(null)}
        />
      )}
    </Card>
  );
}

// The signed-in person's own password (POST /console/api/password): the server checks the
// current one, and ends the person's other sessions.
function PasswordCard({ session }) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState(false);
  const [err, setErr] = useState(null);

  const save = async (e) => {
    e.preventDefault();
    setBusy(true);
    setSaved(false);
    setErr(null);
    try {
      await api.post('/console/api/password', { current_password: current, new_password: next });
      setCurrent('');
      setNext('');
      setSaved(true);
    } catch (error) {
      setErr(error);
    }
    setBusy(false);
  };

  return (
    <Card title={t('settings.password_title')} description={t('settings.password_description', { email: session.user.email })}>
      <form onSubmit={save} noValidate>
        <div class="field-row">
          <Field
            label={t('settings.password_current')}
            hint={t('settings.password_current_hint')}
            type="password"
            autoComplete="current-password"
            value={current}
            onInput={(e) => setCurrent(e.currentTarget.value)}
            testid="password-current"
          />
          <Field
            label={t('settings.password_new')}
            hint={t('settings.password_new_hint')}
            type="password"
            autoComplete="new-password"
            value={next}
            onInput={(e) => setNext(e.currentTarget.value)}
            testid="password-new"
          />
        </div>
        <ErrorBox error={err} />
        <div class="inline-actions">
          <Button type="submit" variant="primary" disabled={busy || !current || !next} testid="password-save">
            {busy ? t('settings.saving') : t('settings.password_save')}
          </Button>
          {saved && (
            <span class="saved-note" role="status" data-testid="password-saved">
              {t('settings.password_saved')}
            </span>
          )}
        </div>
      </form>
    </Card>
  );
}

// The tabs of the Settings page: General (/settings) and Audit log (/settings/audit-log).
function SettingsTabs({ audit }) {
  const tabs = [
    { href: '/settings', id: 'general', label: t('settings.tab_general'), selected: !audit },
    { href: AUDIT_PATH, id: 'audit', label: t('settings.tab_audit'), selected: audit },
  ];
  return (
    <div class="tabs settings-tabs" role="tablist" aria-label={t('settings.tabs')}>
      {tabs.map((x) => (
        <Link
          key={x.id}
          href={x.href}
          role="tab"
          class="tab"
          aria-selected={x.selected ? 'true' : 'false'}
          data-testid={`settings-tab-${x.id}`}
        >
          {x.label}
        </Link>
      ))}
    </div>
  );
}

export default function SettingsPage({ session, refreshSession, path }) {
  const owner = session.user.role !== 'reader';
  const audit = path === AUDIT_PATH;
  return (
    <div class="page">
      <PageHeader title={t('settings.title')} description={audit ? t('settings.audit_description') : t('settings.description')} />
      <SettingsTabs audit={audit} />
      {audit ? (
        <AuditLog session={session} />
      ) : (
        <>
          {!owner && <Notice>{t('common.read_only_notice')}</Notice>}
          <OrganizationCard owner={owner} refreshSession={refreshSession} />
          <Card title={t('settings.lang_title')} description={t('settings.lang_hint')}>
            <LangSelect testid="settings-lang" class="settings-lang" />
          </Card>
          <MembersCard owner={owner} session={session} />
          <InvitesCard owner={owner} />
          <PasswordCard session={session} />
        </>
      )}
    </div>
  );
}
