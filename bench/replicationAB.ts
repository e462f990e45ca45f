/**
 * Whole-service A/B of replication CPU (a diagnostic beside `npm run bench:replication`): the same `ferry serve`
 * child the bench starts, from two or more checkouts (`--tree name=/path/to/checkout`, repeatable; "head" is this
 * one), alternating their order round by round. Each round replicates the generated disk in full and then a 1 %
 * incremental (raw: a hash diff; qcow2, changed through qemu-io: a dirty-bitmap incremental), and splits the CPU by process: the Ferry process (user and system apart),
 * and its children (qemu-img, the launcher, qemu-nbd) from /proc. Every line carries the machine's idle share
 * during that very run, so pairs from the same round can be compared.
 *
 * `--tree name=/path[,VAR=VALUE…]` runs another checkout (or this one, `--tree name=.,VAR=VALUE`) with variables set;
 * the pseudo-variable BENCH_POLL=all makes the bench poll GetReplicationRuns every 20 ms all through that tree's runs.
 * Each run also prints the Ferry process's CPU per thread name (/proc/PID/task): `node` the main thread,
 * `WorkerThread` the hash workers, `libuv-worker` the thread pool, `V8Worker` the JIT and GC helpers.
 *
 *   node bench/replicationAB.ts [--rounds 3] [--gib 4] [--format raw|qcow2] [--tree old=/tmp/old]…
 */
import { mkdirSync, mkdtempSync, openSync, closeSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CreateReplicationJobCommand } from '@aws-sdk/client-sms';
import { domainXml } from '../src/agent/sample/vmBuilders.ts';
import { killChildrenOnExit, runBench } from './processes.ts';
import { diskLayout, writeDisk, MiB, prng } from './replicationDisk.ts';
import { children, fsyncFile, hashCeiling, importServer, qemuImg, replicate, run, startFerry, steps, stop, waitQuiet, warm } from './replicationRig.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    gib: { type: 'string', default: '4' },
    format: { type: 'string', default: 'raw' },
    tree: { type: 'string', multiple: true, default: [] },
    'no-incremental': { type: 'boolean', default: false },
    /** A directory: each Ferry child writes a V8 .cpuprofile of its main thread there when it stops. */
    profile: { type: 'string' },
  },
});
const format = values.format as 'raw' | 'qcow2';
const BLOCK = 512 * 1024;
const TICKS = 100;

/** utime, stime, cutime, cstime of a process, in seconds (/proc/PID/stat fields 14–17). */
function times(pid: number, path = `/proc/${pid}/stat`): number[] {
  const stat = readFileSync(path, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [11, 12, 13, 14].map((i) => Number(fields[i]) / TICKS);
}

/** Every live descendant of `root`, with its own and its reaped children's CPU seconds. */
function descendantsCpu(root: number): number {
  const parent = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  let total = 0;
  for (const pid of parent.keys()) {
    let p: number | undefined = parent.get(pid);
    while (p !== undefined && p !== root && p > 1) p = parent.get(p);
    if (p !== root) continue;
    try {
      total += times(pid).reduce((a, b) => a + b, 0);
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

interface Split {
  user: number;
  sys: number;
  children: number;
}
function split(pid: number): Split {
  const [user, sys, cuser, csys] = times(pid);
  return { user: user!, sys: sys!, children: cuser! + csys! + descendantsCpu(pid) };
}
const minus = (a: Split, b: Split): Split => ({ user: a.user - b.user, sys: a.sys - b.sys, children: a.children - b.children });

async function main(): Promise<void> {
  const here = fileURLToPath(new URL('..', import.meta.url));
  const trees: [string, string, Record<string, string>][] = [['head', here, {}]];
  for (const spec of values.tree) {
    const [tree, rest] = [spec.slice(0, spec.indexOf('=')), spec.slice(spec.indexOf('=') + 1)];
    const [root, ...vars] = rest.split(',');
    trees.push([tree, root === '.' ? here : root!, Object.fromEntries(vars.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))]);
  }
  const work = mkdtempSync(join(tmpdir(), 'ferry-replication-ab-'));
  killChildrenOnExit(children, () => rmSync(work, { recursive: true, force: true }));
  const sizeBytes = Number(values.gib) * 1024 * MiB;
  const layout = diskLayout(sizeBytes, 0.5, 1);
  const dataGb = layout.dataBytes / 1e9;
  const datastore = join(work, 'ds');
  const name = `ab-${format}`;
  const folder = join(datastore, name);
  mkdirSync(folder, { recursive: true });
  const file = `${name}.${format === 'raw' ? 'img' : 'qcow2'}`;
  const disk = join(folder, file);
  writeFileSync(join(folder, `${name}.xml`), domainXml({ name, uuid: null, disks: [{ file, format, dev: 'vda' }] }));
  if (format === 'raw') writeDisk(disk, layout, 1);
  else {
    writeDisk(join(work, 'raw.img'), layout, 1);
    await qemuImg(['convert', '-f', 'raw', '-O', 'qcow2', join(work, 'raw.img'), disk]);
    rmSync(join(work, 'raw.img'));
  }
  fsyncFile(disk);
  const line = (s: Split, wall: number, idle: number) =>
    `${wall.toFixed(2)} s, Ferry ${(s.user + s.sys).toFixed(2)} s (${((s.user + s.sys) / dataGb).toFixed(2)} s/GB: user ${s.user.toFixed(2)}, sys ${s.sys.toFixed(2)}), children ${s.children.toFixed(2)} s, idle ${(idle * 100).toFixed(0)} %`;
  let changeRuns = 0;
  for (let round = 1; round <= Number(values.rounds); round++) {
    const order = round % 2 ? trees : [...trees].reverse();
    for (const [tree, root, extraEnv] of order) {
      if (format === 'qcow2') for (const bitmap of await bitmaps(disk)) await qemuImg(['bitmap', '--remove', '-f', 'qcow2', disk, bitmap]);
      const dataDir = join(work, `ferry-${tree}-${round}`);
      const ferry = await startFerry(`${tree}-${round}`, datastore, dataDir, values.profile, root, extraEnv);
      try {
        const pid = ferry.child.pid!;
        const serverId = await importServer(ferry, name);
        const { replicationJobId } = await ferry.sms.send(
          new CreateReplicationJobCommand({ serverId, seedReplicationTime: new Date(Date.now() + 3600_000), frequency: 24, licenseType: 'BYOL' }),
        );
        await waitQuiet();
        warm(disk);
        let before = split(pid);
        let threads0 = threadCpu(pid);
        const pollAll = extraEnv.BENCH_POLL === 'all';
        const full = await replicate(ferry, replicationJobId!, pollAll);
        const fullCpu = minus(split(pid), before);
        console.log(`round ${round} ${tree.padEnd(8)} full ${line(fullCpu, full.api, full.idle)}; ${steps(full)}`);
        console.log(`${' '.repeat(23)}${threadLine(threads0, threadCpu(pid))}`);
        if (!values['no-incremental']) {
          // A seed of its own per run: with the round's seed, the second tree of a round wrote the bytes the first had
          // written already, and its "incremental" compared an unchanged disk.
          const random = prng(1000 + ++changeRuns);
          // 82 blocks get 64 KiB of new bytes: raw written into the file (a hash diff), qcow2 through qemu-io, so
          // Ferry's dirty bitmap records them (a dirty-bitmap incremental).
          const changes = layout.data.slice(0, 82).map((r) => ({ at: r.offset + BLOCK, byte: Math.floor(random() * 255) + 1 }));
          if (format === 'raw') {
            const fd = openSync(disk, 'r+');
            try {
              for (const c of changes) writeSync(fd, Buffer.alloc(64 * 1024, c.byte), 0, 64 * 1024, c.at);
            } finally {
              closeSync(fd);
            }
          } else {
            await run('qemu-io', ['-f', 'qcow2', ...changes.flatMap((c) => ['-c', `write -q -P ${c.byte} ${c.at} 65536`]), disk]);
          }
          fsyncFile(disk);
          // The hashing ceiling right before this tree's hash diff, so each diff has its own same-moment baseline.
          const ceiling = format === 'raw' ? await hashCeiling(disk, layout) : undefined;
          await waitQuiet();
          warm(disk);
          before = split(pid);
          threads0 = threadCpu(pid);
          const diff = await replicate(ferry, replicationJobId!, pollAll);
          const diffCpu = minus(split(pid), before);
          const vsCeiling = ceiling ? ` (SHA-256 ceiling ${ceiling.time.toFixed(2)} s at idle ${(ceiling.idle * 100).toFixed(0)} %: ${(ceiling.time / diff.engine).toFixed(2)}×)` : '';
          console.log(`round ${round} ${tree.padEnd(8)} ${diff.totals.incremental === true && format === 'qcow2' ? 'bitmap' : 'diff'} API ${(diff.api * 1000).toFixed(0)} ms, engine ${(diff.engine * 1000).toFixed(0)} ms${vsCeiling}: ${line(diffCpu, diff.api, diff.idle)}; ${steps(diff)}`);
          console.log(`${' '.repeat(23)}blocks read ${String(diff.totals.blocksRead)}, sent ${String(diff.totals.blocksSent)}, unchanged ${String(diff.totals.blocksUnchanged ?? '–')}, deduplicated ${String(diff.totals.blocksDeduplicated)}`);
          console.log(`${' '.repeat(23)}${threadLine(threads0, threadCpu(pid))}`);
        }
      } finally {
        ferry.sms.destroy();
        await stop(ferry.child);
        rmSync(dataDir, { recursive: true, force: true });
      }
    }
  }
  rmSync(work, { recursive: true, force: true });
}

/** CPU seconds per thread name of a process (threads of one name summed). */
function threadCpu(pid: number): Map<string, number> {
  const byName = new Map<string, number>();
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${task}/comm`, 'utf8').trim();
      const t = times(Number(task) === pid ? pid : Number(task), `/proc/${pid}/task/${task}/stat`);
      byName.set(name, (byName.get(name) ?? 0) + t[0]! + t[1]!);
    } catch {
      // the thread ended meanwhile
    }
  }
  return byName;
}

function threadLine(before: Map<string, number>, after: Map<string, number>): string {
  const parts = [...after].map(([name, s]) => [name, s - (before.get(name) ?? 0)] as const).filter(([, s]) => s >= 0.01);
  return `threads: ${parts.map(([name, s]) => `${name} ${s.toFixed(2)}`).join(', ')}`;
}

async function bitmaps(path: string): Promise<string[]> {
  const info = JSON.parse(await qemuImg(['info', '--output=json', '-f', 'qcow2', path])) as { 'format-specific'?: { data?: { bitmaps?: { name: string }[] } } };
  return (info['format-specific']?.data?.bitmaps ?? []).map((b) => b.name);
}

await runBench(main);
