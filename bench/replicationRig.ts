/**
 * The replication bench's rig: files, the machine's idle share, Ferry child processes and runs through the SMS
 * API. Shared by replication.bench.ts and replicationConcurrent.ts.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, fsyncSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import {
  GetReplicationRunsCommand,
  GetServersCommand,
  ImportServerCatalogCommand,
  StartOnDemandReplicationRunCommand,
  SMSClient,
} from '@aws-sdk/client-sms';
import { cpuSeconds, freePort, procMemory, stopChild } from './processes.ts';
import { Worker } from 'node:worker_threads';
import { MiB, type DiskLayout } from './replicationDisk.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NODE = existsSync(join(ROOT, 'node_modules/.bin/node')) ? join(ROOT, 'node_modules/.bin/node') : process.execPath;
const env = process.env;
export const num = (name: string, fallback: number) => (env[name] ? Number(env[name]) : fallback);
const COMPRESSION = env.FERRY_BENCH_COMPRESSION ?? 'none';
export const POLL_MS = 20;
/** Before each timed step, wait up to this long for the machine to be this idle (other sessions share it). */
export const QUIET_IDLE = num('FERRY_BENCH_QUIET_IDLE', 0.85);
export const QUIET_WAIT_MS = num('FERRY_BENCH_QUIET_WAIT_MS', 5_000);
const CREDENTIALS = { accessKeyId: 'AKIAFERRYREPLBENCH01', secretAccessKey: randomBytes(30).toString('base64') };
const T0 = performance.now();
export const log = (message: string) => process.stderr.write(`[bench ${((performance.now() - T0) / 1000).toFixed(1).padStart(5)}s] ${message}\n`);
export const children = new Set<ChildProcess>();

export const run = promisify(execFile);
/** FERRY_BENCH_SOURCE=cold: every input is read from the disk, not from the page cache (see warm). */
export const COLD_SOURCES = process.env.FERRY_BENCH_SOURCE === 'cold';
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
export const seconds = (from: number) => (performance.now() - from) / 1000;
export const benchSeconds = () => seconds(T0);

// ---------------------------------------------------------------------------------------------------------------
// Files

/**
 * Reads a file through the page cache (re-warms it: pages idle for ~30 s are paged out on this machine), or with
 * FERRY_BENCH_SOURCE=cold drops its cached pages instead (`dd iflag=nocache count=0`: posix_fadvise DONTNEED), so
 * Ferry and the baselines read it from the disk, as a migration reads a VM's disk.
 */
export function warm(path: string): void {
  if (COLD_SOURCES) {
    execFileSync('dd', [`if=${path}`, 'iflag=nocache', 'count=0', 'status=none']);
    return;
  }
  const buffer = Buffer.allocUnsafe(8 * MiB);
  const fd = openSync(path, 'r');
  try {
    let at = 0;
    for (;;) {
      const n = readSync(fd, buffer, 0, buffer.length, at);
      if (n === 0) break;
      at += n;
    }
  } finally {
    closeSync(fd);
  }
}

/** Makes a file durable, so its dirty pages do not compete with the next timed step for the disk. */
export function fsyncFile(path: string): void {
  const fd = openSync(path, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Whole-machine CPU time counters from /proc/stat: [busy, total] in clock ticks. */
export function cpuTicks(): [number, number] {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = fields[3]! + (fields[4] ?? 0);
  const total = fields.reduce((a, b) => a + b, 0);
  return [total - idle, total];
}

/** Idle share of the machine's CPUs over the next `ms`. */
export async function idleShare(ms: number): Promise<number> {
  const [b0, t0] = cpuTicks();
  await sleep(ms);
  const [b1, t1] = cpuTicks();
  return t1 === t0 ? 1 : 1 - (b1 - b0) / (t1 - t0);
}

/**
 * Starts sampling the machine's idle share; the returned function gives the share over the time since (whole
 * machine, all CPUs, from /proc/stat), so every figure can be printed beside how idle the machine was meanwhile.
 */
export function idleDuring(): () => number {
  const [b0, t0] = cpuTicks();
  return () => {
    const [b1, t1] = cpuTicks();
    return t1 === t0 ? 1 : 1 - (b1 - b0) / (t1 - t0);
  };
}

/** Idle shares seen right before the timed steps (other sessions share this machine). */
export const quietness: number[] = [];

/** Waits (at most QUIET_WAIT_MS) until the machine is at least QUIET_IDLE idle over a second; records what it saw. */
export async function waitQuiet(): Promise<void> {
  const deadline = Date.now() + QUIET_WAIT_MS;
  let idle = await idleShare(1000);
  while (idle < QUIET_IDLE && Date.now() < deadline) idle = await idleShare(1000);
  quietness.push(idle);
}

/** Bytes of the files under `dir` (apparent sizes), by top-level subdirectory. */
export function treeBytes(dir: string): number {
  let total = 0;
  if (!existsSync(dir)) return 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += treeBytes(path);
    else if (entry.isFile()) total += statSync(path).size;
  }
  return total;
}

export interface StoreSize {
  packs: number;
  manifests: number;
  db: number;
}

export function storeSize(dataDir: string): StoreSize {
  const db = readdirSync(dataDir)
    .filter((name) => /\.(db|sqlite)(-wal|-shm)?$/.test(name))
    .reduce((n, name) => n + statSync(join(dataDir, name)).size, 0);
  return { packs: treeBytes(join(dataDir, 'images', 'packs')), manifests: treeBytes(join(dataDir, 'images', 'manifests')), db };
}

export async function qemuImg(args: string[]): Promise<string> {
  const { stdout } = await run('qemu-img', args, { maxBuffer: 64 * MiB });
  return stdout;
}

export async function removeBitmaps(path: string): Promise<void> {
  const info = JSON.parse(await qemuImg(['info', '--output=json', '-f', 'qcow2', path])) as {
    'format-specific'?: { data?: { bitmaps?: { name: string }[] } };
  };
  for (const bitmap of info['format-specific']?.data?.bitmaps ?? []) await qemuImg(['bitmap', '--remove', '-f', 'qcow2', path, bitmap.name]);
}

// ---------------------------------------------------------------------------------------------------------------
// Processes


export interface LogLine {
  time: number;
  msg: string;
  runId?: string;
  [key: string]: unknown;
}

export interface FerryProcess {
  child: ChildProcess;
  url: string;
  sms: SMSClient;
  lines: LogLine[];
  stderr: () => string;
}

/**
 * `root`: the checkout whose src/cli/main.ts runs (an A/B against another commit's tree; default this one);
 * `extraEnv`: variables on top of the bench's (an A/B of a switch).
 */
export async function startFerry(
  name: string,
  datastore: string,
  dataDir: string,
  profileDir: string | undefined,
  root = ROOT,
  extraEnv: Record<string, string> = {},
): Promise<FerryProcess> {
  const port = await freePort();
  const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=ferry-${name}.cpuprofile`] : [];
  const child = spawn(
    NODE,
    [...profile, '--max-semi-space-size=16', 'src/cli/main.ts', 'serve', '--datastore', datastore, '--data-dir', dataDir, '--port', String(port)],
    {
      cwd: root,
      env: {
        ...env,
        FERRY_ROOT_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
        FERRY_ROOT_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
        FERRY_LOG_LEVEL: 'info', // the bench reads the 'replication run completed' lines
        FERRY_COMPRESSION: COMPRESSION,
        ...extraEnv,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.add(child);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const lines: LogLine[] = [];
  let partial = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString('utf8');
    const parts = text.split('\n');
    partial = parts.pop()!;
    for (const part of parts) {
      if (!part.startsWith('{')) continue;
      try {
        const line = JSON.parse(part) as LogLine;
        // Keep what the bench looks at (run results and warnings), not the access log.
        if (line.runId !== undefined || (line.level as number) >= 40) lines.push(line);
      } catch {
        // not a log line
      }
    }
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Ferry (${name}) exited with ${child.exitCode}: ${stderr}`);
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`Ferry (${name}) did not become healthy within 60 s: ${stderr}`);
    await sleep(50);
  }
  const sms = new SMSClient({ region: 'us-east-1', endpoint: url, credentials: CREDENTIALS, maxAttempts: 1 });
  return { child, url, sms, lines, stderr: () => stderr };
}

export async function stop(child: ChildProcess): Promise<void> {
  await stopChild(child, 15_000);
  children.delete(child);
}

export const hwmMb = (pid: number): number => procMemory(pid).hwmMb;

// ---------------------------------------------------------------------------------------------------------------
// Through the API

export async function importServer(ferry: FerryProcess, vmName: string): Promise<string> {
  return (await importServers(ferry, [vmName]))[0]!;
}

/** One catalog import; the server ids of the named VMs, in order, once the import is done. */
export async function importServers(ferry: FerryProcess, vmNames: string[]): Promise<string[]> {
  await ferry.sms.send(new ImportServerCatalogCommand({}));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const page = await ferry.sms.send(new GetServersCommand({ maxResults: 100 }));
    const ids = vmNames.map((name) => page.serverList?.find((s) => s.vmServer?.vmName === name)?.serverId);
    if (page.serverCatalogStatus !== 'IMPORTING' && ids.every((id) => id !== undefined)) return ids as string[];
    if (Date.now() > deadline) throw new Error(`servers ${vmNames.join(', ')} not all in the catalog after 60 s`);
    await sleep(100);
  }
}

export interface RunTiming {
  /** StartOnDemandReplicationRun sent → COMPLETED seen. */
  api: number;
  /** ACTIVE first seen (the connector claimed it) → COMPLETED seen. */
  engine: number;
  /** Ferry process CPU seconds from the request to COMPLETED. */
  cpu: number;
  /** The machine's idle share while the run ran. */
  idle: number;
  totals: Record<string, unknown>;
}

/** The connector's milliseconds per step of a run (its completion log line's `phases`), on one line. */
export function steps(timing: RunTiming): string {
  const phases = (timing.totals.phases ?? {}) as Record<string, number>;
  return `steps (ms): ${Object.entries(phases).filter(([, ms]) => ms > 0).map(([name, ms]) => `${name} ${ms}`).join(', ')}`;
}

/**
 * While a run copies, the bench does not poll the API: it polls every POLL_MS until the run is ACTIVE, then watches
 * the connector's log for the run's end ('replication run completed' or 'failed', written after it reported the
 * state), and then polls until GetReplicationRuns shows COMPLETED, which stops the clock. Polling every 20 ms all
 * through the run cost the Ferry process 2.2–2.8 ms of CPU per request at load 22 (sigv4, SQL, JSON, the access log
 * line), 0.37–0.47 CPU s per GB of a full run's figure at load 17–20 (bench/README.md), all of it the bench's own traffic; a
 * safety poll every POLL_SLOW_MS still notices a run that ends without its log line.
 */
const POLL_SLOW_MS = 1000;

/** `pollThroughout`: poll every POLL_MS all through the run, as the bench did before (an A/B of what that costs). */
export async function replicate(ferry: FerryProcess, jobId: string, pollThroughout = false): Promise<RunTiming> {
  const pid = ferry.child.pid!;
  const cpu0 = cpuSeconds(pid);
  const idle = idleDuring();
  const start = performance.now();
  // The clock the service stamps completedTime with (same machine): the run ends when the service records COMPLETED,
  // not when a poll or the connector's last log line (after it retires old dirty bitmaps) happens to see it.
  const startWall = Date.now();
  const { replicationRunId } = await ferry.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: jobId }));
  const ended = () => ferry.lines.find((l) => l.runId === replicationRunId && (l.msg === 'replication run completed' || l.msg === 'replication run failed'));
  let activeAt: number | undefined;
  let lastPoll = 0;
  for (;;) {
    const now0 = performance.now();
    // Poll now while the run is not yet ACTIVE, once its end is logged, and every POLL_SLOW_MS in between.
    if (pollThroughout || activeAt === undefined || ended() || now0 - lastPoll >= POLL_SLOW_MS) {
      lastPoll = now0;
      const runs = await ferry.sms.send(new GetReplicationRunsCommand({ replicationJobId: jobId, maxResults: 50 }));
      const now = performance.now();
      const found = runs.replicationRunList?.find((r) => r.replicationRunId === replicationRunId);
      if (found?.state === 'ACTIVE') activeAt ??= now;
      if (found?.state === 'COMPLETED') {
        activeAt ??= start;
        const completedMs = found.completedTime?.getTime();
        // performance.now() of the moment the service recorded COMPLETED (Date.now() and performance.now() advance together).
        const completedAt = completedMs !== undefined && completedMs >= startWall ? start + (completedMs - startWall) : now;
        const cpu = cpuSeconds(pid) - cpu0;
        // The connector retires old dirty bitmaps after it reports COMPLETED; the disk may change only after that.
        const deadline = Date.now() + 60_000;
        let done: LogLine | undefined;
        while (!(done = ferry.lines.find((l) => l.runId === replicationRunId && l.msg === 'replication run completed'))) {
          if (Date.now() > deadline) throw new Error(`no completion log line for ${replicationRunId}`);
          await sleep(20);
        }
        return { api: (completedAt - start) / 1000, engine: (completedAt - Math.min(activeAt, completedAt)) / 1000, cpu, idle: idle(), totals: done };
      }
      if (found?.state === 'FAILED' || found?.state === 'DELETED') throw new Error(`run ${replicationRunId} ${found.state}: ${found.statusMessage}`);
    }
    await sleep(POLL_MS);
  }
}

/**
 * The disk's own O_DIRECT write speed for `bytes`: `dd oflag=direct` in 512 KiB writes into a new file, then
 * fdatasync (as Ferry makes its packs durable). Seconds, and the idle share meanwhile.
 */
export async function directWriteBaseline(dir: string, bytes: number): Promise<{ time: number; idle: number }> {
  const out = join(dir, 'direct-baseline.out');
  await waitQuiet();
  const idle = idleDuring();
  const start = performance.now();
  await run('dd', ['if=/dev/zero', `of=${out}`, 'bs=512K', `count=${Math.ceil(bytes / (512 * 1024))}`, 'oflag=direct', 'conv=fdatasync', 'status=none']);
  const time = seconds(start);
  const result = { time, idle: idle() };
  rmSync(out, { force: true });
  return result;
}

/**
 * The hashing ceiling: SHA-256 of the disk's data blocks on two threads (replicationHash.ts), read from the page
 * cache. A hash diff reads and hashes every one of them, so this is what it is measured against.
 */
export async function hashCeiling(rawPath: string, layout: DiskLayout): Promise<{ time: number; idle: number }> {
  const BLOCK = 512 * 1024;
  const blocks: number[] = [];
  for (const r of layout.data) for (let b = r.offset / BLOCK; b < (r.offset + r.length) / BLOCK; b++) blocks.push(b);
  await waitQuiet();
  warm(rawPath);
  const halves = [blocks.filter((_, i) => i % 2 === 0), blocks.filter((_, i) => i % 2 === 1)];
  const idle = idleDuring();
  const times = await Promise.all(
    halves.map(
      (part) =>
        new Promise<number>((resolve, reject) => {
          const worker = new Worker(new URL('./replicationHash.ts', import.meta.url), { workerData: { path: rawPath, blocks: part } });
          worker.once('message', (m: { ms: number }) => resolve(m.ms / 1000));
          worker.once('error', reject);
        }),
    ),
  );
  return { time: Math.max(...times), idle: idle() };
}
