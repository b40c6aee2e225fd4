// Strings of the console in English and Chinese. Every page registers its own
// {en: {...}, zh: {...}} with namespaced keys ("billing.title"); t() looks them up in the
// current language. A key missing in the current language is an error that the tests see
// (console.error) and shows as the key itself.

const tables = { en: {}, zh: {} };
const listeners = new Set();
export const LANGS = ['en', 'zh'];

function detect() {
  try {
    const saved = localStorage.getItem('tg.lang');
    if (LANGS.includes(saved)) return saved;
  } catch (e) {
    /* storage may be disabled */
  }
  const prefs =
    (navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language]) || [];
  for (const p of prefs) {
    if (typeof p === 'string' && p.toLowerCase().startsWith('zh')) return 'zh';
  }
  return 'en';
}

let current = typeof navigator === 'undefined' ? 'en' : detect();
if (typeof document !== 'undefined') document.documentElement.lang = current === 'zh' ? 'zh-CN' : 'en';

export function register(strings) {
  for (const l of LANGS) {
    if (strings && strings[l]) Object.assign(tables[l], strings[l]);
  }
}

export function lang() {
  return current;
}

export function setLang(l) {
  if (!LANGS.includes(l) || l === current) return;
  current = l;
  try {
    localStorage.setItem('tg.lang', l);
  } catch (e) {
    /* ignore */
  }
  document.documentElement.lang = l === 'zh' ? 'zh-CN' : 'en';
  for (const fn of listeners) fn(l);
}

// Subscribe to language changes; returns the unsubscribe function.
export function onLangChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function has(key) {
  return Object.prototype.hasOwnProperty.call(tables[current], key);
}

export function t(key, vars) {
  let s = tables[current][key];
  if (s === undefined) {
    console.error('missing translation', key);
    return key;
  }
  if (vars) {
    s = s.replace(/\{(\w+)\}/g, (m, name) =>
      Object.prototype.hasOwnProperty.call(vars, name) && vars[name] !== undefined && vars[name] !== null
        ? String(vars[name])
        : m
    );
  }
  return s;
}
