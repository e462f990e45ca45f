/**
 * The cluster, for real: three `ferry serve` processes on one PostgreSQL database and one S3 bucket (moto_server),
 * each with its own data dir, and two standalone connectors, each behind a failover front (test/helpers/failoverProxy)
 * that prefers a different node. Jobs are created and read through different nodes. Mid-run, the node that leads the
 * scheduler and serves the slow connector is killed with SIGKILL: the slow run still COMPLETES through another
 * node (its connector reconnects there), another node takes the scheduler lease over, and every run is executed
 * once — each run's COMPLETED webhook event arrives once, every event once (bar the redelivery, with its id, of an
 * event the killed node had sent but not marked: the webhook contract's one repeat). The killed node is started
 * again on its data dir (as systemd would): its open pack is published. After a clean stop of every node, each
 * image exports bit-identical from the bucket through a fresh data dir.
 *
 * Skipped, with this reason, when FERRY_TEST_PG_URL is unset (CI sets it: `.ci/run`, `.ci/postgres`).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetConnectorsCommand, GetReplicationRunsCommand, GetServersCommand, SMSClient, StartOnDemandReplicationRunCommand } from '@aws-sdk/client-sms';
import { ferryCli, freePort, spawnFerry, type FerryProcess } from '../helpers/process.ts';
import { startTestBucket, type TestBucket } from '../helpers/s3.ts';
import { createTestDatabase, postgresSkipReason, testPostgresUrl } from '../helpers/stores.ts';
import { startFailoverProxy, type FailoverProxy } from '../helpers/failoverProxy.ts';
import { CLUSTER_ROOT, clusterNodeEnv, eachEventOnce, startWebhookReceiver, type WebhookReceiver } from '../helpers/clusterHarness.ts';
import { assertSameDisk, createJob, expectCompleted, importCatalog, spawnConnector, waitFor, type ConnectorProcess } from '../helpers/replication.ts';
import { makeKvmVm, makeTempDatastore, MiB, type MadeVm } from '../helpers/vmFactory.ts';

const ROOT = CLUSTER_ROOT;
const SLOW_SIZE = 48 * MiB;

interface Node {
  name: string;
  dataDir: string;
  process: FerryProcess | undefined;
  port: number;
}

describe('three nodes on one PostgreSQL and one S3 bucket', { skip: postgresSkipReason, concurrency: false, timeout: 15 * 60_000 }, () => {
  let bucket: TestBucket;
  let database: { url: string; drop(): Promise<void> };
  let env: Record<string, string>;
  const nodes: Node[] = [];
  const proxies: FailoverProxy[] = [];
  const connectors: ConnectorProcess[] = [];
  const datastores: { dir: string; cleanup: () => Promise<void> }[] = [];
  const vms = new Map<string, MadeVm>();
  let receiver: WebhookReceiver | undefined;
  const clients: SMSClient[] = [];
  let scratch = '';

  const sms = (node: Node): SMSClient => {
    const client = new SMSClient({ region: 'us-east-1', endpoint: `http://127.0.0.1:${node.port}`, credentials: ROOT, maxAttempts: 1 });
    clients.push(client);
    return client;
  };
  const health = async (node: Node): Promise<Record<string, any> | undefined> => {
    try {
      return (await (await fetch(`http://127.0.0.1:${node.port}/health`)).json()) as Record<string, any>;
    } catch {
      return undefined;
    }
  };
  const start = async (node: Node) => {
    node.process = await spawnFerry({ dataDir: node.dataDir, port: node.port, env: { ...env, FERRY_NODE_ID: node.name }, timeoutMs: 90_000 });
  };

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'ferry-cluster-'));
    bucket = await startTestBucket();
    database = await createTestDatabase(testPostgresUrl!);
    receiver = await startWebhookReceiver();
    env = clusterNodeEnv(bucket, database.url, receiver.server);
    for (const name of ['node-1', 'node-2', 'node-3']) {
      nodes.push({ name, dataDir: mkdtempSync(join(tmpdir(), `ferry-${name}-`)), process: undefined, port: await freePort() });
    }
    // The first node migrates the empty database; the other two start together on it.
    await start(nodes[0]!);
    await Promise.all([start(nodes[1]!), start(nodes[2]!)]);
  });

  after(async () => {
    for (const c of clients) c.destroy();
    for (const connector of connectors) await connector.kill();
    for (const proxy of proxies) await proxy.close();
    for (const node of nodes) await node.process?.kill();
    await receiver?.close();
    await bucket?.stop();
    await database?.drop();
    for (const ds of datastores) await ds.cleanup();
    for (const node of nodes) rmSync(node.dataDir, { recursive: true, force: true });
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  test('one leader, runs once each, a killed node and leader replaced, images bit-identical', async () => {
    // 1. Exactly one node leads the scheduler.
    const leaderName = await waitFor('one scheduler leader', async () => {
      const answers = await Promise.all(nodes.map(health));
      const leaders = answers.filter((h) => h?.scheduler?.leader === true).map((h) => h!.node as string);
      for (const h of answers) assert.equal(h?.store?.status, 'ok');
      for (const h of answers) assert.deepEqual([h?.blocks?.kind, h?.blocks?.status], ['s3', 'ok']);
      assert.ok(leaders.length <= 1, `leaders: ${leaders}`);
      return leaders[0];
    }, { timeoutMs: 30_000 });
    const leader = nodes.find((n) => n.name === leaderName)!;
    const others = nodes.filter((n) => n !== leader);

    // 2. Two connectors: the slow one prefers the leader, the other a second node; both fail over to the rest.
    const order = [[leader, ...others], [others[0]!, others[1]!, leader]];
    const datastoreVms = [
      [['slow', SLOW_SIZE]],
      [['fast-1', 8 * MiB], ['fast-2', 8 * MiB], ['fast-3', 4 * MiB]],
    ] as const;
    for (const [i, preference] of order.entries()) {
      const ds = await makeTempDatastore(`ferry-cluster-ds${i}-`);
      datastores.push(ds);
      for (const [folder, size] of datastoreVms[i]!) {
        vms.set(folder, await makeKvmVm(ds.dir, folder, { disks: [{ format: 'raw', sizeBytes: size, content: { type: 'pattern', seed: `${folder}-seed` } }] }));
      }
      const issued = JSON.parse(await ferryCli(['connectors', 'register', '--label', `cluster ${i}`, '--json', '--data-dir', preference[0]!.dataDir], env)) as { token: string };
      const proxy = await startFailoverProxy(preference.map((n) => `127.0.0.1:${n.port}`));
      proxies.push(proxy);
      connectors.push(spawnConnector({ server: proxy.url, token: issued.token, datastore: ds.dir, ...(i === 0 ? { maxBandwidth: '6M' } : {}) }));
    }

    // 3. The catalog through one node, jobs through another, reads through the third.
    const [a, b, c] = nodes.map(sms) as [SMSClient, SMSClient, SMSClient];
    // An import asks the connectors healthy at that moment: wait until both have registered and heartbeated.
    await waitFor('both connectors to be healthy', async () => {
      const listed = (await c.send(new GetConnectorsCommand({}))).connectorList ?? [];
      return listed.filter((x) => x.status === 'HEALTHY').length === 2 ? listed : undefined;
    }, { timeoutMs: 60_000 });
    const servers = await importCatalog(a, [...vms.keys()], 90_000).catch(async (error: Error) => {
      const listed = await c.send(new GetServersCommand({}));
      const registered = await c.send(new GetConnectorsCommand({}));
      throw new Error(`${error.message}\ncatalog ${listed.serverCatalogStatus}: ${JSON.stringify(listed.serverList?.map((s) => s.vmServer?.vmPath))}\nconnectors ${JSON.stringify(registered.connectorList?.map((x) => [x.connectorId, x.status]))}\n${connectors.map((x) => x.stderr() + x.stdout().slice(-3000)).join('\n---\n')}\n${nodes.map((n) => n.process?.stderr().slice(-3000)).join('\n---\n')}`);
    });
    const jobs = new Map<string, { jobId: string; seedRunId: string }>();
    for (const folder of vms.keys()) jobs.set(folder, await createJob(b, servers.get(folder)!.serverId!));

    // 4. The slow run is uploading through the leader: kill the leader (SIGKILL).
    const slow = jobs.get('slow')!;
    await waitFor('the slow run to be uploading', async () => {
      const run = (await c.send(new GetReplicationRunsCommand({ replicationJobId: slow.jobId }))).replicationRunList?.find((r) => r.replicationRunId === slow.seedRunId);
      const percent = Number(/(\d+)%/.exec(run?.stageDetails?.stageProgress ?? '')?.[1] ?? 0);
      return run?.state === 'ACTIVE' && percent >= 10 && percent <= 60 ? run : undefined;
    }, { timeoutMs: 120_000, intervalMs: 100 });
    const killedAt = Date.now();
    await leader.process!.kill();

    // 5. Another node takes the scheduler over once the dead leader's lease has run out (15 s), and only one.
    const successor = await waitFor('another node to lead the scheduler', async () => {
      const answers = await Promise.all(others.map(health));
      const leaders = answers.filter((h) => h?.scheduler?.leader === true);
      assert.ok(leaders.length <= 1);
      return leaders[0]?.node as string | undefined;
    }, { timeoutMs: 60_000, intervalMs: 250 });
    assert.ok(others.some((n) => n.name === successor));
    const takeoverMs = Date.now() - killedAt;

    // 6. Every run COMPLETES, the slow one through a surviving node.
    const survivor = sms(others[0]!);
    const completed = new Map<string, string>();
    for (const [folder, job] of jobs) completed.set(folder, (await expectCompleted(survivor, job.jobId, job.seedRunId, 240_000)).amiId);
    assert.ok(proxies[0]!.connections.some((to) => to !== proxies[0]!.backends[0]), 'the slow connector reconnected to another node');

    // 7. Two more runs (incremental), run once each: fast-1's asked six times at once of both surviving nodes (one
    // starts, the others find it waiting or active: the job's row is locked while each decides, docs/store.md),
    // slow's of the successor.
    const successorClient = sms(nodes.find((n) => n.name === successor)!);
    const askers = others.map(sms);
    const fast1 = jobs.get('fast-1')!;
    const asked = await Promise.allSettled(askers.flatMap((client) => [1, 2, 3].map(() => client.send(new StartOnDemandReplicationRunCommand({ replicationJobId: fast1.jobId })))));
    const started = asked.flatMap((a) => (a.status === 'fulfilled' ? [a.value.replicationRunId!] : []));
    assert.equal(started.length, 1, `one of six concurrent StartOnDemandReplicationRun starts a run: ${JSON.stringify(asked.map((a) => (a.status === 'fulfilled' ? a.value.replicationRunId : (a.reason as Error).name)))}`);
    for (const a of asked) if (a.status === 'rejected') assert.equal((a.reason as Error).name, 'OperationNotPermittedException', (a.reason as Error).message);
    await expectCompleted(survivor, fast1.jobId, started[0]!, 240_000);
    const slowRun = await successorClient.send(new StartOnDemandReplicationRunCommand({ replicationJobId: slow.jobId }));
    await expectCompleted(survivor, slow.jobId, slowRun.replicationRunId!, 240_000);

    // 8. Each run's COMPLETED event was delivered exactly once, and no event twice.
    const runIds = new Set<string>();
    for (const job of jobs.values()) {
      for (const run of (await survivor.send(new GetReplicationRunsCommand({ replicationJobId: job.jobId }))).replicationRunList ?? []) {
        if (run.state === 'COMPLETED') runIds.add(run.replicationRunId!);
      }
    }
    assert.equal(runIds.size, jobs.size + 2);
    const completionsIn = (events: readonly { type: string; detail: Record<string, string | null> }[]) =>
      events.filter((e) => e.type === 'Server Migration Run State Change' && e.detail.state === 'COMPLETED').map((e) => e.detail.replicationRunId);
    await waitFor('every completion to be delivered', () => (new Set(completionsIn(receiver!.events)).size >= runIds.size ? true : undefined), { timeoutMs: 60_000 });
    await new Promise((resolve) => setTimeout(resolve, 2000)); // a duplicate, if any, would arrive meanwhile
    // No event twice, but for what the webhook contract allows: the killed node's in-flight ones (clusterHarness.ts).
    const events = eachEventOnce(receiver!.events, [killedAt]);
    assert.deepEqual(completionsIn(events).sort(), [...runIds].sort(), 'one COMPLETED event per run');

    // 9. The killed node comes back on its data dir (systemd's Restart=): it publishes the pack it had open. Then
    // every node stops cleanly (sealing what is open) and every image exports bit-identical from the bucket alone.
    await start(leader);
    for (const connector of connectors) await connector.kill();
    for (const node of nodes) {
      node.process!.child.kill('SIGTERM');
      await node.process!.exited;
    }
    const exportDir = mkdtempSync(join(scratch, 'export-'));
    const fresh = mkdtempSync(join(scratch, 'fresh-data-'));
    for (const [folder, amiId] of completed) {
      const out = join(exportDir, `${folder}.raw`);
      await ferryCli(['images', 'export', amiId, '--disk', '0', '--format', 'raw', '--output', out, '--data-dir', fresh], env);
      const disk = vms.get(folder)!.disks[0]!;
      await assertSameDisk(disk.path, 'raw', out, 'raw', folder);
    }
    const load = loadavg().map((l) => l.toFixed(1)).join(' ');
    console.log(`cluster: leader takeover after ${(takeoverMs / 1000).toFixed(1)} s (lease 15 s); ${runIds.size} runs, ${events.length} events; load ${load}`);
  });
});
