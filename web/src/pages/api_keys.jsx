import { useRef, useState } from 'preact/hooks';
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
  Dialog,
  Confirm,
  CopyButton,
  PageHeader,
  TrashIcon,
  useLoad,
} from '../ui.jsx';
import { FirstRunChecklist } from './first_run.jsx';

export const strings = {
  en: {
    'keys.title': 'API keys',
    'keys.description':
      'Secret keys let your applications call the API. They belong to a project, and requests made with a key are billed to your organization.',
    'keys.warning':
      'Do not share your API key with others or expose it in the browser or other client-side code. Tollgate may disable a key that has leaked.',
    'keys.create': '+ Create new secret key',
    'keys.col_name': 'Name',
    'keys.col_secret': 'Secret key',
    'keys.col_project': 'Project',
    'keys.col_created': 'Created',
    'keys.col_last_used': 'Last used',
    'keys.col_permissions': 'Permissions',
    'keys.empty': 'No API keys yet. Create one to start making requests.',
    'keys.no_projects': 'There is no active project. Create a project before creating a key.',
    'keys.perm_all': 'All',
    'keys.perm_read_only': 'Read only',
    'keys.perm_restricted': 'Restricted',
    'keys.revoke': 'Revoke key',
    'keys.dialog_title': 'Create new secret key',
    'keys.name': 'Name',
    'keys.name_placeholder': 'My Test Key',
    'keys.name_hint': "Use a name that describes the key's purpose, e.g. 'billing-service-prod'.",
    'keys.name_required': 'Enter a name for the key.',
    'keys.project': 'Project',
    'keys.permissions': 'Permissions',
    'keys.perm_all_hint': 'Full access to the models this key can use.',
    'keys.perm_read_only_hint': 'Can list models, cannot make requests.',
    'keys.perm_restricted_hint': 'Choose what the key may do, resource by resource.',
    'keys.res_models': 'Models',
    'keys.res_models_hint': 'List the models (/v1/models).',
    'keys.res_capabilities': 'Model capabilities',
    'keys.res_capabilities_hint': 'Make requests: chat completions, completions, embeddings.',
    'keys.level_none': 'None',
    'keys.level_read': 'Read',
    'keys.level_write': 'Write',
    'keys.submit': 'Create secret key',
    'keys.submitting': 'Creating…',
    'keys.saved_title': 'Save your key',
    'keys.saved_warning':
      "Please save this secret key somewhere safe and accessible. For security reasons, you won't be able to view it again through your console. If you lose this secret key, you'll need to generate a new one.",
    'keys.secret_label': 'Secret key',
    'keys.done': 'Done',
    'keys.revoke_title': 'Revoke secret key',
    'keys.revoke_text':
      'This API key will immediately be disabled. API requests made using this key will be rejected, which could cause any systems still depending on it to break. Once revoked, you\'ll no longer be able to view or modify this API key.',
    'keys.revoke_key': 'Key: {name} ({redacted})',
    'keys.revoke_submit': 'Revoke key',
  },
  zh: {
    'keys.title': 'API 密钥',
    'keys.description': '应用程序通过密钥调用 API。每个密钥属于一个项目，使用密钥发出的请求计入你组织的账单。',
    'keys.warning': '请勿与他人共享你的 API 密钥，也不要在浏览器或其他客户端代码中暴露它。泄露的密钥可能会被 Tollgate 停用。',
    'keys.create': '+ 创建新的密钥',
    'keys.col_name': '名称',
    'keys.col_secret': '密钥',
    'keys.col_project': '项目',
    'keys.col_created': '创建时间',
    'keys.col_last_used': '上次使用',
    'keys.col_permissions': '权限',
    'keys.empty': '还没有 API 密钥。创建一个即可开始发送请求。',
    'keys.no_projects': '没有活跃的项目。请先创建项目，再创建密钥。',
    'keys.perm_all': '全部',
    'keys.perm_read_only': '只读',
    'keys.perm_restricted': '受限',
    'keys.revoke': '撤销密钥',
    'keys.dialog_title': '创建新的密钥',
    'keys.name': '名称',
    'keys.name_placeholder': '我的测试密钥',
    'keys.name_hint': '请使用能说明密钥用途的名称，例如“billing-service-prod”。',
    'keys.name_required': '请输入密钥名称。',
    'keys.project': '项目',
    'keys.permissions': '权限',
    'keys.perm_all_hint': '可完全使用此密钥允许的模型。',
    'keys.perm_read_only_hint': '可以列出模型，但不能发出请求。',
    'keys.perm_restricted_hint': '逐项选择此密钥可以执行的操作。',
    'keys.res_models': '模型',
    'keys.res_models_hint': '列出模型（/v1/models）。',
    'keys.res_capabilities': '模型能力',
    'keys.res_capabilities_hint': '发出请求：对话补全、文本补全、嵌入。',
    'keys.level_none': '无',
    'keys.level_read': '读取',
    'keys.level_write': '写入',
    'keys.submit': '创建密钥',
    'keys.submitting': '正在创建…',
    'keys.saved_title': '保存你的密钥',
    'keys.saved_warning':
      '请将此密钥保存在安全且方便取用的地方。出于安全考虑，你将无法再通过控制台查看它。如果丢失了此密钥，你需要重新生成一个。',
    'keys.secret_label': '密钥',
    'keys.done': '完成',
    'keys.revoke_title': '撤销密钥',
    'keys.revoke_text':
      '此 API 密钥将立即停用。使用此密钥发出的 API 请求都会被拒绝，仍依赖它的系统可能因此出错。撤销后，你将无法再查看或修改此 API 密钥。',
    'keys.revoke_key': '密钥：{name}（{redacted}）',
    'keys.revoke_submit': '撤销密钥',
  },
};

export function permissionsLabel(p) {
  if (p === 'all' || p === undefined || p === null) return t('keys.perm_all');
  if (p === 'read_only') return t('keys.perm_read_only');
  return t('keys.perm_restricted');
}

async function loadKeys() {
  const projects = await api.list('/v1/organization/projects');
  const lists = await Promise.all(
    projects.map((p) => api.list(`/v1/organization/projects/${encodeURIComponent(p.id)}/api_keys`))
  );
  const keys = [];
  lists.forEach((list, i) => {
    for (const k of list) keys.push({ ...k, project: projects[i] });
  });
  keys.sort((a, b) => (b.created_at || 0) - (a.created_at || 0));
  return { projects, keys };
}

// The create dialog: first the form, then (once) the secret. Closing it drops the secret.
function CreateKeyDialog({ projects, onCreated, onClose }) {
  const [name, setName] = useState('');
  const [projectId, setProjectId] = useState(projects.length ? projects[0].id : '');
  const [permissions, setPermissions] = useState('all');
  // Restricted: OpenAI's per-resource levels ({"restricted": {"models", "model_capabilities"}})
  const [resModels, setResModels] = useState('read');
  const [resCaps, setResCaps] = useState('none');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [secret, setSecret] = useState(null);
  const secretRef = useRef(null);

  const close = () => {
    setSecret(null);
    onClose();
  };

  const submit = async (e) => {
    e.preventDefault();
    if (!name.trim()) {
      setError(t('keys.name_required'));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const key = await api.post(`/v1/organization/projects/${encodeURIComponent(projectId)}/api_keys`, {
        name: name.trim(),
        permissions:
          permissions === 'restricted'
            ? { restricted: { models: resModels, model_capabilities: resCaps } }
            : permissions,
      });
      setSecret(key.value);
      key.value = null;
      setBusy(false);
      onCreated();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  if (secret !== null) {
    return (
      <Dialog
        title={t('keys.saved_title')}
        onClose={close}
        footer={
          <Button variant="primary" testid="key-done" onClick={close}>
            {t('keys.done')}
          </Button>
        }
      >
        <p>{t('keys.saved_warning')}</p>
        <div class="field">
          <label class="field-label" for="key-secret">
            {t('keys.secret_label')}
          </label>
          <div class="input-group">
            <input
              id="key-secret"
              ref={secretRef}
              class="input secret-input"
              readOnly
              value={secret}
              data-testid="key-secret"
              onFocus={(e) => e.currentTarget.select()}
            />
            <CopyButton text={secret} testid="key-copy" variant="primary" getInput={() => secretRef.current} />
          </div>
        </div>
      </Dialog>
    );
  }

  return (
    <Dialog title={t('keys.dialog_title')} onClose={busy ? undefined : close}>
      <form onSubmit={submit} noValidate>
        <Field
          label={t('keys.name')}
          hint={t('keys.name_hint')}
          placeholder={t('keys.name_placeholder')}
          value={name}
          maxLength={256}
          onInput={(e) => setName(e.currentTarget.value)}
          testid="key-name"
        />
        <Field label={t('keys.project')} id="key-project">
          <Select
            id="key-project"
            testid="key-project"
            value={projectId}
            onChange={(e) => setProjectId(e.currentTarget.value)}
            options={projects.map((p) => ({ value: p.id, label: p.name }))}
          />
        </Field>
        <Field
          label={t('keys.permissions')}
          id="key-permissions"
          hint={
            permissions === 'all'
              ? t('keys.perm_all_hint')
              : permissions === 'read_only'
                ? t('keys.perm_read_only_hint')
                : t('keys.perm_restricted_hint')
          }
        >
          <Select
            id="key-permissions"
            testid="key-permissions"
            value={permissions}
            onChange={(e) => setPermissions(e.currentTarget.value)}
            options={[
              { value: 'all', label: t('keys.perm_all') },
              { value: 'restricted', label: t('keys.perm_restricted') },
              { value: 'read_only', label: t('keys.perm_read_only') },
            ]}
          />
        </Field>
        {permissions === 'restricted' && (
          <div class="keys-restricted">
            <Field label={t('keys.res_models')} id="key-perm-models" hint={t('keys.res_models_hint')}>
              <Select
                id="key-perm-models"
                testid="key-perm-models"
                value={resModels}
                onChange={(e) => setResModels(e.currentTarget.value)}
                options={[
                  { value: 'none', label: t('keys.level_none') },
                  { value: 'read', label: t('keys.level_read') },
                ]}
              />
            </Field>
            <Field label={t('keys.res_capabilities')} id="key-perm-capabilities" hint={t('keys.res_capabilities_hint')}>
              <Select
                id="key-perm-capabilities"
                testid="key-perm-capabilities"
                value={resCaps}
                onChange={(e) => setResCaps(e.currentTarget.value)}
                options={[
                  { value: 'none', label: t('keys.level_none') },
                  { value: 'write', label: t('keys.level_write') },
                ]}
              />
            </Field>
          </div>
        )}
        <ErrorBox error={error} />
        <div class="modal-footer modal-footer-inline">
          <Button onClick={close} disabled={busy}>
            {t('common.cancel')}
          </Button>
          <Button type="submit" variant="primary" disabled={busy || !projectId} testid="key-create-submit">
            {busy ? t('keys.submitting') : t('keys.submit')}
          </Button>
        </div>
      </form>
    </Dialog>
  );
}

export default function ApiKeysPage({ session }) {
  const owner = session.user.role !== 'reader';
  // The operator's owners land here: their first-run checklist goes on top.
  const operatorOwner = owner && !!(session.organization && session.organization.is_operator);
  const { data, error, loading, reload } = useLoad(loadKeys, []);
  const [creating, setCreating] = useState(false);
  const [revoking, setRevoking] = useState(null);

  const projects = data ? data.projects : [];
  const keys = data ? data.keys : [];

  return (
    <div class="page">
      <PageHeader
        title={t('keys.title')}
        description={
          <>
            <p>{t('keys.description')}</p>
            <p>{t('keys.warning')}</p>
          </>
        }
        actions={
          owner && (
            <Button
              variant="primary"
              testid="create-key"
              disabled={!data || projects.length === 0}
              onClick={() => setCreating(true)}
            >
              {t('keys.create')}
            </Button>
          )
        }
      />
      {operatorOwner && (
        <FirstRunChecklist
          keys={data ? data.keys : null}
          onCreateKey={data && projects.length > 0 ? () => setCreating(true) : null}
        />
      )}
      {!owner && <Notice>{t('common.read_only_notice')}</Notice>}
      {owner && data && projects.length === 0 && <Notice kind="warning">{t('keys.no_projects')}</Notice>}
      <ErrorBox error={error} />
      <Table
        loading={loading && !data}
        empty={t('keys.empty')}
        columns={[
          t('keys.col_name'),
          t('keys.col_secret'),
          t('keys.col_project'),
          t('keys.col_created'),
          t('keys.col_last_used'),
          t('keys.col_permissions'),
          ...(owner ? [{ label: '', class: 'actions' }] : []),
        ]}
      >
        {keys.map((k) => (
          <tr key={k.id} data-testid="key-row">
            <td class="cell-strong">{k.name}</td>
            <td>
              <code>{k.redacted_value}</code>
            </td>
            <td>{k.project.name}</td>
            <td class="nowrap">{formatDate(k.created_at)}</td>
            <td class="nowrap">{k.last_used_at ? formatDate(k.last_used_at) : t('common.never')}</td>
            <td>{permissionsLabel(k.permissions)}</td>
            {owner && (
              <td class="actions">
                <Button
                  variant="ghost"
                  small
                  class="icon-btn"
                  testid="key-revoke"
                  aria-label={t('keys.revoke')}
                  title={t('keys.revoke')}
                  onClick={() => setRevoking(k)}
                >
                  <TrashIcon />
                </Button>
              </td>
            )}
          </tr>
        ))}
      </Table>

      {creating && <CreateKeyDialog projects={projects} onCreated={reload} onClose={() => setCreating(false)} />}
      {revoking && (
        <Confirm
          title={t('keys.revoke_title')}
          message={
            <>
              <p>{t('keys.revoke_text')}</p>
              <p class="cell-strong">{t('keys.revoke_key', { name: revoking.name, redacted: revoking.redacted_value })}</p>
            </>
          }
          confirmLabel={t('keys.revoke_submit')}
          testid="confirm-revoke"
          onConfirm={async () => {
            await api.del(
              `/v1/organization/projects/${encodeURIComponent(revoking.project.id)}/api_keys/${encodeURIComponent(revoking.id)}`
            );
            await reload();
          }}
          onClose={() => setRevoking(null)}
        />
      )}
    </div>
  );
}
