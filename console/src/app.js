// The application: session restore and sign-in, the shell (org and environment switchers,
// navigation), and the routes.

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import * as api from './api.js';
import { makeAccess, pageNeed } from './access.js';
import { AppContext } from './context.js';
import { TerminalsContext, forgetTerminals, useTerminalStore } from './terminals.js';
import { Link, match, useLocation } from './router.js';
import { ErrorBoundary, ErrorBox, Lazy, Loading, html, useAsync } from './ui.js';
import { SignIn } from './screens/signin.js';
import { Catalog } from './screens/catalog.js';
import { ResourcePage } from './screens/resource.js';
import { BrowsePage } from './screens/browser.js';
import { GraphPage } from './screens/graph.js';
import { CloudPage } from './screens/cloud.js';
import { ConnectionsPage } from './screens/connections.js';
import { RunnersPage } from './screens/runners.js';
import { DeployRunner } from './screens/deploy-runner.js';
import { AuditPage } from './screens/audit.js';

// The replay brings xterm.js: loaded when opened.
const ReplayPage = (props) =>
  html`<${Lazy} load=${() => import('./screens/replay.js')} render=${(m) => html`<${m.ReplayPage} ...${props} />`} />`;

const NAV = [
  ['/resources', 'Cloud resources'],
  ['/browse', 'Resource browser'],
  ['/graph', 'Namespace graph'],
  ['/cloud', 'Cloud browser'],
  ['/connections', 'Connections'],
  ['/runners', 'Runners'],
  ['/audit', 'Audit'],
];

const ROUTES = [
  ['/', Catalog],
  ['/resources', Catalog],
  ['/resources/:org/:env/:kind/:name', ResourcePage],
  ['/browse', BrowsePage],
  ['/graph', GraphPage],
  ['/cloud', CloudPage],
  ['/connections', ConnectionsPage],
  ['/runners', RunnersPage],
  ['/runners/new', DeployRunner],
  ['/audit', AuditPage],
  ['/audit/sessions/:id', ReplayPage],
];

export function App() {
  // undefined: still asking the gateway; null: signed out.
  const [session, setSession] = useState(undefined);
  const [bootError, setBootError] = useState(null);
  const [expired, setExpired] = useState(false);
  // Whether a session is in use: a 401 then means it ended. After a deliberate sign-out, the
  // 401s of requests still in flight are not news.
  const live = useRef(false);
  const signedIn = (s) => {
    api.setCsrf(s.csrf);
    live.current = true;
    setExpired(false);
    setSession(s);
  };

  const restore = () => {
    setBootError(null);
    api.session.load().then(
      signedIn,
      (e) => (e.status === 401 ? setSession(null) : setBootError(e)),
    );
  };
  useEffect(() => {
    api.setUnauthorizedHandler(() => {
      if (!live.current) return;
      live.current = false;
      api.setCsrf('');
      setExpired(true);
      setSession(null);
    });
    restore();
  }, []);

  if (bootError) {
    return html`<div class="center-page"><div class="card narrow-card">
      <h1 class="brand-title">Cloud Ops</h1>
      <${ErrorBox} title="Cannot load your session" error=${bootError} onRetry=${restore} />
    </div></div>`;
  }
  if (session === undefined) return html`<div class="center-page"><${Loading} label="Loading Cloud Ops…" /></div>`;
  if (!session) {
    return html`<${SignIn} expired=${expired} onSignedIn=${signedIn} />`;
  }
  // Signed out here whatever the gateway answers (an expired session is signed out already).
  const signOut = async () => {
    live.current = false;
    forgetTerminals();
    await api.session.logout().catch(() => {});
    api.setCsrf('');
    setExpired(false);
    setSession(null);
  };
  return html`<${Shell} session=${session} signOut=${signOut} />`;
}

const stored = (k) => localStorage.getItem(`cloudops.${k}`) || '';
const store = (k, v) => (v ? localStorage.setItem(`cloudops.${k}`, v) : localStorage.removeItem(`cloudops.${k}`));

/** connection name → Set of env names whose default it is, for the envs the user holds grants on. */
async function loadEnvDefaults(session, org, connections) {
  const map = new Map();
  if (session.org.name !== org) return map;
  const envs = [...new Set((session.grants || []).filter((g) => g.scope_kind === 'env').map((g) => g.scope))];
  const providers = [...new Set(connections.map((c) => c.provider))];
  const answers = await Promise.all(
    envs.flatMap((env) =>
      providers.map((provider) =>
        api.get(api.orgPath(org, `default-connection${api.qs({ provider, env })}`)).then(
          (d) => ({ env, d }),
          () => null,
        ),
      ),
    ),
  );
  for (const a of answers) {
    const level = a?.d?.chain?.find((c) => c.level === `env/${a.env}`);
    if (level?.connection) {
      if (!map.has(level.connection)) map.set(level.connection, new Set());
      map.get(level.connection).add(a.env);
    }
  }
  return map;
}

function Shell({ session, signOut }) {
  const { path, query } = useLocation();
  const [org, setOrgState] = useState(() => stored('org') || session.org.name);
  const [env, setEnvState] = useState(() => stored('env'));
  const [menuOpen, setMenuOpen] = useState(false);
  const [envDefaults, setEnvDefaults] = useState(new Map());
  const terminals = useTerminalStore();

  const orgs = useAsync(() => api.get('/v1/orgs'), []);
  const envs = useAsync(() => api.get(api.orgPath(org, 'envs')), [org]);
  const connections = useAsync(() => api.get(api.orgPath(org, 'connections')).then((r) => r.items), [org]);

  // A stored org the user cannot see (another principal signed in): back to the own org.
  useEffect(() => {
    if (orgs.data && !orgs.data.items.some((o) => o.name === org)) setOrg(session.org.name);
  }, [orgs.data]);
  useEffect(() => {
    if (envs.data && env && !envs.data.items.some((e) => e.name === env)) setEnv('');
  }, [envs.data]);
  useEffect(() => {
    if (connections.data) loadEnvDefaults(session, org, connections.data).then(setEnvDefaults);
  }, [connections.data]);
  useEffect(() => setMenuOpen(false), [path]);

  const setOrg = (o) => {
    store('org', o);
    setOrgState(o);
    setEnv('');
  };
  const setEnv = (e) => {
    store('env', e);
    setEnvState(e);
  };
  const access = useMemo(() => makeAccess(session, org, envDefaults), [session, org, envDefaults]);
  const ctx = {
    session,
    org,
    env,
    setOrg,
    setEnv,
    orgs: orgs.data?.items || [{ name: session.org.name }],
    envs: envs.data?.items || [],
    connections,
    access,
    signOut,
  };

  const section = NAV.find(([href]) => path === href || path.startsWith(`${href}/`))?.[0];
  // Pages the principal can never use are not offered; opened anyway, they say what access
  // would show them.
  const needOf = (href) => pageNeed(href, access, connections.error ? null : connections.data);
  const nav = NAV.filter(([href]) => !needOf(href));
  let screen = null;
  for (const [pattern, Screen] of ROUTES) {
    const params = match(pattern, path);
    if (params) {
      const why = section && needOf(section);
      screen = why
        ? why === 'loading'
          ? html`<${Loading} />`
          : html`<${NoAccess} page=${NAV.find(([h]) => h === section)[1]} why=${why} />`
        : html`<${Screen} params=${params} query=${query} />`;
      break;
    }
  }

  const docked = terminals.list.length > 0;
  return html`<${AppContext.Provider} value=${ctx}><${TerminalsContext.Provider} value=${terminals}>
    <a class="skip" href="#main">Skip to content</a>
    <div class=${`shell${menuOpen ? ' menu-open' : ''}${docked ? ` has-dock${terminals.expanded ? ' dock-open' : ''}` : ''}`}>
      <header class="topbar">
        <button type="button" class="btn btn-ghost menu-toggle" aria-expanded=${menuOpen} aria-controls="nav"
          aria-label="Menu" onClick=${() => setMenuOpen(!menuOpen)}>☰</button>
        <${Link} href="/resources" class="brand">
          <span class="brand-mark" aria-hidden="true"></span>Cloud Ops
        <//>
        <div class="switchers">
          <label class="switcher">
            <span>Org</span>
            <select class="select" value=${org} onChange=${(e) => setOrg(e.currentTarget.value)} aria-label="Organization">
              ${ctx.orgs.map((o) => html`<option value=${o.name}>${o.name}</option>`)}
            </select>
          </label>
          <label class="switcher">
            <span>Env</span>
            <select class="select" value=${env} onChange=${(e) => setEnv(e.currentTarget.value)} aria-label="Environment">
              <option value="">All environments</option>
              ${ctx.envs.map((e) => html`<option value=${e.name}>${e.name}</option>`)}
            </select>
          </label>
        </div>
        <div class="user">
          <span class="user-name" title=${`${session.principal.kind} ${session.principal.id}`}>
            ${session.principal.name}${access.platform && html` <span class="badge">platform</span>`}
          </span>
          <button type="button" class="btn btn-small" onClick=${signOut}>Sign out</button>
        </div>
      </header>
      <nav id="nav" class="sidebar" aria-label="Main">
        <ul>
          ${nav.map(
            ([href, label]) => html`<li><${Link} href=${href} class="nav-link" aria-current=${section === href ? 'page' : undefined}>${label}<//></li>`,
          )}
        </ul>
      </nav>
      <main id="main" class="main" tabindex="-1">
        <${ErrorBox} title="Environments" error=${envs.error} onRetry=${envs.reload} />
        <${ErrorBoundary} key=${path}>
          ${screen ||
          html`<div class="page"><h1>Not found</h1><p>No page at <code>${path}</code>. <${Link} href="/resources">Go to cloud resources<//>.</p></div>`}
        <//>
      </main>
      ${docked &&
      html`<${Lazy} label="Loading the terminal…" load=${() => import('./screens/terminal-dock.js')}
        render=${(m) => html`<${m.TerminalDock} terms=${terminals.list} active=${terminals.active} setActive=${terminals.setActive}
          expanded=${terminals.expanded} setExpanded=${terminals.setExpanded} close=${terminals.close} onPhase=${terminals.setPhase}
          onAttach=${terminals.attached} onSent=${terminals.sent} />`} />`}
    </div>
  <//><//>`;
}

function NoAccess({ page, why }) {
  return html`<div class="page">
    <h1>${page}</h1>
    <div class="alert alert-info" role="status"><div>
      <strong>This page is not open to you.</strong>
      <p class="alert-text">${page} ${why}.</p>
      <p class="error-todo">Ask an admin of your org for the grant; meanwhile <${Link} href="/resources">your cloud resources<//> are yours to use.</p>
    </div></div>
  </div>`;
}
