// Providers (operator only): the upstreams, their models, health; add, edit, enable/disable,
// delete, and a test request through the gateway with a short-lived project key.
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { t } from '../i18n.js';
import { formatDate } from '../format.js';
import {
  Button, Field, Select, ErrorBox, Table, Dialog, Confirm, PageHeader, Badge, TrashIcon, useLoad,
} from '../ui.jsx';

export const strings = {
  en: {
    'providers.title': 'Providers',
    'providers.description':
      'Providers are the upstream APIs that serve the models. Requests for a model go to the enabled providers that serve it, lowest priority first.',
    'providers.add': '+ Add provider',
    'providers.empty': 'No providers yet. Add one so that models can be served.',
    'providers.col_name': 'Name',
    'providers.col_base_url': 'Base URL',
    'providers.col_models': 'Models',
    'providers.col_priority_weight': 'Priority / weight',
    'providers.timeout_short': 'timeout {ms} ms',
    'providers.col_key': 'Upstream key',
    'providers.col_status': 'Health',
    'providers.keys': '••• ({count} keys)',
    'providers.key_one': '••• (1 key)',
    'providers.no_key': 'no key',
    'providers.on': 'On',
    'providers.off': 'Off',
    'providers.enable': 'Enable',
    'providers.disable': 'Disable',
    'providers.edit': 'Edit',
    'providers.test': 'Test',
    'providers.testing': 'Testing…',
    'providers.delete': 'Delete provider',
    'providers.st_healthy': 'Healthy',
    'providers.st_failing': 'Failing',
    'providers.st_open': 'Circuit open',
    'providers.st_half_open': 'Probing',
    'providers.st_disabled': 'Disabled',
    'providers.last_error': 'Last error ({when}): {error}',
    'providers.type_openai': 'OpenAI',
    'providers.type_openai_compatible': 'OpenAI-compatible',
    'providers.type_azure': 'Azure OpenAI',
    'providers.dialog_add': 'Add provider',
    'providers.dialog_edit': 'Edit provider',
    'providers.name': 'Provider name',
    'providers.type': 'Provider type',
    'providers.base_url': 'Base URL',
    'providers.base_url_hint': 'Including the version path, e.g. https://api.example.com/v1. Optional for OpenAI.',
    'providers.api_key': 'Upstream API keys',
    'providers.api_key_hint_new':
      'Sent upstream as the bearer token. With several keys (up to 8), they are used in turn. Keys are stored sealed and never shown again.',
    'providers.api_key_hint_edit': 'Leave empty to keep the current keys. Keys entered here replace all of them.',
    'providers.api_key_n': 'Upstream API key {n}',
    'providers.add_key': '+ Add another key',
    'providers.remove_key': 'Remove this key',
    'providers.remove_keys': 'Remove the stored keys (no Authorization header goes upstream)',
    'providers.key_invalid': 'A key is at most 400 characters, without line breaks.',
    'providers.api_version': 'Azure API version',
    'providers.api_version_hint': 'The api-version query, e.g. 2024-10-21.',
    'providers.models': 'Models served',
    'providers.model': 'Model',
    'providers.upstream_model': 'Upstream name',
    'providers.upstream_placeholder': 'same as the model',
    'providers.add_model': '+ Add model',
    'providers.remove_model': 'Remove model',
    'providers.priority': 'Priority',
    'providers.priority_hint': 'Lower is tried first.',
    'providers.weight': 'Weight',
    'providers.weight_hint': 'Share among providers of the same priority.',
    'providers.timeout': 'Timeout (ms)',
    'providers.timeout_hint': 'Optional: wait this long for the first byte before trying the next provider.',
    'providers.save': 'Save provider',
    'providers.name_required': 'Enter a name for the provider.',
    'providers.delete_title': 'Delete provider',
    'providers.delete_text': 'Its models stop being routed to it at once. This cannot be undone.',
    'providers.delete_name': 'Provider: {name}',
    'providers.delete_submit': 'Delete provider',
    'providers.no_models': 'no models',
    'providers.test_no_model': 'This provider serves no model to test.',
    'providers.test_no_project': 'The organization has no active project for a test key.',
    'providers.test_result': 'HTTP {status} · {model}: {text}',
    'providers.test_hint':
      'Sends one short chat request for the first chat model through the gateway with a temporary key (deleted right after). The gateway routes it like any request for that model.',
  },
  zh: {
    'providers.title': '提供方',
    'providers.description': '提供方是为模型提供服务的上游 API。对某个模型的请求会发给服务该模型的已启用提供方，优先级数值小的先试。',
    'providers.add': '+ 添加提供方',
    'providers.empty': '还没有提供方。添加一个后才能提供模型服务。',
    'providers.col_name': '名称',
    'providers.col_base_url': '基础地址',
    'providers.col_models': '模型',
    'providers.col_priority_weight': '优先级 / 权重',
    'providers.timeout_short': '超时 {ms} 毫秒',
    'providers.col_key': '上游密钥',
    'providers.col_status': '健康状态',
    'providers.keys': '•••（{count} 个密钥）',
    'providers.key_one': '•••（1 个密钥）',
    'providers.no_key': '无密钥',
    'providers.on': '开',
    'providers.off': '关',
    'providers.enable': '启用',
    'providers.disable': '停用',
    'providers.edit': '编辑',
    'providers.test': '测试',
    'providers.testing': '正在测试…',
    'providers.delete': '删除提供方',
    'providers.st_healthy': '正常',
    'providers.st_failing': '出错中',
    'providers.st_open': '已熔断',
    'providers.st_half_open': '探测中',
    'providers.st_disabled': '已停用',
    'providers.last_error': '最近错误（{when}）：{error}',
    'providers.type_openai': 'OpenAI',
    'providers.type_openai_compatible': '兼容 OpenAI',
    'providers.type_azure': 'Azure OpenAI（微软）',
    'providers.dialog_add': '添加提供方',
    'providers.dialog_edit': '编辑提供方',
    'providers.name': '提供方名称',
    'providers.type': '提供方类型',
    'providers.base_url': '基础地址',
    'providers.base_url_hint': '包含版本路径，例如 https://api.example.com/v1。OpenAI 类型可不填。',
    'providers.api_key': '上游 API 密钥',
    'providers.api_key_hint_new': '作为 Bearer 令牌发给上游。有多个密钥（最多 8 个）时轮流使用。密钥加密保存，之后不再显示。',
    'providers.api_key_hint_edit': '留空则保留当前密钥。在此输入的密钥会替换全部现有密钥。',
    'providers.api_key_n': '上游 API 密钥 {n}',
    'providers.add_key': '+ 再添加一个密钥',
    'providers.remove_key': '移除此密钥',
    'providers.remove_keys': '删除已保存的密钥（不向上游发送 Authorization 头）',
    'providers.key_invalid': '每个密钥最多 400 个字符，且不能包含换行。',
    'providers.api_version': 'Azure API 版本',
    'providers.api_version_hint': 'api-version 查询参数，例如 2024-10-21。',
    'providers.models': '提供的模型',
    'providers.model': '模型',
    'providers.upstream_model': '上游名称',
    'providers.upstream_placeholder': '与模型相同',
    'providers.add_model': '+ 添加模型',
    'providers.remove_model': '移除模型',
    'providers.priority': '优先级',
    'providers.priority_hint': '数值小的先试。',
    'providers.weight': '权重',
    'providers.weight_hint': '同一优先级的提供方按权重分配请求。',
    'providers.timeout': '超时（毫秒）',
    'providers.timeout_hint': '可选：等待首字节的时长，超时后改试下一个提供方。',
    'providers.save': '保存提供方',
    'providers.name_required': '请输入提供方名称。',
    'providers.delete_title': '删除提供方',
    'providers.delete_text': '它的模型将立即不再路由到此提供方。此操作无法撤销。',
    'providers.delete_name': '提供方：{name}',
    'providers.delete_submit': '删除提供方',
    'providers.no_models': '无模型',
    'providers.test_no_model': '此提供方没有可测试的模型。',
    'providers.test_no_project': '组织没有可用于测试密钥的活跃项目。',
    'providers.test_result': 'HTTP {status} · {model}：{text}',
    'providers.test_hint': '通过网关用临时密钥（随后立即删除）为第一个对话模型发送一条简短的对话请求。网关会像处理该模型的任何请求一样进行路由。',
  },
};

const TYPES = ['openai', 'openai_compatible', 'azure'];

function statusBadge(p) {
  const s = p.status || 'healthy';
  const kind = s === 'healthy' ? 'success' : s === 'failing' ? 'danger' : 'neutral';
  const label = ['healthy', 'failing', 'open', 'half_open', 'disabled'].includes(s) ? t(`providers.st_${s}`) : s;
  const title = p.last_error
    ? t('providers.last_error', { when: p.last_error_at ? formatDate(p.last_error_at) : '', error: p.last_error })
    : undefined;
  return (
    <Badge kind={kind} title={title} testid="provider-status">
      {label}
    </Badge>
  );
}

function keyLabel(p) {
  const n = p.api_key_count ?? (p.has_api_key ? 1 : 0);
  if (!p.has_api_key || n === 0) return t('providers.no_key');
  return n === 1 ? t('providers.key_one') : t('providers.keys', { count: n });
}

async function loadAll() {
  const [providers, models] = await Promise.all([
    api.list('/v1/organization/providers'),
    api.list('/v1/organization/models').catch(() => []),
  ]);
  const types = {};
  for (const m of models) if (m.id) types[m.id] = m.type;
  return { providers, models: models.map((m) => m.id).filter(Boolean).sort(), types };
}

function ProviderDialog({ provider, models, onSaved, onClose }) {
  const edit = !!provider;
  const [name, setName] = useState(provider ? provider.name : '');
  const [type, setType] = useState(provider ? provider.type : 'openai_compatible');
  const [baseUrl, setBaseUrl] = useState(provider ? provider.base_url || '' : '');
  const [apiKeys, setApiKeys] = useState(['']); // write-only: never filled from the server
  const [removeKeys, setRemoveKeys] = useState(false);
  const [apiVersion, setApiVersion] = useState(provider ? provider.api_version || '' : '');
  const [rows, setRows] = useState(
    provider && provider.models.length
      ? provider.models.map((m) => ({ model: m.model, upstream: m.upstream_model === m.model ? '' : m.upstream_model || '' }))
      : [{ model: models[0] || '', upstream: '' }]
  );
  const [priority, setPriority] = useState(provider ? String(provider.priority ?? 0) : '0');
  const [weight, setWeight] = useState(provider ? String(provider.weight ?? 1) : '1');
  const [timeout, setTimeoutMs] = useState(provider && provider.timeout_ms != null ? String(provider.timeout_ms) : '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);

  const setRow = (i, patch) => setRows(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  const modelOptions = (cur) => {
    const list = models.includes(cur) || !cur ? models : [cur, ...models];
    return list.map((m) => ({ value: m, label: m }));
  };

  const submit = async (e) => {
    e.preventDefault();
    if (!name.trim()) {
      setError(t('providers.name_required'));
      return;
    }
    const body = {
      name: name.trim(),
      type,
      models: rows.filter((r) => r.model).map((r) => (r.upstream.trim() ? { model: r.model, upstream_model: r.upstream.trim() } : { model: r.model })),
      priority: Number(priority || 0),
      weight: Number(weight === '' ? 1 : weight),
      timeout_ms: timeout.trim() === '' ? null : Number(timeout),
    };
    if (baseUrl.trim()) body.base_url = baseUrl.trim();
    const keys = apiKeys.map((k) => k.trim()).filter(Boolean);
    if (keys.some((k) => k.length > 400 || /[\r\n]/.test(k))) {
      setError(t('providers.key_invalid'));
      return;
    }
    if (edit && removeKeys) body.api_key = null;
    else if (keys.length === 1) body.api_key = keys[0];
    else if (keys.length > 1) body.api_keys = keys;
    if (type === 'azure' && apiVersion.trim()) body.api_version = apiVersion.trim();
    setBusy(true);
    setError(null);
    try {
      await api.post(edit ? `/v1/organization/providers/${encodeURIComponent(provider.id)}` : '/v1/organization/providers', body);
      setApiKeys(apiKeys.map(() => ''));
      await onSaved();
      onClose();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <Dialog title={edit ? t('providers.dialog_edit') : t('providers.dialog_add')} onClose={busy ? undefined : onClose} wide>
      <form onSubmit={submit} noValidate>
        <Field label={t('providers.name')} value={name} maxLength={255} onInput={(e) => setName(e.currentTarget.value)} testid="provider-name" />
        <Field label={t('providers.type')} id="provider-type">
          <Select
            id="provider-type"
            testid="provider-type"
            value={type}
            onChange={(e) => setType(e.currentTarget.value)}
            options={TYPES.map((v) => ({ value: v, label: t(`providers.type_${v}`) }))}
          />
        </Field>
        <Field
          label={t('providers.base_url')}
          hint={t('providers.base_url_hint')}
          value={baseUrl}
          placeholder="https://api.example.com/v1"
          onInput={(e) => setBaseUrl(e.currentTarget.value)}
          testid="provider-base-url"
        />
        <div class="field">
          <label class="field-label" for="provider-key-0">
            {t('providers.api_key')}
          </label>
          {apiKeys.map((k, i) => (
            <div class="input-group" key={i} style="margin-bottom:6px">
              <input
                id={`provider-key-${i}`}
                class="input"
                type="password"
                autocomplete="new-password"
                data-testid="provider-api-key"
                aria-label={i ? t('providers.api_key_n', { n: i + 1 }) : undefined}
                value={k}
                maxLength={400}
                disabled={removeKeys}
                placeholder={edit && i === 0 ? keyLabel(provider) : ''}
                onInput={(e) => setApiKeys(apiKeys.map((x, j) => (j === i ? e.currentTarget.value : x)))}
              />
              {apiKeys.length > 1 && (
                <Button
                  variant="ghost"
                  small
                  class="icon-btn"
                  testid="provider-remove-key"
                  aria-label={t('providers.remove_key')}
                  title={t('providers.remove_key')}
                  onClick={() => setApiKeys(apiKeys.filter((_, j) => j !== i))}
                >
                  <TrashIcon />
                </Button>
              )}
            </div>
          ))}
          {apiKeys.length < 8 && !removeKeys && (
            <div>
              <Button small testid="provider-add-key" onClick={() => setApiKeys([...apiKeys, ''])}>
                {t('providers.add_key')}
              </Button>
            </div>
          )}
          {edit && provider.has_api_key && (
            <label class="checkbox">
              <input type="checkbox" data-testid="provider-remove-keys" checked={removeKeys} onChange={(e) => setRemoveKeys(e.currentTarget.checked)} />
              <span>{t('providers.remove_keys')}</span>
            </label>
          )}
          <div class="field-hint">{edit ? t('providers.api_key_hint_edit') : t('providers.api_key_hint_new')}</div>
        </div>
        {type === 'azure' && (
          <Field
            label={t('providers.api_version')}
            hint={t('providers.api_version_hint')}
            value={apiVersion}
            placeholder="2024-10-21"
            onInput={(e) => setApiVersion(e.currentTarget.value)}
            testid="provider-api-version"
          />
        )}
        <div class="field">
          <div class="field-label">{t('providers.models')}</div>
          {rows.map((r, i) => (
            <div class="input-group" key={i} data-testid="provider-model-row" style="margin-bottom:6px">
              <Select
                testid="provider-model"
                aria-label={t('providers.model')}
                value={r.model}
                onChange={(e) => setRow(i, { model: e.currentTarget.value })}
                options={modelOptions(r.model)}
              />
              <input
                class="input"
                data-testid="provider-upstream-model"
                aria-label={t('providers.upstream_model')}
                placeholder={t('providers.upstream_placeholder')}
                value={r.upstream}
                onInput={(e) => setRow(i, { upstream: e.currentTarget.value })}
              />
              <Button
                variant="ghost"
                small
                class="icon-btn"
                aria-label={t('providers.remove_model')}
                title={t('providers.remove_model')}
                onClick={() => setRows(rows.filter((_, j) => j !== i))}
              >
                <TrashIcon />
              </Button>
            </div>
          ))}
          <Button small testid="provider-add-model" onClick={() => setRows([...rows, { model: models[0] || '', upstream: '' }])}>
            {t('providers.add_model')}
          </Button>
        </div>
        <Field label={t('providers.priority')} hint={t('providers.priority_hint')} type="number" min="0" value={priority} onInput={(e) => setPriority(e.currentTarget.value)} testid="provider-priority" />
        <Field label={t('providers.weight')} hint={t('providers.weight_hint')} type="number" min="0" value={weight} onInput={(e) => setWeight(e.currentTarget.value)} testid="provider-weight" />
        <Field label={t('providers.timeout')} hint={t('providers.timeout_hint')} type="number" min="1" value={timeout} onInput={(e) => setTimeoutMs(e.currentTarget.value)} testid="provider-timeout" />
        <ErrorBox error={error} />
        <div class="modal-footer modal-footer-inline">
          <Button onClick={onClose} disabled={busy}>
            {t('common.cancel')}
          </Button>
          <Button type="submit" variant="primary" disabled={busy} testid="provider-save">
            {busy ? t('common.saving') : t('providers.save')}
          </Button>
        </div>
      </form>
    </Dialog>
  );
}

// One chat request for the provider's first chat model with a temporary project key.
async function testProvider(p, types) {
  const chat = p.models.find((m) => types[m.model] === 'chat') || p.models[0];
  const model = chat && chat.model;
  if (!model) throw new Error(t('providers.test_no_model'));
  const projects = (await api.list('/v1/organization/projects')).filter((x) => x.status !== 'archived');
  if (!projects.length) throw new Error(t('providers.test_no_project'));
  const proj = encodeURIComponent(projects[0].id);
  const key = await api.post(`/v1/organization/projects/${proj}/api_keys`, {
    name: 'provider test',
    expires_in_seconds: 300,
  });
  try {
    const res = await fetch('/v1/chat/completions', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key.value}` },
      credentials: 'omit',
      body: JSON.stringify({ model, max_tokens: 5, messages: [{ role: 'user', content: 'Say OK' }] }),
    });
    let data = null;
    try {
      data = await res.json();
    } catch (e) {
      data = null;
    }
    const text = res.ok
      ? (data && data.choices && data.choices[0] && data.choices[0].message && data.choices[0].message.content) || ''
      : (data && data.error && data.error.message) || t('common.http_error', { status: res.status });
    return { ok: res.ok, text: t('providers.test_result', { status: res.status, model, text }) };
  } finally {
    key.value = null;
    await api.del(`/v1/organization/projects/${proj}/api_keys/${encodeURIComponent(key.id)}`).catch(() => {});
  }
}

export default function ProvidersPage() {
  const { data, error, loading, reload } = useLoad(loadAll, []);
  const [editing, setEditing] = useState(null); // null | 'new' | provider
  const [deleting, setDeleting] = useState(null);
  const [actionError, setActionError] = useState(null);
  const [tests, setTests] = useState({}); // id -> {busy, ok, text}

  const providers = data ? data.providers : [];
  const models = data ? data.models : [];

  const toggle = async (p) => {
    setActionError(null);
    try {
      await api.post(`/v1/organization/providers/${encodeURIComponent(p.id)}`, { enabled: !p.enabled });
      await reload();
    } catch (e) {
      setActionError(e);
    }
  };

  const runTest = async (p) => {
    setTests((s) => ({ ...s, [p.id]: { busy: true } }));
    let r;
    try {
      r = await testProvider(p, data ? data.types : {});
    } catch (e) {
      r = { ok: false, text: e.message };
    }
    setTests((s) => ({ ...s, [p.id]: r }));
    reload();
  };

  return (
    <div class="page">
      <PageHeader
        title={t('providers.title')}
        description={
          <>
            <p>{t('providers.description')}</p>
            <p>{t('providers.test_hint')}</p>
          </>
        }
        actions={
          <Button variant="primary" testid="provider-add" disabled={!data} onClick={() => setEditing('new')}>
            {t('providers.add')}
          </Button>
        }
      />
      <ErrorBox error={error || actionError} />
      <Table
        loading={loading && !data}
        empty={t('providers.empty')}
        columns={[
          t('providers.col_name'),
          t('providers.col_base_url'),
          t('providers.col_models'),
          t('providers.col_priority_weight'),
          t('providers.col_key'),
          t('providers.col_status'),
          { label: '', class: 'actions' },
        ]}
      >
        {providers.map((p) => {
          const tr = tests[p.id];
          const row = (
            <tr key={p.id} data-testid="provider-row" data-name={p.name} data-status={p.status}>
              <td>
                <div class="cell-strong">{p.name}</div>
                <div class="muted nowrap">{TYPES.includes(p.type) ? t(`providers.type_${p.type}`) : p.type}</div>
              </td>
              <td class="cell-url">
                <code>{p.base_url}</code>
              </td>
              <td>
                {p.models.length === 0
                  ? t('providers.no_models')
                  : p.models.map((m) => (
                      <div key={m.model}>
                        <code>{m.model}</code>
                        {m.upstream_model && m.upstream_model !== m.model && <> → <code>{m.upstream_model}</code></>}
                      </div>
                    ))}
              </td>
              <td class="nowrap">
                {p.priority} / {p.weight}
              </td>
              <td class="nowrap" data-testid="provider-key">{keyLabel(p)}</td>
              <td class="nowrap">
                {statusBadge(p)}
                {p.timeout_ms != null && <div class="muted">{t('providers.timeout_short', { ms: p.timeout_ms })}</div>}
              </td>
              <td class="actions">
                <div class="row-actions">
                  <Button small testid="provider-test" disabled={tr && tr.busy} onClick={() => runTest(p)}>
                    {tr && tr.busy ? t('providers.testing') : t('providers.test')}
                  </Button>
                  <Button small testid="provider-edit" onClick={() => setEditing(p)}>
                    {t('providers.edit')}
                  </Button>
                  <Button small testid="provider-toggle" aria-pressed={p.enabled ? 'true' : 'false'} onClick={() => toggle(p)}>
                    {p.enabled ? t('providers.disable') : t('providers.enable')}
                  </Button>
                  <Button
                    variant="ghost"
                    small
                    class="icon-btn"
                    testid="provider-delete"
                    aria-label={t('providers.delete')}
                    title={t('providers.delete')}
                    onClick={() => setDeleting(p)}
                  >
                    <TrashIcon />
                  </Button>
                </div>
              </td>
            </tr>
          );
          if (!tr || tr.busy) return row;
          return [
            row,
            <tr key={`${p.id}-test`} class="provider-test-row">
              <td colSpan={7}>
                <div
                  class={tr.ok ? 'notice notice-success' : 'error-box'}
                  role={tr.ok ? 'status' : 'alert'}
                  data-testid="provider-test-result"
                  data-provider={p.name}
                  data-ok={String(!!tr.ok)}
                >
                  {tr.text}
                </div>
              </td>
            </tr>,
          ];
        })}
      </Table>
      {editing && (
        <ProviderDialog
          provider={editing === 'new' ? null : editing}
          models={models}
          onSaved={reload}
          onClose={() => setEditing(null)}
        />
      )}
      {deleting && (
        <Confirm
          title={t('providers.delete_title')}
          message={
            <>
              <p>{t('providers.delete_text')}</p>
              <p class="cell-strong">{t('providers.delete_name', { name: deleting.name })}</p>
            </>
          }
          confirmLabel={t('providers.delete_submit')}
          testid="confirm-delete-provider"
          onConfirm={async () => {
            await api.del(`/v1/organization/providers/${encodeURIComponent(deleting.id)}`);
            await reload();
          }}
          onClose={() => setDeleting(null)}
        />
      )}
    </div>
  );
}
