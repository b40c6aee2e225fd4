// Billing: credit balance and grants, payment methods ("Add payment details" → payer →
// card → amount and auto-recharge → "Confirm payment"), buying credit, auto-recharge
// settings, invoices and the payment history. The rules (minimum top-up, card checks,
// declines, auto-recharge conditions) are the server's; the forms check beforehand what they
// can (every missing field by name, the card's format, the minimum) and show the server's
// refusals in the reader's language (errors.js). The operator's organisation uses no credit:
// its page offers none to buy.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api.js';
import { t, lang } from '../i18n.js';
import { errorKey, errorText, CARD_CODES } from '../errors.js';
import { formatUSD, formatDate, formatDateTime } from '../format.js';
import {
  Button,
  Field,
  ErrorBox,
  Notice,
  Badge,
  Card,
  Table,
  Dialog,
  Confirm,
  Loading,
  PageHeader,
  useLoad,
} from '../ui.jsx';

const B = '/v1/organization/billing';

// ---- money helpers (also used by the Limits page) ----

// "12.34" (dollars, as typed) → {cents: 1234}; or {error: <translated message>}. Integer
// arithmetic on the digits: no floating point. A leading "$" and thousands commas are
// accepted; more than two decimals are not.
export function parseDollars(text) {
  let s = String(text ?? '').trim();
  if (s.startsWith('$')) s = s.slice(1).trim();
  s = s.replace(/,/g, '');
  if (s === '') return { error: t('billing.money_required') };
  const m = /^(\d*)(?:\.(\d*))?$/.exec(s);
  if (!m || (m[1] === '' && (m[2] === undefined || m[2] === ''))) return { error: t('billing.money_invalid') };
  const whole = m[1] === '' ? '0' : m[1];
  const frac = m[2] ?? '';
  if (frac.length > 2) return { error: t('billing.money_too_many_decimals') };
  const digits = whole.replace(/^0+(?=\d)/, '');
  if (digits.length > 13) return { error: t('billing.money_too_large') };
  const cents = Number(digits) * 100 + Number((frac + '00').slice(0, 2));
  return { cents };
}

// 1234 (cents) → "12.34"; whole dollars without decimals ("12"). For prefilling inputs.
export function centsToInput(cents) {
  if (cents === null || cents === undefined) return '';
  const c = Math.trunc(Number(cents));
  const d = Math.trunc(c / 100);
  const r = Math.abs(c % 100);
  return r ? `${d}.${String(r).padStart(2, '0')}` : String(d);
}

export function formatCents(cents) {
  if (cents === null || cents === undefined) return '—';
  return formatUSD(Number(cents) / 100);
}

// An input with a "$" in front (dollars).
export function MoneyField({ label, hint, value, onInput, testid, disabled, placeholder }) {
  const id = useRef(`m${Math.random().toString(36).slice(2, 9)}`).current;
  return (
    <div class="field">
      {label && (
        <label class="field-label" for={id}>
          {label}
        </label>
      )}
      <div class="tg-money">
        <span class="tg-money-sign" aria-hidden="true">
          $
        </span>
        <input
          id={id}
          class="input"
          type="text"
          inputMode="decimal"
          autocomplete="off"
          value={value}
          placeholder={placeholder}
          disabled={disabled}
          data-testid={testid}
          onInput={(e) => onInput(e.currentTarget.value)}
        />
      </div>
      {hint && <div class="field-hint">{hint}</div>}
    </div>
  );
}

// Page-specific styles (the shared style.css has the rest).
const CSS = `
.tg-money{position:relative}
.tg-money .input{padding-left:24px}
.tg-money-sign{position:absolute;left:10px;top:50%;transform:translateY(-50%);color:var(--muted);pointer-events:none}
.bl-balance{display:flex;align-items:flex-end;justify-content:space-between;gap:16px;flex-wrap:wrap}
.bl-amount{font-size:36px;font-weight:600;line-height:1.1;font-variant-numeric:tabular-nums;color:var(--text)}
.bl-sub{color:var(--muted);margin-top:6px}
.bl-kv{display:grid;grid-template-columns:max-content 1fr;gap:6px 24px;margin:0}
.bl-kv dt{color:var(--muted)}
.bl-kv dd{margin:0;color:var(--text-2);overflow-wrap:anywhere}
.bl-steps{display:flex;gap:8px;flex-wrap:wrap;margin:0 0 16px;padding:0;list-style:none;font-size:13px;color:var(--muted)}
.bl-steps li{display:flex;align-items:center;gap:6px}
.bl-steps li+li::before{content:'';width:16px;height:1px;background:var(--border-strong)}
.bl-steps .n{display:inline-flex;width:20px;height:20px;border-radius:50%;align-items:center;justify-content:center;border:1px solid var(--border-strong);font-size:12px}
.bl-steps .on{color:var(--text);font-weight:500}
.bl-steps .on .n{background:var(--accent);border-color:var(--accent);color:#fff}
.bl-choices{display:grid;grid-template-columns:1fr 1fr;gap:12px;margin-bottom:8px}
.bl-choice{display:flex;flex-direction:column;align-items:flex-start;gap:4px;text-align:left;padding:16px;border:1px solid var(--border-strong);border-radius:var(--radius-lg);background:var(--bg);font:inherit;color:var(--text);cursor:pointer}
.bl-choice:hover{border-color:var(--accent);background:var(--accent-soft)}
.bl-choice strong{font-weight:600}
.bl-choice span{color:var(--muted);font-size:13px}
.bl-card-row{display:grid;grid-template-columns:1fr 1fr;gap:12px}
.bl-stripe{padding:10px;border:1px solid var(--border-strong);border-radius:var(--radius);min-height:40px;margin-bottom:16px}
.bl-method{display:flex;align-items:center;gap:8px;padding:10px 12px;border:1px solid var(--border);border-radius:var(--radius);background:var(--bg-subtle);margin-bottom:16px}
.bl-indent{padding-left:24px;margin-top:12px}
.bl-ar-form{display:grid;grid-template-columns:repeat(auto-fit,minmax(200px,1fr));gap:0 16px;margin-top:12px}
.bl-section-gap{margin-top:16px}
.bl-err-detail{font-size:13px;margin-top:4px;opacity:.85}
.bl-subhead{margin:8px 0 12px;font-size:14px;font-weight:600;color:var(--text)}
@media (max-width:640px){.bl-choices,.bl-card-row{grid-template-columns:1fr}}
`;
if (typeof document !== 'undefined' && !document.getElementById('tg-billing-css')) {
  const el = document.createElement('style');
  el.id = 'tg-billing-css';
  el.textContent = CSS;
  document.head.appendChild(el);
}

function brandName(brand) {
  const names = { visa: 'Visa', mastercard: 'Mastercard', amex: 'American Express', discover: 'Discover', jcb: 'JCB', diners: 'Diners Club', unionpay: 'UnionPay' };
  if (!brand) return t('billing.card');
  return names[brand] || brand.charAt(0).toUpperCase() + brand.slice(1);
}

function cardLabel(brand, last4) {
  return `${brandName(brand)} •••• ${last4 || '????'}`;
}

function expLabel(m, y) {
  if (!m || !y) return '—';
  return `${String(m).padStart(2, '0')}/${String(y).slice(-2)}`;
}

// "MM/YY", "MM / YYYY", "MMYY" → {month, year} as typed (the server checks the values).
function parseExp(text) {
  const s = String(text || '').trim();
  let m = /^(\d{1,2})\s*[/\-.]\s*(\d{2}|\d{4})$/.exec(s);
  if (!m) m = /^(\d{2})(\d{2})$/.exec(s);
  if (!m) return null;
  return { month: Number(m[1]), year: Number(m[2]) };
}

// ---- payment errors ----

// The server's refusal in the reader's language when the console knows it (errors.js), else
// the server's own message.
function PaymentError({ error }) {
  if (!error) return null;
  return (
    <div class="error-box" role="alert" data-testid="payment-error">
      {errorText(error)}
    </div>
  );
}

// ---- countries ----

// ISO 3166-1 alpha-2: the codes the server accepts for payer.address.country.
const COUNTRY_CODES = ('AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR ' +
  'BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET ' +
  'FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ ' +
  'IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML ' +
  'MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS ' +
  'PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL ' +
  'TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW').split(' ');

// [{value: code, label: its name in the reader's language}], sorted by name in that language.
function countryOptions() {
  const locale = lang() === 'zh' ? 'zh-CN' : 'en-US';
  let names = null;
  try {
    names = new Intl.DisplayNames([locale], { type: 'region' });
  } catch (e) {
    /* no Intl.DisplayNames: the codes themselves */
  }
  const coll = new Intl.Collator(locale);
  return COUNTRY_CODES.map((c) => ({ value: c, label: (names && names.of(c)) || c })).sort((a, b) =>
    coll.compare(a.label, b.label)
  );
}

// ---- checks before sending ----

// Luhn's checksum of a card number (digits only), as card networks and the server check it.
function luhnOk(digits) {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return digits.length >= 12 && digits.length <= 19 && sum % 10 === 0;
}

// ---- Stripe.js (only with --payments stripe) ----

let stripePromise = null;
function loadStripe(publishableKey) {
  if (!stripePromise) {
    stripePromise = new Promise((resolve, reject) => {
      const ready = () => (window.Stripe ? resolve(window.Stripe(publishableKey)) : reject(new Error(t('billing.stripe_load_failed'))));
      if (window.Stripe) return ready();
      const s = document.createElement('script');
      s.src = 'https://js.stripe.com/v3';
      s.async = true;
      s.onload = ready;
      s.onerror = () => {
        stripePromise = null;
        reject(new Error(t('billing.stripe_load_failed')));
      };
      document.head.appendChild(s);
    });
  }
  return stripePromise;
}

// The Stripe card Element, mounted in a div; reports {stripe, card} through onReady.
function StripeCard({ publishableKey, onReady }) {
  const ref = useRef(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let card = null;
    let gone = false;
    if (!publishableKey) {
      setError(t('billing.stripe_no_key'));
      return undefined;
    }
    loadStripe(publishableKey)
      .then((stripe) => {
        if (gone || !ref.current) return;
        const elements = stripe.elements({ locale: lang() === 'zh' ? 'zh' : 'en' });
        card = elements.create('card', { hidePostalCode: true });
        card.mount(ref.current);
        onReady({ stripe, card });
      })
      .catch((e) => setError(e.message));
    return () => {
      gone = true;
      if (card) card.destroy();
    };
  }, [publishableKey]);
  return (
    <div class="field">
      <span class="field-label">{t('billing.card_details')}</span>
      <div class="bl-stripe" ref={ref} data-testid="stripe-card" />
      <PaymentError error={error} />
    </div>
  );
}

// ---- the "Add payment details" dialog ----

function Steps({ step }) {
  const names = [
    ['payer', t('billing.step_payer')],
    ['card', t('billing.step_card')],
    ['amount', t('billing.step_amount')],
  ];
  const at = names.findIndex((n) => n[0] === step);
  return (
    <ol class="bl-steps">
      {names.map(([k, label], i) => (
        <li key={k} class={i === at ? 'on' : ''} aria-current={i === at ? 'step' : undefined}>
          <span class="n">{i + 1}</span>
          {label}
        </li>
      ))}
    </ol>
  );
}

// The amount, auto-recharge checkbox and its two amounts: shared by the last step of "Add
// payment details" and by "Buy credit".
// first: the organisation's first purchase ("Initial credit purchase", as OpenAI says);
// later ones are "Amount to add".
function AmountFields({ state, set, withAutoRecharge, first }) {
  return (
    <>
      <MoneyField
        label={first ? t('billing.topup_amount') : t('billing.amount_to_add')}
        hint={t('billing.topup_hint')}
        value={state.amount}
        onInput={(v) => set({ amount: v })}
        testid="topup-amount"
      />
      {withAutoRecharge && (
        <>
          <label class="checkbox">
            <input
              type="checkbox"
              data-testid="auto-recharge"
              checked={state.ar}
              onChange={(e) => set({ ar: e.currentTarget.checked })}
            />
            <span>{t('billing.ar_enable')}</span>
          </label>
          <div class="field-hint">{t('billing.ar_explain')}</div>
          {state.ar && (
            <div class="bl-indent">
              <MoneyField
                label={t('billing.ar_threshold')}
                value={state.arThreshold}
                onInput={(v) => set({ arThreshold: v })}
                testid="recharge-threshold"
              />
              <MoneyField
                label={t('billing.ar_to')}
                value={state.arTo}
                onInput={(v) => set({ arTo: v })}
                testid="recharge-to"
              />
            </div>
          )}
        </>
      )}
    </>
  );
}

const MIN_TOPUP_CENTS = 500; // the server's minimum top-up and recharge ($5)
const MAX_TOPUP_CENTS = 99999999; // the server's largest single charge

// Parses and checks the amount (and the auto-recharge amounts when on) as the server will.
// → {amount, threshold, to} or {error}.
function parseAmounts(state, first) {
  const label = first ? t('billing.topup_amount') : t('billing.amount_to_add');
  const a = parseDollars(state.amount);
  if (a.error) return { error: t('billing.field_error', { field: label, error: a.error }) };
  if (a.cents < MIN_TOPUP_CENTS || a.cents > MAX_TOPUP_CENTS) return { error: t('errors.topup_amount') };
  if (!state.ar) return { amount: a.cents };
  const r = parseRecharge(state.arThreshold, state.arTo);
  return r.error ? r : { amount: a.cents, ...r };
}

// The auto-recharge threshold and target: both amounts, the target above the threshold.
// → {threshold, to} or {error}.
function parseRecharge(thText, toText) {
  const th = parseDollars(thText);
  if (th.error) return { error: t('billing.field_error', { field: t('billing.ar_threshold'), error: th.error }) };
  const to = parseDollars(toText);
  if (to.error) return { error: t('billing.field_error', { field: t('billing.ar_to'), error: to.error }) };
  if (to.cents <= th.cents) return { error: t('errors.recharge_to_above') };
  if (to.cents > MAX_TOPUP_CENTS) return { error: t('billing.field_error', { field: t('billing.ar_to'), error: t('billing.money_too_large') }) };
  return { threshold: th.cents, to: to.cents };
}

function AddPaymentDialog({ session, config, first, onClose, onPaid, onMethodAdded }) {
  const [cfg, setCfg] = useState(config);
  const [step, setStep] = useState('payer');
  const [payerType, setPayerType] = useState(null);
  const [co, setCo] = useState({ name: '', line1: '', city: '', postal: '', country: '', taxId: '' });
  const [name, setName] = useState(session.user.email || '');
  const [card, setCard] = useState({ number: '', exp: '', cvc: '' });
  const [stripeCard, setStripeCard] = useState(null);
  const [method, setMethod] = useState(null);
  const [amt, setAmt] = useState({ amount: '10', ar: false, arThreshold: '5', arTo: '20' });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [declined, setDeclined] = useState(false);
  const [arError, setArError] = useState(null); // paid, but auto-recharge was refused
  const [invalid, setInvalid] = useState({}); // {data-testid: true} of the fields to fix
  const countries = countryOptions();

  useEffect(() => {
    if (!cfg)
      api
        .get('/console/api/config')
        .then(setCfg)
        .catch((e) => setError(e));
  }, []);
  const provider = cfg && cfg.payments ? cfg.payments.provider : null;

  const payer = () => {
    const email = session.user.email || undefined;
    if (payerType === 'company') {
      const p = { type: 'company', email };
      const put = (obj, k, v) => {
        if (v.trim() !== '') obj[k] = v.trim();
      };
      put(p, 'name', co.name);
      put(p, 'tax_id', co.taxId);
      const addr = {};
      put(addr, 'line1', co.line1);
      put(addr, 'city', co.city);
      put(addr, 'postal_code', co.postal);
      put(addr, 'country', co.country);
      if (Object.keys(addr).length) p.address = addr;
      return p;
    }
    const p = { type: 'individual', email };
    if (name.trim() !== '') p.name = name.trim();
    return p;
  };

  const choose = (type) => {
    setPayerType(type);
    setError(null);
    setStep('card');
  };

  // Every missing field by name, then the card's format, before anything is sent (the server
  // checks it all again). → true when the form may be sent.
  const checkCardForm = () => {
    const missing = [];
    const bad = {};
    const need = (id, value, label) => {
      if (String(value || '').trim() === '') {
        missing.push(label);
        bad[id] = true;
      }
    };
    if (payerType === 'company') {
      need('company-name', co.name, t('billing.company_name'));
      need('company-address', co.line1, t('billing.address'));
      need('company-city', co.city, t('billing.city'));
      need('company-postal-code', co.postal, t('billing.postal_code'));
      need('company-country', co.country, t('billing.country'));
      need('company-tax-id', co.taxId, t('billing.tax_id'));
    } else {
      need('card-name', name, t('billing.name_on_card'));
    }
    if (provider !== 'stripe') {
      need('card-number', card.number, t('billing.card_number'));
      need('card-exp', card.exp, t('billing.card_exp'));
      need('card-cvc', card.cvc, t('billing.card_cvc'));
    }
    setInvalid(bad);
    if (missing.length) {
      setError(t('billing.missing_fields', { fields: missing.join(t('billing.list_sep')) }));
      return false;
    }
    if (provider === 'stripe') return true; // Stripe's element checks the card
    const fail = (id, message) => {
      setInvalid({ [id]: true });
      setError(message);
      return false;
    };
    const digits = card.number.replace(/[\s-]/g, '');
    if (!/^\d+$/.test(digits) || !luhnOk(digits)) return fail('card-number', t('errors.card_number'));
    const exp = parseExp(card.exp);
    if (!exp || exp.month < 1 || exp.month > 12) return fail('card-exp', t('billing.exp_format'));
    const year = exp.year < 100 ? 2000 + exp.year : exp.year;
    const now = new Date();
    if (year < now.getFullYear() || (year === now.getFullYear() && exp.month < now.getMonth() + 1)) {
      return fail('card-exp', t('errors.expired_card'));
    }
    if (!/^\d{3,4}$/.test(card.cvc.trim())) return fail('card-cvc', t('errors.card_cvc'));
    return true;
  };

  const addMethod = async (e) => {
    if (e) e.preventDefault();
    setError(null);
    if (!checkCardForm()) return;
    let body;
    if (provider === 'stripe') {
      if (!stripeCard) return;
      setBusy(true);
      const p = payer();
      const bd = { name: p.name, email: p.email };
      if (p.address) bd.address = p.address;
      let res;
      try {
        res = await stripeCard.stripe.createPaymentMethod({ type: 'card', card: stripeCard.card, billing_details: bd });
      } catch (err) {
        res = { error: err };
      }
      if (res.error) {
        setError(res.error.message || String(res.error));
        setBusy(false);
        return;
      }
      body = { stripe_payment_method: res.paymentMethod.id, payer: p };
    } else {
      const exp = parseExp(card.exp);
      body = {
        card: { number: card.number, exp_month: exp.month, exp_year: exp.year, cvc: card.cvc.trim() },
        payer: payer(),
      };
      setBusy(true);
    }
    try {
      const m = await api.post(`${B}/payment_methods`, body);
      setMethod(m);
      setCard({ number: '', exp: '', cvc: '' }); // the number leaves the page's state
      setStep('amount');
      onMethodAdded();
    } catch (err) {
      err.payerType = payerType; // payer.name is the company's name or the person's
      setError(err);
    }
    setBusy(false);
  };

  const confirm = async (e) => {
    if (e) e.preventDefault();
    setError(null);
    setDeclined(false);
    const p = parseAmounts(amt, first);
    if (p.error) {
      setError(p.error);
      return;
    }
    setBusy(true);
    let payment;
    try {
      payment = await api.post(`${B}/top_ups`, { amount: p.amount, payment_method_id: method.id });
    } catch (err) {
      setError(err);
      setDeclined(err.status === 402);
      setBusy(false);
      onMethodAdded(); // the failed payment shows in the history
      return;
    }
    if (amt.ar) {
      try {
        await api.post(`${B}/auto_recharge`, {
          enabled: true,
          threshold_amount: p.threshold,
          recharge_to_amount: p.to,
        });
      } catch (err) {
        setArError(err);
        setBusy(false);
        onPaid(payment, false);
        return;
      }
    }
    onPaid(payment, true);
  };

  // Declined: remove the card that was just added and enter another one.
  const otherCard = async () => {
    setBusy(true);
    try {
      await api.del(`${B}/payment_methods/${encodeURIComponent(method.id)}`);
    } catch (err) {
      /* it stays in the list; the user can remove it there */
    }
    setMethod(null);
    setError(null);
    setDeclined(false);
    setBusy(false);
    setStep('card');
    onMethodAdded();
  };

  let body;
  let footer;
  if (arError) {
    body = (
      <>
        <Notice kind="success">{t('billing.paid_ar_failed')}</Notice>
        <ErrorBox error={arError} />
      </>
    );
    footer = (
      <Button variant="primary" onClick={onClose}>
        {t('common.close')}
      </Button>
    );
  } else if (step === 'payer') {
    body = (
      <>
        <p>{t('billing.payer_question')}</p>
        <div class="bl-choices">
          <button type="button" class="bl-choice" data-testid="payer-individual" onClick={() => choose('individual')}>
            <strong>{t('billing.individual')}</strong>
            <span>{t('billing.individual_desc')}</span>
          </button>
          <button type="button" class="bl-choice" data-testid="payer-company" onClick={() => choose('company')}>
            <strong>{t('billing.company')}</strong>
            <span>{t('billing.company_desc')}</span>
          </button>
        </div>
        <PaymentError error={error} />
      </>
    );
    footer = <Button onClick={onClose}>{t('common.cancel')}</Button>;
  } else if (step === 'card') {
    const setC = (k) => (e) => setCo({ ...co, [k]: e.currentTarget.value });
    const setK = (k) => (e) => setCard({ ...card, [k]: e.currentTarget.value });
    const inv = (id) => (invalid[id] ? 'true' : undefined);
    body = (
      <form id="bl-card-form" onSubmit={addMethod} noValidate>
        {payerType === 'company' ? (
          <>
            <Field label={t('billing.company_name')} value={co.name} onInput={setC('name')} testid="company-name" autocomplete="organization" aria-invalid={inv('company-name')} />
            <Field label={t('billing.address')} value={co.line1} onInput={setC('line1')} testid="company-address" autocomplete="address-line1" aria-invalid={inv('company-address')} />
            <div class="bl-card-row">
              <Field label={t('billing.city')} value={co.city} onInput={setC('city')} testid="company-city" autocomplete="address-level2" aria-invalid={inv('company-city')} />
              <Field label={t('billing.postal_code')} value={co.postal} onInput={setC('postal')} testid="company-postal-code" autocomplete="postal-code" aria-invalid={inv('company-postal-code')} />
            </div>
            <div class="bl-card-row">
              <Field label={t('billing.country')} id="bl-country">
                <select
                  id="bl-country"
                  class="input select"
                  data-testid="company-country"
                  autocomplete="country"
                  aria-invalid={inv('company-country')}
                  value={co.country}
                  onChange={setC('country')}
                >
                  <option value="">{t('billing.country_choose')}</option>
                  {countries.map((o) => (
                    <option key={o.value} value={o.value}>
                      {o.label}
                    </option>
                  ))}
                </select>
              </Field>
              <Field label={t('billing.tax_id')} value={co.taxId} onInput={setC('taxId')} testid="company-tax-id" aria-invalid={inv('company-tax-id')} />
            </div>
          </>
        ) : (
          <Field
            label={t('billing.name_on_card')}
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
            testid="card-name"
            autocomplete="cc-name"
            aria-invalid={inv('card-name')}
          />
        )}
        {payerType === 'company' && <h3 class="bl-subhead">{t('billing.card_details')}</h3>}
        {!cfg ? (
          <Loading />
        ) : provider === 'stripe' ? (
          <StripeCard publishableKey={cfg.payments.publishable_key} onReady={setStripeCard} />
        ) : (
          <>
            <Field
              label={t('billing.card_number')}
              value={card.number}
              onInput={setK('number')}
              testid="card-number"
              aria-invalid={inv('card-number')}
              inputMode="numeric"
              autocomplete="cc-number"
              placeholder="1234 1234 1234 1234"
            />
            <div class="bl-card-row">
              <Field
                label={t('billing.card_exp')}
                value={card.exp}
                onInput={setK('exp')}
                testid="card-exp"
              aria-invalid={inv('card-exp')}
                inputMode="numeric"
                autocomplete="cc-exp"
                placeholder={t('billing.card_exp_placeholder')}
              />
              <Field
                label={t('billing.card_cvc')}
                value={card.cvc}
                onInput={setK('cvc')}
                testid="card-cvc"
              aria-invalid={inv('card-cvc')}
                inputMode="numeric"
                autocomplete="cc-csc"
                placeholder="CVC"
              />
            </div>
            {provider === 'test' && <div class="field-hint">{t('billing.test_provider_hint')}</div>}
          </>
        )}
        <PaymentError error={error} />
      </form>
    );
    footer = (
      <>
        <Button onClick={() => (setError(null), setStep('payer'))} disabled={busy}>
          {t('billing.back')}
        </Button>
        <Button
          variant="primary"
          type="submit"
          form="bl-card-form"
          testid="payment-continue"
          disabled={busy || !cfg || (provider === 'stripe' && !stripeCard)}
        >
          {busy ? t('common.working') : t('billing.continue')}
        </Button>
      </>
    );
  } else {
    body = (
      <form id="bl-amount-form" onSubmit={confirm} noValidate>
        {method && (
          <div class="bl-method">
            <span class="cell-strong">{cardLabel(method.brand, method.last4)}</span>
            <span class="muted">{t('billing.expires', { date: expLabel(method.exp_month, method.exp_year) })}</span>
          </div>
        )}
        <AmountFields state={amt} set={(p) => setAmt({ ...amt, ...p })} withAutoRecharge first={first} />
        <PaymentError error={error} />
        {declined && <div class="field-hint">{t('billing.declined_hint')}</div>}
      </form>
    );
    footer = (
      <>
        {declined && (
          <Button onClick={otherCard} disabled={busy} testid="use-other-card">
            {t('billing.use_other_card')}
          </Button>
        )}
        <Button onClick={onClose} disabled={busy}>
          {t('common.cancel')}
        </Button>
        <Button variant="primary" type="submit" form="bl-amount-form" testid="confirm-payment" disabled={busy}>
          {busy ? t('billing.paying') : t('billing.confirm_payment')}
        </Button>
      </>
    );
  }

  return (
    <Dialog title={t('billing.add_payment_title')} onClose={busy ? undefined : onClose} footer={footer} wide>
      {!arError && <Steps step={step} />}
      {body}
    </Dialog>
  );
}

// ---- "Buy credit" (an organisation with a payment method) ----

function BuyCreditDialog({ methods, onClose, onPaid, onFailed }) {
  const def = methods.find((m) => m.default) || methods[0];
  const [methodId, setMethodId] = useState(def ? def.id : '');
  const [amt, setAmt] = useState({ amount: '10', ar: false });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const submit = async (e) => {
    if (e) e.preventDefault();
    setError(null);
    const p = parseAmounts(amt, false);
    if (p.error) {
      setError(p.error);
      return;
    }
    setBusy(true);
    try {
      const payment = await api.post(`${B}/top_ups`, { amount: p.amount, payment_method_id: methodId });
      onPaid(payment, true);
    } catch (err) {
      setError(err);
      setBusy(false);
      onFailed();
    }
  };
  return (
    <Dialog
      title={t('billing.buy_title')}
      onClose={busy ? undefined : onClose}
      footer={
        <>
          <Button onClick={onClose} disabled={busy}>
            {t('common.cancel')}
          </Button>
          <Button variant="primary" type="submit" form="bl-buy-form" testid="confirm-payment" disabled={busy || !methodId}>
            {busy ? t('billing.paying') : t('billing.confirm_payment')}
          </Button>
        </>
      }
    >
      <form id="bl-buy-form" onSubmit={submit} noValidate>
        <AmountFields state={amt} set={(p) => setAmt({ ...amt, ...p })} />
        <div class="field">
          <label class="field-label" for="bl-buy-method">
            {t('billing.pay_with')}
          </label>
          <select
            id="bl-buy-method"
            class="input select"
            data-testid="buy-method"
            value={methodId}
            onChange={(e) => setMethodId(e.currentTarget.value)}
          >
            {methods.map((m) => (
              <option key={m.id} value={m.id}>
                {cardLabel(m.brand, m.last4)}
                {m.default ? ` (${t('billing.default')})` : ''}
              </option>
            ))}
          </select>
        </div>
        <PaymentError error={error} />
      </form>
    </Dialog>
  );
}

// ---- auto-recharge settings ----

function statusBadge(status) {
  if (status === 'active') return <Badge kind="success">{t('billing.ar_status_active')}</Badge>;
  if (status === 'paused') return <Badge kind="warning">{t('billing.ar_status_paused')}</Badge>;
  return <Badge>{t('billing.ar_status_disabled')}</Badge>;
}

function AutoRecharge({ ar, reader, hasMethod, onSaved }) {
  const [edit, setEdit] = useState(false);
  const [f, setF] = useState(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [saved, setSaved] = useState(false);

  const start = () => {
    setF({
      enabled: ar.enabled,
      threshold: ar.threshold_amount === null ? '5' : centsToInput(ar.threshold_amount),
      to: ar.recharge_to_amount === null ? '20' : centsToInput(ar.recharge_to_amount),
      monthly: ar.monthly_limit === null ? '' : centsToInput(ar.monthly_limit),
    });
    setError(null);
    setSaved(false);
    setEdit(true);
  };

  const save = async (e) => {
    e.preventDefault();
    setError(null);
    const body = { enabled: f.enabled };
    const r = parseRecharge(f.threshold, f.to);
    if (r.error) return setError(r.error);
    body.threshold_amount = r.threshold;
    body.recharge_to_amount = r.to;
    if (f.monthly.trim() === '') body.monthly_limit = null;
    else {
      const ml = parseDollars(f.monthly);
      if (ml.error) return setError(t('billing.field_error', { field: t('billing.ar_monthly_limit'), error: ml.error }));
      if (ml.cents < MIN_TOPUP_CENTS) return setError(t('errors.recharge_monthly'));
      body.monthly_limit = ml.cents;
    }
    if (f.enabled && !hasMethod) return setError(t('errors.recharge_needs_method'));
    setBusy(true);
    try {
      await api.post(`${B}/auto_recharge`, body);
      setEdit(false);
      setSaved(true);
      onSaved();
    } catch (err) {
      setError(err);
    }
    setBusy(false);
  };

  return (
    <Card
      title={t('billing.ar_title')}
      description={t('billing.ar_description')}
      actions={
        !reader && !edit ? (
          <Button onClick={start} testid="ar-edit">
            {ar.enabled ? t('billing.ar_modify') : t('billing.ar_setup')}
          </Button>
        ) : null
      }
    >
      {ar.status === 'paused' && (
        <Notice kind="warning" testid="ar-paused">
          {t('billing.ar_paused', {
            reason: !ar.paused_reason
              ? t('billing.ar_paused_unknown')
              : CARD_CODES.includes(ar.paused_reason)
                ? t(`errors.${ar.paused_reason}`)
                : ar.paused_reason,
            date: formatDateTime(ar.paused_at),
          })}
        </Notice>
      )}
      {!edit ? (
        <dl class="bl-kv" data-testid="ar-summary">
          <dt>{t('billing.ar_status')}</dt>
          <dd data-testid="ar-status">{statusBadge(ar.status)}</dd>
          <dt>{t('billing.ar_threshold')}</dt>
          <dd>{formatCents(ar.threshold_amount)}</dd>
          <dt>{t('billing.ar_to')}</dt>
          <dd>{formatCents(ar.recharge_to_amount)}</dd>
          <dt>{t('billing.ar_monthly_limit')}</dt>
          <dd>{ar.monthly_limit === null ? t('billing.no_limit') : formatCents(ar.monthly_limit)}</dd>
          <dt>{t('billing.ar_this_month')}</dt>
          <dd>{formatCents(ar.recharged_this_month)}</dd>
        </dl>
      ) : (
        <form onSubmit={save} noValidate>
          <label class="checkbox">
            <input
              type="checkbox"
              data-testid="ar-enabled"
              checked={f.enabled}
              onChange={(e) => setF({ ...f, enabled: e.currentTarget.checked })}
            />
            <span>{t('billing.ar_enable')}</span>
          </label>
          <div class="bl-ar-form">
            <MoneyField label={t('billing.ar_threshold')} value={f.threshold} onInput={(v) => setF({ ...f, threshold: v })} testid="ar-threshold" />
            <MoneyField label={t('billing.ar_to')} value={f.to} onInput={(v) => setF({ ...f, to: v })} testid="ar-to" />
            <MoneyField
              label={t('billing.ar_monthly_limit')}
              hint={t('billing.ar_monthly_hint')}
              value={f.monthly}
              onInput={(v) => setF({ ...f, monthly: v })}
              testid="ar-monthly-limit"
            />
          </div>
          {ar.status === 'paused' && <div class="field-hint">{t('billing.ar_resume_hint')}</div>}
          <ErrorBox error={error} />
          <div class="card-actions bl-section-gap">
            <Button onClick={() => setEdit(false)} disabled={busy}>
              {t('common.cancel')}
            </Button>
            <Button variant="primary" type="submit" testid="ar-save" disabled={busy}>
              {busy ? t('common.saving') : t('common.save')}
            </Button>
          </div>
        </form>
      )}
      {saved && !edit && <Notice kind="success">{t('common.saved')}</Notice>}
    </Card>
  );
}

// ---- the page ----

function grantKind(kind) {
  const k = `billing.kind_${kind}`;
  return ['purchased', 'operator', 'promotional'].includes(kind) ? t(k) : kind;
}

// What a grant came from, in the reader's language, from structured data: a purchased grant
// is the payment whose credit_grant_id it is (a credit purchase or an auto recharge) and that
// payment's invoice number, not the server's English description ("Top-up (invoice …)"). An
// operator's grant shows the description the operator typed (their words, as typed).
function grantSource(g, payments, invoices) {
  if (g.kind === 'purchased') {
    const pay = (payments || []).find((p) => p.credit_grant_id === g.id);
    if (!pay) return null;
    const inv = (invoices || []).find((v) => v.id === pay.invoice_id);
    const what = paymentKind(pay.kind);
    return inv ? t('billing.grant_from_invoice', { what, number: inv.number }) : what;
  }
  return g.description || null;
}

function paymentKind(kind) {
  return kind === 'top_up' ? t('billing.kind_top_up') : kind === 'auto_recharge' ? t('billing.kind_auto_recharge') : kind;
}

function paymentStatus(status) {
  if (status === 'succeeded') return <Badge kind="success">{t('billing.status_succeeded')}</Badge>;
  if (status === 'failed') return <Badge kind="danger">{t('billing.status_failed')}</Badge>;
  if (status === 'pending') return <Badge kind="warning">{t('billing.status_pending')}</Badge>;
  return <Badge>{status}</Badge>;
}

export default function BillingPage({ session, refreshSession, config }) {
  const reader = session.user.role === 'reader';
  const balance = useLoad(() => api.get(`${B}/balance`));
  const methods = useLoad(() => api.list(`${B}/payment_methods`));
  const invoices = useLoad(() => api.list(`${B}/invoices`));
  const payments = useLoad(() => api.list(`${B}/top_ups`));
  const ar = useLoad(() => api.get(`${B}/auto_recharge`));
  const [dialog, setDialog] = useState(null); // 'add' | 'buy' | {remove: method}
  const [notice, setNotice] = useState(null);
  const [actionError, setActionError] = useState(null);

  const reloadAll = () => {
    balance.reload();
    methods.reload();
    invoices.reload();
    payments.reload();
    ar.reload();
  };

  const paid = (payment, close) => {
    if (close) setDialog(null);
    setNotice(
      payment.status === 'pending'
        ? { kind: 'warning', text: t('billing.payment_pending', { amount: formatCents(payment.amount) }) }
        : { kind: 'success', text: t('billing.payment_ok', { amount: formatCents(payment.amount) }) }
    );
    reloadAll();
    // a payment may promote the organisation's usage tier
    if (refreshSession) refreshSession().catch(() => {});
  };

  const makeDefault = async (m) => {
    setActionError(null);
    try {
      await api.post(`${B}/payment_methods/${encodeURIComponent(m.id)}`, { default: true });
      methods.reload();
    } catch (e) {
      setActionError(e);
    }
  };

  const b = balance.data;
  const ms = methods.data || [];
  // The operator's organisation uses no credit (it pays its upstreams itself): nothing to buy.
  const operator = !!session.organization.is_operator;
  // "Initial credit purchase" only before the first successful one
  const first = !!payments.data && !payments.data.some((p) => p.status === 'succeeded');
  const grants = b && Array.isArray(b.grants) ? b.grants : [];
  const reserved = b ? Number(b.reserved) : 0;

  return (
    <div class="page">
      <PageHeader title={t('billing.title')} description={operator ? t('billing.operator_description') : t('billing.description')} />
      {reader && <Notice>{t('common.read_only_notice')}</Notice>}
      {notice && (
        <Notice kind={notice.kind} testid="billing-notice">
          {notice.text}
        </Notice>
      )}
      <ErrorBox error={actionError} />

      {operator && (
        <Notice testid="billing-operator">
          <strong>{t('billing.operator_title')}</strong> {t('billing.operator_note')}
        </Notice>
      )}

      {!operator && (
        <Card title={t('billing.balance_title')}>
          {balance.error ? (
            <ErrorBox error={balance.error} />
          ) : !b ? (
            <Loading />
          ) : (
            <div class="bl-balance">
              <div>
                <div class="bl-amount" data-testid="balance-available" data-value={String(b.available)}>
                  {formatUSD(b.available)}
                </div>
                <div class="bl-sub">
                  {t('billing.balance_sub', { granted: formatUSD(b.granted), used: formatUSD(b.used) })}
                  {reserved > 0 && <> · {t('billing.reserved', { amount: formatUSD(b.reserved) })}</>}
                </div>
              </div>
              {!reader && !operator && ms.length > 0 && (
                <div class="card-actions">
                  <Button variant="primary" testid="buy-credit" onClick={() => (setNotice(null), setDialog('buy'))}>
                    {t('billing.buy_credit')}
                  </Button>
                </div>
              )}
            </div>
          )}
        </Card>
      )}

      {!operator && (
        <Card
          title={t('billing.methods_title')}
          description={t('billing.methods_description')}
          actions={
            !reader ? (
              <Button variant={ms.length ? 'secondary' : 'primary'} testid="add-payment" onClick={() => (setNotice(null), setDialog('add'))}>
                {t('billing.add_payment')}
              </Button>
            ) : null
          }
        >
          <ErrorBox error={methods.error} />
          <Table
            columns={[
              t('billing.col_card'),
              t('billing.col_expires'),
              t('billing.col_payer'),
              t('billing.col_added'),
              { label: '', class: 'actions' },
            ]}
            empty={t('billing.no_methods')}
            loading={methods.loading && !methods.data}
          >
            {ms.map((m) => (
              <tr key={m.id} data-testid="payment-method-row" data-id={m.id}>
                <td>
                  <span class="cell-strong nowrap">{cardLabel(m.brand, m.last4)}</span>{' '}
                  {m.default && <Badge kind="success">{t('billing.default')}</Badge>}
                </td>
                <td class="nowrap">{expLabel(m.exp_month, m.exp_year)}</td>
                <td>
                  {m.payer && m.payer.name}
                  {m.payer && m.payer.type && (
                    <span class="cell-sub">{m.payer.type === 'company' ? t('billing.company') : t('billing.individual')}</span>
                  )}
                </td>
                <td class="nowrap">{formatDate(m.created_at)}</td>
                <td class="actions">
                  {!reader && !m.default && (
                    <Button small variant="ghost" testid="payment-method-default" onClick={() => makeDefault(m)}>
                      {t('billing.make_default')}
                    </Button>
                  )}
                  {!reader && (
                    <Button small variant="ghost" testid="payment-method-remove" onClick={() => setDialog({ remove: m })}>
                      {t('common.remove')}
                    </Button>
                  )}
                </td>
              </tr>
            ))}
          </Table>
        </Card>
      )}

      {operator ? null : ar.error ? (
        <Card title={t('billing.ar_title')}>
          <ErrorBox error={ar.error} />
        </Card>
      ) : ar.data ? (
        <AutoRecharge ar={ar.data} reader={reader} hasMethod={ms.length > 0} onSaved={() => ar.reload()} />
      ) : null}

      {(!operator || grants.length > 0) && (
        <Card title={t('billing.grants_title')} description={t('billing.grants_description')}>
          <Table
            columns={[
              t('billing.col_kind'),
              { label: t('billing.col_amount'), class: 'num' },
              { label: t('billing.col_used'), class: 'num' },
              { label: t('billing.col_remaining'), class: 'num' },
              t('billing.col_granted'),
              t('billing.col_expires'),
            ]}
            empty={t('billing.no_grants')}
            loading={balance.loading && !b}
          >
            {grants.map((g) => (
              <tr key={g.id} data-testid="grant-row" data-id={g.id}>
                <td>
                  <span class="cell-strong">{grantKind(g.kind)}</span>
                  {grantSource(g, payments.data, invoices.data) && (
                    <span class="cell-sub" data-testid="grant-source">{grantSource(g, payments.data, invoices.data)}</span>
                  )}
                </td>
                <td class="num">{formatUSD(g.amount)}</td>
                <td class="num">{formatUSD(g.used)}</td>
                <td class="num">{formatUSD(g.remaining)}</td>
                <td class="nowrap">{formatDate(g.granted_at)}</td>
                <td class="nowrap">
                  {g.expires_at ? formatDate(g.expires_at) : t('common.never')}{' '}
                  {g.expired && <Badge kind="danger">{t('billing.expired')}</Badge>}
                </td>
              </tr>
            ))}
          </Table>
        </Card>
      )}

      {(!operator || (invoices.data || []).length > 0) && (
        <Card title={t('billing.invoices_title')}>
          <ErrorBox error={invoices.error} />
          <Table
            columns={[
              t('billing.col_number'),
              t('billing.col_date'),
              { label: t('billing.col_amount'), class: 'num' },
              t('billing.col_status'),
              { label: '', class: 'actions' },
            ]}
            empty={t('billing.no_invoices')}
            loading={invoices.loading && !invoices.data}
          >
            {(invoices.data || []).map((v) => (
              <tr key={v.id} data-testid="invoice-row" data-id={v.id}>
                <td class="mono nowrap">{v.number}</td>
                <td class="nowrap">{formatDate(v.created_at)}</td>
                <td class="num">{formatCents(v.total)}</td>
                <td>{v.status === 'paid' ? <Badge kind="success">{t('billing.invoice_paid')}</Badge> : <Badge>{v.status}</Badge>}</td>
                <td class="actions">
                  <a
                    class="btn btn-ghost btn-sm"
                    data-testid="invoice-view"
                    href={v.html_url || `${B}/invoices/${encodeURIComponent(v.id)}?format=html`}
                    target="_blank"
                    rel="noopener"
                  >
                    {t('billing.view')}
                  </a>
                </td>
              </tr>
            ))}
          </Table>
        </Card>
      )}

      {(!operator || (payments.data || []).length > 0) && (
        <Card title={t('billing.payments_title')}>
          <ErrorBox error={payments.error} />
          <Table
            columns={[
              t('billing.col_date'),
              t('billing.col_type'),
              { label: t('billing.col_amount'), class: 'num' },
              t('billing.col_card'),
              t('billing.col_status'),
            ]}
            empty={t('billing.no_payments')}
            loading={payments.loading && !payments.data}
          >
            {(payments.data || []).map((p) => (
              <tr key={p.id} data-testid="payment-row" data-id={p.id}>
                <td class="nowrap">{formatDateTime(p.created_at)}</td>
                <td>{paymentKind(p.kind)}</td>
                <td class="num">{formatCents(p.amount)}</td>
                <td class="nowrap">{p.card ? cardLabel(p.card.brand, p.card.last4) : '—'}</td>
                <td>
                  {paymentStatus(p.status)}
                  {p.failure_message && (
                    <span class="cell-sub">{errorKey({ code: p.failure_code }) ? t(errorKey({ code: p.failure_code })) : p.failure_message}</span>
                  )}
                </td>
              </tr>
            ))}
          </Table>
        </Card>
      )}

      {dialog === 'add' && (
        <AddPaymentDialog
          session={session}
          config={config}
          first={first}
          onClose={() => {
            setDialog(null);
            reloadAll();
          }}
          onPaid={paid}
          onMethodAdded={() => {
            methods.reload();
            payments.reload();
          }}
        />
      )}
      {dialog === 'buy' && (
        <BuyCreditDialog
          methods={ms}
          onClose={() => setDialog(null)}
          onPaid={paid}
          onFailed={() => payments.reload()}
        />
      )}
      {dialog && dialog.remove && (
        <Confirm
          title={t('billing.remove_title')}
          message={t('billing.remove_message', { card: cardLabel(dialog.remove.brand, dialog.remove.last4) })}
          confirmLabel={t('common.remove')}
          testid="confirm-remove-method"
          onConfirm={async () => {
            await api.del(`${B}/payment_methods/${encodeURIComponent(dialog.remove.id)}`);
            methods.reload();
          }}
          onClose={() => setDialog(null)}
        />
      )}
    </div>
  );
}

export const strings = {
  en: {
    'billing.money_required': 'Enter an amount.',
    'billing.money_invalid': 'Enter an amount in dollars, such as 10 or 12.50.',
    'billing.money_too_many_decimals': 'Use at most 2 decimal places (whole cents).',
    'billing.money_too_large': 'This amount is too large.',

    'billing.field_error': '{field}: {error}',
    'billing.title': 'Billing',
    'billing.description': 'Prepaid credit pays for API requests. Add a payment method, buy credit, and manage auto-recharge and invoices.',
    'billing.balance_title': 'Credit balance',
    'billing.balance_sub': '{granted} granted in total, {used} used',
    'billing.reserved': '{amount} held by requests in progress',
    'billing.operator_description': "The operator's organization pays its upstream providers directly.",
    'billing.operator_title': 'No credit needed.',
    'billing.operator_note': "This is the operator's organization: its requests do not use credit, so there is nothing to buy here. Customer organizations buy their own credit; grant them credit on the Organizations page.",
    'billing.amount_to_add': 'Amount to add',
    'billing.missing_fields': 'Fill in: {fields}.',
    'billing.list_sep': ', ',
    'billing.country_choose': 'Choose a country or region',
    'billing.grant_from_invoice': '{what} · invoice {number}',
    'billing.buy_credit': 'Add to credit balance',
    'billing.buy_title': 'Add to credit balance',
    'billing.pay_with': 'Pay with',
    'billing.methods_title': 'Payment methods',
    'billing.methods_description': 'Cards used for credit purchases and auto-recharge. The default card is used for auto-recharge.',
    'billing.add_payment': 'Add payment details',
    'billing.add_payment_title': 'Add payment details',
    'billing.no_methods': 'No payment methods yet.',
    'billing.col_card': 'Card',
    'billing.col_expires': 'Expires',
    'billing.col_payer': 'Billed to',
    'billing.col_added': 'Added',
    'billing.col_kind': 'Type',
    'billing.col_amount': 'Amount',
    'billing.col_used': 'Used',
    'billing.col_remaining': 'Remaining',
    'billing.col_granted': 'Granted',
    'billing.col_number': 'Invoice',
    'billing.col_date': 'Date',
    'billing.col_status': 'Status',
    'billing.col_type': 'Type',
    'billing.default': 'Default',
    'billing.make_default': 'Set as default',
    'billing.remove_title': 'Remove payment method',
    'billing.remove_message': 'Remove {card}? It will no longer be charged for credit purchases or auto-recharge.',
    'billing.card': 'Card',
    'billing.expires': 'Expires {date}',
    'billing.step_payer': 'Billing type',
    'billing.step_card': 'Payment method',
    'billing.step_amount': 'Credit',
    'billing.payer_question': 'Are you paying as an individual or on behalf of a company?',
    'billing.individual': 'Individual',
    'billing.individual_desc': "I'm an individual",
    'billing.company': 'Company',
    'billing.company_desc': "I'm working on behalf of a company",
    'billing.company_name': 'Company name',
    'billing.address': 'Address',
    'billing.city': 'City',
    'billing.postal_code': 'Postal code',
    'billing.country': 'Country',
    'billing.tax_id': 'Tax ID',
    'billing.name_on_card': 'Name',
    'billing.card_details': 'Card details',
    'billing.card_number': 'Card number',
    'billing.card_exp': 'Expiration (MM/YY)',
    'billing.card_exp_placeholder': 'MM/YY',
    'billing.card_cvc': 'Security code (CVC)',
    'billing.exp_format': 'Enter the expiration date as MM/YY, for example 12/30.',
    'billing.test_provider_hint': 'This server uses the test payment provider: no real card is charged.',
    'billing.stripe_load_failed': 'Could not load Stripe. Check your connection and try again.',
    'billing.stripe_no_key': 'The server has no Stripe publishable key configured.',
    'billing.back': 'Back',
    'billing.continue': 'Continue',
    'billing.topup_amount': 'Initial credit purchase',
    'billing.topup_hint': 'Minimum $5, in US dollars',
    'billing.ar_enable': 'Automatically recharge my credit balance',
    'billing.ar_explain': 'When your credit balance falls below a threshold, your default card is charged to bring it back up.',
    'billing.ar_threshold': 'When credit balance goes below',
    'billing.ar_to': 'Bring credit balance back up to',
    'billing.ar_monthly_limit': 'Monthly recharge limit',
    'billing.ar_monthly_hint': 'Optional. Leave empty for no limit.',
    'billing.confirm_payment': 'Confirm payment',
    'billing.paying': 'Processing…',
    'billing.declined_hint': 'No credit was added. Try again, or use a different card.',
    'billing.use_other_card': 'Remove this card and use another',
    'billing.paid_ar_failed': 'Your payment succeeded, but auto-recharge could not be turned on:',
    'billing.payment_ok': 'Payment of {amount} succeeded. The credit has been added to your balance.',
    'billing.payment_pending': 'Payment of {amount} is being processed. The credit will be added when it is confirmed.',
    'billing.ar_title': 'Auto recharge',
    'billing.ar_description': 'Keep your credit balance from running out.',
    'billing.ar_setup': 'Set up auto recharge',
    'billing.ar_modify': 'Modify',
    'billing.ar_status': 'Status',
    'billing.ar_status_active': 'On',
    'billing.ar_status_paused': 'Paused',
    'billing.ar_status_disabled': 'Off',
    'billing.ar_this_month': 'Recharged this month',
    'billing.ar_paused': 'Auto recharge is paused since {date}: {reason}',
    'billing.ar_paused_unknown': 'a recharge failed',
    'billing.ar_resume_hint': 'Saving the settings resumes auto recharge.',
    'billing.no_limit': 'No limit',
    'billing.grants_title': 'Credit grants',
    'billing.grants_description': 'Credit is used in order of expiry, the one that expires first first.',
    'billing.no_grants': 'No credit yet.',
    'billing.kind_purchased': 'Purchased',
    'billing.kind_operator': 'Granted',
    'billing.kind_promotional': 'Promotional',
    'billing.expired': 'Expired',
    'billing.invoices_title': 'Invoices',
    'billing.no_invoices': 'No invoices yet.',
    'billing.invoice_paid': 'Paid',
    'billing.view': 'View',
    'billing.payments_title': 'Payment history',
    'billing.no_payments': 'No payments yet.',
    'billing.kind_top_up': 'Credit purchase',
    'billing.kind_auto_recharge': 'Auto recharge',
    'billing.status_succeeded': 'Succeeded',
    'billing.status_failed': 'Failed',
    'billing.status_pending': 'Pending',
  },
  zh: {
    'billing.money_required': '请输入金额。',
    'billing.money_invalid': '请输入美元金额，例如 10 或 12.50。',
    'billing.money_too_many_decimals': '最多保留两位小数（精确到分）。',
    'billing.money_too_large': '金额过大。',

    'billing.field_error': '{field}：{error}',
    'billing.title': '账单',
    'billing.description': 'API 请求从预付额度中扣费。在这里添加付款方式、购买额度，并管理自动充值和发票。',
    'billing.balance_title': '额度余额',
    'billing.balance_sub': '累计获得 {granted}，已使用 {used}',
    'billing.reserved': '进行中的请求占用 {amount}',
    'billing.operator_description': '运营方的组织直接向上游提供方付费。',
    'billing.operator_title': '无需额度。',
    'billing.operator_note': '这是运营方的组织：其请求不消耗额度，因此无需在此购买。客户组织自行购买额度；如需向其发放额度，请前往“组织管理”页面。',
    'billing.amount_to_add': '充值金额',
    'billing.missing_fields': '请填写：{fields}。',
    'billing.list_sep': '、',
    'billing.country_choose': '请选择国家或地区',
    'billing.grant_from_invoice': '{what} · 发票 {number}',
    'billing.buy_credit': '充值额度',
    'billing.buy_title': '充值额度',
    'billing.pay_with': '付款方式',
    'billing.methods_title': '付款方式',
    'billing.methods_description': '用于购买额度和自动充值的银行卡。自动充值使用默认卡。',
    'billing.add_payment': '添加付款信息',
    'billing.add_payment_title': '添加付款信息',
    'billing.no_methods': '还没有付款方式。',
    'billing.col_card': '银行卡',
    'billing.col_expires': '有效期至',
    'billing.col_payer': '付款人',
    'billing.col_added': '添加时间',
    'billing.col_kind': '类型',
    'billing.col_amount': '金额',
    'billing.col_used': '已用',
    'billing.col_remaining': '剩余',
    'billing.col_granted': '发放时间',
    'billing.col_number': '发票',
    'billing.col_date': '日期',
    'billing.col_status': '状态',
    'billing.col_type': '类型',
    'billing.default': '默认',
    'billing.make_default': '设为默认',
    'billing.remove_title': '移除付款方式',
    'billing.remove_message': '确定移除 {card} 吗？之后购买额度和自动充值将不再使用这张卡。',
    'billing.card': '银行卡',
    'billing.expires': '有效期至 {date}',
    'billing.step_payer': '账单类型',
    'billing.step_card': '付款方式',
    'billing.step_amount': '额度',
    'billing.payer_question': '你是以个人身份付款，还是代表公司付款？',
    'billing.individual': '个人',
    'billing.individual_desc': '我以个人身份付款',
    'billing.company': '公司',
    'billing.company_desc': '我代表公司付款',
    'billing.company_name': '公司名称',
    'billing.address': '地址',
    'billing.city': '城市',
    'billing.postal_code': '邮政编码',
    'billing.country': '国家/地区',
    'billing.tax_id': '税号',
    'billing.name_on_card': '姓名',
    'billing.card_details': '银行卡信息',
    'billing.card_number': '卡号',
    'billing.card_exp': '有效期（MM/YY）',
    'billing.card_exp_placeholder': 'MM/YY',
    'billing.card_cvc': '安全码（CVC）',
    'billing.exp_format': '请按 MM/YY 格式输入有效期，例如 12/30。',
    'billing.test_provider_hint': '此服务器使用测试支付渠道：不会从真实银行卡扣款。',
    'billing.stripe_load_failed': '无法加载 Stripe，请检查网络后重试。',
    'billing.stripe_no_key': '服务器未配置 Stripe 可发布密钥。',
    'billing.back': '上一步',
    'billing.continue': '继续',
    'billing.topup_amount': '首次购买额度',
    'billing.topup_hint': '最低 5 美元，以美元计',
    'billing.ar_enable': '自动为我的额度余额充值',
    'billing.ar_explain': '当额度余额低于阈值时，将从默认卡扣款，把余额充回设定金额。',
    'billing.ar_threshold': '当额度余额低于',
    'billing.ar_to': '将额度余额充值到',
    'billing.ar_monthly_limit': '每月充值上限',
    'billing.ar_monthly_hint': '可选。留空表示不设上限。',
    'billing.confirm_payment': '确认付款',
    'billing.paying': '正在处理…',
    'billing.declined_hint': '未增加任何额度。请重试，或换一张卡。',
    'billing.use_other_card': '移除此卡并换一张',
    'billing.paid_ar_failed': '付款已成功，但无法开启自动充值：',
    'billing.payment_ok': '已成功付款 {amount}，额度已加入你的余额。',
    'billing.payment_pending': '{amount} 的付款正在处理中，确认后额度将加入你的余额。',
    'billing.ar_title': '自动充值',
    'billing.ar_description': '避免额度余额用完。',
    'billing.ar_setup': '设置自动充值',
    'billing.ar_modify': '修改',
    'billing.ar_status': '状态',
    'billing.ar_status_active': '已开启',
    'billing.ar_status_paused': '已暂停',
    'billing.ar_status_disabled': '已关闭',
    'billing.ar_this_month': '本月已充值',
    'billing.ar_paused': '自动充值自 {date} 起已暂停：{reason}',
    'billing.ar_paused_unknown': '一次充值失败',
    'billing.ar_resume_hint': '保存设置即可恢复自动充值。',
    'billing.no_limit': '不限',
    'billing.grants_title': '额度发放记录',
    'billing.grants_description': '额度按到期时间使用，先到期的先用。',
    'billing.no_grants': '还没有额度。',
    'billing.kind_purchased': '购买',
    'billing.kind_operator': '赠送',
    'billing.kind_promotional': '促销',
    'billing.expired': '已过期',
    'billing.invoices_title': '发票',
    'billing.no_invoices': '还没有发票。',
    'billing.invoice_paid': '已支付',
    'billing.view': '查看',
    'billing.payments_title': '付款记录',
    'billing.no_payments': '还没有付款记录。',
    'billing.kind_top_up': '购买额度',
    'billing.kind_auto_recharge': '自动充值',
    'billing.status_succeeded': '成功',
    'billing.status_failed': '失败',
    'billing.status_pending': '处理中',
  },
};
