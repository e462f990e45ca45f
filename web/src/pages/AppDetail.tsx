/**
 * One application: its statuses (live while the page is visible), and sections for the overview (actions, each
 * server's replication and instance, templates), the replication, launch and validation configurations, and the
 * launched instances with their serial consoles. Each section is a real URL under /apps/APP_ID.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { getApp, isMoving, loadAppOverview, type AppOverview } from '../api/apps.ts';
import { useApi } from '../context.ts';
import { useResource } from '../hooks.ts';
import { BackLink, Badge, Link, Loading, LoadState, Page } from '../components/ui.tsx';
import { AppSummaryCard } from '../components/apps/AppSummaryCard.tsx';
import { AppActions } from '../components/apps/AppActions.tsx';
import { AppServers } from '../components/apps/AppServers.tsx';
import { Templates } from '../components/apps/Templates.tsx';
import { ReplicationConfigForm } from '../components/apps/ReplicationConfigForm.tsx';
import { LaunchConfigForm } from '../components/apps/LaunchConfigForm.tsx';
import { ValidationPanel } from '../components/apps/ValidationPanel.tsx';
import { InstancesPanel } from '../components/apps/InstancesPanel.tsx';
import { APP_TABS, type AppTab } from './appTabs.ts';

export function AppDetailPage(props: { appId: string; tab: AppTab }) {
  const { sms, ferry } = useApi();
  const [moving, setMoving] = useState(false);
  const overview = props.tab === '';
  // One poll per page: the overview reads every server's job, run and instance; the other sections only the app.
  // The section is not a dependency, so switching sections keeps what is shown; the overview reads its part at once.
  const data = useResource<AppOverview>(
    async () => {
      const loaded = overview ? await loadAppOverview(sms, ferry, props.appId) : { app: await getApp(sms, props.appId), appOnly: true, servers: [], instances: [] };
      setMoving(isMoving(loaded.app.appSummary) || loaded.servers.some((s) => s.activeRun !== undefined));
      return loaded;
    },
    [props.appId],
    moving ? 2000 : 5000,
  );
  useEffect(() => {
    if (overview && data.data?.appOnly) void data.reload();
  }, [overview, data.data]);
  const app = data.data?.app;
  const summary = app?.appSummary;
  const name = summary?.name ?? props.appId;
  const section = APP_TABS.find((t) => t.tab === props.tab)!;
  const base = `/apps/${encodeURIComponent(props.appId)}`;

  let body: ComponentChildren = null;
  if (app && summary) {
    const reload = () => void data.reload();
    switch (props.tab) {
      case '':
        body = (
          <>
            <AppActions summary={summary} onChanged={reload} />
            {data.data!.appOnly ? <Loading what="the servers' status" /> : <AppServers overview={data.data!} appId={props.appId} />}
            <AppSummaryCard summary={summary} tags={app.tags ?? []} />
            <Templates appId={props.appId} />
          </>
        );
        break;
      case 'replication':
        body = <ReplicationConfigForm app={app} onSaved={reload} />;
        break;
      case 'launch':
        body = <LaunchConfigForm app={app} onSaved={reload} />;
        break;
      case 'validation':
        body = <ValidationPanel app={app} onSaved={reload} />;
        break;
      case 'instances':
        body = <InstancesPanel app={app} />;
        break;
    }
  }

  return (
    <Page title={`${section.label} · ${name}`} heading={name}>
      <BackLink to="/apps">All applications</BackLink>
      <LoadState of={data} what="the application" failed="Could not load the application." />
      {summary ? (
        <>
          <p class="app-status" aria-live="polite" data-testid="app-status">
            <span>
              App <Badge value={summary.status} />
            </span>
            <span>
              Replication <Badge value={summary.replicationStatus} />
            </span>
            <span>
              Launch <Badge value={summary.launchStatus} />
            </span>
            <code class="muted">{summary.appId}</code>
          </p>
          <nav aria-label="Application sections" class="tabs">
            <ul>
              {APP_TABS.map((t) => (
                <li key={t.tab}>
                  <Link to={t.tab ? `${base}/${t.tab}` : base} current={t.tab === props.tab}>
                    {t.label}
                  </Link>
                </li>
              ))}
            </ul>
          </nav>
        </>
      ) : null}
      {body}
    </Page>
  );
}
