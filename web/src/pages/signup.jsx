import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { t, lang } from '../i18n.js';
import { Button, Field, ErrorBox, Link, Loading, Notice, roleLabel } from '../ui.jsx';
import { AuthScreen } from './login.jsx';

export const strings = {
  en: {
    'signup.title': 'Create your account',
    'signup.subtitle': 'Your organization gets a default project to start with.',
    'signup.join_title': 'Join {organization}',
    'signup.join_subtitle': 'You were invited to join {organization} as {role}.',
    'signup.email': 'Email address',
    'signup.password': 'Password',
    'signup.password_hint': 'At least 8 characters.',
    'signup.org': 'Organization name',
    'signup.org_placeholder': 'e.g. Acme Inc.',
    'signup.submit': 'Create account',
    'signup.join_submit': 'Join {organization}',
    'signup.submitting': 'Creating account…',
    'signup.has_account': 'Already have an account?',
    'signup.to_login': 'Log in',
    'signup.invite_only_title': 'Sign-up is by invitation only',
    'signup.invite_only':
      'New accounts on this Tollgate need an invitation. Ask an owner of your organization to invite you, then open the link they send you.',
    'signup.invite_invalid': 'Invalid invitation',
  },
  zh: {
    'signup.title': '创建账户',
    'signup.subtitle': '你的组织会自带一个默认项目。',
    'signup.join_title': '加入 {organization}',
    'signup.join_subtitle': '你受邀以{role}身份加入 {organization}。',
    'signup.email': '电子邮件地址',
    'signup.password': '密码',
    'signup.password_hint': '至少 8 个字符。',
    'signup.org': '组织名称',
    'signup.org_placeholder': '例如：Acme 公司',
    'signup.submit': '创建账户',
    'signup.join_submit': '加入 {organization}',
    'signup.submitting': '正在创建账户…',
    'signup.has_account': '已有账户？',
    'signup.to_login': '登录',
    'signup.invite_only_title': '仅限受邀注册',
    'signup.invite_only': '在此 Tollgate 上创建新账户需要邀请。请联系你所在组织的所有者邀请你，然后打开对方发给你的链接。',
    'signup.invite_invalid': '邀请无效',
  },
};

export default function SignupPage({ config, onSession }) {
  const token = new URLSearchParams(location.search).get('invite');
  const [invite, setInvite] = useState(null); // {email, organization_name, role}
  const [inviteError, setInviteError] = useState(null);
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [org, setOrg] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);

  useEffect(() => {
    if (!token) return;
    api
      .get(`/console/api/invites/${encodeURIComponent(token)}`)
      .then((inv) => {
        setInvite(inv);
        setEmail(inv.email || '');
      })
      .catch(setInviteError);
  }, [token]);

  const submit = async (e) => {
    e.preventDefault();
    setError(null);
    // what can be checked here is checked before sending (the server checks it again)
    if (!/^[^\s@]+@[^\s@]+$/.test(email.trim())) return setError(t('errors.email_invalid'));
    const bytes = new TextEncoder().encode(password).length;
    if (bytes < 8 || bytes > 128) return setError(t('errors.password_length'));
    setBusy(true);
    // the language names what the person leaves unnamed (the default project, the
    // organisation): chosen once, user data from then on
    const body = { email: email.trim(), password, language: lang() };
    if (token) body.invite_token = token;
    else if (org.trim()) body.organization_name = org.trim();
    try {
      const s = await api.post('/console/api/signup', body);
      onSession(s);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  const toLogin = (
    <p class="auth-switch">
      {t('signup.has_account')}{' '}
      <Link href="/login" data-testid="to-login">
        {t('signup.to_login')}
      </Link>
    </p>
  );

  if (!config || (token && !invite && !inviteError)) {
    return (
      <AuthScreen>
        <Loading />
      </AuthScreen>
    );
  }

  if (token && inviteError) {
    return (
      <AuthScreen>
        <h1>{t('signup.invite_invalid')}</h1>
        <ErrorBox error={inviteError} testid="auth-error" />
        {toLogin}
      </AuthScreen>
    );
  }

  if (!token && config.signup !== 'open') {
    return (
      <AuthScreen>
        <h1>{t('signup.invite_only_title')}</h1>
        <Notice>{t('signup.invite_only')}</Notice>
        {toLogin}
      </AuthScreen>
    );
  }

  const orgName = invite ? invite.organization_name : '';
  return (
    <AuthScreen>
      <h1>{invite ? t('signup.join_title', { organization: orgName }) : t('signup.title')}</h1>
      <p class="auth-sub">
        {invite
          ? t('signup.join_subtitle', { organization: orgName, role: roleLabel(invite.role) })
          : t('signup.subtitle')}
      </p>
      <form onSubmit={submit} noValidate>
        <Field
          label={t('signup.email')}
          type="email"
          autocomplete="username"
          required
          value={email}
          readOnly={!!invite}
          onInput={(e) => setEmail(e.currentTarget.value)}
          testid="signup-email"
        />
        <Field
          label={t('signup.password')}
          type="password"
          autocomplete="new-password"
          required
          hint={t('signup.password_hint')}
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
          testid="signup-password"
        />
        {!invite && (
          <Field
            label={t('signup.org')}
            placeholder={t('signup.org_placeholder')}
            autocomplete="organization"
            value={org}
            onInput={(e) => setOrg(e.currentTarget.value)}
            testid="signup-org"
          />
        )}
        <ErrorBox error={error} testid="auth-error" />
        <Button type="submit" variant="primary" class="btn-block" disabled={busy} testid="signup-submit">
          {busy
            ? t('signup.submitting')
            : invite
              ? t('signup.join_submit', { organization: orgName })
              : t('signup.submit')}
        </Button>
      </form>
      {toLogin}
    </AuthScreen>
  );
}
