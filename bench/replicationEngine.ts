/**
 * The block engine alone, A/B in one run (a diagnostic beside `npm run bench:replication`): copyDisk of a raw
 * 4 GiB disk (2 GB data) into a real image store (SQLite, O_DIRECT packs, compression none) in process, without
 * the API, the scheduler or the connector's claim. Each variant is a child process started with its environment
 * (`--variant NAME=VAR=VALUE,VAR=VALUE`, repeatable; "base" has none); rounds alternate the variants' order, every
 * round re-reads the disk first and uses a fresh data dir, and each line prints wall, process CPU and the machine's
 * idle share during that very copy, then the copy's CPU per thread name. Each round first measures the bench's
 * hashing ceiling (SHA-256 of the data blocks on two threads, replicationHash.ts) and prints each copy against it.
 *
 * `--tree NAME=PATH` (repeatable) adds another checkout's engine as a variant: this script's child, importing
 * PATH's `src/` (so a tree whose own bench lacks a mode is measured the same way).
 *
 * Modes: `full` (a first run into an empty store); `hashdiff` (a second full run whose blocks are all in the store,
 * each deduplicated: the hash diff before round 12); `parentdiff` (the hash diff the connector runs today, as
 * `npm run bench:replication` does: a full run, then 82 blocks of the disk get 64 KiB of new bytes, then a run
 * `incremental` over that image, every block compared with the parent's and only the changed ones sent).
 *
 * FERRY_ENGINE_PROFILE=FILE writes a CPU profile of a child's main thread during its measured copy;
 * FERRY_ENGINE_PERF=FILE a `perf record -g` of all its threads (the copy's wall time then includes perf's stop).
 *
 *   node bench/replicationEngine.ts [--rounds 3] [--gib 4] [--mode full|hashdiff|parentdiff] [--variant name=VAR=1,VAR2=2]… [--tree old=/tmp/old]…
 */
import { closeSync, fsyncSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { execFileSync, spawn } from 'node:child_process';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { diskLayout, writeDisk, MiB, type DiskLayout } from './replicationDisk.ts';

const BLOCK = 512 * 1024;
/** As many data blocks as `npm run bench:replication` changes before its hash diff. */
const CHANGED_BLOCKS = 82;

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    gib: { type: 'string', default: '4' },
    mode: { type: 'string', default: 'full' },
    variant: { type: 'string', multiple: true, default: [] },
    tree: { type: 'string', multiple: true, default: [] },
    child: { type: 'string' },
    src: { type: 'string' },
  },
});

if (values.child) {
  await child(values.child);
} else {
  const here = dirname(import.meta.dirname);
  const variants: [string, Record<string, string>, string][] = [['base', {}, here]];
  for (const spec of values.variant) {
    const [name, ...rest] = spec.split('=');
    const env = Object.fromEntries(rest.join('=').split(',').filter(Boolean).map((kv) => kv.split('=') as [string, string]));
    variants.push([name!, env, here]);
  }
  // Another checkout's engine (e.g. `git archive COMMIT | tar -x -C /tmp/old`, node_modules linked), run the same way.
  for (const spec of values.tree) {
    const [name, path] = spec.split('=');
    variants.push([name!, {}, path!]);
  }
  const work = mkdtempSync(join(tmpdir(), 'ferry-engine-'));
  try {
    const sizeBytes = Number(values.gib) * 1024 * MiB;
    const layout = diskLayout(sizeBytes, 0.5, 1);
    const path = join(work, 'disk.img');
    writeDisk(path, layout, 1);
    execFileSync('sync', ['-f', path]);
    for (let round = 1; round <= Number(values.rounds); round++) {
      const order = round % 2 ? variants : [...variants].reverse();
      // The bench's hashing ceiling (SHA-256 of the data blocks on two threads), measured in the same round.
      const ceiling = await hashCeiling(path, layout);
      console.log(`round ${round} ceiling      SHA-256 of the data on 2 threads ${ceiling.time.toFixed(2)} s, CPU ${ceiling.cpu.toFixed(2)} s, idle ${(ceiling.idle * 100).toFixed(0)} %`);
      for (const [name, env, root] of order) {
        const out = execFileSync(process.execPath, [import.meta.filename, '--child', path, '--src', root, '--gib', values.gib!, '--mode', values.mode!], {
          env: { ...process.env, ...env },
          encoding: 'utf8',
        });
        const wall = Number(/ ([\d.]+) s \(/.exec(out)?.[1]);
        const cpu = Number(/CPU ([\d.]+) s/.exec(out)?.[1]);
        console.log(`round ${round} ${name.padEnd(12)} ${out.trim()} [${(ceiling.time / wall).toFixed(2)}× the ceiling; its CPU ${(ceiling.cpu / cpu).toFixed(2)}×]`);
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** As replication.bench.ts measures it: each thread readSync()s and hashes every other data block (the file re-read first). */
async function hashCeiling(path: string, layout: DiskLayout): Promise<{ time: number; cpu: number; idle: number }> {
  const blocks: number[] = [];
  for (const r of layout.data) for (let b = r.offset / BLOCK; b < (r.offset + r.length) / BLOCK; b++) blocks.push(b);
  execFileSync('cat', [path], { stdio: 'ignore' });
  const idle0 = idleTimes();
  const halves = [blocks.filter((_, i) => i % 2 === 0), blocks.filter((_, i) => i % 2 === 1)];
  const threads = await Promise.all(
    halves.map(
      (part) =>
        new Promise<{ ms: number; cpuMs: number }>((resolve, reject) => {
          const worker = new Worker(new URL('./replicationHash.ts', import.meta.url), { workerData: { path, blocks: part } });
          worker.once('message', resolve);
          worker.once('error', reject);
        }),
    ),
  );
  const idle1 = idleTimes();
  const time = Math.max(...threads.map((t) => t.ms)) / 1000;
  const cpu = threads.reduce((sum, t) => sum + t.cpuMs, 0) / 1000;
  return { time, cpu, idle: (idle1.idle - idle0.idle) / (idle1.total - idle0.total) };
}

async function child(path: string): Promise<void> {
  const src = (module: string): string => pathToFileURL(join(values.src ?? dirname(import.meta.dirname), 'src', module)).href;
  const { openSqliteStore } = (await import(src('store/openStore.ts'))) as typeof import('../src/store/openStore.ts');
  const { openImageStore } = (await import(src('images/imageStore.ts'))) as typeof import('../src/images/imageStore.ts');
  const { plainSealer } = (await import(src('images/blockSealer.ts'))) as typeof import('../src/images/blockSealer.ts');
  const { copyDisk, plannedBlocks } = (await import(src('agent/copyDisk.ts'))) as typeof import('../src/agent/copyDisk.ts');
  const { HashPool } = (await import(src('agent/hashPool.ts'))) as typeof import('../src/agent/hashPool.ts');
  const { RawFileSource } = (await import(src('agent/disks/rawSource.ts'))) as typeof import('../src/agent/disks/rawSource.ts');
  const sizeBytes = Number(values.gib) * 1024 * MiB;
  const layout = diskLayout(sizeBytes, 0.5, 1);
  const dataBytes = layout.dataBytes;
  const dir = mkdtempSync(join(tmpdir(), 'ferry-engine-store-'));
  const pool = new HashPool();
  const state = await openSqliteStore(dir, Date.now());
  try {
    const images = await openImageStore({ db: state.db, dataDir: dir, compression: 'none' });
    const transport = {
      missingBlocks: (runId: string, sha256s: Buffer[]) => images.missingBlocks(runId, sha256s),
      diffBlocks: (runId: string, diskIndex: number, span: import('../src/images/parentDiff.ts').DiffSpan) => images.diffBlocks(runId, diskIndex, span),
      putBlocks: async (runId: string, blocks: { sha256: Buffer; data: Buffer }[]) => void (await images.putBlocks(runId, blocks, { trustedDigests: true })),
      recordBlocks: (runId: string, diskIndex: number, records: { blockIndex: number; sha256: Buffer | null }[]) => images.recordBlocks(runId, diskIndex, records),
    } as unknown as import('../src/protocol/connector/messages.ts').ConnectorTransport;
    /**
     * Milliseconds of the last copy's steps (its first progress report: the first batch done, after the plan), and
     * the main thread's CPU milliseconds in each.
     */
    const steps: Record<string, number> = {};
    const mainCpu: Record<string, number> = {};
    const copy = async (runId: string, parentAmiId?: string) => {
      const mode = parentAmiId ? 'incremental' : 'full';
      let at = performance.now();
      let cpuAt = process.threadCpuUsage();
      const step = (name: string) => {
        steps[name] = performance.now() - at;
        const cpu = process.threadCpuUsage(cpuAt);
        mainCpu[name] = (cpu.user + cpu.system) / 1000;
        at = performance.now();
        cpuAt = process.threadCpuUsage();
      };
      await images.beginImage(runId, { tenant: { accountId: '1', region: 'r' }, replicationJobId: 'j', sealer: plainSealer, disks: [{ index: 0, sizeBytes }], mode, parentAmiId });
      step('begin');
      const source = await RawFileSource.open(path, { dataPath: path, dataOffset: 0, size: sizeBytes, format: 'raw' });
      try {
        const ranges = await plannedBlocks(source, 'full');
        step('plan');
        const compareWithParent = parentAmiId ? { blockCount: Math.ceil(sizeBytes / BLOCK) } : undefined;
        const copyStart = at;
        const onProgress = () => void (steps['first batch'] ??= performance.now() - copyStart);
        delete steps['first batch'];
        const stats = await copyDisk({ runId, diskIndex: 0, source, mode: 'full', committed: new Set(), ranges, compareWithParent }, { transport, pool, onProgress });
        step('copy');
        if (parentAmiId && stats.blocksSent + stats.blocksDeduplicated !== changedBlocks(layout)) throw new Error(`the hash diff sent ${stats.blocksSent} blocks, not ${changedBlocks(layout)}`);
      } finally {
        await source.close();
      }
      const { amiId } = await images.finishImage(runId);
      step('finish');
      return amiId;
    };
    let parent: string | undefined;
    if (values.mode === 'hashdiff') await copy('first'); // every block is then in the store already
    if (values.mode === 'parentdiff') {
      parent = await copy('first');
      changeBlocks(path, layout);
    }
    // Warm (the bench's case: the input re-read right before) or cold (a real source disk: not in the page cache).
    if (process.env.FERRY_ENGINE_COLD) execFileSync('python3', ['-c', `import os; fd = os.open(${JSON.stringify(path)}, os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)`]);
    else execFileSync('cat', [path], { stdio: 'ignore' });
    // FERRY_ENGINE_PROFILE=FILE: a V8 CPU profile of the main thread during the measured copy only (bench/apiProfile.ts reads it).
    const profiler = process.env.FERRY_ENGINE_PROFILE ? new (await import('node:inspector/promises')).Session() : undefined;
    if (profiler) {
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.start');
    }
    // FERRY_ENGINE_PERF=FILE: `perf record` of this process (all threads) during the measured copy only.
    const perf = process.env.FERRY_ENGINE_PERF ? spawn('perf', ['record', '-q', '-F', '1999', '-g', '-p', String(process.pid), '-o', process.env.FERRY_ENGINE_PERF], { stdio: 'ignore' }) : undefined;
    if (perf) await new Promise((resolve) => setTimeout(resolve, 300)); // perf attaches to every thread first
    const idle0 = idleTimes();
    const threads0 = threadCpu();
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    await copy('measured', parent);
    if (perf) {
      perf.kill('SIGINT');
      await new Promise((resolve) => perf.once('exit', resolve));
    }
    const wall = (performance.now() - start) / 1000;
    if (profiler) {
      const { profile } = await profiler.post('Profiler.stop');
      writeFileSync(process.env.FERRY_ENGINE_PROFILE!, JSON.stringify(profile));
      profiler.disconnect();
    }
    const cpu = process.cpuUsage(cpu0);
    const threads1 = threadCpu();
    const idle1 = idleTimes();
    const cpuS = (cpu.user + cpu.system) / 1e6;
    const gb = dataBytes / 1e9;
    const idleShare = (idle1.idle - idle0.idle) / (idle1.total - idle0.total);
    console.log(`${values.mode} ${wall.toFixed(2)} s (${(gb / wall).toFixed(2)} GB/s of data), CPU ${cpuS.toFixed(2)} s (${(cpuS / gb).toFixed(2)} s/GB, sys ${(cpu.system / 1e6).toFixed(2)}), idle ${(idleShare * 100).toFixed(0)} %`);
    const perThread = [...threads1].map(([name, s]) => [name, s - (threads0.get(name) ?? 0)] as const).filter(([, s]) => s >= 0.01);
    console.log(`${' '.repeat(20)}threads: ${perThread.map(([name, s]) => `${name} ${s.toFixed(2)}`).join(', ')}`);
    console.log(`${' '.repeat(20)}steps (ms): ${Object.entries(steps).map(([name, ms]) => `${name} ${ms.toFixed(0)}${name in mainCpu ? ` (main thread ${mainCpu[name]!.toFixed(0)})` : ''}`).join(', ')}`);
    await images.close();
  } finally {
    await pool.close();
    await state.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One block in each of the first 82 data runs (a smaller disk has fewer). */
function changedBlocks(layout: DiskLayout): number {
  return Math.min(CHANGED_BLOCKS, layout.data.length);
}

/**
 * As `npm run bench:replication` changes a raw disk: 82 data blocks get 64 KiB of new bytes (random ones here, so
 * each child's change differs from the disk's bytes whatever an earlier child wrote), made durable.
 */
function changeBlocks(path: string, layout: DiskLayout): void {
  const fd = openSync(path, 'r+');
  try {
    for (const r of layout.data.slice(0, changedBlocks(layout))) writeSync(fd, randomBytes(64 * 1024), 0, 64 * 1024, r.offset + BLOCK);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * CPU seconds per thread name (/proc/self/task): the hash workers are `WorkerThread`, the thread pool
 * `libuv-worker`, V8's helpers (concurrent compilation, GC) `V8Worker`.
 */
function threadCpu(): Map<string, number> {
  const byName = new Map<string, number>();
  for (const task of readdirSync('/proc/self/task')) {
    try {
      const name = readFileSync(`/proc/self/task/${task}/comm`, 'utf8').trim();
      const fields = readFileSync(`/proc/self/task/${task}/stat`, 'utf8').split(') ')[1]!.split(' ');
      byName.set(name, (byName.get(name) ?? 0) + (Number(fields[11]) + Number(fields[12])) / 100); // utime + stime, in ticks
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return byName;
}

function idleTimes(): { idle: number; total: number } {
  let idle = 0;
  let total = 0;
  for (const { times } of cpus()) {
    idle += times.idle;
    total += times.user + times.nice + times.sys + times.idle + times.irq;
  }
  return { idle, total };
}
