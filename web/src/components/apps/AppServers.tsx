/**
 * Each server of an app, live: its replication job, the job's latest run (with the active run's byte progress as the
 * connector reports it), and its newest instance's state and hydration. Everything shown is what the API last said.
 */
import type { ReplicationRun } from '@aws-sdk/client-sms';
import type { AppOverview, AppServerStatus } from '../../api/apps.ts';
import { errorInfo } from '../../api/errors.ts';
import { formatBytes, formatTime, fromEpochSeconds } from '../../format.ts';
import { Badge, Link } from '../ui.tsx';
import { percentOf } from '../RunProgress.tsx';
import { DataTable } from '../DataTable.tsx';

function ActiveRun(props: { row: AppServerStatus; run: ReplicationRun }) {
  const { progress, server } = props.row;
  const live = progress?.replicationRunId === props.run.replicationRunId ? progress : undefined;
  const stage = live?.stage ?? props.run.stageDetails?.stage;
  const percent = percentOf({ stage, stageProgress: live?.stageProgress ?? props.run.stageDetails?.stageProgress, bytesDone: live?.bytesDone, bytesTotal: live?.bytesTotal });
  return (
    <>
      <Badge value="ACTIVE" /> <span class="sub">{stage ?? 'starting'}</span>
      <div
        class={`progressbar small${percent === undefined ? ' indeterminate' : ''}`}
        role="progressbar"
        aria-label={`Replication of ${server.vmServer?.vmName ?? server.serverId}`}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent}
        aria-valuetext={percent === undefined ? (stage ?? 'starting') : `${percent}%`}
      >
        <div class="progressbar-fill" style={{ width: `${percent ?? 0}%` }} />
      </div>
      <div class="sub">
        {percent === undefined ? '' : `${percent}%`}
        {live?.bytesTotal ? ` · ${formatBytes(live.bytesDone)} of ${formatBytes(live.bytesTotal)}` : ''}
      </div>
    </>
  );
}

/** The run in progress with its bytes; else the latest finished run (state, time, image); and when the next is due. */
function RunCell(props: { row: AppServerStatus }) {
  const { job, activeRun, latestRun, nextRun } = props.row;
  if (!job) return <span class="muted">—</span>;
  if (!activeRun && !latestRun && !nextRun) return <span class="muted">no run yet</span>;
  return (
    <>
      {activeRun ? <ActiveRun row={props.row} run={activeRun} /> : null}
      {!activeRun && latestRun ? (
        <>
          <Badge value={latestRun.state} />
          <div class="sub">
            {latestRun.type === 'ON_DEMAND' ? 'on-demand' : 'automatic'} · {formatTime(latestRun.completedTime)}
          </div>
          {latestRun.amiId ? (
            <div class="sub">
              <code>{latestRun.amiId}</code>
            </div>
          ) : null}
          {latestRun.state === 'FAILED' && latestRun.statusMessage ? <div class="sub bad-text">{latestRun.statusMessage}</div> : null}
        </>
      ) : null}
      {!activeRun && nextRun ? <div class="sub">next run due {formatTime(nextRun.scheduledStartTime)}</div> : null}
    </>
  );
}

function InstanceCell(props: { row: AppServerStatus; appId: string }) {
  const instance = props.row.instance;
  if (!instance) return <span class="muted">not launched</span>;
  const booted = fromEpochSeconds(instance.bootedAt);
  return (
    <>
      <Link to={`/apps/${encodeURIComponent(props.appId)}/instances`}>
        <code data-testid="instance-id">{instance.instanceId}</code>
      </Link>
      <div>
        <Badge value={instance.state} /> <span class="sub">disk</span> <Badge value={instance.hydration} />
      </div>
      {instance.stateMessage ? <div class="sub">{instance.stateMessage}</div> : null}
      {booted ? <div class="sub">booted {formatTime(booted)}</div> : null}
    </>
  );
}

export function AppServers(props: { overview: AppOverview; appId: string }) {
  const { servers, instancesError } = props.overview;
  const launchUnavailable = instancesError ? errorInfo(instancesError) : undefined;
  return (
    <section class="card" aria-labelledby="app-servers-heading">
      <h2 id="app-servers-heading">Servers</h2>
      {servers.length === 0 ? <p class="empty">This application has no servers.</p> : null}
      {launchUnavailable ? (
        <p class="hint">
          Instances cannot be listed: {launchUnavailable.code}: {launchUnavailable.message}
        </p>
      ) : null}
      {servers.length > 0 ? (
        <DataTable caption="Each server's replication and instance" columns={['Server', 'Group', 'Replication job', 'Latest run', 'Instance']} testId="app-server-status">
          {servers.map((row) => (
            <tr key={row.server.serverId} data-server={row.server.serverId}>
              <th scope="row" data-label="Server">
                {row.server.vmServer?.vmName ?? row.server.serverId}
                <div class="sub">
                  <code>{row.server.serverId}</code>
                </div>
              </th>
              <td data-label="Group">{row.groupName}</td>
              <td data-label="Replication job">
                {row.job ? (
                  <>
                    <Badge value={row.job.state} />
                    <div class="sub">
                      <Link to={`/jobs/${row.job.replicationJobId}`}>{row.job.replicationJobId}</Link>
                    </div>
                  </>
                ) : row.jobError ? (
                  <span class="bad-text">{errorInfo(row.jobError).message}</span>
                ) : (
                  <span class="muted">none yet</span>
                )}
              </td>
              <td data-label="Latest run">
                <RunCell row={row} />
              </td>
              <td data-label="Instance">
                <InstanceCell row={row} appId={props.appId} />
              </td>
            </tr>
          ))}
        </DataTable>
      ) : null}
    </section>
  );
}
