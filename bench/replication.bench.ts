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
 *   4. one connector replicating 4 VMs at once against one alone (replicationConcurrent.ts).
 * Baselines, in the same round: `qemu-img convert -O qcow2` of the same source into a file, `dd oflag=direct` of the
 * data's bytes, and SHA-256 of the same data blocks on two worker threads (read with readSync from the raw file).
 * Every timed step prints the machine's idle share during it; every round is printed, with the median and the worst.
 *
 * It reports and always exits 0; targets that are missed are marked MISS.
 */
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateReplicationJobCommand } from '@aws-sdk/client-sms';
import { domainXml } from '../src/agent/sample/vmBuilders.ts';
import { killChildrenOnExit, runBench } from './processes.ts';
import { diskLayout, writeDisk, MiB, prng, type DiskLayout } from './replicationDisk.ts';
import {
  steps,
  benchSeconds,
  children,
  fsyncFile,
  hwmMb,
  idleDuring,
  importServer,
  log,
  num,
  POLL_MS,
  qemuImg,
  QUIET_IDLE,
  QUIET_WAIT_MS,
  quietness,
  removeBitmaps,
  replicate,
  run,
  seconds,
  startFerry,
  stop,
  storeSize,
  waitQuiet,
  warm,
  COLD_SOURCES,
  directWriteBaseline,
  hashCeiling,
  type RunTiming,
  type StoreSize,
} from './replicationRig.ts';
import { concurrentRuns, type ConcurrentResult } from './replicationConcurrent.ts';

/** Knobs (the defaults keep a full bench under ~6 minutes on 2 cores). */
const env = process.env;
const DISK_GIB = num('FERRY_BENCH_DISK_GIB', 4);
const DATA_FRACTION = num('FERRY_BENCH_DATA_FRACTION', 0.5);
const ROUNDS = num('FERRY_BENCH_ROUNDS', 3);
const CHANGE = num('FERRY_BENCH_CHANGE', 0.01);
const SEED = num('FERRY_BENCH_SEED', 1);
const COMPRESSION = env.FERRY_BENCH_COMPRESSION ?? 'none';
const FORMATS = (env.FERRY_BENCH_FORMATS ?? 'qcow2,raw').split(',') as Format[];
const BLOCK = 512 * 1024;
const CHANGE_WRITE = 64 * 1024;
const TARGETS = { fullVsConvert: 1.0, fullVsDirect: 0.8, cpuPerGb: 1.5, hashDiffVsSha: 0.8, incrementalVsFull: 0.05, rssMb: 300, concurrentAggregate: 0.9, concurrentSpread: 1.5 };

type Format = 'qcow2' | 'raw';

/** The temp dir (datastores, disks, data dirs): removed at the end, also after Ctrl-C. */
let workDir: string | undefined;
killChildrenOnExit(children, () => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------------------------
// Baselines and changes

/** `qemu-img convert -O qcow2` into a file: its time, and the time until the output is also durable (fsync). */
async function convertBaseline(source: string, format: Format, out: string): Promise<{ convert: number; durable: number; idle: number }> {
  rmSync(out, { force: true });
  await waitQuiet();
  warm(source);
  const idle = idleDuring();
  const start = performance.now();
  await qemuImg(['convert', '-f', format, '-O', 'qcow2', source, out]);
  const convert = seconds(start);
  const idleConvert = idle();
  fsyncFile(out);
  const durable = seconds(start);
  rmSync(out, { force: true });
  return { convert, durable, idle: idleConvert };
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
  convertIdle: number;
  /** `dd oflag=direct` of the data's bytes, next to this round's full run. */
  direct: number;
  directIdle: number;
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
  let { convert, durable: convertDurable, idle: convertIdle } = baselineFirst ? await baseline() : { convert: NaN, durable: NaN, idle: NaN };
  const directBaseline = async () => {
    const result = await directWriteBaseline(work, layout.dataBytes);
    log(`${format} round ${round + 1}: dd oflag=direct of the data's bytes ${result.time.toFixed(2)} s`);
    return result;
  };
  let direct = baselineFirst ? await directBaseline() : { time: NaN, idle: NaN };
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
    log(`${format} round ${round + 1}: full run ${full.api.toFixed(2)} s (engine ${full.engine.toFixed(2)} s), peak RSS ${hwmFull.toFixed(0)} MB; ${steps(full)}`);
    const changes = planChange(layout.sizeBytes, CHANGE, SEED * 1000 + round);
    await applyChange(vm.disk, format, changes);
    fsyncFile(vm.disk);
    await waitQuiet();
    warm(vm.disk);
    const incremental = await replicate(ferry, replicationJobId!);
    const hwmIncremental = hwmMb(ferry.child.pid!);
    const storeIncremental = storeSize(dataDir);
    log(`${format} round ${round + 1}: incremental ${incremental.api.toFixed(2)} s (engine ${incremental.engine.toFixed(2)} s, ${String(incremental.totals.incremental === true ? 'dirty bitmap' : 'hash diff')}); ${steps(incremental)}`);
    if (!baselineFirst) {
      ({ convert, durable: convertDurable, idle: convertIdle } = await baseline());
      direct = await directBaseline();
    }
    const warnings = ferry.lines.filter((l) => (l.level as number) >= 40);
    for (const w of warnings) log(`Ferry ${format} warned: ${w.msg} ${JSON.stringify(w.err ?? w.message ?? '')}`);
    return { convert, convertDurable, convertIdle, direct: direct.time, directIdle: direct.idle, hwmStart, full, incremental, changedBlocks: changes.length, storeFull, storeIncremental, hwmFull, hwmIncremental };
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

    const hashes: { time: number; idle: number }[] = [];
    const results: Record<Format, FormatRound[]> = { qcow2: [], raw: [] };
    for (let round = 0; round < ROUNDS; round++) {
      hashes.push(await hashCeiling(vms.raw.disk, layout));
      log(`round ${round + 1}: SHA-256 baseline ${hashes.at(-1)!.time.toFixed(2)} s`);
      const order = round % 2 ? [...FORMATS].reverse() : FORMATS;
      for (const format of order) results[format].push(await roundFor(format, round, vms[format], work, layout));
    }

    const concurrent: ConcurrentResult | { error: string } = await concurrentRuns(work, SEED).catch((thrown: unknown) => ({ error: String((thrown as Error)?.message ?? thrown) }));

    // ---- Report ----
    const dataGb = layout.dataBytes / GB;
    const diskGb = sizeBytes / GB;
    const kinds = { random: 0, text: 0, half: 0 };
    for (const r of layout.data) kinds[r.kind] += r.length;
    const pct = (n: number) => `${Math.round((n / layout.dataBytes) * 100)} %`;
    out.push(
      '',
      `Ferry replication bench — Node ${process.versions.node}, ${cpus().length} CPUs, ${new Date().toISOString()}`,
      `Disk: ${f(DISK_GIB, 2)} GiB virtual (${f(diskGb, 3)} GB): ${f(dataGb, 3)} GB data in ${layout.data.length} runs of 1–16 MiB ` +
        `(${pct(kinds.random)} random, ${pct(kinds.text)} text-like, ${pct(kinds.half)} half-filled pages), the rest holes; ${layout.dataBytes / BLOCK} data blocks of 512 KiB.`,
      `As qcow2 (${f(qcow2Bytes / GB, 3)} GB file, qemu-img convert of the raw) and as raw (sparse file), each the disk of a KVM/libvirt VM in a temp`,
      `datastore served by the embedded connector of \`ferry serve\` (a child process, fresh data dir per format and round, compression ${COMPRESSION}).`,
      `${ROUNDS} round(s), formats alternating; ${COLD_SOURCES ? 'inputs dropped from the page cache (FERRY_BENCH_SOURCE=cold)' : 'inputs re-read'} right before every timed step. Times: median of rounds; ratios: per round, then median.`,
      `API = StartOnDemandReplicationRun sent → the run's completedTime (the service's clock, this machine's), read by GetReplicationRuns`,
      `(every ${POLL_MS} ms until ACTIVE, then once the connector logs the run's end; a poll a second in between); includes the`,
      `connector's claim poll (up to 1 s); engine = ACTIVE first seen → completedTime. GB/s = 10^9 B/s; "disk" = ${f(diskGb, 3)} GB / time, "data" = ${f(dataGb, 3)} GB / time.`,
      '',
      '1. Full run, every round. "× X" = X\'s time / Ferry\'s API time (1.00× = as fast as X); (idle %) = the machine\'s idle share',
      '   during that very step. Targets hold in every round, so the verdict is on the worst round.',
      `${pad('', 7)}${pad('round', 8)}${lpad('convert s', 15)}${lpad('dd direct s', 15)}${lpad('Ferry API s', 15)}${lpad('engine s', 9)}${lpad('CPU s', 7)}${lpad('CPU s/GB', 9)}` +
        `${lpad('× convert', 11)}${lpad('× dd', 7)}${lpad('× durable', 11)}`,
    );
    const idlePct = (idle: number) => (Number.isFinite(idle) ? `(${Math.round(idle * 100)} %)` : '');
    const timed = (time: number, idle: number) => `${f(time)} ${idlePct(idle)}`;
    const summary = (values: number[], worst: 'min' | 'max') => ({ median: median(values), worst: worst === 'min' ? Math.min(...values) : Math.max(...values) });
    for (const format of FORMATS) {
      const rounds = results[format];
      if (rounds.length === 0) continue;
      rounds.forEach((r, i) =>
        out.push(
          `${pad(i === 0 ? format : '', 7)}${pad(String(i + 1), 8)}${lpad(timed(r.convert, r.convertIdle), 15)}${lpad(timed(r.direct, r.directIdle), 15)}${lpad(timed(r.full.api, r.full.idle), 15)}` +
            `${lpad(f(r.full.engine), 9)}${lpad(f(r.full.cpu, 1), 7)}${lpad(f(r.full.cpu / dataGb), 9)}${lpad(x(r.convert / r.full.api), 11)}${lpad(x(r.direct / r.full.api), 7)}${lpad(x(r.convertDurable / r.full.api), 11)}`,
        ),
      );
      const vsConvert = summary(rounds.map((r) => r.convert / r.full.api), 'min');
      const vsDirect = summary(rounds.map((r) => r.direct / r.full.api), 'min');
      const cpuPerGb = summary(rounds.map((r) => r.full.cpu / dataGb), 'max');
      const api = summary(rounds.map((r) => r.full.api), 'max');
      out.push(
        `${pad('', 7)}${pad('median', 8)}${lpad(f(median(rounds.map((r) => r.convert))), 15)}${lpad(f(median(rounds.map((r) => r.direct))), 15)}${lpad(f(api.median), 15)}${lpad('', 9)}${lpad('', 7)}` +
          `${lpad(f(cpuPerGb.median), 9)}${lpad(x(vsConvert.median), 11)}${lpad(x(vsDirect.median), 7)}`,
        `${pad('', 7)}${pad('worst', 8)}${lpad('', 15)}${lpad('', 15)}${lpad(f(api.worst), 15)}${lpad('', 9)}${lpad('', 7)}${lpad(f(cpuPerGb.worst), 9)}${lpad(x(vsConvert.worst), 11)}${lpad(x(vsDirect.worst), 7)}`,
        `${pad('', 7)}targets, worst round: ≥ ${f(TARGETS.fullVsConvert, 1)}× convert ${verdict(vsConvert.worst >= TARGETS.fullVsConvert)}; ` +
          `≥ ${f(TARGETS.fullVsDirect, 1)}× dd direct ${verdict(vsDirect.worst >= TARGETS.fullVsDirect)}; ≤ ${f(TARGETS.cpuPerGb, 1)} CPU s per GB of data ${verdict(cpuPerGb.worst <= TARGETS.cpuPerGb)}`,
        `${pad('', 7)}${f(dataGb / api.median)} GB/s of data (${f(diskGb / api.median)} GB/s of disk) in the median round; blocks read ${String(rounds[0]!.full.totals.blocksRead)}, ` +
          `stored ${String(rounds[0]!.full.totals.blocksSent)}, zero ${String(rounds[0]!.full.totals.zeroBlocks)}; CPU s = the Ferry process (all threads; not qemu-nbd)`,
      );
    }
    out.push(
      `${pad('both', 7)}SHA-256 of the data blocks on 2 threads (the hashing ceiling) per round: ${hashes.map((h) => timed(h.time, h.idle)).join(', ')} s`,
      `${pad('', 7)}dd direct = \`dd if=/dev/zero oflag=direct bs=512K conv=fdatasync\` of the data's ${f(dataGb, 3)} GB into a new file; × durable = convert + fsync of its output.`,
    );

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
      const vsSha = rounds.map((r, i) => hashes[i]!.time / r.incremental.engine);
      const target =
        format === 'qcow2'
          ? `≤ ${TARGETS.incrementalVsFull}×  API ${verdict(apiRatio <= TARGETS.incrementalVsFull)}, engine ${verdict(engineRatio <= TARGETS.incrementalVsFull)}`
          : `engine speed × SHA-256 ceiling per round ${vsSha.map(x).join(', ')}; worst ${x(Math.min(...vsSha))} ≥ ${TARGETS.hashDiffVsSha}× ${verdict(Math.min(...vsSha) >= TARGETS.hashDiffVsSha)}`;
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
    out.push('', `5. Concurrent runs: one connector replicating ${'vms' in concurrent ? concurrent.vms : '?'} VMs at once (raw disks, distinct bytes) against one VM alone, same Ferry`);
    if ('error' in concurrent) out.push(`${pad('', 7)}failed: ${concurrent.error}`);
    else {
      const alone = concurrent.dataBytes[0]! / concurrent.alone.time;
      const together = concurrent.dataBytes.slice(1).reduce((a, b) => a + b, 0) / concurrent.together.wall;
      const spread = Math.max(...concurrent.together.times) / Math.min(...concurrent.together.times);
      out.push(
        `${pad('', 7)}alone: ${f(concurrent.dataBytes[0]! / GB, 3)} GB of data in ${timed(concurrent.alone.time, concurrent.alone.idle)} s = ${f(alone / GB)} GB/s`,
        `${pad('', 7)}at once: ${concurrent.together.times.map((t) => f(t)).join(', ')} s ${idlePct(concurrent.together.idle)}; ${f(concurrent.dataBytes.slice(1).reduce((a, b) => a + b, 0) / GB, 3)} GB in ${f(concurrent.together.wall)} s = ${f(together / GB)} GB/s aggregate`,
        `${pad('', 7)}aggregate × alone ${x(together / alone)} (target ≥ ${TARGETS.concurrentAggregate}× ${verdict(together / alone >= TARGETS.concurrentAggregate)}); ` +
          `slowest / fastest run ${x(spread)} (target ≤ ${TARGETS.concurrentSpread}× ${verdict(spread <= TARGETS.concurrentSpread)})`,
      );
    }

    const q = [...quietness].sort((a, b) => a - b);
    out.push(
      '',
      `Machine idle before the timed steps (waited up to ${QUIET_WAIT_MS / 1000} s for ≥ ${Math.round(QUIET_IDLE * 100)} %): min ${Math.round((q[0] ?? NaN) * 100)} %, median ${Math.round(median(q) * 100)} % of ${q.length} steps.`,
    );
    out.push(`Setup: disk generated in ${f(generate, 1)} s, raw → qcow2 in ${f(toQcow2, 1)} s. Total bench time ${f(benchSeconds(), 0)} s. Figures from other runs compare only as ratios.`);
    process.stdout.write(out.join('\n') + '\n');
  } finally {
    for (const child of [...children]) await stop(child);
    rmSync(work, { recursive: true, force: true });
  }
}

await runBench(main);
