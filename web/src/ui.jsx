// Small shared components of the console. Every visible string goes through t().
import { useEffect, useRef, useState, useCallback } from 'preact/hooks';
import { t, register, lang, setLang } from './i18n.js';
import { errorText } from './errors.js';

export const strings = {
  en: {
    'common.cancel': 'Cancel',
    'common.close': 'Close',
    'common.save': 'Save',
    'common.saving': 'Saving…',
    'common.saved': 'Saved',
    'common.create': 'Create',
    'common.creating': 'Creating…',
    'common.loading': 'Loading…',
    'common.copy': 'Copy',
    'common.copied': 'Copied',
    'common.copy_failed': 'Could not copy. Select the text and copy it by hand.',
    'common.done': 'Done',
    'common.never': 'Never',
    'common.none': 'None',
    'common.confirm': 'Confirm',
    'common.working': 'Working…',
    'common.remove': 'Remove',
    'common.retry': 'Retry',
    'common.optional': 'Optional',
    'common.actions': 'Actions',
    'common.language': 'Language',
    'common.network_error': 'Could not reach the server. Check your connection and try again.',
    'common.http_error': 'The server answered with an error (HTTP {status}).',
    'common.role_owner': 'Owner',
    'common.role_reader': 'Reader',
    'common.status_active': 'Active',
    'common.status_archived': 'Archived',
    'common.status_pending': 'Pending',
    'common.status_accepted': 'Accepted',
    'common.status_expired': 'Expired',
    'common.read_only_notice': 'You have read-only access. Ask an owner to make changes.',
  },
  zh: {
    'common.cancel': '取消',
    'common.close': '关闭',
    'common.save': '保存',
    'common.saving': '正在保存…',
    'common.saved': '已保存',
    'common.create': '创建',
    'common.creating': '正在创建…',
    'common.loading': '正在加载…',
    'common.copy': '复制',
    'common.copied': '已复制',
    'common.copy_failed': '无法复制，请选中文本后手动复制。',
    'common.done': '完成',
    'common.never': '从未',
    'common.none': '无',
    'common.confirm': '确认',
    'common.working': '正在处理…',
    'common.remove': '移除',
    'common.retry': '重试',
    'common.optional': '可选',
    'common.actions': '操作',
    'common.language': '语言',
    'common.network_error': '无法连接服务器，请检查网络后重试。',
    'common.http_error': '服务器返回错误（HTTP {status}）。',
    'common.role_owner': '所有者',
    'common.role_reader': '只读成员',
    'common.status_active': '活跃',
    'common.status_archived': '已归档',
    'common.status_pending': '待接受',
    'common.status_accepted': '已接受',
    'common.status_expired': '已过期',
    'common.read_only_notice': '你只有只读权限。如需更改，请联系所有者。',
  },
};
register(strings);

function cls(...names) {
  return names.filter(Boolean).join(' ');
}

// variant: 'primary' | 'secondary' (default) | 'danger' | 'ghost'; small: compact size.
export function Button({ variant = 'secondary', small, type = 'button', class: c, className, testid, ...rest }) {
  return (
    <button
      type={type}
      class={cls('btn', `btn-${variant}`, small && 'btn-sm', c, className)}
      data-testid={testid}
      {...rest}
    />
  );
}

// A label with one control. Without children it renders an <input> with the other props
// (value, onInput, type, placeholder, testid, …).
export function Field({ label, hint, children, class: c, testid, id, ...inputProps }) {
  const autoId = useRef(`f${Math.random().toString(36).slice(2, 9)}`).current;
  const fid = id || autoId;
  return (
    <div class={cls('field', c)}>
      {label && (
        <label class="field-label" for={children ? id : fid}>
          {label}
        </label>
      )}
      {children || <input id={fid} class="input" data-testid={testid} {...inputProps} />}
      {hint && <div class="field-hint">{hint}</div>}
    </div>
  );
}

// options: [{value, label}]
export function Select({ options, testid, class: c, ...rest }) {
  return (
    <select class={cls('input', 'select', c)} data-testid={testid} {...rest}>
      {options.map((o) => (
        <option key={o.value} value={o.value}>
          {o.label}
        </option>
      ))}
    </select>
  );
}

// error: an ApiError, an Error, a string, or null (renders nothing). An API error the
// console can predict shows the console's own sentence (errors.js), in the reader's language.
export function ErrorBox({ error, testid = 'error' }) {
  if (!error) return null;
  const message = errorText(error);
  return (
    <div class="error-box" role="alert" data-testid={testid}>
      {message}
    </div>
  );
}

export function Notice({ children, kind = 'info', testid }) {
  return (
    <div class={cls('notice', `notice-${kind}`)} data-testid={testid}>
      {children}
    </div>
  );
}

export function Spinner() {
  return <span class="spinner" aria-hidden="true" />;
}

export function Loading() {
  return (
    <div class="loading">
      <Spinner /> {t('common.loading')}
    </div>
  );
}

// title: a tooltip; testid: its data-testid.
export function Badge({ children, kind = 'neutral', title, testid }) {
  return (
    <span class={cls('badge', `badge-${kind}`)} title={title} data-testid={testid}>
      {children}
    </span>
  );
}

export function PageHeader({ title, description, actions }) {
  return (
    <div class="page-header">
      <div class="page-header-text">
        <h1>{title}</h1>
        {description &&
          (typeof description === 'string' ? (
            <p class="page-description">{description}</p>
          ) : (
            <div class="page-description">{description}</div>
          ))}
      </div>
      {actions && <div class="page-actions">{actions}</div>}
    </div>
  );
}

export function Card({ title, description, actions, children, class: c }) {
  return (
    <section class={cls('card', c)}>
      {(title || actions) && (
        <div class="card-header">
          <div>
            {title && <h2>{title}</h2>}
            {description && <p class="card-description">{description}</p>}
          </div>
          {actions && <div class="card-actions">{actions}</div>}
        </div>
      )}
      {children}
    </section>
  );
}

// columns: array of strings or {label, class}; children: the <tr> rows. With no rows it
// shows `empty` across the whole width.
export function Table({ columns, children, empty, loading, class: c }) {
  const rows = (Array.isArray(children) ? children.flat() : [children]).filter(Boolean);
  return (
    <div class={cls('table-wrap', c)}>
      <table class="table">
        <thead>
          <tr>
            {columns.map((col, i) => {
              const o = typeof col === 'string' ? { label: col } : col;
              return (
                <th key={i} class={o.class}>
                  {o.label}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {rows.length > 0
            ? rows
            : (loading || empty) && (
                <tr class="table-empty">
                  <td colSpan={columns.length}>{loading ? t('common.loading') : empty}</td>
                </tr>
              )}
        </tbody>
      </table>
    </div>
  );
}

// A modal. Escape (and the × button) calls onClose. role="dialog", data-testid="dialog".
export function Dialog({ title, onClose, children, footer, wide, testid = 'dialog' }) {
  const ref = useRef(null);
  useEffect(() => {
    const onKey = (e) => {
      if (e.key === 'Escape' && onClose) {
        e.preventDefault();
        onClose();
      }
    };
    document.addEventListener('keydown', onKey);
    const prev = document.activeElement;
    // Focus the first field, or the dialog itself.
    const el = ref.current;
    if (el) {
      const first = el.querySelector('input:not([readonly]):not([disabled]), select, textarea');
      (first || el).focus();
    }
    return () => {
      document.removeEventListener('keydown', onKey);
      if (prev && prev.focus && document.contains(prev)) prev.focus();
    };
  }, []);
  const titleId = useRef(`d${Math.random().toString(36).slice(2, 9)}`).current;
  return (
    <div class="modal-backdrop">
      <div
        class={cls('modal', wide && 'modal-wide')}
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        data-testid={testid}
        tabIndex={-1}
        ref={ref}
      >
        <div class="modal-header">
          <h2 id={titleId}>{title}</h2>
          {onClose && (
            <button type="button" class="modal-close" aria-label={t('common.close')} title={t('common.close')} onClick={onClose}>
              ×
            </button>
          )}
        </div>
        <div class="modal-body">{children}</div>
        {footer && <div class="modal-footer">{footer}</div>}
      </div>
    </div>
  );
}

// A confirmation dialog. onConfirm may return a promise; while it runs the buttons are
// disabled, and a rejection shows its message in the dialog (data-testid="error").
export function Confirm({ title, message, confirmLabel, danger = true, testid, onConfirm, onClose }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const go = async () => {
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
      onClose();
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };
  return (
    <Dialog
      title={title}
      onClose={busy ? undefined : onClose}
      footer={
        <>
          <Button onClick={onClose} disabled={busy}>
            {t('common.cancel')}
          </Button>
          <Button variant={danger ? 'danger' : 'primary'} testid={testid} onClick={go} disabled={busy}>
            {busy ? t('common.working') : confirmLabel || t('common.confirm')}
          </Button>
        </>
      }
    >
      {typeof message === 'string' ? <p>{message}</p> : message}
      <ErrorBox error={error} />
    </Dialog>
  );
}

// Copies text to the clipboard (navigator.clipboard, or select + execCommand as the
// fallback for plain-http origins). Resolves true on success.
export async function copyText(text, inputEl) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch (e) {
    /* fall back below */
  }
  try {
    let el = inputEl;
    let tmp = null;
    if (!el) {
      tmp = document.createElement('textarea');
      tmp.value = text;
      tmp.setAttribute('readonly', '');
      tmp.className = 'offscreen';
      document.body.appendChild(tmp);
      el = tmp;
    }
    el.focus();
    el.select();
    const ok = document.execCommand('copy');
    if (tmp) tmp.remove();
    return ok;
  } catch (e) {
    return false;
  }
}

// A Copy button that says "Copied" for a moment. getInput: optional () => <input> to
// select for the fallback.
export function CopyButton({ text, testid, getInput, variant = 'secondary', small }) {
  const [state, setState] = useState(null); // null | 'ok' | 'fail'
  const timer = useRef(null);
  useEffect(() => () => clearTimeout(timer.current), []);
  const onClick = async () => {
    const ok = await copyText(text, getInput ? getInput() : null);
    setState(ok ? 'ok' : 'fail');
    clearTimeout(timer.current);
    timer.current = setTimeout(() => setState(null), 2000);
  };
  return (
    <>
      <Button variant={variant} small={small} testid={testid} onClick={onClick}>
        {state === 'ok' ? t('common.copied') : t('common.copy')}
      </Button>
      {state === 'fail' && <div class="field-hint field-hint-error">{t('common.copy_failed')}</div>}
    </>
  );
}

// Loads data with an async function: {data, error, loading, reload, setData}.
// deps: reload when they change.
export function useLoad(fn, deps = []) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const seq = useRef(0);
  const reload = useCallback(async () => {
    const my = ++seq.current;
    setState((s) => ({ ...s, loading: true, error: null }));
    try {
      const data = await fn();
      if (my === seq.current) setState({ data, error: null, loading: false });
    } catch (e) {
      if (my === seq.current) setState((s) => ({ ...s, error: e, loading: false }));
    }
  }, deps);
  useEffect(() => {
    reload();
  }, [reload]);
  const setData = (data) => setState((s) => ({ ...s, data: typeof data === 'function' ? data(s.data) : data }));
  return { ...state, reload, setData };
}

// The label of a role ('owner' | 'reader').
export function roleLabel(role) {
  return role === 'owner' ? t('common.role_owner') : role === 'reader' ? t('common.role_reader') : role;
}

// The label of a status (active, archived, pending, accepted, expired).
export function statusLabel(status) {
  const key = `common.status_${status}`;
  return ['active', 'archived', 'pending', 'accepted', 'expired'].includes(status) ? t(key) : status;
}

// Client-side navigation (History API). The shell listens to 'tg:navigate'.
export function navigate(to, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  window.dispatchEvent(new Event('tg:navigate'));
}

// An <a> that navigates without reloading the page (plain clicks only).
export function Link({ href, children, onClick, ...rest }) {
  const click = (e) => {
    if (onClick) onClick(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(href);
  };
  return (
    <a href={href} onClick={click} {...rest}>
      {children}
    </a>
  );
}

// The language switch: a <select> with values en and zh (languages in their own names).
export function LangSelect({ testid = 'lang-select', id, class: c }) {
  return (
    <select
      id={id}
      class={cls('input', 'select', c)}
      data-testid={testid}
      aria-label={t('common.language')}
      value={lang()}
      onChange={(e) => setLang(e.currentTarget.value)}
    >
      <option value="en">English</option>
      <option value="zh">简体中文</option>
    </select>
  );
}

// A small trash-can icon for remove/revoke buttons (give the button an aria-label).
export function TrashIcon() {
  return (
    <svg class="icon" viewBox="0 0 24 24" aria-hidden="true" fill="none" stroke="currentColor" stroke-width="1.7" stroke-linecap="round" stroke-linejoin="round">
      <path d="M4 7h16M9.5 7V4.5h5V7M6.5 7l1 12.5h9l1-12.5M10 11v5M14 11v5" />
    </svg>
  );
}
