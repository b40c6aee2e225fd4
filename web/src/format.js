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

function formatWith(unixSeconds, options) {
  const d = toDate(unixSeconds);
  return d ? new Intl.DateTimeFormat(locale(), options).format(d) : '—';
}

const DAY = { year: 'numeric', month: 'short', day: 'numeric' };
const CLOCK = { hour: '2-digit', minute: '2-digit' };

export const formatDate = (unixSeconds) => formatWith(unixSeconds, DAY);
export const formatDateTime = (unixSeconds) => formatWith(unixSeconds, { ...DAY, ...CLOCK });
// A moment to the second ("Mar 5, 2025, 14:03:27"), in the reader's language and time zone.
export const formatTimestamp = (unixSeconds) => formatWith(unixSeconds, { ...DAY, ...CLOCK, second: '2-digit' });
// The time of day to the second ("14:03:27", "下午2:03:27"), in the reader's language.
export const formatTime = (unixSeconds) => formatWith(unixSeconds, { ...CLOCK, second: '2-digit' });

// ---- exact decimals: money as BigInt nano-dollars (10^-9 USD), never through a float ----

// The decimal text of a JSON number ("0.00000681", "12", "1.5e-7") → BigInt nano-dollars.
// Digits beyond the 9th decimal (the server never sends any) are dropped.
export function decimalToNanos(text) {
  let s = String(text).trim();
  let neg = false;
  if (s[0] === '-' || s[0] === '+') {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  let exp = 0;
  const e = s.search(/[eE]/);
  if (e >= 0) {
    exp = parseInt(s.slice(e + 1), 10) || 0;
    s = s.slice(0, e);
  }
  const dot = s.indexOf('.');
  const whole = dot >= 0 ? s.slice(0, dot) : s;
  const frac = dot >= 0 ? s.slice(dot + 1) : '';
  const digits = `${whole}${frac}`.replace(/^0+(?=\d)/, '') || '0';
  if (!/^\d+$/.test(digits)) return 0n;
  const shift = 9 + exp - frac.length; // value = digits × 10^(exp − frac.length)
  let n = BigInt(digits);
  n = shift >= 0 ? n * 10n ** BigInt(shift) : n / 10n ** BigInt(-shift);
  return neg ? -n : n;
}

// BigInt nano-dollars → "12.00000681" (no trailing zeros; at least "0").
export function nanosToDecimal(n) {
  const neg = n < 0n;
  const a = neg ? -n : n;
  const whole = a / 1000000000n;
  const frac = (a % 1000000000n).toString().padStart(9, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${whole}${frac ? `.${frac}` : ''}`;
}

// A decimal typed by a person ("0.15", "2", "1,234.5", ".5") → BigInt nano-dollars, or null
// when it is not a non-negative decimal with at most 9 decimals.
export function parseDecimalNanos(text) {
  const s = String(text ?? '').trim().replace(/,/g, '');
  const m = /^(\d*)(?:\.(\d*))?$/.exec(s);
  if (!m || (m[1] === '' && !m[2])) return null;
  const frac = m[2] || '';
  if (frac.length > 9) return null;
  return BigInt(m[1] || '0') * 1000000000n + BigInt((frac + '000000000').slice(0, 9));
}

// BigInt nano-dollars → "$0.15", "$2.50", "$1,234.00", "$0.000000001": every digit the amount
// has (up to 9 decimals), at least 2.
export function formatNanosUSD(n) {
  if (typeof n !== 'bigint') return '—';
  const neg = n < 0n;
  const a = neg ? -n : n;
  const whole = (a / 1000000000n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  let frac = (a % 1000000000n).toString().padStart(9, '0').replace(/0+$/, '');
  if (frac.length < 2) frac = frac.padEnd(2, '0');
  return `${neg ? '-' : ''}$${whole}.${frac}`;
}
