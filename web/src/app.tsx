/** The console shell: sign-in gate, header, navigation and the page for the current path. */
import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { ferryApi } from './api/ferry.ts';
import { clearSession, loadSession, saveSession, type Session } from './api/session.ts';
import { smsClient } from './api/sms.ts';
import { S3Api } from './api/s3.ts';
import { ApiContext, type Api } from './context.ts';
import { match, navigate, useLocation } from './router.ts';
import { Link } from './components/ui.tsx';
import { SignIn } from './pages/SignIn.tsx';
import { ConnectorsPage } from './pages/Connectors.tsx';
import { ServersPage } from './pages/Servers.tsx';
import { CreateJobPage } from './pages/CreateJob.tsx';
import { JobsPage } from './pages/Jobs.tsx';
import { JobDetailPage } from './pages/JobDetail.tsx';
import { ImagesPage } from './pages/Images.tsx';
import { NotFoundPage } from './pages/NotFound.tsx';
import { isAppTab, type AppTab } from './pages/appTabs.ts';
import { lazyPage } from './lazy.tsx';

const appPages = () => import('./pages/appPages.ts');
const AppsPage = lazyPage(() => appPages().then((m) => m.AppsPage), 'the applications');
const CreateAppPage = lazyPage(() => appPages().then((m) => m.CreateAppPage), 'the form');
const AppDetailPage = lazyPage<{ appId: string; tab: AppTab }>(() => appPages().then((m) => m.AppDetailPage), 'the application');

const NAV = [
  { path: '/connectors', label: 'Connectors' },
  { path: '/servers', label: 'Servers' },
  { path: '/apps', label: 'Applications' },
  { path: '/jobs', label: 'Replication jobs' },
  { path: '/images', label: 'Images' },
] as const;

function route(path: string) {
  if (path === '/connectors') return <ConnectorsPage />;
  if (path === '/servers') return <ServersPage />;
  let params = match('/servers/:serverId/create-job', path);
  if (params) return <CreateJobPage serverId={params.serverId!} />;
  if (path === '/jobs') return <JobsPage />;
  params = match('/jobs/:jobId', path);
  if (params) return <JobDetailPage jobId={params.jobId!} />;
  if (path === '/images') return <ImagesPage />;
  if (path === '/apps') return <AppsPage />;
  if (path === '/apps/new') return <CreateAppPage />;
  params = match('/apps/:appId', path);
  if (params) return <AppDetailPage appId={params.appId!} tab="" />;
  params = match('/apps/:appId/:tab', path);
  if (params && isAppTab(params.tab!)) return <AppDetailPage appId={params.appId!} tab={params.tab} />;
  return <NotFoundPage />;
}

export function App() {
  const [session, setSession] = useState<Session | null>(loadSession);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const location = useLocation();

  const signOut = useCallback((message?: string) => {
    clearSession();
    setNotice(message);
    setSession(null);
  }, []);

  const api = useMemo<Api | null>(() => {
    if (!session) return null;
    const sms = smsClient(session);
    return {
      session,
      sms,
      ferry: ferryApi(sms),
      s3: new S3Api(sms, session),
      onAuthError: () => signOut('Your keys stopped working (deleted or rotated): sign in again.'),
    };
  }, [session, signOut]);
  useEffect(() => () => api?.sms.destroy(), [api]);

  useEffect(() => {
    if (session && location.path === '/') navigate('/servers', { replace: true });
  }, [session, location.path]);

  if (!session || !api) {
    return (
      <SignIn
        notice={notice}
        onSignedIn={(s) => {
          saveSession(s);
          setNotice(undefined);
          setSession(s);
        }}
      />
    );
  }

  const section = NAV.find((n) => location.path === n.path || location.path.startsWith(`${n.path}/`))?.path;
  return (
    <ApiContext.Provider value={api}>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <div class="topbar-inner">
          <Link to="/servers" class="brand" aria-label="Ferry console home">
            <svg class="logo" aria-hidden="true" viewBox="0 0 24 24" width="22" height="22">
              <path d="M3 15h18l-2.5 4.5H5.5z" fill="currentColor" />
              <path d="M7 14V9h10v5M10 9V6h4v3" fill="none" stroke="currentColor" stroke-width="1.8" />
            </svg>
            Ferry
          </Link>
          <nav aria-label="Main">
            <ul>
              {NAV.map((n) => (
                <li key={n.path}>
                  <Link to={n.path} current={section === n.path}>
                    {n.label}
                  </Link>
                </li>
              ))}
            </ul>
          </nav>
          <div class="identity">
            <span class="identity-text">
              <span class="visually-hidden">Signed in as </span>
              <code title="Access key id">{session.accessKeyId}</code>
              <span class="region" title="Region">
                <span class="visually-hidden"> in region </span>
                {session.region}
              </span>
            </span>
            <button type="button" onClick={() => signOut()}>
              Sign out
            </button>
          </div>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {route(location.path)}
      </main>
    </ApiContext.Provider>
  );
}
