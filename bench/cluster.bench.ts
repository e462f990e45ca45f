/**
 * The cluster's control plane, measured in one run (docs/cluster.md):
 *   1. runs claimed per second by 4 connectors spread over 3 `ferry serve` nodes on one PostgreSQL database, next to
 *      the same 4 connectors on 1 node (same database setup, same jobs);
 *   2. GetReplicationJobs: the serving process's CPU per request (from /proc) on PostgreSQL and on SQLite;
 *   3. the data path (clusterDataPath.ts): a full replication of a generated disk into S3 (moto_server) next to
 *      `aws s3 cp` of the same data to the same S3 server, and the same replication into the local store.
 * The machine is shared and noisy: read the ratios, each measured against its baseline in the same run, with the
 * load average printed beside them. PostgreSQL's own CPU is not in the per-request figure (another process).
 *
 *   FERRY_TEST_PG_URL=$(.ci/postgres) node bench/cluster.bench.ts [runs to claim, default 200]
 *   FERRY_BENCH_CLUSTER_DISK_MIB: the generated disk's size for the data path (default 256, half of it data);
 *   FERRY_BENCH_CLUSTER_PARTS=datapath runs only the data path (control plane only: FERRY_BENCH_CLUSTER_PARTS=control).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateReplicationJobCommand, GetReplicationJobsCommand, GetServersCommand, ImportServerCatalogCommand, SMSClient } from '@aws-sdk/client-sms';
import { ferryCli, spawnFerry, type FerryProcess } from '../test/helpers/process.ts';
import { createTestDatabase, testPostgresUrl } from '../test/helpers/stores.ts';
import { TestConnector, vms } from '../test/helpers/testConnector.ts';
import { cpuSeconds } from './processes.ts';
import { measureDataPath, type DataPathFigure } from './clusterDataPath.ts';

if (!testPostgresUrl) {
  console.error('bench:cluster needs PostgreSQL: export FERRY_TEST_PG_URL=$(.ci/postgres)');
  process.exit(2);
}
const RUNS = Math.ceil(Number(process.argv[2] ?? 200) / 4) * 4;
const CONNECTORS = 4;
const ROOT = { accessKeyId: 'AKIABENCHCLUSTER0001', secretAccessKey: 'bench-cluster-secret-0123456789' };
const load = () => `load ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${cpus().length} cores`;

interface Cluster {
  nodes: FerryProcess[];
  env: Record<string, string>;
  dataDirs: string[];
  close(): Promise<void>;
}

async function startCluster(count: number, store: 'postgres' | 'sqlite'): Promise<Cluster> {
  const database = store === 'postgres' ? await createTestDatabase(testPostgresUrl!) : undefined;
  const env: Record<string, string> = {
    FERRY_MASTER_KEY: randomBytes(32).toString('hex'),
    FERRY_ROOT_ACCESS_KEY_ID: ROOT.accessKeyId,
    FERRY_ROOT_SECRET_ACCESS_KEY: ROOT.secretAccessKey,
    FERRY_LOG_LEVEL: 'warn',
    FERRY_MAX_JOBS_PER_ACCOUNT: '1000',
    ...(database ? { FERRY_STORE: database.url } : {}),
  };
  const dataDirs = Array.from({ length: count }, () => mkdtempSync(join(tmpdir(), 'ferry-bench-cluster-')));
  const nodes = [await spawnFerry({ dataDir: dataDirs[0]!, env: { ...env, FERRY_NODE_ID: 'node-1' }, timeoutMs: 90_000 })];
  nodes.push(...(await Promise.all(dataDirs.slice(1).map((dir, i) => spawnFerry({ dataDir: dir, env: { ...env, FERRY_NODE_ID: `node-${i + 2}` }, timeoutMs: 90_000 })))));
  return {
    nodes,
    env,
    dataDirs,
    async close() {
      for (const node of nodes) {
        node.child.kill('SIGTERM');
        await node.exited;
      }
      for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
      await database?.drop();
    },
  };
}

const smsOf = (node: FerryProcess) => new SMSClient({ region: 'us-east-1', endpoint: node.url, credentials: ROOT, maxAttempts: 1 });

/** 4 connectors (spread round-robin over the nodes) claim RUNS due runs; returns claims per second. */
async function claimRate(nodeCount: number): Promise<number> {
  const cluster = await startCluster(nodeCount, 'postgres');
  try {
    const connectors: TestConnector[] = [];
    for (let i = 0; i < CONNECTORS; i++) {
      const node = cluster.nodes[i % nodeCount]!;
      const issued = JSON.parse(await ferryCli(['connectors', 'register', '--json', '--data-dir', cluster.dataDirs[0]!], cluster.env)) as { connectorId: string; token: string };
      const connector = new TestConnector(node.url, issued.token, issued.connectorId);
      // Each connector serves its own VM manager's quarter of the servers, as connectors of a factory do.
      await connector.register({ vmManagerId: `vcenter-${i}`, vmManagerName: `vcenter${i}.bench` });
      connectors.push(connector);
    }
    // Warm every node's claim path (JIT, pool connections) with empty claims first: cold nodes are not the question.
    for (let i = 0; i < 50; i++) await Promise.all(connectors.map((c) => c.claim(1)));
    const sms = smsOf(cluster.nodes[0]!);
    await sms.send(new ImportServerCatalogCommand({}));
    for (const [i, c] of connectors.entries()) await c.inventory(vms(RUNS / CONNECTORS, `bench${i}-`));
    const servers = (await sms.send(new GetServersCommand({ maxResults: 1000 }))).serverList ?? [];
    const seed = new Date(Date.now() - 60_000);
    for (const server of servers) await sms.send(new CreateReplicationJobCommand({ serverId: server.serverId!, seedReplicationTime: seed, frequency: 12 }));
    sms.destroy();
    let claimed = 0;
    const started = performance.now();
    await Promise.all(connectors.map(async (connector) => {
      for (;;) {
        const runs = await connector.claim(1);
        if (runs.length === 0) return;
        claimed += runs.length;
      }
    }));
    const seconds = (performance.now() - started) / 1000;
    if (claimed !== RUNS) throw new Error(`claimed ${claimed} runs of ${RUNS}: a run was claimed twice or not at all`);
    return claimed / seconds;
  } finally {
    await cluster.close();
  }
}

/** The node's CPU (user + system) per GetReplicationJobs request over 50 jobs, one page each. */
async function listCpu(store: 'postgres' | 'sqlite', requests: number): Promise<{ cpuMs: number; ms: number }> {
  const cluster = await startCluster(1, store);
  try {
    const node = cluster.nodes[0]!;
    const issued = JSON.parse(await ferryCli(['connectors', 'register', '--json', '--data-dir', cluster.dataDirs[0]!], cluster.env)) as { connectorId: string; token: string };
    const connector = new TestConnector(node.url, issued.token, issued.connectorId);
    await connector.register();
    const sms = smsOf(node);
    await sms.send(new ImportServerCatalogCommand({}));
    await connector.inventory(vms(50, 'list'));
    const servers = (await sms.send(new GetServersCommand({ maxResults: 1000 }))).serverList ?? [];
    for (const server of servers) await sms.send(new CreateReplicationJobCommand({ serverId: server.serverId!, seedReplicationTime: new Date(Date.now() + 3_600_000), frequency: 12 }));
    for (let i = 0; i < 50; i++) await sms.send(new GetReplicationJobsCommand({ maxResults: 50 })); // warm up
    const cpuBefore = cpuSeconds(node.child.pid!);
    const started = performance.now();
    for (let i = 0; i < requests; i++) await sms.send(new GetReplicationJobsCommand({ maxResults: 50 }));
    const ms = (performance.now() - started) / requests;
    const cpuMs = ((cpuSeconds(node.child.pid!) - cpuBefore) * 1000) / requests;
    sms.destroy();
    return { cpuMs, ms };
  } finally {
    await cluster.close();
  }
}

const parts = process.env.FERRY_BENCH_CLUSTER_PARTS ?? 'control,datapath';
console.log(`bench:cluster — ${RUNS} runs, ${CONNECTORS} connectors; ${load()}`);
if (parts.includes('control')) {
  const one = await claimRate(1);
  console.log(`claims, 1 node:   ${one.toFixed(1)} runs/s   (${load()})`);
  const three = await claimRate(3);
  console.log(`claims, 3 nodes:  ${three.toFixed(1)} runs/s   ${(three / one).toFixed(2)}× of 1 node   (${load()})`);
  const sqlite = await listCpu('sqlite', 400);
  console.log(`GetReplicationJobs (50 jobs), SQLite:     ${sqlite.cpuMs.toFixed(2)} ms CPU/request, ${sqlite.ms.toFixed(2)} ms/request   (${load()})`);
  const postgres = await listCpu('postgres', 400);
  console.log(`GetReplicationJobs (50 jobs), PostgreSQL: ${postgres.cpuMs.toFixed(2)} ms CPU/request, ${postgres.ms.toFixed(2)} ms/request   ${(postgres.cpuMs / sqlite.cpuMs).toFixed(2)}× SQLite's CPU   (${load()})`);
}
if (parts.includes('datapath')) {
  const diskMiB = Number(process.env.FERRY_BENCH_CLUSTER_DISK_MIB ?? 256);
  const path = await measureDataPath(testPostgresUrl, diskMiB);
  const line = (name: string, f: DataPathFigure, extra = '') =>
    console.log(`${name.padEnd(34)} ${f.seconds.toFixed(2).padStart(7)} s  ${f.mibPerSecond.toFixed(1).padStart(6)} MiB/s of data${extra}   (idle ${(f.idle * 100).toFixed(0)}%)${cpuText(f)}`);
  const cpuText = (f: DataPathFigure) =>
    f.cpu
      ? `\n${''.padEnd(35)}CPU s: node ${f.cpu.node.toFixed(2)}, connector ${f.cpu.connector.toFixed(2)}${f.cpu.moto === undefined ? '' : `, moto_server ${f.cpu.moto.toFixed(2)}`}`
      : f.cpuCopy
        ? `\n${''.padEnd(35)}CPU s: aws CLI ${f.cpuCopy.cli.toFixed(2)}, moto_server ${f.cpuCopy.moto.toFixed(2)}`
        : '';
  console.log(`data path: a ${diskMiB} MiB disk, ${path.dataMiB.toFixed(0)} MiB of it data; ${load()}`);
  line('aws s3 cp of the data (baseline)', path.awsCp, '   (mean of one before and one after)');
  line('Ferry replication into S3', path.ferryS3, `   ${(path.awsCp.seconds / path.ferryS3.seconds).toFixed(2)}× aws s3 cp's speed (target ≥ 0.8×)`);
  line('Ferry replication into local store', path.ferryLocal, `   ${(path.awsCp.seconds / path.ferryLocal.seconds).toFixed(2)}× aws s3 cp's speed`);
  console.log(`(${load()})`);
}
