/**
 * Migrations on every dialect: a fresh store gets every version once, opening again applies nothing, six nodes
 * opening one fresh database together apply each version exactly once, and a SQLite database created by main's
 * migrations (before PostgreSQL) still opens, migrates and reads.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { test } from 'node:test';
import { sql, type Kysely } from 'kysely';
import type { ImageTables } from '../../src/images/schema.ts';
import { migrations } from '../../src/store/migrations/index.ts';
import { openSqliteStore, openStore, type Store } from '../../src/store/openStore.ts';
import { createTestDatabase, describeEachDialect, postgresSkipReason, testPostgresUrl } from '../helpers/stores.ts';

const allVersions = migrations.map((m) => m.version);

describeEachDialect('migrations', (dialect) => {
  test('a fresh store applies every migration; reopening applies none', async () => {
    const under = await dialect.open(1_234);
    try {
      assert.deepEqual(under.store.migrationsRun, allVersions);
      const recorded = await under.store.db.selectFrom('ferry_migrations' as never).select(['version' as never, 'applied_at' as never]).orderBy('version' as never).execute();
      assert.deepEqual(recorded.map((r) => ({ ...(r as object) })), allVersions.map((version) => ({ version, applied_at: 1_234 })));
      const again = await under.reopen();
      try {
        assert.deepEqual(again.migrationsRun, []);
      } finally {
        await again.close();
      }
    } finally {
      await under.dispose();
    }
  });
});

test('six nodes opening one fresh PostgreSQL database together migrate it once', { skip: postgresSkipReason }, async () => {
  const database = await createTestDatabase(testPostgresUrl!);
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-migrate-'));
  const stores: Store[] = [];
  try {
    const opened = await Promise.allSettled(Array.from({ length: 6 }, () => openStore({ dataDir, url: database.url }, 1)));
    for (const result of opened) if (result.status === 'fulfilled') stores.push(result.value);
    assert.equal(stores.length, 6, `every node opened: ${opened.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)).join('; ')}`);
    const ran = stores.flatMap((store) => store.migrationsRun).sort((a, b) => a - b);
    assert.deepEqual(ran, allVersions, 'each version applied by exactly one node');
    const count = await stores[0]!.db.selectFrom('ferry_migrations' as never).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    assert.equal(count.n, allVersions.length);
  } finally {
    await Promise.all(stores.map((store) => store.close()));
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a SQLite database created by main before PostgreSQL support opens, migrates and reads', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-fixture-'));
  try {
    const fixture = new URL('../fixtures/store/ferry-v11-main.db.gz', import.meta.url);
    writeFileSync(join(dataDir, 'ferry.db'), gunzipSync(readFileSync(fixture)), { mode: 0o600 });
    const store = await openSqliteStore(dataDir, Date.now());
    try {
      assert.deepEqual(store.migrationsRun, allVersions.filter((v) => v > 11), 'only migrations newer than the fixture run');
      const account = await store.db.selectFrom('accounts').selectAll().executeTakeFirstOrThrow();
      assert.deepEqual({ ...account }, { account_id: '111122223333', name: 'fixture', created_at: 1_700_000_000_001 });
      const job = await store.db.selectFrom('jobs').select(['replication_job_id', 'frequency', 'encrypted', 'seq']).executeTakeFirstOrThrow();
      assert.deepEqual({ ...job }, { replication_job_id: 'sms-job-0123456789abcdef0', frequency: 12, encrypted: 1, seq: 1 });
      const block = await (store.db as unknown as Kysely<ImageTables>).selectFrom('image_blocks').select(['storage_id', 'pack_offset']).executeTakeFirstOrThrow();
      assert.deepEqual([...block.storage_id], [0, 1, 2, 254, 255]);
      // The identity keys go on after the fixture's rows.
      const { seq } = await store.db
        .insertInto('jobs')
        .values({ replication_job_id: 'sms-job-0fedcba987654321f', account_id: '111122223333', region: 'us-east-1', server_id: 's-1', server_type: 'VIRTUAL_MACHINE', vm_server: '{}', vm_manager_id: 'vmm', seed_time: 0, schedule_anchor: 0, frequency: 12, run_once: 0, amis_to_keep: 1, encrypted: 0, state: 'ACTIVE', consecutive_failures: 0, created_at: 0, updated_at: 0 })
        .returning('seq')
        .executeTakeFirstOrThrow();
      assert.equal(seq, 2);
      // Migration 14 dropped the jobs (tenant, state) index the fixture still has.
      const indexes = await sql<{ name: string }>`select name from sqlite_master where type = 'index' and tbl_name = 'jobs'`.execute(store.db);
      assert.ok(indexes.rows.length > 0 && !indexes.rows.some((r) => r.name === 'jobs_tenant_state'), JSON.stringify(indexes.rows));
      // Migration 15 made the lease and pause indexes partial: only rows with the clock set.
      const partial = await sql<{ name: string; sql: string }>`select name, sql from sqlite_master where type = 'index' and name in ('runs_lease', 'jobs_state_paused') order by name`.execute(store.db);
      assert.deepEqual(partial.rows.map((r) => [r.name, /where "?(lease_expires_at|paused_at)"? is not null/i.test(r.sql)]), [['jobs_state_paused', true], ['runs_lease', true]]);
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
