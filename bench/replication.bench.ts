/**
 * `npm run bench:replication`: replication runs of a generated 4 GiB disk (half data, half holes) through the real
 * SMS API, as qcow2 and as raw, against baselines measured in the same run (the machine is shared and noisy, so
 * only ratios compare across runs). See bench/README.md.
 *
 * Per format, a KVM/libvirt VM in a temp datastore is served by the embedded connector of a `ferry serve` child
 * process with a fresh data dir:
 *   1. full run: StartOnDemandReplicationRun → COMPLETED (GetReplicationRuns polled every 50 ms);
 *   2. 1 % incremental: 1 % of the disk's blocks changed (qcow2 through qemu-io, so Ferry's dirty bitmap records
 *      it: a dirty-bitmap incremental; raw written into the file: a hash-diff incremental that reads it all again);
 *   3. peak RSS (VmHWM) of the Ferry process, and the image store's size after each run.
 * Baselines: `qemu-img convert -O qcow2` of the same source into a file, and SHA-256 of the same data blocks on two
 * worker threads (read with readSync from the raw file).
 *
 * It reports and always exits 0; targets that are missed are marked MISS.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpuSeconds, freePort, procMemory, stopChild } from './processes.ts';
import { closeSync, existsSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import {
  GetReplicationRunsCommand,
  GetServersCommand,
  ImportServerCatalogCommand,
  CreateReplicationJobCommand,
  StartOnDemandReplicationRunCommand,
  SMSClient,
} from '@aws-sdk/client-sms';
import { domainXml } from '../src/agent/sample/vmBuilders.ts';
import { diskLayout, writeDisk, MiB, prng, type DiskLayout } from './replicationDisk.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NODE = existsSync(join(ROOT, 'node_modules/.bin/node')) ? join(ROOT, 'node_modules/.bin/node') : process.execPath;
const env = process.env;
const num = (name: string, fallback: number) => (env[name] ? Number(env[name]) : fallback);

/** Knobs (the defaults keep a full bench under ~4 minutes on 2 cores). */
const DISK_GIB = num('FERRY_BENCH_DISK_GIB', 4);
const DATA_FRACTION = num('FERRY_BENCH_DATA_FRACTION', 0.5);
const ROUNDS = num('FERRY_BENCH_ROUNDS', 3);
const CHANGE = num('FERRY_BENCH_CHANGE', 0.01);
const SEED = num('FERRY_BENCH_SEED', 1);
const COMPRESSION = env.FERRY_BENCH_COMPRESSION ?? 'none';
const FORMATS = (env.FERRY_BENCH_FORMATS ?? 'qcow2,raw').split(',') as Format[];
const POLL_MS = 20;
const BLOCK = 512 * 1024;
const CHANGE_WRITE = 64 * 1024;
const TARGETS = { fullVsConvert: 1.0, incrementalVsFull: 0.05, rssMb: 300 };
/** Before each timed step, wait up to this long for the machine to be this idle (other sessions share it). */
const QUIET_IDLE = num('FERRY_BENCH_QUIET_IDLE', 0.85);
const QUIET_WAIT_MS = num('FERRY_BENCH_QUIET_WAIT_MS', 5_000);

type Format = 'qcow2' | 'raw';

const CREDENTIALS = { accessKeyId: 'AKIAFERRYREPLBENCH01', secretAccessKey: randomBytes(30).toString('base64') };
const T0 = performance.now();
const log = (message: string) => process.stderr.write(`[bench ${((performance.now() - T0) / 1000).toFixed(1).padStart(5)}s] ${message}\n`);
const children = new Set<ChildProcess>();
/** The temp dir (datastores, disks, data dirs): removed at the end, also after Ctrl-C. */
let workDir: string | undefined;
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (from: number) => (performance.now() - from) / 1000;

// ---------------------------------------------------------------------------------------------------------------
// Files

/** Reads a file through the page cache (re-warms it: pages idle for ~30 s are paged out on this machine). */
function warm(path: string): void {
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
function fsyncFile(path: string): void {
  const fd = openSync(path, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Whole-machine CPU time counters from /proc/stat: [busy, total] in clock ticks. */
function cpuTicks(): [number, number] {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = fields[3]! + (fields[4] ?? 0);
  const total = fields.reduce((a, b) => a + b, 0);
  return [total - idle, total];
}

/** Idle share of the machine's CPUs over the next `ms`. */
async function idleShare(ms: number): Promise<number> {
  const [b0, t0] = cpuTicks();
  await sleep(ms);
  const [b1, t1] = cpuTicks();
  return t1 === t0 ? 1 : 1 - (b1 - b0) / (t1 - t0);
}

/** Idle shares seen right before the timed steps (other sessions share this machine). */
const quietness: number[] = [];

/** Waits (at most QUIET_WAIT_MS) until the machine is at least QUIET_IDLE idle over a second; records what it saw. */
async function waitQuiet(): Promise<void> {
  const deadline = Date.now() + QUIET_WAIT_MS;
  let idle = await idleShare(1000);
  while (idle < QUIET_IDLE && Date.now() < deadline) idle = await idleShare(1000);
  quietness.push(idle);
}

/** Bytes of the files under `dir` (apparent sizes), by top-level subdirectory. */
function treeBytes(dir: string): number {
  let total = 0;
  if (!existsSync(dir)) return 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += treeBytes(path);
    else if (entry.isFile()) total += statSync(path).size;
  }
  return total;
}

interface StoreSize {
  packs: number;
  manifests: number;
  db: number;
}

function storeSize(dataDir: string): StoreSize {
  const db = readdirSync(dataDir)
    .filter((name) => /\.(db|sqlite)(-wal|-shm)?$/.test(name))
    .reduce((n, name) => n + statSync(join(dataDir, name)).size, 0);
  return { packs: treeBytes(join(dataDir, 'images', 'packs')), manifests: treeBytes(join(dataDir, 'images', 'manifests')), db };
}

async function qemuImg(args: string[]): Promise<string> {
  const { stdout } = await run('qemu-img', args, { maxBuffer: 64 * MiB });
  return stdout;
}

async function removeBitmaps(path: string): Promise<void> {
  const info = JSON.parse(await qemuImg(['info', '--output=json', '-f', 'qcow2', path])) as {
    'format-specific'?: { data?: { bitmaps?: { name: string }[] } };
  };
  for (const bitmap of info['format-specific']?.data?.bitmaps ?? []) await qemuImg(['bitmap', '--remove', '-f', 'qcow2', path, bitmap.name]);
}

// ---------------------------------------------------------------------------------------------------------------
// Processes


interface LogLine {
  time: number;
  msg: string;
  runId?: string;
  [key: string]: unknown;
}

interface FerryProcess {
  child: ChildProcess;
  url: string;
  sms: SMSClient;
  lines: LogLine[];
  stderr: () => string;
}

async function startFerry(name: string, datastore: string, dataDir: string, profileDir: string | undefined): Promise<FerryProcess> {
  const port = await freePort();
  const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=ferry-${name}.cpuprofile`] : [];
  const child = spawn(
    NODE,
    [...profile, '--max-semi-space-size=16', 'src/cli/main.ts', 'serve', '--datastore', datastore, '--data-dir', dataDir, '--port', String(port)],
    {
      cwd: ROOT,
      env: {
        ...env,
        FERRY_ROOT_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
        FERRY_ROOT_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
        FERRY_LOG_LEVEL: 'info', // the bench reads the 'replication run completed' lines
        FERRY_COMPRESSION: COMPRESSION,
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

async function stop(child: ChildProcess): Promise<void> {
  await stopChild(child, 15_000);
  children.delete(child);
}

const hwmMb = (pid: number): number => procMemory(pid).hwmMb;

// ---------------------------------------------------------------------------------------------------------------
// Through the API

async function importServer(ferry: FerryProcess, vmName: string): Promise<string> {
  await ferry.sms.send(new ImportServerCatalogCommand({}));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const page = await ferry.sms.send(new GetServersCommand({ maxResults: 100 }));
    const server = page.serverList?.find((s) => s.vmServer?.vmName === vmName);
    if (server?.serverId) return server.serverId;
    if (Date.now() > deadline) throw new Error(`server ${vmName} not in the catalog after 60 s`);
    await sleep(100);
  }
}

interface RunTiming {
  /** StartOnDemandReplicationRun sent → COMPLETED seen. */
  api: number;
  /** ACTIVE first seen (the connector claimed it) → COMPLETED seen. */
  engine: number;
  /** Ferry process CPU seconds from the request to COMPLETED. */
  cpu: number;
  totals: Record<string, unknown>;
}

async function replicate(ferry: FerryProcess, jobId: string): Promise<RunTiming> {
  const pid = ferry.child.pid!;
  const cpu0 = cpuSeconds(pid);
  const start = performance.now();
  const { replicationRunId } = await ferry.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: jobId }));
  let activeAt: number | undefined;
  for (;;) {
    const runs = await ferry.sms.send(new GetReplicationRunsCommand({ replicationJobId: jobId, maxResults: 50 }));
    const now = performance.now();
    const found = runs.replicationRunList?.find((r) => r.replicationRunId === replicationRunId);
    if (found?.state === 'ACTIVE') activeAt ??= now;
    if (found?.state === 'COMPLETED') {
      const cpu = cpuSeconds(pid) - cpu0;
      // The connector retires old dirty bitmaps after it reports COMPLETED; the disk may change only after that.
      const deadline = Date.now() + 60_000;
      let done: LogLine | undefined;
      while (!(done = ferry.lines.find((l) => l.runId === replicationRunId && l.msg === 'replication run completed'))) {
        if (Date.now() > deadline) throw new Error(`no completion log line for ${replicationRunId}`);
        await sleep(20);
      }
      return { api: (now - start) / 1000, engine: (now - (activeAt ?? start)) / 1000, cpu, totals: done };
    }
    if (found?.state === 'FAILED' || found?.state === 'DELETED') throw new Error(`run ${replicationRunId} ${found.state}: ${found.statusMessage}`);
    await sleep(POLL_MS);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Baselines and changes

/** `qemu-img convert -O qcow2` into a file: its time, and the time until the output is also durable (fsync). */
async function convertBaseline(source: string, format: Format, out: string): Promise<{ convert: number; durable: number }> {
  rmSync(out, { force: true });
  await waitQuiet();
  warm(source);
  const start = performance.now();
  await qemuImg(['convert', '-f', format, '-O', 'qcow2', source, out]);
  const convert = seconds(start);
  fsyncFile(out);
  const durable = seconds(start);
  rmSync(out, { force: true });
  return { convert, durable };
}

async function hashBaseline(rawPath: string, layout: DiskLayout): Promise<number> {
  const blocks: number[] = [];
  for (const r of layout.data) for (let b = r.offset / BLOCK; b < (r.offset + r.length) / BLOCK; b++) blocks.push(b);
  await waitQuiet();
  warm(rawPath);
  const halves = [blocks.filter((_, i) => i % 2 === 0), blocks.filter((_, i) => i % 2 === 1)];
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
  return Math.max(...times);
}

interface Change {
  offset: number;
  length: number;
  pattern: number;
}

/** 1 % of the disk's blocks, spread by a seeded PRNG; each gets 64 KiB of its own byte pattern at a 64 KiB slot. */
function planChange(sizeBytes: number, fraction: number, seed: number): Change[] {
  const blocks = Math.ceil(sizeBytes / BLOCK);
  const count = Math.max(1, Math.round(blocks * fraction));
  const random = prng(seed);
  const chosen = new Set<number>();
  while (chosen.size < count) chosen.add(Math.floor(random() * blocks));
  return [...chosen]
    .sort((a, b) => a - b)
    .map((block, i) => ({ offset: block * BLOCK + Math.floor(random() * (BLOCK / CHANGE_WRITE)) * CHANGE_WRITE, length: CHANGE_WRITE, pattern: 1 + (i % 255) }));
}

async function applyChange(path: string, format: Format, changes: Change[]): Promise<void> {
  if (format === 'raw') {
    const fd = openSync(path, 'r+');
    try {
      for (const c of changes) writeSync(fd, Buffer.alloc(c.length, c.pattern), 0, c.length, c.offset);
    } finally {
      closeSync(fd);
    }
    return;
  }
  const args = ['-f', 'qcow2'];
  for (const c of changes) args.push('-c', `write -q -P ${c.pattern} ${c.offset} ${c.length}`);
  await run('qemu-io', [...args, path]);
}

// ---------------------------------------------------------------------------------------------------------------
// One format, one round

interface FormatRound {
  convert: number;
  convertDurable: number;
  /** Peak RSS of the Ferry process once it has started and imported the catalog, before any run. */
  hwmStart: number;
  full: RunTiming;
  incremental: RunTiming;
  changedBlocks: number;
  storeFull: StoreSize;
  storeIncremental: StoreSize;
  hwmFull: number;
  hwmIncremental: number;
}

async function roundFor(format: Format, round: number, vm: { name: string; disk: string; datastore: string }, work: string, layout: DiskLayout): Promise<FormatRound> {
  // The baseline runs before Ferry in even rounds and after it in odd ones: whatever the step before leaves behind
  // (a 2 GB file just written and deleted, page cache to reclaim) falls on both alike.
  const baseline = async () => {
    const result = await convertBaseline(vm.disk, format, join(work, 'convert-out.qcow2'));
    log(`${format} round ${round + 1}: qemu-img convert ${result.convert.toFixed(2)} s (${result.durable.toFixed(2)} s with fsync)`);
    return result;
  };
  const baselineFirst = round % 2 === 0;
  let { convert, durable: convertDurable } = baselineFirst ? await baseline() : { convert: NaN, durable: NaN };
  if (format === 'qcow2') await removeBitmaps(vm.disk);
  const dataDir = join(work, `ferry-${format}-${round}`);
  const ferry = await startFerry(`${format}-${round + 1}`, vm.datastore, dataDir, env.FERRY_BENCH_CPU_PROF);
  try {
    const serverId = await importServer(ferry, vm.name);
    const { replicationJobId } = await ferry.sms.send(
      new CreateReplicationJobCommand({ serverId, seedReplicationTime: new Date(Date.now() + 3600_000), frequency: 24, licenseType: 'BYOL' }),
    );
    const hwmStart = hwmMb(ferry.child.pid!);
    await waitQuiet();
    warm(vm.disk);
    const full = await replicate(ferry, replicationJobId!);
    const hwmFull = hwmMb(ferry.child.pid!);
    const storeFull = storeSize(dataDir);
    log(`${format} round ${round + 1}: full run ${full.api.toFixed(2)} s (engine ${full.engine.toFixed(2)} s), peak RSS ${hwmFull.toFixed(0)} MB`);
    const changes = planChange(layout.sizeBytes, CHANGE, SEED * 1000 + round);
    await applyChange(vm.disk, format, changes);
    fsyncFile(vm.disk);
    await waitQuiet();
    warm(vm.disk);
    const incremental = await replicate(ferry, replicationJobId!);
    const hwmIncremental = hwmMb(ferry.child.pid!);
    const storeIncremental = storeSize(dataDir);
    log(`${format} round ${round + 1}: incremental ${incremental.api.toFixed(2)} s (engine ${incremental.engine.toFixed(2)} s, ${String(incremental.totals.incremental === true ? 'dirty bitmap' : 'hash diff')})`);
    if (!baselineFirst) ({ convert, durable: convertDurable } = await baseline());
    const warnings = ferry.lines.filter((l) => (l.level as number) >= 40);
    for (const w of warnings) log(`Ferry ${format} warned: ${w.msg} ${JSON.stringify(w.err ?? w.message ?? '')}`);
    return { convert, convertDurable, hwmStart, full, incremental, changedBlocks: changes.length, storeFull, storeIncremental, hwmFull, hwmIncremental };
  } finally {
    ferry.sms.destroy();
    await stop(ferry.child);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Output

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const f = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : '—');
const x = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : '—');
const xx = (n: number) => (Number.isFinite(n) ? `${n.toFixed(3)}×` : '—');
const pad = (s: string, n: number) => s.padEnd(n);
const lpad = (s: string, n: number) => s.padStart(n);
const verdict = (ok: boolean) => (ok ? 'ok' : 'MISS');
const GB = 1e9;
const MB = 1e6;

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'ferry-replication-bench-'));
  workDir = work;
  const out: string[] = [];
  try {
    const sizeBytes = Math.round(DISK_GIB * 1024) * MiB;
    const layout = diskLayout(sizeBytes, DATA_FRACTION, SEED);
    const vms: Record<Format, { name: string; disk: string; datastore: string }> = {
      qcow2: { name: 'bench-qcow2', disk: '', datastore: join(work, 'ds-qcow2') },
      raw: { name: 'bench-raw', disk: '', datastore: join(work, 'ds-raw') },
    };
    for (const format of ['qcow2', 'raw'] as const) {
      const vm = vms[format];
      const folder = join(vm.datastore, vm.name);
      mkdirSync(folder, { recursive: true });
      const file = `${vm.name}.${format === 'raw' ? 'img' : 'qcow2'}`;
      vm.disk = join(folder, file);
      writeFileSync(join(folder, `${vm.name}.xml`), domainXml({ name: vm.name, uuid: null, disks: [{ file, format, dev: 'vda' }] }));
    }
    let start = performance.now();
    writeDisk(vms.raw.disk, layout, SEED);
    const generate = seconds(start);
    start = performance.now();
    await qemuImg(['convert', '-f', 'raw', '-O', 'qcow2', vms.raw.disk, vms.qcow2.disk]);
    const toQcow2 = seconds(start);
    fsyncFile(vms.raw.disk);
    fsyncFile(vms.qcow2.disk);
    const qcow2Bytes = statSync(vms.qcow2.disk).size;
    log(`disk generated in ${generate.toFixed(1)} s (${layout.data.length} data runs, ${(layout.dataBytes / GB).toFixed(3)} GB data), qcow2 made in ${toQcow2.toFixed(1)} s; work dir ${work}`);

    const hashes: number[] = [];
    const results: Record<Format, FormatRound[]> = { qcow2: [], raw: [] };
    for (let round = 0; round < ROUNDS; round++) {
      hashes.push(await hashBaseline(vms.raw.disk, layout));
      log(`round ${round + 1}: SHA-256 baseline ${hashes.at(-1)!.toFixed(2)} s`);
      const order = round % 2 ? [...FORMATS].reverse() : FORMATS;
      for (const format of order) results[format].push(await roundFor(format, round, vms[format], work, layout));
    }

    // ---- Report ----
    const dataGb = layout.dataBytes / GB;
    const diskGb = sizeBytes / GB;
    const kinds = { random: 0, text: 0, half: 0 };
    for (const r of layout.data) kinds[r.kind] += r.length;
    const pct = (n: number) => `${Math.round((n / layout.dataBytes) * 100)} %`;
    const hash = median(hashes);
    out.push(
      '',
      `Ferry replication bench — Node ${process.versions.node}, ${cpus().length} CPUs, ${new Date().toISOString()}`,
      `Disk: ${f(DISK_GIB, 2)} GiB virtual (${f(diskGb, 3)} GB): ${f(dataGb, 3)} GB data in ${layout.data.length} runs of 1–16 MiB ` +
        `(${pct(kinds.random)} random, ${pct(kinds.text)} text-like, ${pct(kinds.half)} half-filled pages), the rest holes; ${layout.dataBytes / BLOCK} data blocks of 512 KiB.`,
      `As qcow2 (${f(qcow2Bytes / GB, 3)} GB file, qemu-img convert of the raw) and as raw (sparse file), each the disk of a KVM/libvirt VM in a temp`,
      `datastore served by the embedded connector of \`ferry serve\` (a child process, fresh data dir per format and round, compression ${COMPRESSION}).`,
      `${ROUNDS} round(s), formats alternating; inputs re-read right before every timed step. Times: median of rounds; ratios: per round, then median.`,
      `API = StartOnDemandReplicationRun → COMPLETED seen by GetReplicationRuns (every ${POLL_MS} ms), includes the connector's`,
      `claim poll (up to 1 s); engine = ACTIVE first seen → COMPLETED seen. GB/s = 10^9 B/s; "disk" = ${f(diskGb, 3)} GB / time, "data" = ${f(dataGb, 3)} GB / time.`,
      '',
      '1. Full run ("speed ×" = baseline time / Ferry time: 1.00× means as fast as the baseline)',
      `${pad('', 7)}${pad('', 50)}${lpad('time s', 8)}${lpad('GB/s disk', 11)}${lpad('GB/s data', 11)}${lpad('CPU s', 7)}${lpad('speed × convert', 17)}${lpad('× durable', 11)}   target`,
    );
    const row = (label: string, time: number, extra: { cpu?: number; ratio?: number; durable?: number; target?: string } = {}) =>
      `${pad('', 7)}${pad(label, 50)}${lpad(f(time), 8)}${lpad(f(diskGb / time), 11)}${lpad(f(dataGb / time), 11)}${lpad(extra.cpu === undefined ? '' : f(extra.cpu, 1), 7)}` +
      `${lpad(extra.ratio === undefined ? '' : x(extra.ratio), 17)}${lpad(extra.durable === undefined ? '' : x(extra.durable), 11)}   ${extra.target ?? ''}`.trimEnd();
    for (const format of FORMATS) {
      const rounds = results[format];
      if (rounds.length === 0) continue;
      const target = TARGETS.fullVsConvert;
      const full = (pick: (r: FormatRound) => number) => ({
        time: median(rounds.map(pick)),
        ratio: median(rounds.map((r) => r.convert / pick(r))),
        durable: median(rounds.map((r) => r.convertDurable / pick(r))),
      });
      const api = full((r) => r.full.api);
      const engine = full((r) => r.full.engine);
      out.push(
        pad(format, 7) + row(`qemu-img convert -f ${format} -O qcow2 (baseline)`, median(rounds.map((r) => r.convert))).slice(7),
        row('  + fsync of the output (durable, as Ferry)', median(rounds.map((r) => r.convertDurable))),
        row('Ferry full run, API', api.time, { cpu: median(rounds.map((r) => r.full.cpu)), ratio: api.ratio, durable: api.durable, target: `≥ ${f(target, 1)}× convert  ${verdict(api.ratio >= target)}` }),
        row('Ferry full run, engine', engine.time, { ratio: engine.ratio, durable: engine.durable, target: `≥ ${f(target, 1)}× convert  ${verdict(engine.ratio >= target)}` }),
        `${pad('', 7)}  per round: convert ${rounds.map((r) => f(r.convert)).join(', ')} s; Ferry API ${rounds.map((r) => f(r.full.api)).join(', ')} s, engine ${rounds.map((r) => f(r.full.engine)).join(', ')} s`,
        `${pad('', 7)}  blocks read ${String(rounds[0]!.full.totals.blocksRead)}, stored ${String(rounds[0]!.full.totals.blocksSent)}, zero ${String(rounds[0]!.full.totals.zeroBlocks)}; CPU s = the Ferry process (all threads; not qemu-nbd)`,
      );
    }
    out.push(row('SHA-256 of the data blocks, 2 threads (baseline)', hash).replace(/^ {7}/, pad('both', 7)));
    for (const format of FORMATS) {
      const rounds = results[format];
      if (rounds.length === 0) continue;
      out.push(`${pad('', 7)}  Ferry ${format} engine speed × SHA-256 baseline: ${x(median(rounds.map((r, i) => hashes[i]! / r.full.engine)))}`);
    }

    out.push(
      '',
      `2. ${f(CHANGE * 100, 0)} % incremental (${results[FORMATS[0]!]?.[0]?.changedBlocks ?? '?'} of ${sizeBytes / BLOCK} blocks get 64 KiB of new bytes each; qcow2 through qemu-io, raw written into the file)`,
      `${pad('', 7)}${pad('', 30)}${lpad('API s', 8)}${lpad('engine s', 10)}${lpad('CPU s', 8)}${lpad('blocks read', 13)}${lpad('API/full', 10)}${lpad('engine/full', 13)}   target`,
    );
    for (const format of FORMATS) {
      const rounds = results[format];
      if (rounds.length === 0) continue;
      const apiRatio = median(rounds.map((r) => r.incremental.api / r.full.api));
      const engineRatio = median(rounds.map((r) => r.incremental.engine / r.full.engine));
      const kind = rounds.every((r) => r.incremental.totals.incremental === true) ? 'dirty-bitmap incremental' : 'hash-diff (reads all)';
      const target = format === 'qcow2' ? `≤ ${TARGETS.incrementalVsFull}×  API ${verdict(apiRatio <= TARGETS.incrementalVsFull)}, engine ${verdict(engineRatio <= TARGETS.incrementalVsFull)}` : '(no target)';
      out.push(
        `${pad(format, 7)}${pad(kind, 30)}${lpad(f(median(rounds.map((r) => r.incremental.api))), 8)}${lpad(f(median(rounds.map((r) => r.incremental.engine))), 10)}` +
          `${lpad(f(median(rounds.map((r) => r.incremental.cpu)), 1), 8)}${lpad(String(rounds[0]!.incremental.totals.blocksRead), 13)}${lpad(xx(apiRatio), 10)}${lpad(xx(engineRatio), 13)}   ${target}`,
      );
    }

    out.push(
      '',
      '3. Image store (packs + manifests; the SQLite index beside it)',
      `${pad('', 7)}${lpad('after full MB', 14)}${lpad('data MB', 9)}${lpad('ratio', 8)}${lpad('growth MB', 11)}${lpad('changed MB', 12)}${lpad('ratio', 8)}${lpad('index MB', 10)}`,
    );
    for (const format of FORMATS) {
      const r = results[format][0];
      if (!r) continue;
      const full = r.storeFull.packs + r.storeFull.manifests;
      const growth = r.storeIncremental.packs + r.storeIncremental.manifests - full;
      const changed = r.changedBlocks * BLOCK;
      out.push(
        `${pad(format, 7)}${lpad(f(full / MB, 1), 14)}${lpad(f(layout.dataBytes / MB, 1), 9)}${lpad(x(full / layout.dataBytes), 8)}${lpad(f(growth / MB, 1), 11)}${lpad(f(changed / MB, 1), 12)}${lpad(x(growth / changed), 8)}${lpad(f(r.storeIncremental.db / MB, 1), 10)}`,
      );
    }
    out.push(`${pad('', 7)}(round 1; "changed" = changed blocks × 512 KiB, the bytes an incremental must store)`);

    out.push('', '4. Peak RSS of the Ferry process (VmHWM; the hash workers are threads of it; qemu-nbd is a separate process)');
    for (const format of FORMATS) {
      const rounds = results[format];
      if (rounds.length === 0) continue;
      const peak = Math.max(...rounds.map((r) => r.hwmIncremental));
      out.push(
        `${pad(format, 7)}at start ${lpad(f(median(rounds.map((r) => r.hwmStart)), 0), 4)} MB, after full ${lpad(f(median(rounds.map((r) => r.hwmFull)), 0), 4)} MB, after incremental ${lpad(f(median(rounds.map((r) => r.hwmIncremental)), 0), 4)} MB, max ${lpad(f(peak, 0), 4)} MB   target < ${TARGETS.rssMb} MB  ${verdict(peak < TARGETS.rssMb)}`,
      );
    }
    const q = [...quietness].sort((a, b) => a - b);
    out.push(
      '',
      `Machine idle before the timed steps (waited up to ${QUIET_WAIT_MS / 1000} s for ≥ ${Math.round(QUIET_IDLE * 100)} %): min ${Math.round((q[0] ?? NaN) * 100)} %, median ${Math.round(median(q) * 100)} % of ${q.length} steps.`,
    );
    out.push(`Setup: disk generated in ${f(generate, 1)} s, raw → qcow2 in ${f(toQcow2, 1)} s. Total bench time ${f(seconds(T0), 0)} s. Figures from other runs compare only as ratios.`);
    process.stdout.write(out.join('\n') + '\n');
  } finally {
    for (const child of [...children]) await stop(child);
    rmSync(work, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (thrown) {
  process.stdout.write(`bench failed: ${(thrown as Error)?.stack ?? String(thrown)}\n`);
}
process.exit(0);
