/**
 * Helpers for end-to-end replication tests: a Ferry whose embedded (or standalone) connector serves a generated
 * datastore, the SMS calls a migration makes (import the catalog, create a job, watch its runs) through the real
 * AWS SDK, and checks on what lands in the image store (exports compared with the source disks).
 *
 * Every wait polls with a deadline; nothing sleeps for a fixed time.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CreateReplicationJobCommand,
  GetReplicationJobsCommand,
  GetReplicationRunsCommand,
  GetServersCommand,
  ImportServerCatalogCommand,
  type ReplicationJob,
  type ReplicationRun,
  type Server,
  type SMSClient,
} from '@aws-sdk/client-sms';
import { requireTools } from '../../src/lib/tools.ts';
import { runTool } from '../../src/agent/sample/diskBuilder.ts';
import type { ImageStore } from '../../src/images/imageStore.ts';
import type { ExportFormat } from '../../src/images/types.ts';
import { patternBytes } from '../../src/agent/sample/diskBuilder.ts';
import { FERRY_CLI, NODE, REPO_ROOT } from './process.ts';

/** The data plane's block size. */
export const BLOCK = 512 * 1024;

/** The stages a run reports, in order. */
export const STAGE_ORDER = ['Validating', 'Snapshotting', 'Uploading', 'Converting', 'Creating AMI'] as const;

const TERMINAL_RUN_STATES = new Set(['COMPLETED', 'FAILED', 'DELETED', 'MISSED']);

/** Polls `probe` every `intervalMs` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 50));
  }
}

/**
 * ImportServerCatalog, then waits until GetServers says AVAILABLE and lists a server for each VM folder in
 * `folders` (matched by the end of its vmPath, `/<datastore>/<kind>/<folder>`). Returns the servers by folder.
 */
export async function importCatalog(sms: SMSClient, folders: readonly string[], timeoutMs = 30_000): Promise<Map<string, Server>> {
  await sms.send(new ImportServerCatalogCommand({}));
  return waitFor(
    `the server catalog to list ${folders.join(', ')}`,
    async () => {
      const answer = await sms.send(new GetServersCommand({ maxResults: 1000 }));
      if (answer.serverCatalogStatus !== 'AVAILABLE') return undefined;
      const byFolder = new Map<string, Server>();
      for (const folder of folders) {
        const server = (answer.serverList ?? []).find((s) => (s.vmServer?.vmPath ?? '').endsWith(`/${folder}`));
        if (!server) return undefined;
        byFolder.set(folder, server);
      }
      return byFolder;
    },
    { timeoutMs },
  );
}

export interface JobOptions {
  encrypted?: boolean;
  kmsKeyId?: string;
  numberOfRecentAmisToKeep?: number;
  runOnce?: boolean;
}

/** CreateReplicationJob with the seed run due now (frequency 12 h, so the next automatic run is far away). */
export async function createJob(sms: SMSClient, serverId: string, options: JobOptions = {}): Promise<{ jobId: string; seedRunId: string }> {
  const { replicationJobId } = await sms.send(
    new CreateReplicationJobCommand({
      serverId,
      seedReplicationTime: new Date(Date.now() - 1000),
      ...(options.runOnce ? { runOnce: true } : { frequency: 12 }),
      ...options,
    }),
  );
  // The seed run may be done already (tiny disks), with the next automatic run placed after it: take the first.
  const runs = (await sms.send(new GetReplicationRunsCommand({ replicationJobId }))).replicationRunList ?? [];
  const seed = runs.sort((a, b) => (a.scheduledStartTime?.getTime() ?? 0) - (b.scheduledStartTime?.getTime() ?? 0))[0];
  assert.ok(seed?.replicationRunId, 'a new job has its seed run');
  return { jobId: replicationJobId!, seedRunId: seed.replicationRunId };
}

export async function getJob(sms: SMSClient, jobId: string): Promise<ReplicationJob> {
  const job = (await sms.send(new GetReplicationJobsCommand({ replicationJobId: jobId }))).replicationJobList?.[0];
  assert.ok(job, `job ${jobId} exists`);
  return job;
}

export async function getRun(sms: SMSClient, jobId: string, runId: string): Promise<ReplicationRun | undefined> {
  const runs = (await sms.send(new GetReplicationRunsCommand({ replicationJobId: jobId, maxResults: 100 }))).replicationRunList ?? [];
  return runs.find((r) => r.replicationRunId === runId);
}

export interface WatchedRun {
  run: ReplicationRun;
  /** Every distinct (stage, progress) the polls saw, in order. */
  seen: { stage: string; progress: number }[];
}

/**
 * Polls GetReplicationRuns until the run reaches a terminal state (or `until` says stop), recording the stages
 * seen on the way.
 */
export async function watchRun(
  sms: SMSClient,
  jobId: string,
  runId: string,
  options: { timeoutMs?: number; until?: (run: ReplicationRun) => boolean; intervalMs?: number } = {},
): Promise<WatchedRun> {
  const seen: WatchedRun['seen'] = [];
  const until = options.until ?? ((run: ReplicationRun) => TERMINAL_RUN_STATES.has(run.state ?? ''));
  const run = await waitFor(
    `run ${runId} of ${jobId}`,
    async () => {
      const current = await getRun(sms, jobId, runId);
      if (!current) return undefined;
      const stage = current.stageDetails?.stage;
      if (stage) {
        const progress = Number.parseInt(current.stageDetails?.stageProgress ?? '0', 10) || 0;
        const last = seen[seen.length - 1];
        if (!last || last.stage !== stage || last.progress !== progress) seen.push({ stage, progress });
      }
      return until(current) ? current : undefined;
    },
    { timeoutMs: options.timeoutMs ?? 60_000, intervalMs: options.intervalMs ?? 25 },
  );
  return { run, seen };
}

/** The stages seen never go back (Validating → Snapshotting → Uploading → Converting → Creating AMI), nor does progress within one. */
export function assertStagesMonotonic(seen: WatchedRun['seen'], context = ''): void {
  for (let i = 1; i < seen.length; i++) {
    const a = seen[i - 1]!;
    const b = seen[i]!;
    const ia = STAGE_ORDER.indexOf(a.stage as (typeof STAGE_ORDER)[number]);
    const ib = STAGE_ORDER.indexOf(b.stage as (typeof STAGE_ORDER)[number]);
    assert.ok(ia >= 0 && ib >= 0, `${context}: unknown stage in ${JSON.stringify(seen)}`);
    assert.ok(ib > ia || (ib === ia && b.progress >= a.progress), `${context}: stages went backwards: ${JSON.stringify(seen)}`);
  }
}

/** Waits for the run to COMPLETE, checks its stages and returns it (with its amiId). */
export async function expectCompleted(sms: SMSClient, jobId: string, runId: string, timeoutMs = 60_000): Promise<ReplicationRun & { amiId: string }> {
  const { run, seen } = await watchRun(sms, jobId, runId, { timeoutMs });
  assert.equal(run.state, 'COMPLETED', `run ${runId} ended ${run.state}: ${run.statusMessage}`);
  assert.match(run.amiId ?? '', /^ami-[0-9a-f]+$/);
  assertStagesMonotonic(seen, runId);
  return run as ReplicationRun & { amiId: string };
}

// ── Disks ───────────────────────────────────────────────────────────────────────────────────────────────────

function qemuImg(): string {
  return requireTools(['qemu-img'], 'Comparing disk images')['qemu-img'];
}

/** `qemu-img compare` of two images (any formats): true when their guest-visible content is identical. */
export async function qemuCompare(a: string, formatA: string, b: string, formatB: string): Promise<{ identical: boolean; output: string }> {
  try {
    const { stdout } = await runTool(qemuImg(), ['compare', '-U', '-f', formatA, '-F', formatB, a, b]);
    return { identical: true, output: stdout };
  } catch (error) {
    return { identical: false, output: (error as Error).message };
  }
}

export async function assertSameDisk(a: string, formatA: string, b: string, formatB: string, context = ''): Promise<void> {
  const result = await qemuCompare(a, formatA, b, formatB);
  assert.ok(result.identical, `${context}: ${a} (${formatA}) and ${b} (${formatB}) differ: ${result.output}`);
}

export { tempDir } from './tempDirs.ts';

let exportCounter = 0;
/** Exports disk `disk` of `amiId` into `dir` as `format`; returns the file. */
export async function exportImageDisk(images: ImageStore, amiId: string, disk: number, format: ExportFormat, dir: string): Promise<string> {
  const out = join(dir, `${amiId}-d${disk}-${exportCounter++}.${format === 'raw' ? 'raw' : format}`);
  await images.exportDisk(amiId, disk, format, out);
  return out;
}

/** SHA-256 of each 512 KiB block of a raw disk image (zero blocks as null). */
export function blockHashes(raw: Buffer): (string | null)[] {
  const hashes: (string | null)[] = [];
  for (let offset = 0; offset < raw.length; offset += BLOCK) {
    const block = raw.subarray(offset, Math.min(raw.length, offset + BLOCK));
    hashes.push(block.every((b) => b === 0) ? null : createHash('sha256').update(block).digest('hex'));
  }
  return hashes;
}

/**
 * The blocks that differ between `before` and `after`, and the distinct non-zero blocks `after` holds that
 * `before` did not (what an incremental run must store, before deduplication across disks).
 */
export function newBlocks(before: Buffer, after: Buffer): { changedIndexes: number[]; fresh: Set<string> } {
  const a = blockHashes(before);
  const b = blockHashes(after);
  const known = new Set(a.filter((h): h is string => h !== null));
  const changedIndexes: number[] = [];
  const fresh = new Set<string>();
  for (let i = 0; i < b.length; i++) {
    if (a[i] !== b[i]) changedIndexes.push(i);
    const h = b[i];
    if (h && !known.has(h)) fresh.add(h);
  }
  return { changedIndexes, fresh };
}

/** Every file under `<dataDir>/images/packs`. */
export async function packFiles(dataDir: string): Promise<string[]> {
  const root = join(dataDir, 'images', 'packs');
  const out: string[] = [];
  const walk = async (dir: string) => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) out.push(path);
    }
  };
  await walk(root);
  return out;
}

/** The pack files that contain `needle` anywhere. */
export async function packsContaining(dataDir: string, needle: Buffer): Promise<string[]> {
  const hits: string[] = [];
  for (const file of await packFiles(dataDir)) if ((await readFile(file)).includes(needle)) hits.push(file);
  return hits;
}

/** JSON log lines (pino) in `text` whose msg is `msg`. */
export function logLines(text: string, msg: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (parsed.msg === msg) out.push(parsed);
    } catch {
      // not a log line
    }
  }
  return out;
}

/**
 * Waits for a log line `msg` matching `where` in `text()` (a run is COMPLETED in the API a moment before its
 * connector logs it).
 */
export function waitForLogLine(text: () => string, msg: string, where: (line: Record<string, unknown>) => boolean = () => true, timeoutMs = 10_000): Promise<Record<string, unknown>> {
  return waitFor(`log line '${msg}'`, () => logLines(text(), msg).find(where), { timeoutMs });
}

/** GET /health answers 200. */
export async function assertHealthy(url: string): Promise<void> {
  const response = await fetch(`${url}/health`);
  assert.equal(response.status, 200, 'GET /health');
  await response.body?.cancel();
}

/** Fills a raw disk with pattern data (every block distinct), directly: faster than building it through qemu-img. */
export async function fillRaw(path: string, seed: string, size: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    const chunk = 16 * 1024 * 1024;
    for (let offset = 0; offset < size; offset += chunk) {
      const length = Math.min(chunk, size - offset);
      await handle.write(patternBytes(seed, offset, length), 0, length, offset);
    }
  } finally {
    await handle.close();
  }
}

export interface ConnectorProcess {
  child: ChildProcess;
  /** Its JSON log lines so far (FERRY_LOG_LEVEL=info). */
  stdout(): string;
  stderr(): string;
  /** SIGKILL, like a power cut for the process; resolves once it has exited. */
  kill(): Promise<void>;
}

/** Runs `ferry connector --server URL --token T --datastore DIR [--max-bandwidth RATE]` as a child process. */
export function spawnConnector(options: { server: string; token: string; datastore: string; maxBandwidth?: string; pollInterval?: string }): ConnectorProcess {
  const args = [FERRY_CLI, 'connector', '--server', options.server, '--token', options.token, '--datastore', options.datastore];
  args.push('--poll-interval', options.pollInterval ?? '0.2');
  if (options.maxBandwidth) args.push('--max-bandwidth', options.maxBandwidth);
  const child = spawn(NODE, args, { cwd: REPO_ROOT, env: { ...process.env, FERRY_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
