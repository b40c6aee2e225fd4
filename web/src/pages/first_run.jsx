// The operator's first-run checklist, at the top of the home page (API keys) of the
// operator's owners: connect a provider → create a key → make a first request. Each step is
// ticked from the Admin API (a provider exists; a project API key exists; the organisation
// has usage, or a key was used), with the exact curl / Python / Node call for this server
// (`${location.origin}/v1`). Once every step is done it folds into one line.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { t } from '../i18n.js';
import { Button, CopyButton, Link, useLoad } from '../ui.jsx';

export const strings = {
  en: {
    'first_run.title': 'Get started',
    'first_run.progress': '{done} of 3 done',
    'first_run.complete': 'Set-up complete: a provider, a key and a first request.',
    'first_run.show': 'Show',
    'first_run.intro': 'Three steps to the first answer through this Tollgate.',
    'first_run.step_provider': 'Connect a provider',
    'first_run.step_provider_text': 'An upstream API (OpenAI, Azure OpenAI or any OpenAI-compatible server) that serves your models.',
    'first_run.step_provider_link': 'Go to Providers',
    'first_run.step_key': 'Create an API key',
    'first_run.step_key_text': 'A secret key for a project. It is shown once: keep it somewhere safe.',
    'first_run.step_key_link': 'Create a key',
    'first_run.step_request': 'Make a first request',
    'first_run.step_request_text': 'Put the key in OPENAI_API_KEY and run one of these. Any OpenAI SDK works with this base URL.',
    'first_run.step_request_link': 'See it in Usage',
    'first_run.done': 'Done',
    'first_run.todo': 'To do',
    'first_run.snippets': 'Example request',
    'first_run.check_again': 'Check again',
    'first_run.checking': 'Checking…',
  },
  zh: {
    'first_run.title': '快速开始',
    'first_run.progress': '已完成 {done}/3',
    'first_run.complete': '设置已完成：已有提供方、密钥和第一个请求。',
    'first_run.show': '展开',
    'first_run.intro': '三步即可通过此 Tollgate 得到第一个回答。',
    'first_run.step_provider': '连接提供方',
    'first_run.step_provider_text': '为你的模型提供服务的上游 API（OpenAI、Azure OpenAI 或任何兼容 OpenAI 的服务器）。',
    'first_run.step_provider_link': '前往提供方',
    'first_run.step_key': '创建 API 密钥',
    'first_run.step_key_text': '属于某个项目的密钥。它只显示一次，请妥善保存。',
    'first_run.step_key_link': '创建密钥',
    'first_run.step_request': '发出第一个请求',
    'first_run.step_request_text': '把密钥放进 OPENAI_API_KEY 环境变量，然后运行下面任意一段。任何 OpenAI SDK 都可以使用这个基础地址。',
    'first_run.step_request_link': '在用量中查看',
    'first_run.done': '已完成',
    'first_run.todo': '待完成',
    'first_run.snippets': '请求示例',
    'first_run.check_again': '重新检查',
    'first_run.checking': '正在检查…',
  },
};

const DAY = 86400;

// Whether the organisation has made a request: usage of the last 31 days (completions or
// embeddings), or a key that has been used.
async function anyRequest(keys) {
  if (keys.some((k) => k.last_used_at)) return true;
  const start = Math.floor(Date.now() / 1000) - 30 * DAY;
  const q = `start_time=${start}&bucket_width=1d&limit=31`;
  const pages = await Promise.all([
    api.get(`/v1/organization/usage/completions?${q}`),
    api.get(`/v1/organization/usage/embeddings?${q}`),
  ]);
  return pages.some((p) => (p.data || []).some((b) => (b.results || []).some((r) => r.num_model_requests > 0)));
}

async function load(keys) {
  const [providers, models, requested] = await Promise.all([
    api.list('/v1/organization/providers'),
    api.list('/v1/organization/models').catch(() => []),
    anyRequest(keys),
  ]);
  // The snippet asks for a chat model an enabled provider serves (gpt-4o-mini until then).
  const chat = new Set(models.filter((m) => m.type === 'chat').map((m) => m.id));
  let model = null;
  for (const p of providers) {
    if (p.enabled === false) continue;
    const m = (p.models || []).find((x) => chat.has(x.model));
    if (m) {
      model = m.model;
      break;
    }
  }
  return { provider: providers.length > 0, requested, model: model || 'gpt-4o-mini' };
}

export function snippets(base, model) {
  return {
    curl: [
      `curl ${base}/chat/completions \\`,
      '  -H "Content-Type: application/json" \\',
      '  -H "Authorization: Bearer $OPENAI_API_KEY" \\',
      `  -d '{"model": "${model}", "messages": [{"role": "user", "content": "Hello!"}]}'`,
    ].join('\n'),
    python: [
      'from openai import OpenAI',
      '',
      `client = OpenAI(base_url="${base}")  # the key: OPENAI_API_KEY`,
      'response = client.chat.completions.create(',
      `    model="${model}",`,
      '    messages=[{"role": "user", "content": "Hello!"}],',
      ')',
      'print(response.choices[0].message.content)',
    ].join('\n'),
    node: [
      "import OpenAI from 'openai';",
      '',
      `const client = new OpenAI({ baseURL: '${base}' }); // the key: OPENAI_API_KEY`,
      'const response = await client.chat.completions.create({',
      `  model: '${model}',`,
      "  messages: [{ role: 'user', content: 'Hello!' }],",
      '});',
      'console.log(response.choices[0].message.content);',
    ].join('\n'),
  };
}

const LANGS = [
  { id: 'curl', label: 'curl' },
  { id: 'python', label: 'Python' },
  { id: 'node', label: 'Node.js' },
];

function Step({ id, done, label, text, action, children }) {
  return (
    <li class="checklist-step" data-testid="checklist-step" data-step={id} data-done={done ? 'true' : 'false'}>
      <span class="checklist-mark" role="img" aria-label={done ? t('first_run.done') : t('first_run.todo')}>
        {done ? '✓' : ''}
      </span>
      <div class="checklist-step-text">
        <span class="checklist-step-label">{label}</span>
        {action}
        <div class="muted">{text}</div>
        {children}
      </div>
    </li>
  );
}

// keys: the organisation's project API keys (null while they load); onCreateKey opens the
// page's create-key dialog.
export function FirstRunChecklist({ keys, onCreateKey }) {
  const [tick, setTick] = useState(0);
  const state = useLoad(() => (keys ? load(keys) : Promise.resolve(null)), [keys, tick]);
  const [lang, setLang] = useState('curl');
  const [open, setOpen] = useState(null); // null: open until every step is done
  // Back from a terminal: check again.
  useEffect(() => {
    const again = () => {
      if (document.visibilityState !== 'hidden') setTick((n) => n + 1);
    };
    window.addEventListener('focus', again);
    return () => window.removeEventListener('focus', again);
  }, []);

  const s = state.data;
  if (!keys || !s) return null;
  const steps = { provider: s.provider, key: keys.length > 0, request: s.requested };
  const done = Object.values(steps).filter(Boolean).length;
  const complete = done === 3;
  const isOpen = open === null ? !complete : open;
  const base = `${location.origin}/v1`;
  const code = snippets(base, s.model)[lang];

  return (
    <details
      class="checklist"
      data-testid="checklist"
      data-complete={complete ? 'true' : 'false'}
      open={isOpen}
      onToggle={(e) => {
        // only a person's click: the toggle events of our own renders match isOpen
        if (e.currentTarget.open !== isOpen) setOpen(e.currentTarget.open);
      }}
    >
      <summary data-testid="checklist-toggle">
        <span class="checklist-title">{t('first_run.title')}</span>
        <span class="muted" data-testid="checklist-progress">
          {complete ? t('first_run.complete') : t('first_run.progress', { done })}
        </span>
      </summary>
      {/* a closed <details> still lays its content out in Chrome: leave it out instead */}
      {isOpen && (
        <div class="checklist-body">
          <p class="muted">{t('first_run.intro')}</p>
          <ol class="checklist-steps">
            <Step
              id="provider"
              done={steps.provider}
              label={t('first_run.step_provider')}
              text={t('first_run.step_provider_text')}
              action={
                <Link href="/providers" data-testid="checklist-link" data-step="provider">
                  {t('first_run.step_provider_link')}
                </Link>
              }
            />
            <Step
              id="key"
              done={steps.key}
              label={t('first_run.step_key')}
              text={t('first_run.step_key_text')}
              action={
                onCreateKey && (
                  <a
                    href="/api-keys"
                    data-testid="checklist-link"
                    data-step="key"
                    onClick={(e) => {
                      e.preventDefault();
                      onCreateKey();
                    }}
                  >
                    {t('first_run.step_key_link')}
                  </a>
                )
              }
            />
            <Step
              id="request"
              done={steps.request}
              label={t('first_run.step_request')}
              text={t('first_run.step_request_text')}
              action={
                <Link href="/usage" data-testid="checklist-link" data-step="request">
                  {t('first_run.step_request_link')}
                </Link>
              }
            >
              <div class="tabs" role="tablist" aria-label={t('first_run.snippets')} style="margin-top:8px">
                {LANGS.map((l) => (
                  <button
                    key={l.id}
                    type="button"
                    role="tab"
                    class="tab"
                    data-testid="checklist-tab"
                    data-lang={l.id}
                    aria-selected={lang === l.id ? 'true' : 'false'}
                    onClick={() => setLang(l.id)}
                  >
                    {l.label}
                  </button>
                ))}
              </div>
              <pre class="code-block" data-testid="checklist-snippet" data-lang={lang} tabIndex={0}>
                <code>{code}</code>
              </pre>
              <div class="inline-actions">
                <CopyButton text={code} testid="checklist-copy" small />
                <Button small variant="ghost" testid="checklist-refresh" disabled={state.loading} onClick={() => setTick((n) => n + 1)}>
                  {state.loading ? t('first_run.checking') : t('first_run.check_again')}
                </Button>
              </div>
            </Step>
          </ol>
        </div>
      )}
    </details>
  );
}
