// The console's only way to the server: JSON over fetch, with the session cookie
// (same origin) and, on every write, the X-CSRF-Token header of the session.
// Errors become ApiError with the server's OpenAI-shaped error (message, code, param) and
// the path called; errors.js turns the ones the console can predict into its own sentence.
import { t } from './i18n.js';

export class ApiError extends Error {
  constructor(message, status, code, param, path) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code ?? null;
    this.param = param ?? null;
    this.path = path ?? null; // the path called: errors.js tells errors apart by it
  }
}

let csrf = null;

// The shell calls this with the csrf_token of GET /console/api/session (or of the
// login/signup answer); null after logout.
export function setCsrf(token) {
  csrf = token || null;
}

// Called with the ApiError of any 401 on a session-authenticated call, so the shell can
// send the user back to /login when the session has expired.
let onUnauthorized = null;
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

// The JSON text with the numbers of the named members kept as their decimal text (strings),
// so that money never goes through a float: {"input_price":0.15} → {"input_price":"0.15"}.
function keepExact(text, names) {
  if (!names || !names.length) return text;
  const re = new RegExp(`"(${names.join('|')})"\\s*:\\s*(-?\\d+(?:\\.\\d+)?(?:[eE][+-]?\\d+)?)`, 'g');
  return text.replace(re, '"$1":"$2"');
}

async function request(method, path, body, exact) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin' };
  if (method !== 'GET') {
    if (csrf) headers['X-CSRF-Token'] = csrf;
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(t('common.network_error'), 0, 'network_error', null, path);
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(keepExact(text, exact));
    } catch (e) {
      data = null;
    }
  }
  if (!res.ok) {
    const err = data && data.error ? data.error : {};
    const e = new ApiError(
      err.message || t('common.http_error', { status: res.status }),
      res.status,
      err.code ?? (err.message ? null : 'http_error'),
      err.param,
      path
    );
    // A 401 may mean the session has expired (or is a reader's refused write): the shell
    // checks the session again and goes back to /login if it is gone.
    if (res.status === 401 && onUnauthorized && !path.startsWith('/console/api/')) onUnauthorized(e);
    throw e;
  }
  return data === null ? {} : data;
}

export const api = {
  get: (path) => request('GET', path),
  post: (path, body) => request('POST', path, body === undefined ? {} : body),
  del: (path) => request('DELETE', path),
  // With opts.exact: [member names] whose numbers arrive as decimal strings (keepExact).
  getExact: (path, exact) => request('GET', path, undefined, exact),
  postExact: (path, body, exact) => request('POST', path, body === undefined ? {} : body, exact),
  // One page of an OpenAI-shaped list: {data, has_more, last_id}; after: the last page's
  // last_id (or null for the first page).
  async page(path, { after = null, limit = 100, exact } = {}) {
    const sep = path.includes('?') ? '&' : '?';
    const page = await request('GET', `${path}${sep}limit=${limit}${after ? `&after=${encodeURIComponent(after)}` : ''}`, undefined, exact);
    return { ...page, data: Array.isArray(page.data) ? page.data : [] };
  },
  // Every item of an OpenAI-shaped paged list ({data, has_more, last_id}), page after page
  // (`after` = the previous page's last_id) until has_more is false.
  async list(path, { exact } = {}) {
    const items = [];
    let after = null;
    for (let i = 0; i < 1000; i++) {
      const sep = path.includes('?') ? '&' : '?';
      const page = await request(
        'GET',
        `${path}${sep}limit=100${after ? `&after=${encodeURIComponent(after)}` : ''}`,
        undefined,
        exact
      );
      const data = Array.isArray(page.data) ? page.data : [];
      items.push(...data);
      if (!page.has_more || !page.last_id || data.length === 0) break;
      after = page.last_id;
    }
    return items;
  },
};
