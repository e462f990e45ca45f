/**
 * Issue 8, defect 4: no local user can read a tenant's secret access key. A data dir is 0700 and every file Ferry
 * keeps in it 0600 (the store's WAL and shared-memory files too); access keys' secrets are stored only sealed
 * under the master key, so no file of the store holds one in plain text. A data dir from before (0755, 0644,
 * plain secrets) is tightened and sealed on start, and its keys keep working. The CLI finds the master key the way
 * the service does, and a process with the wrong master key, or none, says so instead of sealing under another.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { signInResult } from '../helpers/ferry.ts';
import { startFerry, type RunningFerry } from '../../src/main.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { createAccount } from '../../src/core/accounts.ts';
import { fingerprint } from '../../src/kms/envelope.ts';
import { migrations } from '../../src/store/migrations/index.ts';
import { NodeSqliteDatabase } from '../../src/store/nodeSqlite.ts';
import { ferryCli, FERRY_CLI, NODE, run } from '../helpers/process.ts';

const STORE_FILES = ['ferry.db', 'ferry.db-wal', 'ferry.db-shm'];

async function start(dataDir: string, env: NodeJS.ProcessEnv = {}): Promise<{ ferry: RunningFerry; logs: Record<string, unknown>[] }> {
  const logs: Record<string, unknown>[] = [];
  const log = createLogger('warn', { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  return { ferry: await startFerry({ dataDir, env, log }), logs };
}


/** Store files (the database, its WAL and shared memory) that contain `needle`. */
function storeFilesHolding(dataDir: string, needle: string): string[] {
  return STORE_FILES.filter((name) => existsSync(join(dataDir, name)) && readFileSync(join(dataDir, name)).includes(Buffer.from(needle)));
}

/** Every file and directory under `dir` whose mode lets anyone but the owner in. */
function looseEntries(dir: string): string[] {
  const loose: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name);
    if ((statSync(path).mode & 0o077) !== 0) loose.push(`${path} ${(statSync(path).mode & 0o777).toString(8)}`);
  }
  return loose;
}

test('a new data dir is 0700 with every file 0600, and no store file holds a secret access key', async () => {
  const parent = mkdtempSync(join(tmpdir(), 'ferry-rest-'));
  const dataDir = join(parent, 'data');
  const { ferry } = await start(dataDir);
  try {
    const alice = await createAccount(ferry.core, ferry.secrets.accessKeys, 'alice');
    assert.equal(await signInResult(ferry.url, alice), 'ok');
    assert.equal(await signInResult(ferry.url, ferry.root), 'ok');
    assert.equal(statSync(dataDir).mode & 0o777, 0o700);
    for (const name of STORE_FILES) assert.equal(statSync(join(dataDir, name)).mode & 0o777, 0o600, `${name} is 0600`);
    assert.deepEqual(looseEntries(dataDir), [], 'nothing in the data dir is open to other users');
    assert.deepEqual(storeFilesHolding(dataDir, alice.secretAccessKey), [], "alice's secret is in no store file");
    assert.deepEqual(storeFilesHolding(dataDir, ferry.root.secretAccessKey), [], "root's secret is in no store file");
    const rows = await ferry.core.db.selectFrom('access_keys').selectAll().execute();
    assert.equal(rows.length, 2);
    for (const row of rows) {
      assert.equal(row.plain_secret, null);
      assert.equal(row.master_key_fingerprint, ferry.secrets.master.fingerprint);
      assert.ok(row.sealed_secret && !row.sealed_secret.includes(alice.secretAccessKey));
    }
  } finally {
    await ferry.close();
    rmSync(parent, { recursive: true, force: true });
  }
});

/** A data dir as Ferry left it before: store at migration 6 with plain secrets, loose modes. */
async function makeOldDataDir(dataDir: string, keys: { root: { accessKeyId: string; secretAccessKey: string }; alice: { accessKeyId: string; secretAccessKey: string } }): Promise<void> {
  mkdirSync(dataDir);
  chmodSync(dataDir, 0o755);
  const db = new Kysely<any>({ dialect: new SqliteDialect({ database: new NodeSqliteDatabase(join(dataDir, 'ferry.db')) }) });
  await sql`create table ferry_migrations (version integer primary key, name text not null, applied_at bigint not null)`.execute(db);
  for (const migration of migrations.filter((m) => m.version < 7)) {
    await db.transaction().execute(async (tx) => {
      await migration.up(tx);
      await tx.insertInto('ferry_migrations').values({ version: migration.version, name: migration.name, applied_at: 0 }).execute();
    });
  }
  await db.insertInto('accounts').values([{ account_id: '111111111111', name: 'root', created_at: 1 }, { account_id: '222222222222', name: 'alice', created_at: 2 }]).execute();
  await db
    .insertInto('access_keys')
    .values([
      { access_key_id: keys.root.accessKeyId, secret_access_key: keys.root.secretAccessKey, account_id: '111111111111', created_at: 1 },
      { access_key_id: keys.alice.accessKeyId, secret_access_key: keys.alice.secretAccessKey, account_id: '222222222222', created_at: 2 },
    ])
    .execute();
  await db.destroy();
  chmodSync(join(dataDir, 'ferry.db'), 0o644);
  writeFileSync(join(dataDir, 'root-credentials.json'), JSON.stringify({ ...keys.root, accountId: '111111111111' }));
  chmodSync(join(dataDir, 'root-credentials.json'), 0o644);
}

test('an older data dir is tightened and its plain secrets sealed on start, with warnings; its keys keep working', async () => {
  const parent = mkdtempSync(join(tmpdir(), 'ferry-rest-old-'));
  const dataDir = join(parent, 'data');
  const keys = {
    root: { accessKeyId: 'AKIAOLDROOT000000001', secretAccessKey: `old-root-secret-${randomBytes(12).toString('hex')}` },
    alice: { accessKeyId: 'AKIAOLDALICE00000001', secretAccessKey: `old-alice-secret-${randomBytes(12).toString('hex')}` },
  };
  await makeOldDataDir(dataDir, keys);
  assert.deepEqual(storeFilesHolding(dataDir, keys.alice.secretAccessKey), ['ferry.db'], 'the old store holds the secret in plain text');
  const { ferry, logs } = await start(dataDir);
  try {
    const warnings = logs.filter((l) => l.level === 40).map((l) => String(l.msg));
    assert.ok(warnings.includes(`${dataDir} was mode 0755, readable or writable by other local users; changed it to 0700.`), warnings.join('\n'));
    assert.ok(warnings.includes(`${join(dataDir, 'ferry.db')} was mode 0644, readable or writable by other local users; changed it to 0600.`));
    assert.ok(warnings.includes(`${join(dataDir, 'root-credentials.json')} was mode 0644, readable or writable by other local users; changed it to 0600.`));
    assert.ok(logs.some((l) => l.msg === 'access key secrets stored in plain text are now sealed under the master key' && l.keys === 2));
    assert.equal(statSync(dataDir).mode & 0o777, 0o700);
    assert.deepEqual(looseEntries(dataDir), []);
    assert.equal(ferry.root.source, 'file');
    assert.equal(await signInResult(ferry.url, keys.root), 'ok');
    assert.equal(await signInResult(ferry.url, keys.alice), 'ok');
    for (const secret of [keys.root.secretAccessKey, keys.alice.secretAccessKey]) {
      assert.deepEqual(storeFilesHolding(dataDir, secret), [], 'the plain secret is gone from the database, its WAL and its shared memory');
    }
    const rows = await ferry.core.db.selectFrom('access_keys').select(['access_key_id', 'origin', 'plain_secret', 'sealed_secret']).orderBy('access_key_id').execute();
    assert.deepEqual(rows.map((r) => [r.access_key_id, r.origin, r.plain_secret, typeof r.sealed_secret]), [
      [keys.alice.accessKeyId, 'created', null, 'string'],
      [keys.root.accessKeyId, 'legacy', null, 'string'],
    ]);
  } finally {
    await ferry.close();
  }
  // After a clean shutdown too.
  for (const secret of [keys.root.secretAccessKey, keys.alice.secretAccessKey]) assert.deepEqual(storeFilesHolding(dataDir, secret), []);
  rmSync(parent, { recursive: true, force: true });
});

test('secrets sealed under one master key: another master key, or none, is refused with the fingerprint it needs', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-rest-master-'));
  const first = randomBytes(32);
  const second = randomBytes(32);
  try {
    const { ferry } = await start(dataDir, { FERRY_MASTER_KEY: first.toString('hex') });
    // `ferry accounts create` in another process, with the service's master key: its key works at once.
    const bob = JSON.parse(await ferryCli(['accounts', 'create', 'bob', '--data-dir', dataDir, '--json'], { FERRY_MASTER_KEY: first.toString('hex') })) as {
      accessKeyId: string;
      secretAccessKey: string;
    };
    assert.equal(await signInResult(ferry.url, bob), 'ok');
    // Without the master key the command stops, and makes no master.key of its own.
    const without = await run(NODE, [FERRY_CLI, 'accounts', 'create', 'carol', '--data-dir', dataDir], { env: { ...process.env, FERRY_MASTER_KEY: '' } });
    assert.equal(without.code, 1);
    assert.match(without.stderr, new RegExp(`sealed under a master key \\(fingerprint ${fingerprint(first)}\\) that this process does not have: set FERRY_MASTER_KEY`));
    assert.equal(existsSync(join(dataDir, 'master.key')), false, 'no master key generated beside sealed secrets');
    await ferry.close();

    await assert.rejects(start(dataDir, { FERRY_MASTER_KEY: second.toString('hex') }), (err: Error) => {
      assert.equal(err.name, 'MasterKeyError');
      assert.match(err.message, new RegExp(`sealed under master key ${fingerprint(first)}, but this one \\(from FERRY_MASTER_KEY\\) is ${fingerprint(second)}`));
      return true;
    });
    const again = await start(dataDir, { FERRY_MASTER_KEY: first.toString('hex') });
    assert.equal(await signInResult(again.ferry.url, bob), 'ok', 'with the right key everything works again');
    await again.ferry.close();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
