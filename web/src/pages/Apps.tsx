/** Applications: every app with its replication and launch status, polled while any of them is moving. */
import { useState } from 'preact/hooks';
import type { AppSummary } from '@aws-sdk/client-sms';
import { isMoving, listApps } from '../api/apps.ts';
import { useApi } from '../context.ts';
import { useResource } from '../hooks.ts';
import { formatTime } from '../format.ts';
import { Badge, Link, LoadState, Page } from '../components/ui.tsx';
import { DataTable } from '../components/DataTable.tsx';

export function AppsPage() {
  const { sms } = useApi();
  const [moving, setMoving] = useState(false);
  const apps = useResource<AppSummary[]>(
    async () => {
      const list = await listApps(sms);
      setMoving(list.some(isMoving));
      return list;
    },
    [],
    moving ? 2000 : 10_000,
  );

  return (
    <Page
      title="Applications"
      actions={
        <Link to="/apps/new" class="button primary-link">
          Create application
        </Link>
      }
    >
      <p class="muted">
        An application groups servers that migrate together: one replication configuration, one launch in order of its server
        groups, and validation of what was launched.
      </p>
      <LoadState of={apps} what="applications" failed="Could not load the applications." />
      {apps.data && apps.data.length === 0 ? (
        <p class="empty">
          No applications yet. <Link to="/apps/new">Create one</Link> from the servers in your catalog.
        </p>
      ) : null}
      {apps.data && apps.data.length > 0 ? (
        <DataTable caption="Applications" columns={['Application', 'Status', 'Replication', 'Launch', 'Servers']} testId="apps">
          {apps.data.map((app) => (
            <tr key={app.appId}>
              <th scope="row" data-label="Application">
                <Link to={`/apps/${app.appId}`}>{app.name ?? app.appId}</Link>
                <div class="sub">
                  <code>{app.appId}</code>
                </div>
                {app.description ? <div class="sub">{app.description}</div> : null}
              </th>
              <td data-label="Status">
                <Badge value={app.status} />
                {app.statusMessage ? <div class="sub">{app.statusMessage}</div> : null}
              </td>
              <td data-label="Replication">
                <Badge value={app.replicationStatus} />
                <div class="sub">
                  {app.replicationConfigurationStatus === 'CONFIGURED' ? 'configured' : 'not configured'}
                  {app.latestReplicationTime ? ` · latest ${formatTime(app.latestReplicationTime)}` : ''}
                </div>
              </td>
              <td data-label="Launch">
                <Badge value={app.launchStatus} />
                <div class="sub">
                  {app.launchConfigurationStatus === 'CONFIGURED' ? 'configured' : 'not configured'}
                  {app.launchDetails?.latestLaunchTime ? ` · latest ${formatTime(app.launchDetails.latestLaunchTime)}` : ''}
                </div>
              </td>
              <td data-label="Servers" class="nowrap">
                {app.totalServers ?? 0} in {app.totalServerGroups ?? 0} group{app.totalServerGroups === 1 ? '' : 's'}
              </td>
            </tr>
          ))}
        </DataTable>
      ) : null}
    </Page>
  );
}
