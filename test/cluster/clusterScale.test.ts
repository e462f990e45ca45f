/**
 * The cluster at the scale (issue 11, "How it will be checked"): three `ferry serve` nodes on one PostgreSQL
 * database and one S3 bucket (moto_server), four standalone connectors, each serving its own datastore and reaching
 * the nodes through its own failover front, and JOBS replication jobs of four runs each: the seed run (AUTOMATIC,
 * seeds staggered so the runs are claimed while the scheduler works), an ON_DEMAND run, an AUTOMATIC run brought
 * forward with UpdateReplicationJob, and another ON_DEMAND run; before each run after the first, one block of the
 * server's disk is rewritten, so every run has its own source. The SMS calls go to the nodes in turn.
 *
 * While runs are going, connector 0 is SIGKILLed mid-upload of a large disk and the scheduler's leader node is
 * SIGKILLed; the connector is started again (same token) and must resume its run; another node takes the scheduler
 * over, and the killed node comes back on its data dir (as systemd's Restart= does). It proves:
 *   - every run COMPLETED, and each job is left with just its next AUTOMATIC run PENDING 12 h ahead (spec §6);
 *   - no run executed twice: each run completed in exactly one connector process's log, has one image row, and its
 *     webhook events never repeat a state; the killed connector's run resumed, skipping its committed blocks;
 *   - every webhook event was delivered once (one COMPLETED per run): the only repeat allowed is the one the
 *     webhook contract names, an event the SIGKILLed node had sent but not yet marked, sent again with its id once
 *     that node's claim lapsed (receivers drop repeats of an id; eachEventOnce checks each repeat is that);
 *   - every image exports bit-identical to its source disk at that run, from the bucket alone (clusterAudit.ts);
 *   - no orphaned block: the bucket's packs are exactly the index's sealed packs (none left open), its manifests
 *     exactly the index's snapshots, every indexed block lies in such a pack, and the block ids the manifests
 *     reference are exactly the indexed blocks; no node keeps a pack file in its data dir after a clean stop.
 *
 * `npm test` runs it with 8 jobs (32 runs); `npm run test:cluster-scale` with the 50 jobs (200 runs), which
 * takes longer than the suite allows on two cores. FERRY_CLUSTER_SCALE_JOBS sets the number. Skipped, with the
 * reason, when FERRY_TEST_PG_URL is unset.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateReplicationJobCommand, GetConnectorsCommand, GetReplicationRunsCommand, GetServersCommand, StartOnDemandReplicationRunCommand, UpdateReplicationJobCommand, type ReplicationRun, type SMSClient } from '@aws-sdk/client-sms';
import { postgresSkipReason, testPostgresUrl } from '../helpers/stores.ts';
import { NODE, REPO_ROOT, run } from '../helpers/process.ts';
import { eachEventOnce, startCluster, type Cluster, type ClusterNode } from '../helpers/clusterHarness.ts';
import type { ClusterAudit } from '../helpers/clusterAudit.ts';
import type { FailoverProxy } from '../helpers/failoverProxy.ts';
import { BLOCK, importCatalog, logLines, packFiles, spawnConnector, waitFor, type ConnectorProcess } from '../helpers/replication.ts';
import { makeKvmVm, makeTempDatastore, MiB } from '../helpers/vmFactory.ts';

const JOBS = Number(process.env.FERRY_CLUSTER_SCALE_JOBS ?? 8);
const RUNS_PER_JOB = 4;
const CONNECTORS = 4;
const SMALL_DISK = 2 * MiB;
const BIG_DISK = 32 * MiB;
const RUN_EVENT = 'Server Migration Run State Change';

interface Track {
  folder: string;
  connector: number;
  diskPath: string;
  jobId: string;
  /** SHA-256 of the disk as each run (in order) found it. */
  sources: string[];
  /** Completed run ids, in order. */
  completed: string[];
}

const sha256 = async (path: string) => createHash('sha256').update(await readFile(path)).digest('hex');
const isNetworkError = (error: unknown) => (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === undefined;

/** Rewrites one random block of a raw disk with random bytes (the change the next run must carry). */
async function changeOneBlock(path: string, size: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.write(randomBytes(BLOCK), 0, BLOCK, randomInt(size / BLOCK) * BLOCK);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

describe(`the cluster at scale: 3 nodes, ${CONNECTORS} connectors, ${JOBS * RUNS_PER_JOB} runs across ${JOBS} jobs`, { skip: postgresSkipReason, timeout: (JOBS > 10 ? 60 : 12) * 60_000 }, () => {
  let cluster: Cluster;
  let scratch = '';
  const datastores: { dir: string; cleanup: () => Promise<void> }[] = [];
  /** Every connector process ever started, killed ones included (their logs count). */
  const connectorProcesses: ConnectorProcess[] = [];
  const live: (ConnectorProcess | undefined)[] = [];

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'ferry-cluster-scale-'));
    cluster = await startCluster({ nodes: 3, adminUrl: testPostgresUrl!, extraEnv: { FERRY_MAX_JOBS_PER_ACCOUNT: '1000' } });
  });

  after(async () => {
    for (const c of connectorProcesses) await c.kill();
    await cluster?.close();
    for (const ds of datastores) await ds.cleanup();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  test('every run once, every image bit-identical, no orphaned block, every event once — through a killed node and a killed connector', async () => {
    const startedAt = Date.now();
    const leader = (await cluster.leader())!;
    const others = cluster.nodes.filter((n) => n !== leader) as [ClusterNode, ClusterNode];
    // Connector 0 (the one killed) avoids the leader; connectors 1 and 3 prefer it, so the node kill cuts them off.
    const preferences: ClusterNode[][] = [
      [others[0], leader, others[1]],
      [leader, others[1], others[0]],
      [others[1], others[0], leader],
      [leader, others[0], others[1]],
    ];

    // 1. The datastores: the servers spread over the four connectors; connector 0 also holds the large disk.
    const tracks: Track[] = [];
    for (let i = 0; i < CONNECTORS; i++) datastores.push(await makeTempDatastore(`ferry-scale-ds${i}-`));
    for (let j = 0; j < JOBS; j++) {
      const connector = j % CONNECTORS;
      const folder = j === 0 ? 'big' : `vm-${j}`;
      const size = j === 0 ? BIG_DISK : SMALL_DISK;
      const vm = await makeKvmVm(datastores[connector]!.dir, folder, { disks: [{ format: 'raw', sizeBytes: size, content: { type: 'pattern', seed: `${folder}-seed` } }] });
      tracks.push({ folder, connector, diskPath: vm.disks[0]!.path, jobId: '', sources: [await sha256(vm.disks[0]!.path)], completed: [] });
    }

    // 2. Four standalone connectors behind their fronts; connector 0 is slowed so its large upload can be caught.
    const fronts: FailoverProxy[] = [];
    const tokens: string[] = [];
    const startConnector = (i: number) => {
      const c = spawnConnector({ server: fronts[i]!.url, token: tokens[i]!, datastore: datastores[i]!.dir, ...(i === 0 ? { maxBandwidth: '4M' } : {}) });
      connectorProcesses.push(c);
      live[i] = c;
    };
    for (let i = 0; i < CONNECTORS; i++) {
      tokens.push((await cluster.registerConnector(`scale ${i}`)).token);
      fronts.push(await cluster.front(preferences[i]!));
      startConnector(i);
    }

    // 3. SMS clients: one per node, each through a front that fails over to the others; calls rotate over them.
    const apis: SMSClient[] = [];
    for (let i = 0; i < 3; i++) apis.push(cluster.sms((await cluster.front([...cluster.nodes.slice(i), ...cluster.nodes.slice(0, i)])).url));
    let turn = 0;
    const api = () => apis[turn++ % apis.length]!;
    await waitFor('four healthy connectors', async () => {
      const listed = (await api().send(new GetConnectorsCommand({}))).connectorList ?? [];
      return listed.filter((x) => x.status === 'HEALTHY').length === CONNECTORS ? listed : undefined;
    }, { timeoutMs: 90_000, intervalMs: 500 });
    const servers = await importCatalog(api(), tracks.map((t) => t.folder), 300_000).catch(async (error: Error) => {
      const listed = await api().send(new GetServersCommand({ maxResults: 1000 }));
      throw new Error(`${error.message}\ncatalog ${listed.serverCatalogStatus}: ${JSON.stringify(listed.serverList?.map((s) => s.vmServer?.vmPath))}\n${connectorProcesses.map((c) => c.stderr() + c.stdout().slice(-2000)).join('\n---\n')}`);
    });

    // 4. The driver: each COMPLETED event starts the job's next run (after changing its disk), alternating
    // StartOnDemandReplicationRun and UpdateReplicationJob(nextReplicationRunStartTime: now).
    const driverErrors: string[] = [];
    const byJob = new Map<string, Track>();
    const sourceOfRun = new Map<string, string>();
    const runsOf = async (jobId: string): Promise<ReplicationRun[]> => (await api().send(new GetReplicationRunsCommand({ replicationJobId: jobId, maxResults: 100 }))).replicationRunList ?? [];
    /** Sends `action` until it is done; a call cut off by a dying node may have been applied, so `applied` checks first. */
    const untilApplied = async (what: string, action: () => Promise<unknown>, applied: () => Promise<boolean>) => {
      for (let attempt = 0; ; attempt++) {
        try {
          await action();
          return;
        } catch (error) {
          if (!isNetworkError(error) || attempt >= 20) throw new Error(`${what}: ${(error as Error).name}: ${(error as Error).message}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
        if (await applied().catch(() => false)) return;
      }
    };
    const startNext = async (track: Track) => {
      const done = track.completed.length;
      await changeOneBlock(track.diskPath, track.folder === 'big' ? BIG_DISK : SMALL_DISK);
      track.sources.push(await sha256(track.diskPath));
      const beyond = (runs: ReplicationRun[]) => runs.filter((r) => r.state === 'COMPLETED').length > done || runs.some((r) => r.state === 'ACTIVE');
      if (done % 2 === 1) {
        await untilApplied(`StartOnDemandReplicationRun ${track.jobId}`, () => api().send(new StartOnDemandReplicationRunCommand({ replicationJobId: track.jobId })), async () => {
          const runs = await runsOf(track.jobId);
          return beyond(runs) || runs.some((r) => r.type === 'ON_DEMAND' && r.state === 'PENDING');
        });
      } else {
        await untilApplied(`UpdateReplicationJob ${track.jobId}`, () => api().send(new UpdateReplicationJobCommand({ replicationJobId: track.jobId, nextReplicationRunStartTime: new Date() })), async () => {
          const runs = await runsOf(track.jobId);
          return beyond(runs) || runs.some((r) => r.type === 'AUTOMATIC' && r.state === 'PENDING' && (r.scheduledStartTime?.getTime() ?? Infinity) <= Date.now() + 60_000);
        });
      }
    };
    cluster.webhooks.onEvent = (event) => {
      if (event.type === RUN_EVENT && event.detail.state === 'FAILED') driverErrors.push(`run ${event.detail.replicationRunId} FAILED: ${event.detail.statusMessage}`);
      if (event.type !== RUN_EVENT || event.detail.state !== 'COMPLETED') return;
      const track = byJob.get(event.detail.replicationJobId!);
      const runId = event.detail.replicationRunId!;
      if (!track || track.completed.includes(runId)) return; // a duplicate: the checks below count them
      track.completed.push(runId);
      sourceOfRun.set(runId, track.sources[track.completed.length - 1]!);
      if (track.completed.length < RUNS_PER_JOB) startNext(track).catch((error: Error) => driverErrors.push(error.message));
    };

    // 5. The jobs, created through the nodes in turn, seeds staggered over the next seconds.
    const createdAt = Date.now();
    for (const [j, track] of tracks.entries()) {
      const { replicationJobId } = await api().send(new CreateReplicationJobCommand({
        serverId: servers.get(track.folder)!.serverId!,
        seedReplicationTime: new Date(createdAt + j * 200),
        frequency: 12,
      }));
      track.jobId = replicationJobId!;
      byJob.set(track.jobId, track);
    }

    // 6. The large seed run is uploading through connector 0: kill the connector, then the scheduler's leader.
    const big = tracks[0]!;
    const caught = await waitFor('the large run to be uploading', async () => {
      const seed = (await runsOf(big.jobId)).find((r) => r.type === 'AUTOMATIC' && r.state === 'ACTIVE');
      const percent = Number(/(\d+)%/.exec(seed?.stageDetails?.stageProgress ?? '')?.[1] ?? 0);
      return seed?.stageDetails?.stage === 'Uploading' && percent >= 10 && percent <= 70 ? seed : undefined;
    }, { timeoutMs: 300_000, intervalMs: 150 });
    await live[0]!.kill();
    const connectorKilledAt = Date.now();
    await cluster.kill(leader);
    const killedAt = Date.now();
    startConnector(0);
    const successor = await waitFor('another node to lead the scheduler', () => cluster.leader(), { timeoutMs: 90_000, intervalMs: 250 });
    assert.notEqual(successor.name, leader.name);
    const takeoverMs = Date.now() - killedAt;
    await cluster.start(leader); // systemd's Restart=: the node comes back on its data dir

    // 7. Every job's four runs complete.
    const deadline = Date.now() + (JOBS > 10 ? 45 : 9) * 60_000;
    while (tracks.some((t) => t.completed.length < RUNS_PER_JOB)) {
      if (driverErrors.length) {
        const runIds = driverErrors.map((e) => /sms-run-[0-9a-f]+/.exec(e)?.[0]).filter((id): id is string => !!id);
        const lines = connectorProcesses.map((c, i) => `  process ${i}: ${c.stdout().split('\n').filter((l) => runIds.some((id) => l.includes(id))).join('\n    ')}`);
        assert.deepEqual(driverErrors, [], `the driver failed; the connectors' lines on those runs:\n${lines.join('\n')}`);
      }
      if (Date.now() > deadline) {
        const late = tracks.filter((t) => t.completed.length < RUNS_PER_JOB);
        const states = await Promise.all(late.slice(0, 5).map(async (t) => `${t.folder}: ${JSON.stringify((await runsOf(t.jobId)).map((r) => [r.type, r.state, r.statusMessage]))}`));
        assert.fail(`${late.length} jobs did not finish their runs:\n${states.join('\n')}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const runsDoneAt = Date.now();
    assert.deepEqual(driverErrors, []);

    // 8. The runs as the API gives them: four COMPLETED per job, plus the next AUTOMATIC one PENDING 12 h ahead.
    const completedRuns = new Set<string>();
    const completedTimeOf = new Map<string, number>();
    for (const track of tracks) {
      const runs = await runsOf(track.jobId);
      const done = runs.filter((r) => r.state === 'COMPLETED');
      assert.deepEqual(done.map((r) => r.replicationRunId).sort(), [...track.completed].sort(), `${track.folder}: the completed runs`);
      assert.deepEqual(done.map((r) => r.type).sort(), ['AUTOMATIC', 'AUTOMATIC', 'ON_DEMAND', 'ON_DEMAND'], track.folder);
      const rest = runs.filter((r) => r.state !== 'COMPLETED');
      assert.equal(rest.length, 1, `${track.folder}: ${JSON.stringify(rest.map((r) => [r.type, r.state, r.statusMessage]))}`);
      assert.deepEqual([rest[0]!.type, rest[0]!.state], ['AUTOMATIC', 'PENDING']);
      assert.ok(rest[0]!.scheduledStartTime!.getTime() > Date.now() + 11 * 3_600_000, `${track.folder}: the next run is 12 h ahead`);
      for (const r of done) {
        completedRuns.add(r.replicationRunId!);
        completedTimeOf.set(r.replicationRunId!, r.completedTime?.getTime() ?? Infinity);
      }
    }
    assert.equal(completedRuns.size, JOBS * RUNS_PER_JOB);

    // 9. Executed once: each completed in one connector process's log; the killed connector's run resumed.
    const completions = connectorProcesses.flatMap((c) => logLines(c.stdout(), 'replication run completed'));
    const counted = new Map<string, number>();
    for (const line of completions) counted.set(line.runId as string, (counted.get(line.runId as string) ?? 0) + 1);
    // The killed connector may die after the service recorded a run complete and before it logged so. Such a run is
    // its own when the run's disk is in its datastore (no other connector reaches it) and the service completed the
    // run before the kill (its replacement started after).
    const completedByKilled = (runId: string) => tracks.find((t) => t.completed.includes(runId))?.connector === 0 && completedTimeOf.get(runId)! <= connectorKilledAt;
    const unclaimed = [...completedRuns].filter((runId) => !counted.has(runId) && !completedByKilled(runId));
    const traces = unclaimed.map((runId) => {
      const track = tracks.find((t) => t.completed.includes(runId));
      const lines = connectorProcesses.map((c, i) => `  process ${i}: ${c.stdout().split('\n').filter((l) => l.includes(runId)).join('\n    ')}`);
      return `${runId} (${track?.folder}, connector ${track?.connector}):\n${lines.join('\n')}`;
    });
    assert.deepEqual(unclaimed, [], `every run completed by a connector:\n${traces.join('\n')}`);
    assert.deepEqual([...counted.entries()].filter(([, n]) => n !== 1), [], 'no run completed twice');
    const resumed = logLines(live[0]!.stdout(), 'replication run completed').find((l) => l.runId === caught.replicationRunId) as Record<string, number> | undefined;
    assert.ok(resumed, 'the restarted connector finished the run it was killed in');
    assert.ok(resumed.blocksSkippedAsCommitted! > 0, `it resumed from the committed blocks: ${JSON.stringify(resumed)}`);
    assert.ok(fronts[1]!.connections.concat(fronts[3]!.connections).some((to) => to !== `127.0.0.1:${leader.port}`), 'connectors cut off by the node kill went on through another node');

    // 10. Every webhook event once: no repeat but a killed node's in-flight one (eachEventOnce, clusterHarness.ts);
    // then, as the receiver keeps them (one per id), one COMPLETED per run and no state repeated within a run.
    await new Promise((resolve) => setTimeout(resolve, 3000)); // a late duplicate, if any, arrives meanwhile
    const events = eachEventOnce(cluster.webhooks.events, cluster.killedAt);
    const runEvents = events.filter((e) => e.type === RUN_EVENT);
    const completedEvents = runEvents.filter((e) => e.detail.state === 'COMPLETED').map((e) => e.detail.replicationRunId!);
    assert.deepEqual(completedEvents.sort(), [...completedRuns].sort(), 'one COMPLETED event per run');
    const statesOf = new Map<string, string[]>();
    for (const e of runEvents) statesOf.set(e.detail.replicationRunId!, [...(statesOf.get(e.detail.replicationRunId!) ?? []), e.detail.state!]);
    for (const [runId, states] of statesOf) assert.equal(new Set(states).size, states.length, `run ${runId} went through a state twice: ${states}`);
    for (const runId of completedRuns) assert.ok(statesOf.get(runId)!.includes('ACTIVE'), `run ${runId} was announced ACTIVE`);

    // 11. Connectors stop; every node stops cleanly (sealing its open pack into the bucket); nothing stays local.
    for (const c of connectorProcesses) await c.kill();
    await cluster.stopAll();
    for (const node of cluster.nodes) assert.deepEqual(await packFiles(node.dataDir), [], `${node.name} keeps no pack file`);

    // 12. The audit, from the bucket and the store alone (a fresh data dir).
    const fresh = mkdtempSync(join(scratch, 'audit-'));
    const audited = await run(NODE, [join(REPO_ROOT, 'test/helpers/clusterAudit.ts'), fresh], { env: { ...process.env, ...cluster.env, FERRY_LOG_LEVEL: 'warn' }, timeoutMs: 30 * 60_000 });
    assert.equal(audited.code, 0, audited.stderr);
    const audit = JSON.parse(audited.stdout) as ClusterAudit;
    assert.equal(audit.images.length, completedRuns.size, 'one image per run');
    for (const image of audit.images) {
      assert.ok(completedRuns.has(image.runId), `image ${image.amiId} belongs to a completed run`);
      assert.equal(image.state, 'available');
      assert.deepEqual(image.disks.map((d) => d.sha256), [sourceOfRun.get(image.runId)], `image ${image.amiId} (run ${image.runId}) is its source disk at that run`);
    }
    assert.equal(new Set(audit.images.map((i) => i.runId)).size, audit.images.length, 'no run made two images');
    assert.deepEqual(audit.imageRunStates, { finished: completedRuns.size }, 'every image run finished, none left writing or abandoned');
    assert.deepEqual(audit.packRows.filter((p) => p.state !== 'sealed'), [], 'no pack left open');
    assert.deepEqual(audit.packObjects, audit.packRows.map((p) => p.objectName).sort(), 'the bucket holds exactly the indexed packs');
    assert.deepEqual(audit.manifestObjects, audit.snapshotRows.map((s) => `manifests/${s.snapshotId}.manifest`).sort(), 'the bucket holds exactly the indexed manifests');
    const packIds = new Set(audit.packRows.map((p) => p.packId));
    assert.deepEqual(audit.blockRows.filter((b) => !packIds.has(b.packId)), [], 'every indexed block lies in an indexed pack');
    assert.deepEqual(audit.referencedBlockIds, audit.blockRows.map((b) => b.blockId), 'the manifests reference exactly the indexed blocks');

    const load = loadavg().map((l) => l.toFixed(1)).join(' ');
    console.log(
      `cluster scale: ${completedRuns.size} runs across ${JOBS} jobs, ${CONNECTORS} connectors, 3 nodes: runs done after ${((runsDoneAt - startedAt) / 1000).toFixed(0)} s, ` +
        `leader takeover ${(takeoverMs / 1000).toFixed(1)} s after the kill; ${events.length} events (${cluster.webhooks.events.length - events.length} sent again after the node kill), ${audit.packRows.length} packs, ${audit.blockRows.length} blocks; load ${load}`,
    );
  });
});
