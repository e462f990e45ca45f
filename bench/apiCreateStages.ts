/**
 * Diagnosing CreateReplicationJob's CPU: `node bench/apiCreateStages.ts [--jobs N] [--creates N] [--concurrency N] [--sql]`.
 *
 * Runs createJob (core/jobs.ts, what the operation calls) in process against a seeded SQLite data dir (`seed.ts`:
 * N jobs in the account, plus one free server per create), `concurrency` at a time, and prints the process's CPU
 * per create, the main thread's time inside SQLite statements (per kind of statement, or per statement with
 * `--sql`), the commits and WAL syncs the group commit made, the write calls and bytes the process made (WAL frames,
 * and the checkpointer's copies into the database file), and what is left for everything else (Kysely's query
 * building and compiling, the rules, promises). No HTTP, no SigV4, no logging: `npm run bench` measures those.
 */
import { StatementSync } from 'node:sqlite';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openSqliteStore } from '../src/store/openStore.ts';
import { seedDataDir, VM_MANAGER } from './seed.ts';
import { systemClock } from '../src/lib/clock.ts';
import { createLogger } from '../src/lib/logger.ts';
import { defaultPolicy } from '../src/domain/policy.ts';
import { FerryEvents } from '../src/core/events.ts';
import type { Core } from '../src/core/context.ts';
import { issueConnector } from '../src/core/connectors.ts';
import { createJob } from '../src/core/jobs.ts';
import { newServerId } from '../src/lib/ids.ts';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '1000' },
    creates: { type: 'string', default: '3000' },
    concurrency: { type: 'string', default: '8' },
    sql: { type: 'boolean', default: false },
  },
});
const JOBS = Number(values.jobs);
const CREATES = Number(values.creates);
const CONCURRENCY = Number(values.concurrency);
const tenant = { accountId: '123456789012', region: 'us-east-1' };

/** Main-thread time per kind of statement, measured around node:sqlite's synchronous calls. */
const spent = new Map<string, { ms: number; calls: number }>();
let measuring = false;
const kindOf = (statement: StatementSync): string => {
  const sql = statement.sourceSQL.trim().replace(/\s+/g, ' ').toLowerCase();
  if (values.sql) return sql.slice(0, 110);
  return sql.startsWith('begin') ? 'begin' : sql === 'commit' ? 'commit' : sql.split(' ')[0]!;
};
for (const method of ['run', 'all', 'get'] as const) {
  const original = StatementSync.prototype[method] as (...args: unknown[]) => unknown;
  (StatementSync.prototype as unknown as Record<string, unknown>)[method] = function (this: StatementSync, ...args: unknown[]) {
    if (!measuring) return original.apply(this, args);
    const started = performance.now();
    try {
      return original.apply(this, args);
    } finally {
      const kind = kindOf(this);
      const entry = spent.get(kind) ?? { ms: 0, calls: 0 };
      entry.ms += performance.now() - started;
      entry.calls++;
      spent.set(kind, entry);
    }
  };
}

/** This process's write system calls and bytes written so far, every thread (the checkpointer's too). */
function writesSoFar(): { calls: number; bytes: number } {
  const io = readFileSync('/proc/self/io', 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(io)?.[1] ?? NaN);
  return { calls: field('syscw'), bytes: field('wchar') };
}

const dataDir = mkdtempSync(join(tmpdir(), 'ferry-create-stages-'));
try {
  const setup = await openSqliteStore(dataDir, systemClock.now());
  const setupCore = { db: setup.db, readRows: setup.readRows, readArrays: setup.readArrays, capabilities: setup.capabilities, clock: systemClock, policy: defaultPolicy, log: createLogger('warn'), events: new FerryEvents() } as Core;
  const { connectorId } = await issueConnector(setupCore, tenant, 'bench');
  await setup.close();
  await seedDataDir(dataDir, tenant, connectorId, JOBS);

  const store = await openSqliteStore(dataDir, systemClock.now());
  const core: Core = { db: store.db, readRows: store.readRows, readArrays: store.readArrays, capabilities: store.capabilities, clock: systemClock, policy: { ...defaultPolicy, maxNonTerminalJobsPerAccount: 10_000_000 }, log: createLogger('warn'), events: new FerryEvents() };
  // One free server per create, in the catalog, bound to the connector, as the inventory leaves them.
  const now = systemClock.now();
  const free = Array.from({ length: CREATES }, (_, i) => ({
    server_id: newServerId(),
    account_id: tenant.accountId,
    region: tenant.region,
    connector_id: connectorId,
    vm_manager_id: VM_MANAGER.vmManagerId,
    vm_manager_name: VM_MANAGER.vmManagerName,
    vm_manager_type: VM_MANAGER.vmManagerType,
    vm_id: `vm-free-${i}`,
    vm_name: `free-${i}`,
    vm_path: `/Datacenters/DC1/vm/free-${i}`,
    replicable: 1,
    unsupported_reason: null,
    in_catalog: 1,
    replication_job_id: null,
    replication_job_terminated: 0,
    details: JSON.stringify({ cpus: 2, memoryMiB: 4096, os: 'Ubuntu 22.04', disks: [{ sizeGiB: 40 }] }),
    updated_at: now,
  }));
  for (let i = 0; i < free.length; i += 1000) await store.db.insertInto('servers').values(free.slice(i, i + 1000)).execute();
  await store.db.updateTable('connectors').set({ last_heartbeat_at: now, reported_status: 'HEALTHY' }).where('connector_id', '=', connectorId).execute();

  const create = (serverId: string) => createJob(core, tenant, { serverId, seedReplicationTime: new Date(now + 3_600_000), frequency: 12, description: 'bench' });
  // Warm-up: the first tenth (JIT, statement caches).
  const warm = Math.floor(CREATES / 10);
  for (let i = 0; i < warm; i++) await create(free[i]!.server_id);

  const before = { commits: store.commitStats?.() ?? { commits: 0, syncs: 0 }, cpu: process.cpuUsage(), wall: performance.now(), writes: writesSoFar() };
  measuring = true;
  let next = warm;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < CREATES) await create(free[next++]!.server_id);
    }),
  );
  measuring = false;
  const cpu = process.cpuUsage(before.cpu);
  const wall = performance.now() - before.wall;
  const after = store.commitStats?.() ?? { commits: 0, syncs: 0 };
  const writes = writesSoFar();
  const n = CREATES - warm;
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const sqliteMs = [...spent.values()].reduce((sum, e) => sum + e.ms, 0);
  const us = (ms: number) => ((ms / n) * 1000).toFixed(1).padStart(7);
  console.log(`CreateReplicationJob in process: ${n} creates, ${CONCURRENCY} at a time, ${JOBS} jobs in the account before`);
  console.log(`  ${(n / (wall / 1000)).toFixed(0)} creates/s; CPU ${us(cpuMs)} µs/create (process, all threads); commits ${after.commits - before.commits.commits}, WAL syncs ${after.syncs - before.commits.syncs}`);
  console.log(`  writes ${((writes.calls - before.writes.calls) / n).toFixed(1)} calls and ${((writes.bytes - before.writes.bytes) / n / 1024).toFixed(1)} KiB per create (WAL frames, checkpoints)`);
  console.log(`  SQLite statements (main thread) ${us(sqliteMs)} µs/create; everything else ${us(cpuMs - sqliteMs)} µs/create`);
  // Statement times are wall time on the main thread: on a busy machine they include time the thread waited for a core.
  if (sqliteMs > cpuMs) console.log('  (statement times exceed the CPU time: the machine is busy, they include waiting for a core; compare runs side by side)');
  for (const [kind, entry] of [...spent].sort((a, b) => b[1].ms - a[1].ms)) {
    console.log(`    ${us(entry.ms)} µs  ${(entry.calls / n).toFixed(2).padStart(5)}/create  ${kind}`);
  }
  await store.close();
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
