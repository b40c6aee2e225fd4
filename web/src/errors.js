// The server's errors in the reader's language. The server speaks English (OpenAI's wire
// format); for the errors the console can predict — a card declined, the minimum top-up, the
// recharge thresholds, a company's missing tax id, a wrong password … — the console knows the
// error by its `code` and `param` (and the path it called) and shows its own sentence,
// in English and Chinese alike. Anything else is shown as the server wrote it.
import { t, register } from './i18n.js';

export const strings = {
  en: {
    'errors.card_declined': 'Your card was declined.',
    'errors.insufficient_funds': 'Your card has insufficient funds.',
    'errors.expired_card': 'Your card has expired.',
    'errors.processing_error': 'An error occurred while processing your card. Try again later.',
    'errors.payment_failed': 'The payment failed.',
    'errors.authentication_required': 'This card requires authentication, which is not supported for this payment.',
    'errors.card_number': 'Your card number is incorrect.',
    'errors.card_exp': "Your card's expiration date is invalid.",
    'errors.card_cvc': "Your card's security code is invalid.",
    'errors.topup_amount': 'The amount must be at least $5.00 and at most $999,999.99.',
    'errors.recharge_threshold': 'Enter the balance below which auto recharge starts (0 or more).',
    'errors.recharge_to_missing': 'Enter the amount to bring the credit balance back up to.',
    'errors.recharge_to_above': 'The amount to recharge to must be above the threshold.',
    'errors.recharge_monthly': 'The monthly recharge limit must be at least $5.00, or empty for no limit.',
    'errors.recharge_needs_method': 'Add a payment method before turning on auto recharge.',
    'errors.payer_name': 'Enter the name to bill.',
    'errors.company_name': 'Enter the company name.',
    'errors.tax_id_missing': 'A company needs a tax ID.',
    'errors.address_missing': 'Enter the billing address.',
    'errors.address_line1': 'Enter the street address.',
    'errors.address_city': 'Enter the city.',
    'errors.address_postal_code': 'Enter the postal code.',
    'errors.address_country': 'Choose the country.',
    'errors.limit_amount': 'Enter an amount of at least $0.01.',
    'errors.alert_channel': 'The alert cannot be sent there: a webhook needs an http:// or https:// URL, an email alert valid addresses.',
    'errors.alert_no_smtp': 'Email alerts are not available on this server (it has no mail server). Use a webhook.',
    'errors.invalid_credentials': 'Incorrect email or password.',
    'errors.too_many_login_attempts': 'Too many failed login attempts. Try again later.',
    'errors.signup_closed': 'Sign-up is closed on this server.',
    'errors.csrf_token_invalid': 'Your session could not be verified. Reload the page and try again.',
    'errors.not_logged_in': 'You are not logged in, or your session has expired.',
    'errors.account_deactivated': 'This organization has been suspended. Contact the operator of this server.',
    'errors.email_invalid': 'Enter a valid email address.',
    'errors.email_taken': 'An account with this email already exists.',
    'errors.password_length': 'The password needs 8 to 128 characters.',
    'errors.name_invalid': 'Enter a name of 1 to 255 characters.',
    'errors.insufficient_permissions': 'You do not have permission to do this. Ask an owner of your organization.',
  },
  zh: {
    'errors.card_declined': '你的银行卡被拒绝。',
    'errors.insufficient_funds': '你的银行卡余额不足。',
    'errors.expired_card': '你的银行卡已过期。',
    'errors.processing_error': '处理银行卡时出错，请稍后重试。',
    'errors.payment_failed': '付款失败。',
    'errors.authentication_required': '此卡需要身份验证，本次付款不支持验证。',
    'errors.card_number': '卡号不正确。',
    'errors.card_exp': '银行卡有效期无效。',
    'errors.card_cvc': '银行卡安全码无效。',
    'errors.topup_amount': '金额至少为 5.00 美元，最多为 999,999.99 美元。',
    'errors.recharge_threshold': '请输入触发自动充值的余额阈值（不小于 0）。',
    'errors.recharge_to_missing': '请输入自动充值后要达到的额度余额。',
    'errors.recharge_to_above': '充值目标金额必须高于阈值。',
    'errors.recharge_monthly': '每月充值上限至少为 5.00 美元，留空表示不设上限。',
    'errors.recharge_needs_method': '开启自动充值前，请先添加付款方式。',
    'errors.payer_name': '请输入账单姓名。',
    'errors.company_name': '请输入公司名称。',
    'errors.tax_id_missing': '公司付款需要填写税号。',
    'errors.address_missing': '请输入账单地址。',
    'errors.address_line1': '请输入街道地址。',
    'errors.address_city': '请输入城市。',
    'errors.address_postal_code': '请输入邮政编码。',
    'errors.address_country': '请选择国家/地区。',
    'errors.limit_amount': '请输入不少于 0.01 美元的金额。',
    'errors.alert_channel': '无法向该目标发送提醒：Webhook 需要 http:// 或 https:// 开头的 URL，邮件提醒需要有效的电子邮件地址。',
    'errors.alert_no_smtp': '此服务器未配置邮件服务器，无法使用邮件提醒。请改用 Webhook。',
    'errors.invalid_credentials': '电子邮件地址或密码不正确。',
    'errors.too_many_login_attempts': '登录失败次数过多，请稍后再试。',
    'errors.signup_closed': '此服务器已关闭注册。',
    'errors.csrf_token_invalid': '无法验证你的会话，请刷新页面后重试。',
    'errors.not_logged_in': '你尚未登录，或会话已过期。',
    'errors.account_deactivated': '此组织已被暂停。请联系此服务器的运营方。',
    'errors.email_invalid': '请输入有效的电子邮件地址。',
    'errors.email_taken': '该电子邮件地址已有账户。',
    'errors.password_length': '密码长度需为 8 到 128 个字符。',
    'errors.name_invalid': '请输入 1 到 255 个字符的名称。',
    'errors.insufficient_permissions': '你没有执行此操作的权限。请联系组织的所有者。',
  },
};
register(strings);

// Card errors by the error's code (Stripe's and the test provider's codes).
export const CARD_CODES = ['card_declined', 'insufficient_funds', 'expired_card', 'processing_error', 'payment_failed', 'authentication_required'];

// Errors whose code alone says what happened.
const BY_CODE = {
  invalid_credentials: 'errors.invalid_credentials',
  too_many_login_attempts: 'errors.too_many_login_attempts',
  signup_closed: 'errors.signup_closed',
  csrf_token_invalid: 'errors.csrf_token_invalid',
  not_logged_in: 'errors.not_logged_in',
  account_deactivated: 'errors.account_deactivated',
};

// Fields of the payer and the card, by the server's `param`.
const BY_PARAM = {
  'card.number': 'errors.card_number',
  'card.exp_month': 'errors.card_exp',
  'card.exp_year': 'errors.card_exp',
  'card.cvc': 'errors.card_cvc',
  'payer.tax_id': 'errors.tax_id_missing',
  'payer.address': 'errors.address_missing',
  'payer.address.line1': 'errors.address_line1',
  'payer.address.city': 'errors.address_city',
  'payer.address.postal_code': 'errors.address_postal_code',
  'payer.address.country': 'errors.address_country',
};

const FIELD_CODES = ['missing_required_parameter', 'invalid_value', 'invalid_type'];

// The key of the console's sentence for an error, or null when it is not one the console knows.
// error: {status, code, param, path, message} (an ApiError).
export function errorKey(error) {
  if (!error || typeof error !== 'object') return null;
  const { code, param, status } = error;
  const path = String(error.path || '').split('?')[0];
  if (code && CARD_CODES.includes(code)) return `errors.${code}`;
  if (code && BY_CODE[code]) return BY_CODE[code];
  if (status === 409 && param === 'email') return 'errors.email_taken';
  if (param && FIELD_CODES.includes(code)) {
    // a payer's field: "enter …" only when it is missing (an over-long one keeps the server's words)
    if (BY_PARAM[param] && (code === 'missing_required_parameter' || !param.startsWith('payer.') || param === 'payer.address.country'))
      return BY_PARAM[param];
    if (param === 'payer.name' && code === 'missing_required_parameter')
      return error.payerType === 'company' ? 'errors.company_name' : 'errors.payer_name';
    if (/\/billing\/top_ups$/.test(path) && param === 'amount') return 'errors.topup_amount';
    if (/\/billing\/auto_recharge$/.test(path)) {
      if (param === 'threshold_amount') return 'errors.recharge_threshold';
      if (param === 'recharge_to_amount') return code === 'missing_required_parameter' ? 'errors.recharge_to_missing' : 'errors.recharge_to_above';
      if (param === 'monthly_limit') return 'errors.recharge_monthly';
      if (param === 'enabled' && code === 'invalid_value') return 'errors.recharge_needs_method';
    }
    if (/\/(spend_limit|spend_alerts)$/.test(path) && param === 'threshold_amount') return 'errors.limit_amount';
    if (/\/spend_alerts$/.test(path) && param === 'notification_channel') {
      return /smtp/i.test(error.message || '') ? 'errors.alert_no_smtp' : 'errors.alert_channel';
    }
    if (/^\/console\/api\/(signup|login)$/.test(path)) {
      if (param === 'email') return 'errors.email_invalid';
      if (param === 'password') return 'errors.password_length';
    }
    if (param === 'name' && /\/(projects|api_keys)(\/[^/]+)?$/.test(path)) return 'errors.name_invalid';
  }
  // a missing scope: OpenAI's 401 with no code ("You have insufficient permissions …")
  if (status === 401 && !code && path.startsWith('/v1/organization/')) return 'errors.insufficient_permissions';
  return null;
}

// What to show for an error: the console's sentence when it knows the error, else the
// server's message (or the text of an Error, or the string itself).
export function errorText(error) {
  if (!error) return '';
  if (typeof error === 'string') return error;
  const k = errorKey(error);
  return k ? t(k) : error.message;
}
