/**
 * Where a full replication run spends its time (a diagnostic beside `npm run bench:replication`, not part of it):
 * Ferry runs in this process (startFerry with a datastore), one full run of a generated disk goes through the SMS
 * API, and the data plane's pieces are timed by wrapping them:
 *   - main-thread time: SQLite statements (commits apart), synchronous pack appends, SHA-256 on the main thread,
 *     garbage collection, event-loop utilisation; CPU time of the process and of its main thread;
 *   - wall time summed over calls (they overlap): source reads, hash-worker digests, transport calls, pack writes
 *     and fdatasync on the thread pool.
 *
 *   node bench/replicationStages.ts [--gib 4] [--format qcow2|raw] [--data 0.5] [--sql (per statement)]
 */
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { Hash } from 'node:crypto';
import { StatementSync } from 'node:sqlite';
import { PerformanceObserver } from 'node:perf_hooks';
import { Session } from 'node:inspector/promises';
import {
  CreateReplicationJobCommand,
  GetReplicationRunsCommand,
  GetServersCommand,
  ImportServerCatalogCommand,
  SMSClient,
  StartOnDemandReplicationRunCommand,
} from '@aws-sdk/client-sms';
import { startFerry } from '../src/main.ts';
import { createLogger } from '../src/lib/logger.ts';
import { domainXml } from '../src/agent/sample/vmBuilders.ts';
import { PackFile } from '../src/images/packFile.ts';
import { LocalTransport } from '../src/server/connector/localTransport.ts';
import { HashPool } from '../src/agent/hashPool.ts';
import { RawFileSource } from '../src/agent/disks/rawSource.ts';
import { NbdDiskSource } from '../src/agent/disks/nbdSource.ts';
import { diskLayout, writeDisk, MiB } from './replicationDisk.ts';

const { values } = parseArgs({
  options: {
    gib: { type: 'string', default: '4' },
    format: { type: 'string', default: 'qcow2' },
    data: { type: 'string', default: '0.5' },
    sql: { type: 'boolean', default: false },
    incremental: { type: 'boolean', default: false },
    profile: { type: 'string' },
  },
});
const format = values.format as 'qcow2' | 'raw';

interface Tally {
  ms: number;
  calls: number;
}
const tallies = new Map<string, Tally>();
function add(name: string, ms: number): void {
  const t = tallies.get(name) ?? { ms: 0, calls: 0 };
  t.ms += ms;
  t.calls++;
  tallies.set(name, t);
}
let on = false;

function wrapSync(proto: object, method: string, name: (self: any, args: unknown[]) => string | undefined): void {
  const original = (proto as Record<string, (...a: unknown[]) => unknown>)[method]!;
  (proto as Record<string, unknown>)[method] = function (this: unknown, ...args: unknown[]) {
    if (!on) return original.apply(this, args);
    const start = performance.now();
    try {
      return original.apply(this, args);
    } finally {
      const label = name(this, args);
      if (label) add(label, performance.now() - start);
    }
  };
}

function wrapAsync(proto: object, method: string, name: string): void {
  const original = (proto as Record<string, (...a: unknown[]) => Promise<unknown>>)[method]!;
  (proto as Record<string, unknown>)[method] = async function (this: unknown, ...args: unknown[]) {
    if (!on) return original.apply(this, args);
    const start = performance.now();
    try {
      return await original.apply(this, args);
    } finally {
      add(name, performance.now() - start);
    }
  };
}

const sqlKind = (self: StatementSync) => {
  const sql = self.sourceSQL.trim().toLowerCase();
  if (sql === 'commit') return 'sqlite COMMIT (main thread; WAL fsync)';
  if (sql.startsWith('begin')) return 'sqlite BEGIN (main thread)';
  return values.sql ? `sqlite: ${sql.replace(/\s+/g, ' ').slice(0, 90)}` : `sqlite ${sql.split(/\s+/)[0]} (main thread)`;
};
wrapSync(StatementSync.prototype, 'run', (self) => sqlKind(self));
wrapSync(StatementSync.prototype, 'all', (self) => sqlKind(self));
{
  // Pack appends: wall time, and the main thread's CPU time inside them (the rest is the kernel making it wait).
  const original = PackFile.prototype.append;
  PackFile.prototype.append = function (this: PackFile, parts) {
    if (!on) return original.call(this, parts);
    const start = performance.now();
    const cpu = process.threadCpuUsage();
    try {
      return original.call(this, parts);
    } finally {
      const used = process.threadCpuUsage(cpu);
      add('pack append, writevSync (main thread)', performance.now() - start);
      add('  of which CPU (user+sys) of the main thread', (used.user + used.system) / 1000);
    }
  };
}
wrapAsync(PackFile.prototype, 'sync', 'pack fdatasync (threadpool, wall)');
{
  const original = PackFile.prototype.appendManyAsync;
  PackFile.prototype.appendManyAsync = function (this: PackFile, records) {
    const result = original.call(this, records);
    if (on) {
      const start = performance.now();
      void result.written.then(
        () => add('pack appendManyAsync, one write per group (threadpool, wall, overlapping)', performance.now() - start),
        () => undefined,
      );
    }
    return result;
  };
}
wrapSync(Hash.prototype, 'update', (_self, args) => ((args[0] as { length?: number })?.length ?? 0) >= 64 * 1024 ? 'SHA-256 of blocks on the main thread' : undefined);
for (const method of ['diffBlocks', 'missingBlocks', 'putBlocks', 'recordBlocks', 'finishImage', 'beginImage', 'progress']) wrapAsync(LocalTransport.prototype, method, `transport.${method} (wall, overlapping)`);
wrapAsync(HashPool.prototype, 'digestMany', 'hash worker digests, one message per worker (wall, overlapping)');
wrapAsync(RawFileSource.prototype, 'read', 'source read, raw file (wall, overlapping)');
wrapAsync(NbdDiskSource.prototype, 'read', 'source read, NBD (wall, overlapping)');

let gcMs = 0; // reset between measured runs
new PerformanceObserver((list) => {
  if (on) for (const entry of list.getEntries()) gcMs += entry.duration;
}).observe({ entryTypes: ['gc'] });

const work = mkdtempSync(join(tmpdir(), 'ferry-replication-stages-'));
try {
  const sizeBytes = Math.round(Number(values.gib) * 1024) * MiB;
  const layout = diskLayout(sizeBytes, Number(values.data), 1);
  const folder = join(work, 'ds', 'vm1');
  mkdirSync(folder, { recursive: true });
  const raw = join(folder, 'vm1.img');
  writeDisk(raw, layout, 1);
  let disk = raw;
  if (format === 'qcow2') {
    disk = join(folder, 'vm1.qcow2');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, disk]);
    rmSync(raw);
  }
  execFileSync('sync', ['-f', disk]);
  writeFileSync(join(folder, 'vm1.xml'), domainXml({ name: 'vm1', uuid: null, disks: [{ file: disk.split('/').pop()!, format, dev: 'vda' }] }));
  const ferry = await startFerry({ dataDir: join(work, 'data'), datastore: join(work, 'ds'), log: createLogger('warn'), env: {}, connectorPollMs: 100, compression: 'none' });
  const sms = new SMSClient({ region: 'us-east-1', endpoint: ferry.url, credentials: ferry.root, maxAttempts: 1 });
  try {
    await sms.send(new ImportServerCatalogCommand({}));
    let serverId: string | undefined;
    while (!serverId) {
      serverId = (await sms.send(new GetServersCommand({}))).serverList?.[0]?.serverId;
      await new Promise((r) => setTimeout(r, 100));
    }
    const { replicationJobId } = await sms.send(
      new CreateReplicationJobCommand({ serverId, seedReplicationTime: new Date(Date.now() + 3600_000), frequency: 24, licenseType: 'BYOL' }),
    );
    execFileSync('cat', [disk], { stdio: ['ignore', 'ignore', 'ignore'] });
    await measuredRun(replicationJobId!, `full run`, 100);
    if (values.incremental) {
      // As npm run bench:replication: 1 % of the blocks get 64 KiB of new bytes (qcow2 through qemu-io, so the
      // dirty bitmap sees them), once the full run's after-success bitmap steps are done.
      while ((ferry.connector?.outcomes.size ?? 0) < 1) await new Promise((r) => setTimeout(r, 20));
      const blocks = Math.ceil(sizeBytes / (512 * 1024));
      const changed = [...new Set(Array.from({ length: Math.round(blocks / 100) }, (_, i) => (i * 7919 * 31) % blocks))];
      if (format === 'qcow2') {
        execFileSync('qemu-io', ['-f', 'qcow2', ...changed.flatMap((b, i) => ['-c', `write -q -P ${1 + (i % 255)} ${b * 512 * 1024} 65536`]), disk]);
      } else {
        const fd = openSync(disk, 'r+');
        for (const [i, b] of changed.entries()) writeSync(fd, Buffer.alloc(65536, 1 + (i % 255)), 0, 65536, b * 512 * 1024);
        closeSync(fd);
      }
      tallies.clear();
      gcMs = 0;
      await measuredRun(replicationJobId!, `incremental (${changed.length} blocks changed)`, 20);
    }

    /** One on-demand run through the API, with where its time went. */
    async function measuredRun(jobId: string, label: string, pollMs: number): Promise<void> {
      const runs0 = (await sms.send(new GetReplicationRunsCommand({ replicationJobId: jobId }))).replicationRunList?.length ?? 0;
      const start = performance.now();
      const startWall = Date.now();
      // Milestones in ms from the request: the run's state and progress events, the answer, completedTime.
      const timeline: string[] = [];
      const stamp = (label: string) => timeline.push(`${(performance.now() - start).toFixed(1).padStart(7)} ms  ${label}`);
      const unsubscribe = ferry.core.events.subscribe((event) => {
        if (event.type === 'run.progress') stamp(`${event.stage} ${event.stageProgress}`);
        if (event.type === 'run.state') stamp(`run ${event.state}`);
      });
      // --profile FILE: a V8 CPU profile of the main thread during the last measured run.
      const session = values.profile ? new Session() : undefined;
      if (session) {
        session.connect();
        await session.post('Profiler.enable');
        await session.post('Profiler.start');
      }
      on = true;
      const elu0 = performance.eventLoopUtilization();
      const cpu0 = process.cpuUsage();
      const main0 = process.threadCpuUsage();
      const outcomes0 = ferry.connector?.outcomes.size ?? 0;
      await sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: jobId }));
      stamp('StartOnDemandReplicationRun answered');
      for (;;) {
        const list = (await sms.send(new GetReplicationRunsCommand({ replicationJobId: jobId }))).replicationRunList ?? [];
        const run = list.length > runs0 ? list[0] : undefined;
        if (run?.state === 'COMPLETED') {
          if (run.completedTime) timeline.push(`${(run.completedTime.getTime() - startWall).toFixed(0).padStart(5)}   ms  completedTime (the service's clock, ms)`);
          break;
        }
        if (run?.state === 'FAILED') throw new Error(run.statusMessage);
        await new Promise((r) => setTimeout(r, pollMs));
      }
      const wall = performance.now() - start;
      const elu = performance.eventLoopUtilization(elu0);
      const cpu = process.cpuUsage(cpu0);
      const main = process.threadCpuUsage(main0);
      on = false;
      unsubscribe();
      if (session) {
        const { profile } = await session.post('Profiler.stop');
        writeFileSync(values.profile!, JSON.stringify(profile));
        session.disconnect();
      }
      const gb = layout.dataBytes / 1e9;
      console.log(`${format}, ${values.gib} GiB disk, ${gb.toFixed(3)} GB data: ${label} ${(wall / 1000).toFixed(2)} s (${(gb / (wall / 1000)).toFixed(2)} GB/s of data)`);
      console.log(`CPU: process ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s (sys ${(cpu.system / 1e6).toFixed(2)}), main thread ${((main.user + main.system) / 1e6).toFixed(2)} s (sys ${(main.system / 1e6).toFixed(2)})`);
      console.log(`event loop utilisation ${(elu.utilization * 100).toFixed(0)} % (${(elu.active / 1000).toFixed(2)} s busy); GC ${(gcMs / 1000).toFixed(2)} s`);
      for (const [name, t] of [...tallies].sort((a, b) => b[1].ms - a[1].ms)) {
        console.log(`${(t.ms / 1000).toFixed(2).padStart(8)} s ${String(t.calls).padStart(7)} calls  ${name}`);
      }
      console.log('timeline (from StartOnDemandReplicationRun):');
      for (const line of timeline) console.log(`  ${line}`);
      // The connector's own milliseconds per step of the run (runExecutor.ts), once it has returned.
      while ((ferry.connector?.outcomes.size ?? 0) <= outcomes0) await new Promise((r) => setTimeout(r, 10));
      const outcome = [...ferry.connector!.outcomes.values()].at(-1)!;
      if (outcome.kind === 'completed') console.log(`steps (ms): ${Object.entries(outcome.phases ?? {}).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    }
  } finally {
    sms.destroy();
    await ferry.close();
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
