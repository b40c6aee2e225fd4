// The console's shell: session, left navigation, router (History API paths), language.
import { render } from 'preact';
import { useEffect, useState, useCallback } from 'preact/hooks';
import './style.css';
import { api, setCsrf, setUnauthorizedHandler } from './api.js';
import { t, register, onLangChange } from './i18n.js';
import { Loading, ErrorBox, Button, Link, LangSelect, navigate } from './ui.jsx';

import LoginPage, { strings as loginStrings } from './pages/login.jsx';
import SignupPage, { strings as signupStrings } from './pages/signup.jsx';
import ApiKeysPage, { strings as apiKeysStrings } from './pages/api_keys.jsx';
import ProjectsPage, { strings as projectsStrings } from './pages/projects.jsx';
import BillingPage, { strings as billingStrings } from './pages/billing.jsx';
import LimitsPage, { strings as limitsStrings } from './pages/limits.jsx';
import UsagePage, { strings as usageStrings } from './pages/usage.jsx';
import SettingsPage, { strings as settingsStrings, AUDIT_PATH } from './pages/settings.jsx';
import { strings as auditStrings } from './pages/audit_log.jsx';
import ProvidersPage, { strings as providersStrings } from './pages/providers.jsx';
import OrganizationsPage, { strings as organizationsStrings } from './pages/organizations.jsx';
import ModelsPage, { strings as modelsStrings } from './pages/models.jsx';
import { strings as firstRunStrings } from './pages/first_run.jsx';

export const strings = {
  en: {
    'app.name': 'Tollgate',
    'app.title': '{page} · Tollgate',
    'app.loading_session': 'Loading…',
    'app.session_error': 'Could not load your session.',
    'nav.label': 'Main navigation',
    'nav.api_keys': 'API keys',
    'nav.projects': 'Projects',
    'nav.billing': 'Billing',
    'nav.limits': 'Limits',
    'nav.usage': 'Usage',
    'nav.settings': 'Settings',
    'nav.providers': 'Providers',
    'nav.organizations': 'Organizations',
    'nav.models': 'Models',
    'nav.menu': 'Menu',
    'nav.open_menu': 'Open the menu',
    'nav.close_menu': 'Close the menu',
    'nav.organization': 'Organization',
    'nav.logout': 'Log out',
    'nav.read_only': 'Read only',
    'page.login': 'Log in',
    'page.signup': 'Sign up',
  },
  zh: {
    'app.name': 'Tollgate',
    'app.title': '{page} · Tollgate',
    'app.loading_session': '正在加载…',
    'app.session_error': '无法加载你的会话。',
    'nav.label': '主导航',
    'nav.api_keys': 'API 密钥',
    'nav.projects': '项目',
    'nav.billing': '账单',
    'nav.limits': '限额',
    'nav.usage': '用量',
    'nav.settings': '设置',
    'nav.providers': '提供方',
    'nav.organizations': '组织管理',
    'nav.models': '模型',
    'nav.menu': '菜单',
    'nav.open_menu': '打开菜单',
    'nav.close_menu': '关闭菜单',
    'nav.organization': '组织',
    'nav.logout': '退出登录',
    'nav.read_only': '只读',
    'page.login': '登录',
    'page.signup': '注册',
  },
};

for (const s of [
  strings,
  loginStrings,
  signupStrings,
  apiKeysStrings,
  projectsStrings,
  billingStrings,
  limitsStrings,
  usageStrings,
  settingsStrings,
  providersStrings,
  organizationsStrings,
  modelsStrings,
  firstRunStrings,
  auditStrings,
]) {
  register(s);
}

// The pages of the left navigation, in OpenAI's order.
const NAV = [
  { path: '/api-keys', id: 'api-keys', label: 'nav.api_keys', page: ApiKeysPage, icon: 'key' },
  { path: '/projects', id: 'projects', label: 'nav.projects', page: ProjectsPage, icon: 'folder' },
  { path: '/billing', id: 'billing', label: 'nav.billing', page: BillingPage, icon: 'card' },
  { path: '/limits', id: 'limits', label: 'nav.limits', page: LimitsPage, icon: 'gauge' },
  { path: '/usage', id: 'usage', label: 'nav.usage', page: UsagePage, icon: 'chart' },
  // Settings has a second tab at its own path: the audit log (its title names the tab).
  { path: '/settings', id: 'settings', label: 'nav.settings', page: SettingsPage, icon: 'gear', sub: { [AUDIT_PATH]: 'settings.tab_audit' } },
  // The operator's pages: only for owners of the operator's organisation.
  { path: '/providers', id: 'providers', label: 'nav.providers', page: ProvidersPage, icon: 'server', operator: true },
  { path: '/models', id: 'models', label: 'nav.models', page: ModelsPage, icon: 'cube', operator: true },
  { path: '/organizations', id: 'organizations', label: 'nav.organizations', page: OrganizationsPage, icon: 'building', operator: true },
];

// The pages this session may see: the operator's pages only for the operator's owners.
function navFor(session) {
  const op = !!(session && session.organization && session.organization.is_operator && session.user.role === 'owner');
  return NAV.filter((n) => !n.operator || op);
}
// A navigation entry serves its own path and its tabs' paths (n.sub: path → title key).
function matches(n, path) {
  return n.path === path || !!(n.sub && n.sub[path]);
}
const AUTH = {
  '/login': { page: LoginPage, title: 'page.login' },
  '/signup': { page: SignupPage, title: 'page.signup' },
};

const ICONS = {
  key: 'M14.5 4a5.5 5.5 0 0 0-5.2 7.3L3 17.6V21h3.4l.6-.6V18.5h2v-2h2l1.8-1.8A5.5 5.5 0 1 0 14.5 4zm1.5 5.5a1.5 1.5 0 1 1 0-3 1.5 1.5 0 0 1 0 3z',
  folder: 'M3 6.5A1.5 1.5 0 0 1 4.5 5h4.2l2 2h8.8A1.5 1.5 0 0 1 21 8.5v9a1.5 1.5 0 0 1-1.5 1.5h-15A1.5 1.5 0 0 1 3 17.5z',
  card: 'M3 7.5A1.5 1.5 0 0 1 4.5 6h15A1.5 1.5 0 0 1 21 7.5v9a1.5 1.5 0 0 1-1.5 1.5h-15A1.5 1.5 0 0 1 3 16.5zM3 10h18M7 14.5h4',
  gauge: 'M4.5 17a8 8 0 1 1 15 0M12 13l3.5-4M12 13.5a.5.5 0 1 0 0-1',
  chart: 'M4 20V4M4 20h16M8 16v-5M12 16V8M16 16v-3',
  gear: 'M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM19.4 13.5l1.6 1.2-2 3.4-1.9-.7a7 7 0 0 1-2 1.2l-.3 2h-4l-.3-2a7 7 0 0 1-2-1.2l-1.9.7-2-3.4 1.6-1.2a7 7 0 0 1 0-3L3 9.3l2-3.4 1.9.7a7 7 0 0 1 2-1.2l.3-2h4l.3 2a7 7 0 0 1 2 1.2l1.9-.7 2 3.4-1.6 1.2a7 7 0 0 1 0 3z',
  server: 'M4 5.5A1.5 1.5 0 0 1 5.5 4h13A1.5 1.5 0 0 1 20 5.5v4a1.5 1.5 0 0 1-1.5 1.5h-13A1.5 1.5 0 0 1 4 9.5zM4 14.5A1.5 1.5 0 0 1 5.5 13h13a1.5 1.5 0 0 1 1.5 1.5v4a1.5 1.5 0 0 1-1.5 1.5h-13A1.5 1.5 0 0 1 4 18.5zM8 7.5h.01M8 16.5h.01',
  building: 'M4 21V5.5A1.5 1.5 0 0 1 5.5 4h7A1.5 1.5 0 0 1 14 5.5V21M14 10h4.5a1.5 1.5 0 0 1 1.5 1.5V21M3 21h18M7.5 8h3M7.5 12h3M7.5 16h3',
  cube: 'M12 3l8 4.5v9L12 21l-8-4.5v-9zM4 7.5l8 4.5 8-4.5M12 12v9',
  menu: 'M4 6.5h16M4 12h16M4 17.5h16',
  close: 'M6 6l12 12M18 6L6 18',
  logout: 'M15 4h3.5A1.5 1.5 0 0 1 20 5.5v13a1.5 1.5 0 0 1-1.5 1.5H15M10 16l4-4-4-4M14 12H4',
};

function Icon({ name }) {
  return (
    <svg class="icon" viewBox="0 0 24 24" aria-hidden="true" fill="none" stroke="currentColor" stroke-width="1.7" stroke-linecap="round" stroke-linejoin="round">
      <path d={ICONS[name]} />
    </svg>
  );
}

function Sidebar({ session, current, onLogout, open, onNavigate }) {
  const reader = session.user.role === 'reader';
  return (
    <aside id="sidebar" class={`sidebar${open ? ' open' : ''}`} data-open={open ? 'true' : 'false'}>
      <div class="sidebar-inner">
      <div class="sidebar-org">
        <div class="org-avatar" aria-hidden="true">
          {(session.organization.name || '?').trim().charAt(0).toUpperCase()}
        </div>
        <div class="org-text">
          <div class="org-caption">{t('nav.organization')}</div>
          <div class="org-name" data-testid="org-name-label" title={session.organization.name}>
            {session.organization.name}
          </div>
        </div>
      </div>
      <nav class="nav" aria-label={t('nav.label')}>
        {navFor(session).map((n) => (
          <Link
            key={n.id}
            href={n.path}
            class={`nav-item${matches(n, current) ? ' active' : ''}`}
            aria-current={matches(n, current) ? 'page' : undefined}
            data-testid={`nav-${n.id}`}
            onClick={onNavigate}
          >
            <Icon name={n.icon} />
            <span>{t(n.label)}</span>
          </Link>
        ))}
      </nav>
      <div class="sidebar-bottom">
        <div class="sidebar-user" title={session.user.email}>
          <span class="sidebar-email">{session.user.email}</span>
          {reader && <span class="badge badge-neutral">{t('nav.read_only')}</span>}
        </div>
        <LangSelect class="lang-select" />
        <button type="button" class="nav-item nav-logout" data-testid="logout" onClick={onLogout}>
          <Icon name="logout" />
          <span>{t('nav.logout')}</span>
        </button>
      </div>
      </div>
    </aside>
  );
}

function normalise(pathname) {
  const p = pathname.replace(/\/+$/, '') || '/';
  return p;
}

function App() {
  const [path, setPath] = useState(normalise(location.pathname));
  const [session, setSession] = useState(undefined); // undefined: loading; null: logged out
  const [sessionError, setSessionError] = useState(null);
  const [config, setConfig] = useState(null);
  const [, setLangTick] = useState(0);
  const [menuOpen, setMenuOpen] = useState(false); // the navigation on narrow screens

  useEffect(() => onLangChange(() => setLangTick((n) => n + 1)), []);
  // The menu closes when a page is chosen, and on Escape.
  useEffect(() => setMenuOpen(false), [path]);
  useEffect(() => {
    if (!menuOpen) return undefined;
    const onKey = (e) => {
      if (e.key === 'Escape' && !document.querySelector('[data-testid="dialog"]')) setMenuOpen(false);
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [menuOpen]);
  useEffect(() => {
    const onNav = () => setPath(normalise(location.pathname));
    window.addEventListener('popstate', onNav);
    window.addEventListener('tg:navigate', onNav);
    return () => {
      window.removeEventListener('popstate', onNav);
      window.removeEventListener('tg:navigate', onNav);
    };
  }, []);

  const applySession = useCallback((s) => {
    setCsrf(s ? s.csrf_token : null);
    setSession(s || null);
  }, []);

  const refreshSession = useCallback(async () => {
    try {
      const s = await api.get('/console/api/session');
      applySession(s);
      setSessionError(null);
      return s;
    } catch (e) {
      if (e.status === 401) {
        applySession(null);
        return null;
      }
      setSessionError(e);
      throw e;
    }
  }, [applySession]);

  useEffect(() => {
    refreshSession().catch(() => {});
    api
      .get('/console/api/config')
      .then(setConfig)
      .catch(() => setConfig({ signup: 'invite', payments: { provider: 'test', publishable_key: null } }));
    setUnauthorizedHandler(() => {
      refreshSession().catch(() => {});
    });
  }, []);

  const onLogout = async () => {
    try {
      await api.post('/console/api/logout');
    } catch (e) {
      /* the session may already be gone */
    }
    applySession(null);
    navigate('/login', { replace: true });
  };

  const nav = session ? navFor(session).find((n) => matches(n, path)) : NAV.find((n) => matches(n, path));
  const auth = AUTH[path];

  // Where the path must go instead, given the session.
  let redirect = null;
  if (session === null && !auth) redirect = '/login';
  else if (session && (auth || !nav)) redirect = '/api-keys';
  useEffect(() => {
    if (redirect) navigate(redirect, { replace: true });
  }, [redirect]);

  const titleKey = nav ? (nav.sub && nav.sub[path]) || nav.label : auth ? auth.title : null;
  const pageTitle = titleKey ? t(titleKey) : null;
  useEffect(() => {
    document.title = pageTitle ? t('app.title', { page: pageTitle }) : t('app.name');
  });

  if (session === undefined) {
    if (sessionError) {
      return (
        <div class="center-screen">
          <div class="auth-card">
            <ErrorBox error={sessionError} />
            <Button variant="primary" onClick={() => refreshSession().catch(() => {})}>
              {t('common.retry')}
            </Button>
          </div>
        </div>
      );
    }
    return (
      <div class="center-screen" aria-busy="true">
        <Loading />
      </div>
    );
  }
  if (redirect) return null;

  if (auth) {
    const Page = auth.page;
    return (
      <Page
        session={session}
        refreshSession={refreshSession}
        config={config}
        onSession={(s) => {
          applySession(s);
          navigate('/api-keys', { replace: true });
        }}
      />
    );
  }

  const Page = nav.page;
  return (
    <div class="layout">
      {/* Narrow screens: a bar with the menu button; the navigation opens below it. */}
      <header class="topbar">
        <button
          type="button"
          class="menu-btn"
          data-testid="nav-toggle"
          aria-controls="sidebar"
          aria-expanded={menuOpen ? 'true' : 'false'}
          aria-label={menuOpen ? t('nav.close_menu') : t('nav.open_menu')}
          title={menuOpen ? t('nav.close_menu') : t('nav.open_menu')}
          onClick={() => setMenuOpen(!menuOpen)}
        >
          <Icon name={menuOpen ? 'close' : 'menu'} />
          <span>{t('nav.menu')}</span>
        </button>
        <span class="topbar-title">{pageTitle}</span>
      </header>
      <Sidebar session={session} current={path} onLogout={onLogout} open={menuOpen} onNavigate={() => setMenuOpen(false)} />
      <main class="content">
        <Page key={path} path={path} session={session} refreshSession={refreshSession} config={config} />
      </main>
    </div>
  );
}

render(<App />, document.getElementById('app'));
