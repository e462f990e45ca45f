/**
 * bench:cluster's data path (issue 11): one full replication of a generated disk through a `ferry serve` node on
 * PostgreSQL with its blocks in S3 (moto_server), next to `aws s3 cp` of the same data to the same S3 server, and the
 * same replication with the blocks in the node's local store. A standalone connector sends the disk, as in a
 * cluster; the node stages each pack and streams it to the bucket as it fills (docs/blocks.md); a run COMPLETES only once its
 * blocks are in the bucket, so the Ferry figures are StartOnDemandReplicationRun → COMPLETED, everything included.
 *
 * The disk is replication.bench's kind (bench/replicationDisk.ts): sparse, half data, every block distinct, mostly
 * incompressible. Ferry reads the holes but stores and uploads only data blocks, so the baseline copies exactly the
 * data bytes: a dense file of the disk's data runs, `aws s3 cp` with the CLI's defaults (8 MiB parts, 10 at a time).
 * Each replication runs into a fresh node and bucket; the baseline runs before and after the two and is averaged.
 */
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateReplicationJobCommand, GetConnectorsCommand, GetReplicationRunsCommand, SMSClient, StartOnDemandReplicationRunCommand } from '@aws-sdk/client-sms';
import { AWS_CLI, awsEnv, ferryCli, run, spawnFerry } from '../test/helpers/process.ts';
import { startTestBucket } from '../test/helpers/s3.ts';
import { createTestDatabase } from '../test/helpers/stores.ts';
import { importCatalog, spawnConnector, waitFor } from '../test/helpers/replication.ts';
import { makeKvmVm, makeTempDatastore } from '../test/helpers/vmFactory.ts';
import { diskLayout, MiB, writeDisk, type DiskLayout } from './replicationDisk.ts';
import { idleDuring } from './replicationRig.ts';
import { cpuSeconds } from './processes.ts';

const ROOT = { accessKeyId: 'AKIABENCHDATAPATH001', secretAccessKey: 'bench-data-path-secret-0123456789' };

export interface DataPathFigure {
  seconds: number;
  /** Data MiB per second (the disk's data bytes over the time). */
  mibPerSecond: number;
  idle: number;
  /** CPU seconds (user + system) each process spent in the timed part: where the time goes. */
  cpu?: { node: number; connector: number; moto?: number };
  /** `aws s3 cp`'s CPU seconds: the CLI (its Python, a child of this process) and moto_server. */
  cpuCopy?: { cli: number; moto: number };
}

/** CPU seconds of this process's waited-for children (the AWS CLI and its Python), from /proc/self/stat. */
export function childrenCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

export interface DataPathResult {
  diskMiB: number;
  dataMiB: number;
  awsCp: DataPathFigure;
  ferryS3: DataPathFigure;
  ferryLocal: DataPathFigure;
}

const figure = (seconds: number, dataBytes: number, idle: number): DataPathFigure => ({ seconds, mibPerSecond: dataBytes / MiB / seconds, idle });

/** The pid of the moto_server listening on `endpoint`'s port (started by test/helpers/moto.ts as `-p PORT`). */
export function motoPid(endpoint: string): number | undefined {
  const port = new URL(endpoint).port;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (args.some((a) => a.includes('moto_server')) && args.includes('-p') && args[args.indexOf('-p') + 1] === port) return Number(entry);
    } catch {
      // the process ended meanwhile
    }
  }
  return undefined;
}

/** The disk's data runs, back to back, in one file: the bytes Ferry has to move. */
function denseCopy(diskPath: string, layout: DiskLayout, out: string): void {
  const buffer = Buffer.allocUnsafe(8 * MiB);
  const input = openSync(diskPath, 'r');
  const output = openSync(out, 'w', 0o600);
  try {
    for (const runOfData of layout.data) {
      for (let done = 0; done < runOfData.length; ) {
        const n = readSync(input, buffer, 0, Math.min(buffer.length, runOfData.length - done), runOfData.offset + done);
        writeSync(output, buffer, 0, n);
        done += n;
      }
    }
  } finally {
    closeSync(input);
    closeSync(output);
  }
}

/** `aws s3 cp` of `file` into a fresh bucket of a fresh moto_server. */
async function awsCopy(file: string, dataBytes: number): Promise<DataPathFigure> {
  const bucket = await startTestBucket();
  const home = mkdtempSync(join(tmpdir(), 'ferry-bench-aws-'));
  try {
    const moto = motoPid(bucket.endpoint);
    const cpuBefore = { cli: childrenCpuSeconds(), moto: moto === undefined ? 0 : cpuSeconds(moto) };
    const idle = idleDuring();
    const started = performance.now();
    // No read timeout: on a saturated machine moto_server takes over the CLI's default 60 s to answer a part.
    const result = await run(AWS_CLI, ['--endpoint-url', bucket.endpoint, '--region', 'us-east-1', '--cli-read-timeout', '0', 's3', 'cp', '--only-show-errors', file, `s3://${bucket.bucket}/disk.data`], {
      env: awsEnv(bucket.credentials, home),
      timeoutMs: 30 * 60_000,
    });
    const seconds = (performance.now() - started) / 1000;
    if (result.code !== 0) throw new Error(`aws s3 cp exited ${result.code}: ${result.stderr}`);
    const timed = figure(seconds, dataBytes, idle());
    if (moto !== undefined) timed.cpuCopy = { cli: childrenCpuSeconds() - cpuBefore.cli, moto: cpuSeconds(moto) - cpuBefore.moto };
    return timed;
  } finally {
    rmSync(home, { recursive: true, force: true });
    await bucket.stop();
  }
}

/** One full replication of the VM in `datastore` through a fresh node (S3 or local blocks) and a standalone connector. */
async function replicateOnce(adminUrl: string, datastore: string, blocks: 's3' | 'local', dataBytes: number): Promise<DataPathFigure> {
  const database = await createTestDatabase(adminUrl);
  const bucket = blocks === 's3' ? await startTestBucket() : undefined;
  const dataDir = mkdtempSync(join(tmpdir(), `ferry-bench-datapath-${blocks}-`));
  const env: Record<string, string> = {
    FERRY_STORE: database.url,
    FERRY_MASTER_KEY: randomBytes(32).toString('hex'),
    FERRY_ROOT_ACCESS_KEY_ID: ROOT.accessKeyId,
    FERRY_ROOT_SECRET_ACCESS_KEY: ROOT.secretAccessKey,
    FERRY_LOG_LEVEL: 'warn',
    ...(bucket ? { ...bucket.env, FERRY_BLOCKS: `s3://${bucket.bucket}/bench`, FERRY_S3_ENDPOINT: bucket.endpoint } : {}),
  };
  const node = await spawnFerry({ dataDir, env: { ...env, FERRY_NODE_ID: `bench-${blocks}` }, timeoutMs: 120_000 });
  const sms = new SMSClient({ region: 'us-east-1', endpoint: node.url, credentials: ROOT, maxAttempts: 1 });
  const issued = JSON.parse(await ferryCli(['connectors', 'register', '--json', '--data-dir', dataDir], env)) as { token: string };
  const connector = spawnConnector({ server: node.url, token: issued.token, datastore });
  try {
    await waitFor('the connector to be healthy', async () => {
      const listed = (await sms.send(new GetConnectorsCommand({}))).connectorList ?? [];
      return listed.some((c) => c.status === 'HEALTHY') ? true : undefined;
    }, { timeoutMs: 120_000, intervalMs: 200 });
    const servers = await importCatalog(sms, ['bench'], 120_000);
    // The seed run 12 h ahead, so the timed run is the on-demand one, asked for when everything is ready.
    const { replicationJobId } = await sms.send(new CreateReplicationJobCommand({ serverId: servers.get('bench')!.serverId!, seedReplicationTime: new Date(Date.now() + 12 * 3_600_000), frequency: 12 }));
    const pids = { node: node.child.pid!, connector: connector.child.pid!, moto: bucket ? motoPid(bucket.endpoint) : undefined };
    const cpuAt = () => ({ node: cpuSeconds(pids.node), connector: cpuSeconds(pids.connector), moto: pids.moto === undefined ? undefined : cpuSeconds(pids.moto) });
    const cpuBefore = cpuAt();
    const idle = idleDuring();
    const started = Date.now();
    const { replicationRunId } = await sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId }));
    // The time is the run's own completedTime (milliseconds, same clock), so the poll can be slow: at every 50 ms it
    // was 20 requests a second to the node for the whole run (the longest, S3's, the most), CPU taken from
    // moto_server and the connector and counted in the node's figure.
    let completed: Date;
    for (;;) {
      const found = (await sms.send(new GetReplicationRunsCommand({ replicationJobId, maxResults: 50 }))).replicationRunList?.find((r) => r.replicationRunId === replicationRunId);
      if (found?.state === 'COMPLETED') {
        completed = found.completedTime!;
        break;
      }
      if (found?.state === 'FAILED' || found?.state === 'DELETED') throw new Error(`run ${found.state}: ${found.statusMessage}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const timed = figure((completed.getTime() - started) / 1000, dataBytes, idle());
    const cpuAfter = cpuAt();
    timed.cpu = {
      node: cpuAfter.node - cpuBefore.node,
      connector: cpuAfter.connector - cpuBefore.connector,
      ...(cpuAfter.moto !== undefined && cpuBefore.moto !== undefined ? { moto: cpuAfter.moto - cpuBefore.moto } : {}),
    };
    return timed;
  } finally {
    sms.destroy();
    await connector.kill();
    node.child.kill('SIGTERM');
    await node.exited;
    rmSync(dataDir, { recursive: true, force: true });
    await bucket?.stop();
    await database.drop();
  }
}

/** The three figures for a generated disk of `diskMiB` (half data). */
export async function measureDataPath(adminUrl: string, diskMiB: number): Promise<DataPathResult> {
  const ds = await makeTempDatastore('ferry-bench-datapath-ds-');
  const scratch = mkdtempSync(join(tmpdir(), 'ferry-bench-datapath-'));
  try {
    const vm = await makeKvmVm(ds.dir, 'bench', { disks: [{ format: 'raw', sizeBytes: diskMiB * MiB, content: { type: 'pattern', seed: 'placeholder', regions: [] } }] });
    const diskPath = vm.disks[0]!.path;
    const layout = diskLayout(diskMiB * MiB, 0.5, 11);
    writeDisk(diskPath, layout, 11);
    const dense = join(scratch, 'disk.data');
    denseCopy(diskPath, layout, dense);
    const before = await awsCopy(dense, layout.dataBytes);
    const ferryS3 = await replicateOnce(adminUrl, ds.dir, 's3', layout.dataBytes);
    const ferryLocal = await replicateOnce(adminUrl, ds.dir, 'local', layout.dataBytes);
    const afterwards = await awsCopy(dense, layout.dataBytes);
    const seconds = (before.seconds + afterwards.seconds) / 2;
    const awsCp = figure(seconds, layout.dataBytes, (before.idle + afterwards.idle) / 2);
    if (before.cpuCopy && afterwards.cpuCopy) {
      awsCp.cpuCopy = { cli: (before.cpuCopy.cli + afterwards.cpuCopy.cli) / 2, moto: (before.cpuCopy.moto + afterwards.cpuCopy.moto) / 2 };
    }
    return {
      diskMiB,
      dataMiB: layout.dataBytes / MiB,
      awsCp,
      ferryS3,
      ferryLocal,
    };
  } finally {
    await ds.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  }
}
