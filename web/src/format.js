// Money and dates in the current language.
import { lang } from './i18n.js';

function locale() {
  return lang() === 'zh' ? 'zh-CN' : 'en-US';
}

// Dollars as "$10.00"; amounts under a cent keep up to 6 decimals ("$0.000123").
export function formatUSD(dollars) {
  const n = Number(dollars);
  if (!Number.isFinite(n)) return '—';
  const abs = Math.abs(n);
  let max = 2;
  if (abs > 0 && abs < 0.01) max = 6;
  else if (abs > 0 && Math.round(abs * 100) !== abs * 100 && abs < 1) max = 4;
  return new Intl.NumberFormat('en-US', {
    style: 'currency',
    currency: 'USD',
    minimumFractionDigits: 2,
    maximumFractionDigits: max,
  }).format(n);
}

export function formatNumber(n) {
  const v = Number(n);
  if (!Number.isFinite(v)) return '—';
  return new Intl.NumberFormat(locale()).format(v);
}

function toDate(unixSeconds) {
  if (unixSeconds === null || unixSeconds === undefined || unixSeconds === '') return null;
  const d = new Date(Number(unixSeconds) * 1000);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function formatDate(unixSeconds) {
  const d = toDate(unixSeconds);
  if (!d) return '—';
  return new Intl.DateTimeFormat(locale(), { year: 'numeric', month: 'short', day: 'numeric' }).format(d);
}

export function formatDateTime(unixSeconds) {
  const d = toDate(unixSeconds);
  if (!d) return '—';
  return new Intl.DateTimeFormat(locale(), {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
  }).format(d);
}
