// The application: session restore and sign-in, the shell (org and environment switchers,
// navigation), and the routes.

import { useEffect, useMemo, useState } from 'preact/hooks';
import * as api from './api.js';
import { makeAccess } from './access.js';
import { AppContext } from './context.js';
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

  const restore = () => {
    setBootError(null);
    api.session.load().then(
      (s) => {
        api.setCsrf(s.csrf);
        setSession(s);
      },
      (e) => (e.status === 401 ? setSession(null) : setBootError(e)),
    );
  };
  useEffect(() => {
    api.setUnauthorizedHandler(() => {
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
    return html`<${SignIn} expired=${expired} onSignedIn=${(s) => {
      api.setCsrf(s.csrf);
      setExpired(false);
      setSession(s);
    }} />`;
  }
  return html`<${Shell} session=${session} onSignedOut=${() => setSession(null)} />`;
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

function Shell({ session, onSignedOut }) {
  const { path, query } = useLocation();
  const [org, setOrgState] = useState(() => stored('org') || session.org.name);
  const [env, setEnvState] = useState(() => stored('env'));
  const [menuOpen, setMenuOpen] = useState(false);
  const [envDefaults, setEnvDefaults] = useState(new Map());

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
  // Signed out here whatever the gateway answers (an expired session is signed out already).
  const signOut = async () => {
    await api.session.logout().catch(() => {});
    api.setCsrf('');
    onSignedOut();
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

  let screen = null;
  for (const [pattern, Screen] of ROUTES) {
    const params = match(pattern, path);
    if (params) {
      screen = html`<${Screen} params=${params} query=${query} />`;
      break;
    }
  }
  const section = NAV.find(([href]) => path === href || path.startsWith(`${href}/`))?.[0];

  return html`<${AppContext.Provider} value=${ctx}>
    <a class="skip" href="#main">Skip to content</a>
    <div class=${`shell${menuOpen ? ' menu-open' : ''}`}>
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
          ${NAV.map(
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
    </div>
  <//>`;
}
