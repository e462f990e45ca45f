/** One job: its settings, the active run's live progress, all its runs, on-demand runs, update and delete. */
import { useEffect, useState } from 'preact/hooks';
import { DeleteReplicationJobCommand, type ReplicationJob, type ReplicationRun } from '@aws-sdk/client-sms';
import type { OnDemandQuota, RunProgress } from '../api/ferry.ts';
import { getJob, listRuns, LIVE_JOB_STATES } from '../api/sms.ts';
import { useApi } from '../context.ts';
import { useResource } from '../hooks.ts';
import { formatTime } from '../format.ts';
import { navigate } from '../router.ts';
import { BackLink, Badge, ConfirmButton, Details, ErrorMessage, Link, LoadState, Page } from '../components/ui.tsx';
import { RunProgressView } from '../components/RunProgress.tsx';
import { OnDemandButton } from '../components/OnDemand.tsx';
import { UpdateJobForm } from '../components/UpdateJobForm.tsx';
import { blockedReason, failureText } from './Jobs.tsx';
import { DataTable } from '../components/DataTable.tsx';

interface Data {
  job: ReplicationJob | undefined;
  runs: ReplicationRun[];
  quota?: OnDemandQuota;
}

const byNewest = (a: ReplicationRun, b: ReplicationRun) => (b.scheduledStartTime?.getTime() ?? 0) - (a.scheduledStartTime?.getTime() ?? 0);

export function JobDetailPage(props: { jobId: string }) {
  const { sms, ferry } = useApi();
  const [actionError, setActionError] = useState<unknown>(undefined);
  const [busyPoll, setBusyPoll] = useState(false);
  const data = useResource<Data>(
    async () => {
      const job = await getJob(sms, props.jobId);
      if (!job) return { job, runs: [] };
      const [runs, quota] = await Promise.all([
        listRuns(sms, props.jobId),
        LIVE_JOB_STATES.has(job.state ?? '') ? ferry.getOnDemandQuota(props.jobId).catch(() => undefined) : Promise.resolve(undefined),
      ]);
      runs.sort(byNewest);
      // Poll quickly while a run is active or due, so a starting run appears without a reload.
      const now = Date.now();
      setBusyPoll(runs.some((r) => r.state === 'ACTIVE' || (r.state === 'PENDING' && (r.scheduledStartTime?.getTime() ?? Infinity) <= now + 5000)));
      return { job, runs, quota };
    },
    [props.jobId],
    busyPoll ? 2000 : 5000,
  );
  const job = data.data?.job;
  const runs = data.data?.runs ?? [];
  const activeRun = runs.find((r) => r.state === 'ACTIVE');
  const activeRunId = activeRun?.replicationRunId;

  // The active run's bytes, once a second; when it stops being ACTIVE, reload the job and its runs.
  const progress = useResource<RunProgress | undefined>(
    async () => (activeRunId ? ferry.getRunProgress(activeRunId) : undefined),
    [activeRunId],
    activeRunId ? 1000 : undefined,
  );
  useEffect(() => {
    if (progress.data && progress.data.state !== 'ACTIVE') void data.reload();
  }, [progress.data?.state]);

  // "Update" on the jobs list links here with #update.
  useEffect(() => {
    if (job && window.location.hash === '#update') {
      const heading = document.getElementById('update-heading');
      heading?.scrollIntoView();
      heading?.focus();
    }
  }, [job?.replicationJobId]);

  async function remove() {
    setActionError(undefined);
    try {
      await sms.send(new DeleteReplicationJobCommand({ replicationJobId: props.jobId }));
      navigate('/jobs');
    } catch (thrown) {
      setActionError(thrown);
    }
  }

  const title = job ? `Replication job for ${job.vmServer?.vmName ?? job.serverId}` : `Replication job ${props.jobId}`;
  const live = job ? LIVE_JOB_STATES.has(job.state ?? '') : false;
  const pending = runs.find((r) => r.state === 'PENDING');
  const latestDone = runs.find((r) => r.state === 'COMPLETED' || r.state === 'FAILED');
  const failure = job ? failureText(job) : undefined;
  const failedRuns = runs.filter((r) => r.state === 'FAILED').length;

  return (
    <Page
      title={title}
      actions={
        job && live ? (
          <ConfirmButton
            label="Delete job"
            question="Delete this job? Pending and active runs are cancelled; images are kept."
            confirmLabel="Yes, delete job"
            onConfirm={remove}
          />
        ) : null
      }
    >
      <BackLink to="/jobs">All replication jobs</BackLink>
      <ErrorMessage error={actionError} />
      <LoadState of={data} what="the job" failed="Could not load the job." />
      {data.data && !job ? <p class="empty">Replication job {props.jobId} does not exist (deleted jobs disappear after a while).</p> : null}
      {job ? (
        <>
          <section class="card" aria-labelledby="summary-heading">
            <h2 id="summary-heading">Summary</h2>
            <Details
              items={[
                ['Job id', <code>{job.replicationJobId}</code>],
                ['State', <span data-testid="job-state"><Badge value={job.state} /></span>],
                ['Status', job.statusMessage],
                ['Server', <><Link to="/servers">{job.vmServer?.vmName ?? job.serverId}</Link> <code>{job.serverId}</code></>],
                ['Schedule', job.runOnce ? 'Runs once' : `Every ${job.frequency} h`],
                ['Seed time', formatTime(job.seedReplicationTime)],
                ['Next run', formatTime(job.nextReplicationRunStartTime)],
                [
                  'Latest image',
                  job.latestAmiId ? (
                    <Link to={`/images?job=${encodeURIComponent(job.replicationJobId!)}`}>
                      <code data-testid="latest-ami">{job.latestAmiId}</code>
                    </Link>
                  ) : (
                    'none yet'
                  ),
                ],
                [
                  'Failures',
                  failedRuns === 0 ? (
                    'none'
                  ) : (
                    <span class="bad-text">
                      {failedRuns} failed run{failedRuns === 1 ? '' : 's'}
                      {failure && failure !== job.statusMessage ? ` — ${failure}` : ''}
                    </span>
                  ),
                ],
                ['License type', job.licenseType],
                ['IAM role', job.roleName],
                ['Images kept', job.numberOfRecentAmisToKeep ? `The newest ${job.numberOfRecentAmisToKeep}` : 'All'],
                ['Encryption', job.encrypted ? <>Encrypted{job.kmsKeyId ? <> with <code>{job.kmsKeyId}</code></> : ' (default key)'}</> : 'Not encrypted'],
                ['Description', job.description],
              ]}
            />
          </section>

          <section class="card" aria-labelledby="current-heading">
            <h2 id="current-heading">Current run</h2>
            <p class="visually-hidden" role="status">
              {activeRun
                ? `Run in progress: ${(progress.data?.replicationRunId === activeRunId ? progress.data?.stage : undefined) ?? activeRun.stageDetails?.stage ?? 'starting'}.`
                : latestDone
                  ? `Latest run ${latestDone.state?.toLowerCase()}.`
                  : ''}
            </p>
            <div>
              {activeRun ? (
                <>
                  <p>
                    Run <code>{activeRun.replicationRunId}</code> ({activeRun.type?.toLowerCase().replace('_', '-')}) is <Badge value="ACTIVE" />
                  </p>
                  <RunProgressView
                    progress={
                      progress.data?.replicationRunId === activeRunId && progress.data
                        ? progress.data
                        : {
                            replicationRunId: activeRunId!,
                            replicationJobId: props.jobId,
                            state: 'ACTIVE',
                            stage: activeRun.stageDetails?.stage,
                            stageProgress: activeRun.stageDetails?.stageProgress,
                            updatedAt: 0,
                          }
                    }
                  />
                </>
              ) : pending ? (
                <p>
                  No run in progress. The next run (<code>{pending.replicationRunId}</code>, {pending.type?.toLowerCase().replace('_', '-')}) is due{' '}
                  {formatTime(pending.scheduledStartTime)}; a connector picks it up then.
                </p>
              ) : (
                <p>No run in progress.</p>
              )}
              {!activeRun && latestDone ? (
                <p data-testid="latest-run">
                  Latest run <code>{latestDone.replicationRunId}</code> ended <Badge value={latestDone.state} /> {formatTime(latestDone.completedTime)}
                  {latestDone.amiId ? (
                    <>
                      {' '}
                      with image <code>{latestDone.amiId}</code>
                    </>
                  ) : null}
                  {latestDone.statusMessage && latestDone.statusMessage !== 'Completed' ? <span class="muted"> — {latestDone.statusMessage}</span> : null}
                </p>
              ) : null}
            </div>
            <ErrorMessage error={progress.error} prefix="Could not read the run's progress." />
          </section>

          {live ? (
            <section class="card" aria-labelledby="ondemand-heading">
              <h2 id="ondemand-heading">On-demand run</h2>
              <OnDemandButton
                jobId={job.replicationJobId!}
                quota={data.data?.quota}
                blockedBy={blockedReason(job, Boolean(activeRun))}
                withDescription
                onStarted={() => void data.reload()}
              />
            </section>
          ) : null}

          <section class="card" aria-labelledby="runs-heading">
            <h2 id="runs-heading">Runs ({runs.length})</h2>
            {runs.length === 0 ? (
              <p class="empty">No runs yet.</p>
            ) : (
              <DataTable caption="Runs of this job, newest first" columns={['Run', 'Type', 'State', 'Scheduled', 'Completed', 'Image', 'Message']} testId="runs">
                {runs.map((run) => (
                  <tr key={run.replicationRunId}>
                    <th scope="row" data-label="Run">
                      <code>{run.replicationRunId}</code>
                      {run.description ? <div class="sub">{run.description}</div> : null}
                    </th>
                    <td data-label="Type" class="nowrap">{run.type === 'ON_DEMAND' ? 'on-demand' : 'automatic'}</td>
                    <td data-label="State">
                      <Badge value={run.state} />
                      {run.stageDetails?.stage ? (
                        <div class="sub">
                          {run.stageDetails.stage} {run.stageDetails.stageProgress ?? ''}
                        </div>
                      ) : null}
                    </td>
                    <td data-label="Scheduled">{formatTime(run.scheduledStartTime)}</td>
                    <td data-label="Completed">{formatTime(run.completedTime)}</td>
                    <td data-label="Image">{run.amiId ? <code>{run.amiId}</code> : '—'}</td>
                    <td data-label="Message" class="wrap">
                      {run.statusMessage ?? '—'}
                    </td>
                  </tr>
                ))}
              </DataTable>
            )}
          </section>

          {live ? (
            <section class="card" aria-labelledby="update-heading">
              <h2 id="update-heading" tabIndex={-1}>
                Update job
              </h2>
              <UpdateJobForm job={job} onUpdated={() => void data.reload()} />
            </section>
          ) : null}
        </>
      ) : null}
    </Page>
  );
}
