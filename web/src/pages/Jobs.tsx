/** Replication jobs: state, next run, latest image, failures; update, delete, start an on-demand run. */
import { useState } from 'preact/hooks';
import { DeleteReplicationJobCommand, type ReplicationJob } from '@aws-sdk/client-sms';
import type { OnDemandQuota } from '../api/ferry.ts';
import { listJobs, LIVE_JOB_STATES } from '../api/sms.ts';
import { useApi } from '../context.ts';
import { useResource } from '../hooks.ts';
import { formatTime } from '../format.ts';
import { Badge, ConfirmButton, ErrorMessage, Link, LoadState, Page } from '../components/ui.tsx';
import { OnDemandButton } from '../components/OnDemand.tsx';
import { DataTable } from '../components/DataTable.tsx';

interface Row {
  job: ReplicationJob;
  quota?: OnDemandQuota;
}

/** What the jobs list says about failures: the job's retry message after a failed run, or the latest run's failure. */
export function failureText(job: ReplicationJob): string | undefined {
  if (job.statusMessage && /fail/i.test(job.statusMessage)) return job.statusMessage;
  const latest = job.replicationRunList?.[0];
  return latest?.state === 'FAILED' ? (latest.statusMessage ?? 'The latest run failed.') : undefined;
}

/** Why no on-demand run can start (from what the job itself says; the job page also knows about an active run). */
export function blockedReason(job: ReplicationJob, activeRun?: boolean): string | undefined {
  if (!LIVE_JOB_STATES.has(job.state ?? '') || job.state === 'DELETING') return `The job is ${job.state}.`;
  if (activeRun || job.replicationRunList?.[0]?.state === 'ACTIVE') return 'A run is in progress; start another when it ends.';
  return undefined;
}

export function JobsPage() {
  const { sms, ferry } = useApi();
  const [actionError, setActionError] = useState<unknown>(undefined);
  const rows = useResource<Row[]>(
    async () => {
      const jobs = await listJobs(sms);
      const quotas = await Promise.all(
        jobs.map((job) => (LIVE_JOB_STATES.has(job.state ?? '') ? ferry.getOnDemandQuota(job.replicationJobId!).catch(() => undefined) : undefined)),
      );
      return jobs.map((job, i) => ({ job, quota: quotas[i] }));
    },
    [],
    5000,
  );

  async function remove(jobId: string) {
    setActionError(undefined);
    try {
      await sms.send(new DeleteReplicationJobCommand({ replicationJobId: jobId }));
      await rows.reload();
    } catch (thrown) {
      setActionError(thrown);
    }
  }

  return (
    <Page title="Replication jobs">
      <ErrorMessage error={actionError} />
      <LoadState of={rows} what="replication jobs" failed="Could not load the replication jobs." />
      {rows.data && rows.data.length === 0 ? (
        <p class="empty">
          No replication jobs yet. Create one from the <Link to="/servers">servers</Link> page.
        </p>
      ) : null}
      {rows.data && rows.data.length > 0 ? (
        <DataTable caption="Replication jobs" columns={['Job', 'State', 'Next run', 'Latest image', 'Failures']} actions>
          {rows.data.map(({ job, quota }) => {
            const failure = failureText(job);
            const live = LIVE_JOB_STATES.has(job.state ?? '');
            return (
              <tr key={job.replicationJobId}>
                <th scope="row" data-label="Job">
                  <Link to={`/jobs/${job.replicationJobId}`}>{job.vmServer?.vmName ?? job.serverId}</Link>
                  <div class="sub">
                    <code>{job.replicationJobId}</code>
                  </div>
                  <div class="sub">{job.runOnce ? 'runs once' : `every ${job.frequency} h`}</div>
                </th>
                <td data-label="State">
                  <Badge value={job.state} />
                  {job.replicationRunList?.[0]?.state === 'ACTIVE' ? (
                    <div class="sub">run {job.replicationRunList[0].stageDetails?.stage ?? 'active'}</div>
                  ) : null}
                </td>
                <td data-label="Next run">{formatTime(job.nextReplicationRunStartTime)}</td>
                <td data-label="Latest image">
                  {job.latestAmiId ? (
                    <Link to={`/images?job=${encodeURIComponent(job.replicationJobId!)}`}>
                      <code>{job.latestAmiId}</code>
                    </Link>
                  ) : (
                    <span class="muted">none yet</span>
                  )}
                </td>
                <td data-label="Failures" class="wrap">
                  {failure ? <span class="bad-text">{failure}</span> : <span class="muted">none</span>}
                </td>
                <td data-label="Actions" class="actions">
                  {live ? (
                    <OnDemandButton jobId={job.replicationJobId!} quota={quota} blockedBy={blockedReason(job)} onStarted={() => void rows.reload()} />
                  ) : null}
                  <div class="button-row">
                    <Link to={`/jobs/${job.replicationJobId}`} class="button" aria-label={`Update ${job.replicationJobId}`}>
                      Update
                    </Link>
                    {live ? (
                      <ConfirmButton
                        label="Delete"
                        question={`Delete ${job.replicationJobId}? Pending and active runs are cancelled; images are kept.`}
                        confirmLabel="Yes, delete job"
                        onConfirm={() => remove(job.replicationJobId!)}
                      />
                    ) : null}
                  </div>
                </td>
              </tr>
            );
          })}
        </DataTable>
      ) : null}
    </Page>
  );
}
