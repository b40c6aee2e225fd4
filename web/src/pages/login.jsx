import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { t } from '../i18n.js';
import { Button, Field, ErrorBox, Link, LangSelect } from '../ui.jsx';

export const strings = {
  en: {
    'login.title': 'Welcome back',
    'login.subtitle': 'Log in to your Tollgate account',
    'login.email': 'Email address',
    'login.password': 'Password',
    'login.submit': 'Continue',
    'login.submitting': 'Logging in…',
    'login.no_account': "Don't have an account?",
    'login.to_signup': 'Sign up',
    'login.fill_both': 'Enter your email address and password.',
  },
  zh: {
    'login.title': '欢迎回来',
    'login.subtitle': '登录你的 Tollgate 账户',
    'login.email': '电子邮件地址',
    'login.password': '密码',
    'login.submit': '继续',
    'login.submitting': '正在登录…',
    'login.no_account': '还没有账户？',
    'login.to_signup': '注册',
    'login.fill_both': '请输入电子邮件地址和密码。',
  },
};

// Shared by the login and sign-up pages: the brand above the card, the language below.
export function AuthScreen({ children }) {
  return (
    <div class="auth-screen">
      <div class="auth-brand">
        <div class="auth-logo" aria-hidden="true">
          T
        </div>
        <span>{t('app.name')}</span>
      </div>
      <div class="auth-card">{children}</div>
      <LangSelect class="auth-lang" />
    </div>
  );
}

// The "Sign up" link only when anyone may sign up (GET /console/api/config says "open");
// with sign-up by invitation or closed, people come in through an invitation link.
export default function LoginPage({ onSession, config }) {
  const signupOpen = !!config && config.signup === 'open';
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);

  const submit = async (e) => {
    e.preventDefault();
    setError(null);
    if (!email.trim() || !password) return setError(t('login.fill_both'));
    setBusy(true);
    try {
      const s = await api.post('/console/api/login', { email: email.trim(), password });
      onSession(s);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <AuthScreen>
      <h1>{t('login.title')}</h1>
      <p class="auth-sub">{t('login.subtitle')}</p>
      <form onSubmit={submit} noValidate>
        <Field
          label={t('login.email')}
          type="email"
          autocomplete="username"
          required
          value={email}
          onInput={(e) => setEmail(e.currentTarget.value)}
          testid="login-email"
        />
        <Field
          label={t('login.password')}
          type="password"
          autocomplete="current-password"
          required
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
          testid="login-password"
        />
        <ErrorBox error={error} testid="auth-error" />
        <Button type="submit" variant="primary" class="btn-block" disabled={busy} testid="login-submit">
          {busy ? t('login.submitting') : t('login.submit')}
        </Button>
      </form>
      {signupOpen && (
        <p class="auth-switch">
          {t('login.no_account')}{' '}
          <Link href="/signup" data-testid="to-signup">
            {t('login.to_signup')}
          </Link>
        </p>
      )}
    </AuthScreen>
  );
}
