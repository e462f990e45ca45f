/**
 * Shared harness for the scheduler integration tests (test/integration/scheduler*.test.ts): a real Ferry on an injected
 * ManualClock with its background loop stopped, a registered scripted connector with three VMs, and small helpers that
 * move the clock, tick the scheduler and read jobs and runs back through the SDK.
 */
import assert from 'node:assert/strict';
import {
  CreateReplicationJobCommand,
  GetReplicationJobsCommand,
  GetReplicationRunsCommand,
  GetServersCommand,
  ImportServerCatalogCommand,
  type CreateReplicationJobCommandInput,
  type ReplicationJob,
  type ReplicationRun,
} from '@aws-sdk/client-sms';
import { startTestFerry, type TestFerry } from './ferry.ts';
import { TestConnector, vms } from './testConnector.ts';
import { DAY, MINUTE, ManualClock } from '../../src/lib/clock.ts';
import type { Policy } from '../../src/domain/policy.ts';

export const START = Date.UTC(2026, 0, 1);
/** Long enough that moving the clock across a run's work never expires its lease (except where a test wants it). */
export const LONG_LEASE: Partial<Policy> = { runLeaseMs: 2 * DAY };

export interface Harness {
  t: TestFerry;
  clock: ManualClock;
  connector: TestConnector;
  serverIds: string[];
}

export async function setup(options: { policy?: Partial<Policy>; dataDir?: string } = {}): Promise<Harness> {
  const clock = new ManualClock(START);
  const t = await startTestFerry({ clock, policy: options.policy ?? LONG_LEASE, dataDir: options.dataDir });
  await t.ferry.scheduler.stop(); // the test drives every tick itself
  const connector = await t.connector();
  await connector.register();
  await t.sms.send(new ImportServerCatalogCommand({}));
  await connector.heartbeat();
  await connector.inventory(vms(3));
  const { serverList } = await t.sms.send(new GetServersCommand({}));
  return { t, clock, connector, serverIds: serverList!.map((s) => s.serverId!) };
}

/** One scheduler pass at the clock's time; a wake-up at or before now would make the loop spin. */
export async function tick(h: Harness): Promise<number | null> {
  const now = h.clock.now();
  const wake = await h.t.ferry.scheduler.tick(now);
  assert.ok(wake === null || wake > now, `tick at ${new Date(now).toISOString()} asked to wake at ${wake === null ? null : new Date(wake).toISOString()}`);
  return wake;
}

export async function at(h: Harness, time: number): Promise<number | null> {
  h.clock.set(time);
  return tick(h);
}

export async function createJob(h: Harness, input: Partial<CreateReplicationJobCommandInput> & { serverId?: string }): Promise<string> {
  await h.connector.heartbeat(); // the clock may have moved past the connector's last heartbeat
  const { replicationJobId } = await h.t.sms.send(
    new CreateReplicationJobCommand({ serverId: h.serverIds[0]!, seedReplicationTime: new Date(h.clock.now()), ...input }),
  );
  return replicationJobId!;
}

export async function job(h: Harness, replicationJobId: string): Promise<ReplicationJob> {
  return (await h.t.sms.send(new GetReplicationJobsCommand({ replicationJobId }))).replicationJobList![0]!;
}

/** All runs of a job, newest first. */
export async function runs(h: Harness, replicationJobId: string): Promise<ReplicationRun[]> {
  return (await h.t.sms.send(new GetReplicationRunsCommand({ replicationJobId, maxResults: 1000 }))).replicationRunList!;
}

export async function server(h: Harness, serverId: string) {
  return (await h.t.sms.send(new GetServersCommand({}))).serverList!.find((s) => s.serverId === serverId)!;
}

export const time = (d: Date | undefined): number | undefined => d?.getTime();
export const pendingRuns = (list: ReplicationRun[]) => list.filter((r) => r.state === 'PENDING');

export async function claimOne(h: Harness) {
  const claimed = await h.connector.claim();
  assert.equal(claimed.length, 1, `expected one claimable run at ${new Date(h.clock.now()).toISOString()}`);
  return claimed[0]!;
}

export async function rejects(promise: Promise<unknown>, name: string): Promise<void> {
  await assert.rejects(promise, (e: Error) => {
    assert.equal(e.name, name);
    return true;
  });
}

/** Claims and fails the job's next runs until it pauses; returns the pause time. */
export async function failUntilPaused(h: Harness, id: string, firstRemaining = 2): Promise<number> {
  for (let remaining = firstRemaining; ; remaining--) {
    const run = await claimOne(h);
    assert.equal(run.replicationJobId, id);
    await h.connector.fail(run.replicationRunId, 'ServerError: Failed to upload base disk(s) to S3.');
    const j = await job(h, id);
    const failed = (await runs(h, id)).find((r) => r.replicationRunId === run.replicationRunId)!;
    assert.equal(failed.state, 'FAILED');
    assert.equal(failed.statusMessage, 'ServerError: Failed to upload base disk(s) to S3.');
    assert.equal(time(failed.completedTime), h.clock.now());
    if (remaining === 0) {
      assert.equal(j.state, 'PAUSED_ON_FAILURE');
      return h.clock.now();
    }
    assert.equal(j.state, 'ACTIVE');
    assert.equal(j.statusMessage, `Replication run failed: ServerError: Failed to upload base disk(s) to S3. ${remaining} re-try run(s) remaining.`);
    assert.equal(time(j.nextReplicationRunStartTime), h.clock.now() + 15 * MINUTE, 'retry after the retry delay');
    assert.deepEqual(await h.connector.claim(), [], 'no retry before the delay');
    await at(h, h.clock.now() + 15 * MINUTE);
  }
}
