// Models and prices (operator only): the model table of /v1/organization/models, every page
// of it, with its prices per 1M tokens, context window, max output, tokenizer and whether an
// enabled provider serves the model; edit a model, or add one an upstream serves.
// Prices arrive as the decimal text of the JSON numbers (api.js `exact`) and are held as
// BigInt nano-dollars, and sent back as decimal strings: no price goes through a float.
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { t } from '../i18n.js';
import { formatNumber, decimalToNanos, nanosToDecimal, parseDecimalNanos, formatNanosUSD } from '../format.js';
import { Button, Field, Select, ErrorBox, Table, Dialog, PageHeader, Badge, Link, useLoad } from '../ui.jsx';

export const strings = {
  en: {
    'models.title': 'Models',
    'models.description':
      'The model table: what each model costs, in US dollars per 1M tokens, and how its requests are bounded. A change applies to new requests at once. A model is served once an enabled provider lists it.',
    'models.add': '+ Add model',
    'models.filter': 'Filter models',
    'models.filter_placeholder': 'Filter by model ID',
    'models.count': '{shown} of {total} models',
    'models.empty': 'No models.',
    'models.no_match': 'No model matches the filter.',
    'models.col_model': 'Model',
    'models.col_input': 'Input / 1M',
    'models.col_cached': 'Cached input / 1M',
    'models.col_output': 'Output / 1M',
    'models.col_context': 'Context window',
    'models.col_max_output': 'Max output',
    'models.col_tokenizer': 'Tokenizer',
    'models.col_served': 'Served by',
    'models.no_cached': 'Cached input tokens bill at the input price.',
    'models.served_by': 'Served by: {names}',
    'models.unserved': 'No provider',
    'models.unserved_title': 'No enabled provider lists this model: requests for it get 404 model_not_found.',
    'models.tokenizer_none': 'None (bytes)',
    'models.type_chat': 'Chat',
    'models.type_completion': 'Completion',
    'models.type_embedding': 'Embedding',
    'models.edit': 'Edit',
    'models.edit_label': 'Edit {model}',
    'models.dialog_add': 'Add model',
    'models.dialog_edit': 'Edit model {model}',
    'models.id': 'Model ID',
    'models.id_hint': 'The name clients send as "model". A provider that lists it serves it (with another upstream name if needed).',
    'models.type': 'Endpoint',
    'models.input_price': 'Input price (USD per 1M tokens)',
    'models.cached_price': 'Cached input price (USD per 1M tokens)',
    'models.cached_hint': 'Optional. Empty: cached input tokens bill at the input price.',
    'models.output_price': 'Output price (USD per 1M tokens)',
    'models.price_hint': 'In dollars, at most 9 decimals, e.g. 0.15 or 2.5.',
    'models.context_window': 'Context window (tokens)',
    'models.max_output': 'Max output tokens',
    'models.max_output_hint': 'Caps the output reserved for a request that asks for no limit.',
    'models.tokenizer': 'Tokenizer',
    'models.tokenizer_hint': 'With no tokenizer, a prompt is bounded by its UTF-8 bytes (Llama, Qwen, DeepSeek… behind an OpenAI-compatible server).',
    'models.save': 'Save model',
    'models.err_id_required': 'Enter the model ID.',
    'models.err_id_chars': 'A model ID has no spaces, slashes or control characters.',
    'models.err_id_long': 'A model ID is at most 255 bytes.',
    'models.err_id_exists': 'The model {model} already exists: edit it in the table instead.',
    'models.err_price_required': 'Enter a price (0 for free).',
    'models.err_price': 'Enter a non-negative amount in dollars with at most 9 decimals.',
    'models.err_price_big': 'At most 1,000,000,000 dollars per 1M tokens.',
    'models.err_int': 'Enter a whole number of tokens (0 or more).',
    'models.err_max_output': 'The max output cannot exceed the context window.',
    'models.added': 'Added {model}. It is served once a provider lists it:',
    'models.to_providers': 'Providers',
    'models.saved': 'Saved {model}.',
    'models.unchanged': 'Nothing changed.',
  },
  zh: {
    'models.title': '模型',
    'models.description': '模型表：每个模型的价格（美元 / 每百万 token）及其请求的上限。修改立即对新请求生效。已启用的提供方列出某个模型后，该模型才可用。',
    'models.add': '+ 添加模型',
    'models.filter': '筛选模型',
    'models.filter_placeholder': '按模型编号筛选',
    'models.count': '显示 {shown} 个，共 {total} 个模型',
    'models.empty': '没有模型。',
    'models.no_match': '没有与筛选条件匹配的模型。',
    'models.col_model': '模型',
    'models.col_input': '输入 / 百万',
    'models.col_cached': '缓存输入 / 百万',
    'models.col_output': '输出 / 百万',
    'models.col_context': '上下文窗口',
    'models.col_max_output': '最大输出',
    'models.col_tokenizer': '分词器',
    'models.col_served': '提供方',
    'models.no_cached': '缓存的输入 token 按输入价格计费。',
    'models.served_by': '由以下提供方服务：{names}',
    'models.unserved': '无提供方',
    'models.unserved_title': '没有已启用的提供方列出此模型：对它的请求会得到 404 model_not_found。',
    'models.tokenizer_none': '无（按字节）',
    'models.type_chat': '对话',
    'models.type_completion': '补全',
    'models.type_embedding': '嵌入',
    'models.edit': '编辑',
    'models.edit_label': '编辑 {model}',
    'models.dialog_add': '添加模型',
    'models.dialog_edit': '编辑模型 {model}',
    'models.id': '模型编号',
    'models.id_hint': '客户端在 "model" 中发送的名称。列出它的提供方即可为其服务（必要时可使用不同的上游名称）。',
    'models.type': '接口',
    'models.input_price': '输入价格（美元 / 每百万 token）',
    'models.cached_price': '缓存输入价格（美元 / 每百万 token）',
    'models.cached_hint': '可选。留空：缓存的输入 token 按输入价格计费。',
    'models.output_price': '输出价格（美元 / 每百万 token）',
    'models.price_hint': '以美元计，最多 9 位小数，例如 0.15 或 2.5。',
    'models.context_window': '上下文窗口（token）',
    'models.max_output': '最大输出 token 数',
    'models.max_output_hint': '请求未设上限时，为输出预留的最大 token 数。',
    'models.tokenizer': '分词器',
    'models.tokenizer_hint': '没有分词器时，提示按其 UTF-8 字节数估算上限（例如兼容 OpenAI 的服务器上的 Llama、Qwen、DeepSeek 等）。',
    'models.save': '保存模型',
    'models.err_id_required': '请输入模型编号。',
    'models.err_id_chars': '模型编号不能包含空格、斜杠或控制字符。',
    'models.err_id_long': '模型编号最多 255 个字节。',
    'models.err_id_exists': '模型 {model} 已存在：请在表格中编辑它。',
    'models.err_price_required': '请输入价格（免费请填 0）。',
    'models.err_price': '请输入非负的美元金额，最多 9 位小数。',
    'models.err_price_big': '每百万 token 最多 1,000,000,000 美元。',
    'models.err_int': '请输入 token 的整数数量（0 或以上）。',
    'models.err_max_output': '最大输出不能超过上下文窗口。',
    'models.added': '已添加 {model}。提供方列出它之后即可使用：',
    'models.to_providers': '提供方',
    'models.saved': '已保存 {model}。',
    'models.unchanged': '没有更改。',
  },
};

const PRICES = ['input_price', 'cached_input_price', 'output_price'];
const TYPES = ['chat', 'completion', 'embedding'];
const TOKENIZERS = ['o200k_base', 'cl100k_base'];
const MAX_PRICE = 1000000000n * 1000000000n; // $1e9 per 1M tokens, in nano-dollars
const MAX_INT = 1000000000;

async function loadAll() {
  const [models, providers] = await Promise.all([
    api.list('/v1/organization/models', { exact: PRICES }),
    api.list('/v1/organization/providers'),
  ]);
  const served = {}; // model id -> names of the enabled providers that list it
  for (const p of providers) {
    if (p.enabled === false) continue;
    for (const m of p.models || []) (served[m.model] ||= []).push(p.name);
  }
  return { models, served };
}

const nanosOf = (v) => (v === null || v === undefined ? null : decimalToNanos(v));
const priceText = (v) => (v === null || v === undefined ? '—' : formatNanosUSD(decimalToNanos(v)));
const typeLabel = (ty) => (TYPES.includes(ty) ? t(`models.type_${ty}`) : ty);

// The form's text of a stored price (exact decimal) or integer.
const priceInput = (v) => (v === null || v === undefined ? '' : nanosToDecimal(decimalToNanos(v)));

function checkPrice(text, required) {
  if (!text.trim()) return required ? { error: t('models.err_price_required') } : { nanos: null };
  const n = parseDecimalNanos(text);
  if (n === null) return { error: t('models.err_price') };
  if (n > MAX_PRICE) return { error: t('models.err_price_big') };
  return { nanos: n };
}

function checkInt(text) {
  const s = text.trim();
  if (!/^\d+$/.test(s) || Number(s) > MAX_INT) return { error: t('models.err_int') };
  return { value: Number(s) };
}

function ModelDialog({ model, ids, onSaved, onClose }) {
  const edit = !!model;
  const [f, setF] = useState(() => ({
    id: '',
    type: model ? model.type : 'chat',
    input: model ? priceInput(model.input_price) : '',
    cached: model ? priceInput(model.cached_input_price) : '',
    output: model ? priceInput(model.output_price) : '',
    context: model ? String(model.context_window) : '128000',
    maxOut: model ? String(model.max_output_tokens) : '16384',
    tokenizer: model ? model.tokenizer || '' : '',
  }));
  const [errs, setErrs] = useState({});
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const set = (k) => (e) => setF({ ...f, [k]: e.currentTarget.value });

  // What can be checked here: the ID, the prices' form, whole numbers; the rest is the server's.
  const validate = () => {
    const e = {};
    const out = {};
    if (!edit) {
      const id = f.id.trim();
      if (!id) e.id = t('models.err_id_required');
      // eslint-disable-next-line no-control-regex
      else if (/[\s/\u0000-\u001f\u007f]/.test(id)) e.id = t('models.err_id_chars');
      else if (new TextEncoder().encode(id).length > 255) e.id = t('models.err_id_long');
      else if (ids.has(id)) e.id = t('models.err_id_exists', { model: id });
      out.id = id;
    }
    for (const [k, field, required] of [['input', 'input_price', true], ['cached', 'cached_input_price', false], ['output', 'output_price', true]]) {
      const r = checkPrice(f[k], required);
      if (r.error) e[k] = r.error;
      else out[field] = r.nanos;
    }
    for (const [k, field] of [['context', 'context_window'], ['maxOut', 'max_output_tokens']]) {
      const r = checkInt(f[k]);
      if (r.error) e[k] = r.error;
      else out[field] = r.value;
    }
    if (!e.context && !e.maxOut && out.context_window > 0 && out.max_output_tokens > out.context_window) {
      e.maxOut = t('models.err_max_output');
    }
    return { e, out };
  };

  const submit = async (ev) => {
    ev.preventDefault();
    const { e, out } = validate();
    setErrs(e);
    setError(null);
    if (Object.keys(e).length) return;
    const body = {};
    const id = edit ? model.id : out.id;
    for (const field of PRICES) {
      const v = out[field];
      if (edit && v === nanosOf(model[field])) continue;
      body[field] = v === null ? null : nanosToDecimal(v); // a decimal string: exact
    }
    for (const field of ['context_window', 'max_output_tokens']) {
      if (!edit || out[field] !== model[field]) body[field] = out[field];
    }
    const tok = f.tokenizer || null;
    if (!edit || tok !== (model.tokenizer || null)) body.tokenizer = tok;
    if (!edit || f.type !== model.type) body.type = f.type;
    if (edit && Object.keys(body).length === 0) {
      onSaved(t('models.unchanged'));
      onClose();
      return;
    }
    setBusy(true);
    try {
      await api.postExact(`/v1/organization/models/${encodeURIComponent(id)}`, body, PRICES);
      await onSaved(edit ? t('models.saved', { model: id }) : { added: id });
      onClose();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  const fieldError = (k) => errs[k] && <div class="field-hint field-hint-error" data-testid="model-field-error">{errs[k]}</div>;
  const input = (k, testid, props = {}) => (
    <input
      id={`md-${k}`}
      class="input"
      data-testid={testid}
      value={f[k]}
      aria-invalid={errs[k] ? 'true' : undefined}
      onInput={set(k)}
      {...props}
    />
  );

  return (
    <Dialog
      title={edit ? t('models.dialog_edit', { model: model.id }) : t('models.dialog_add')}
      onClose={busy ? undefined : onClose}
      wide
    >
      <form onSubmit={submit} noValidate>
        {!edit && (
          <Field label={t('models.id')} hint={t('models.id_hint')} id="md-id">
            {input('id', 'model-id', { autocomplete: 'off', spellcheck: false, placeholder: 'llama-3.1-8b' })}
            {fieldError('id')}
          </Field>
        )}
        <Field label={t('models.type')} id="md-type">
          <Select
            id="md-type"
            testid="model-type"
            value={f.type}
            onChange={set('type')}
            options={TYPES.map((v) => ({ value: v, label: typeLabel(v) }))}
          />
        </Field>
        <div class="field-row field-row-top">
          <Field label={t('models.input_price')} id="md-input">
            {input('input', 'model-input-price', { inputMode: 'decimal', placeholder: '0.15' })}
            {fieldError('input')}
          </Field>
          <Field label={t('models.output_price')} id="md-output">
            {input('output', 'model-output-price', { inputMode: 'decimal', placeholder: '0.6' })}
            {fieldError('output')}
          </Field>
        </div>
        <div class="field-hint field-hint-block">{t('models.price_hint')}</div>
        <Field label={t('models.cached_price')} hint={t('models.cached_hint')} id="md-cached">
          {input('cached', 'model-cached-price', { inputMode: 'decimal', placeholder: '0.075' })}
          {fieldError('cached')}
        </Field>
        <div class="field-row field-row-top">
          <Field label={t('models.context_window')} id="md-context">
            {input('context', 'model-context-window', { inputMode: 'numeric' })}
            {fieldError('context')}
          </Field>
          <Field label={t('models.max_output')} id="md-maxOut">
            {input('maxOut', 'model-max-output', { inputMode: 'numeric' })}
            {fieldError('maxOut')}
          </Field>
        </div>
        <div class="field-hint field-hint-block">{t('models.max_output_hint')}</div>
        <Field label={t('models.tokenizer')} hint={t('models.tokenizer_hint')} id="md-tokenizer">
          <Select
            id="md-tokenizer"
            testid="model-tokenizer"
            value={f.tokenizer}
            onChange={set('tokenizer')}
            options={[...TOKENIZERS.map((v) => ({ value: v, label: v })), { value: '', label: t('models.tokenizer_none') }]}
          />
        </Field>
        <ErrorBox error={error} />
        <div class="modal-footer modal-footer-inline">
          <Button onClick={onClose} disabled={busy}>
            {t('common.cancel')}
          </Button>
          <Button type="submit" variant="primary" disabled={busy} testid="model-save">
            {busy ? t('common.saving') : t('models.save')}
          </Button>
        </div>
      </form>
    </Dialog>
  );
}

export default function ModelsPage() {
  const { data, error, loading, reload } = useLoad(loadAll, []);
  const [filter, setFilter] = useState('');
  const [editing, setEditing] = useState(null); // null | 'new' | model
  const [notice, setNotice] = useState(null); // string | {added}

  const models = data ? data.models : [];
  const served = data ? data.served : {};
  const q = filter.trim().toLowerCase();
  const shown = q ? models.filter((m) => m.id.toLowerCase().includes(q)) : models;
  const ids = new Set(models.map((m) => m.id));

  const onSaved = async (n) => {
    setNotice(n);
    await reload();
  };

  return (
    <div class="page">
      <PageHeader
        title={t('models.title')}
        description={t('models.description')}
        actions={
          <Button variant="primary" testid="model-add" disabled={!data} onClick={() => { setNotice(null); setEditing('new'); }}>
            {t('models.add')}
          </Button>
        }
      />
      <ErrorBox error={error} />
      {notice && (
        <div class="notice notice-success" role="status" data-testid="model-notice">
          {typeof notice === 'string' ? (
            notice
          ) : (
            <>
              {t('models.added', { model: notice.added })} <Link href="/providers">{t('models.to_providers')}</Link>
            </>
          )}
        </div>
      )}
      <div class="table-toolbar">
        <input
          class="input table-filter"
          type="search"
          data-testid="model-filter"
          aria-label={t('models.filter')}
          placeholder={t('models.filter_placeholder')}
          value={filter}
          onInput={(e) => setFilter(e.currentTarget.value)}
        />
        {data && (
          <span class="muted" data-testid="model-count">
            {t('models.count', { shown: formatNumber(shown.length), total: formatNumber(models.length) })}
          </span>
        )}
      </div>
      <Table
        class="table-compact"
        loading={loading && !data}
        empty={models.length ? t('models.no_match') : t('models.empty')}
        columns={[
          t('models.col_model'),
          { label: t('models.col_input'), class: 'num' },
          { label: t('models.col_cached'), class: 'num' },
          { label: t('models.col_output'), class: 'num' },
          { label: t('models.col_context'), class: 'num' },
          { label: t('models.col_max_output'), class: 'num' },
          t('models.col_tokenizer'),
          t('models.col_served'),
          { label: '', class: 'actions' },
        ]}
      >
        {shown.map((m) => {
          const by = served[m.id] || [];
          return (
            <tr
              key={m.id}
              data-testid="model-row"
              data-model={m.id}
              data-served={String(by.length > 0)}
              class={by.length ? undefined : 'row-muted'}
            >
              <td>
                <div class="cell-strong"><code>{m.id}</code></div>
                <div class="muted">{typeLabel(m.type)}</div>
              </td>
              <td class="num" data-testid="model-input-price-cell">{priceText(m.input_price)}</td>
              <td class="num" data-testid="model-cached-price-cell" title={m.cached_input_price == null ? t('models.no_cached') : undefined}>
                {priceText(m.cached_input_price)}
              </td>
              <td class="num" data-testid="model-output-price-cell">{priceText(m.output_price)}</td>
              <td class="num">{formatNumber(m.context_window)}</td>
              <td class="num">{formatNumber(m.max_output_tokens)}</td>
              <td class="nowrap">{m.tokenizer ? <code>{m.tokenizer}</code> : <span class="muted">{t('models.tokenizer_none')}</span>}</td>
              <td>
                {by.length ? (
                  <span class="served-by" title={t('models.served_by', { names: by.join(', ') })}>
                    {by.join(', ')}
                  </span>
                ) : (
                  <Badge testid="model-unserved" title={t('models.unserved_title')}>
                    {t('models.unserved')}
                  </Badge>
                )}
              </td>
              <td class="actions">
                <Button small testid="model-edit" aria-label={t('models.edit_label', { model: m.id })} onClick={() => { setNotice(null); setEditing(m); }}>
                  {t('models.edit')}
                </Button>
              </td>
            </tr>
          );
        })}
      </Table>
      {editing && (
        <ModelDialog
          model={editing === 'new' ? null : editing}
          ids={ids}
          onSaved={onSaved}
          onClose={() => setEditing(null)}
        />
      )}
    </div>
  );
}
