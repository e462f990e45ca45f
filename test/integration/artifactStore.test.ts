/**
 * The local artifact store on a real SQLite database and real files: the shared ArtifactStore suite, then what is
 * particular to it — blobs on disk (never named after keys, 0600/0700, deleted when unreferenced) and recovery of
 * every state a kill -9 can leave behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../../src/store/openStore.ts';
import { openLocalArtifactStore, type LocalArtifactStore } from '../../src/artifacts/local/localArtifactStore.ts';
import { artifactStoreSuite, SUITE_LIMITS } from '../helpers/artifactStoreSuite.ts';
import type { ArtifactLimits } from '../../src/artifacts/limits.ts';

async function openLocal(dataDir: string, limits: Partial<ArtifactLimits> = SUITE_LIMITS) {
  const db = await openSqliteStore(dataDir, Date.now());
  const store = await openLocalArtifactStore({ db: db.db, dataDir, now: () => Date.now(), limits });
  return {
    store,
    db,
    async close() {
      await store.close();
      await db.close();
    },
  };
}

artifactStoreSuite('local store', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-artifacts-'));
  const opened = await openLocal(dataDir);
  return {
    store: opened.store,
    async close() {
      await opened.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
});

/** Every file under `dir`, relative. */
function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

const ALICE = '111111111111';

test('blobs: named by id, never by key; 0600 files in 0700 directories; replaced and deleted versions are removed', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-artifacts-'));
  const { store, close } = await openLocal(dataDir);
  try {
    await store.ensureBucket(ALICE, 'files', 'us-east-1');
    await store.putObject(ALICE, 'files', '../../escape.txt', Buffer.from('one'));
    await store.putObject(ALICE, 'files', 'second', Buffer.from('two'));
    const root = join(dataDir, 'artifacts');
    let stored = files(root);
    assert.equal(stored.length, 2);
    for (const file of stored) {
      assert.match(file, /^blobs\/[0-9a-f]{2}\/[0-9a-f]{32}$/);
      assert.equal(statSync(join(root, file)).mode & 0o777, 0o600, file);
    }
    for (const dir of ['', 'blobs', 'incoming', stored[0]!.slice(0, 8)]) assert.equal(statSync(join(root, dir)).mode & 0o777, 0o700, dir || 'artifacts');
    assert.ok(!existsSync(join(dataDir, '..', 'escape.txt')));
    await store.putObject(ALICE, 'files', 'second', Buffer.from('two, again'));
    await store.deleteObject(ALICE, 'files', '../../escape.txt');
    await store.collectGarbage();
    stored = files(root);
    assert.equal(stored.length, 1, 'only the current version of "second" is left');
    const upload = await store.createMultipartUpload(ALICE, 'files', 'parts', {});
    await store.uploadPart(ALICE, 'files', 'parts', upload.uploadId, 1, (async function* () { yield Buffer.from('part') })(), {});
    assert.equal(files(root).length, 2);
    await store.abortMultipartUpload(ALICE, 'files', 'parts', upload.uploadId);
    await store.collectGarbage();
    assert.equal(files(root).length, 1, 'an aborted upload leaves no part behind');
    assert.deepEqual(files(join(root, 'incoming')), []);
  } finally {
    await close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('opening the store finishes what a crash interrupted, at every point of a write', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-artifacts-'));
  let opened = await openLocal(dataDir);
  const root = join(dataDir, 'artifacts');
  const store: LocalArtifactStore = opened.store;
  await store.ensureBucket(ALICE, 'crash', 'us-east-1');
  await store.putObject(ALICE, 'crash', 'committed-but-not-moved', Buffer.from('committed'));
  await store.putObject(ALICE, 'crash', 'collected-later', Buffer.from('old'));
  const row = await opened.db.db
    .selectFrom('artifact_objects' as never)
    .select(['key', 'blob_id'] as never)
    .execute() as unknown as { key: string; blob_id: string }[];
  const blobOf = (key: string) => row.find((r) => r.key === key)!.blob_id;
  await opened.close();

  // 1. The row committed, the process died before the blob moved out of incoming/.
  const moved = blobOf('committed-but-not-moved');
  const published = join(root, 'blobs', moved.slice(0, 2), moved);
  writeFileSync(join(root, 'incoming', moved), 'committed', { mode: 0o600 });
  rmSync(published);
  // 2. A body was being received (or was received) and never committed.
  writeFileSync(join(root, 'incoming', 'ffffffffffffffffffffffffffffffff'), 'half a body', { mode: 0o600 });
  writeFileSync(join(root, 'incoming', 'not-a-blob-name.tmp'), 'junk', { mode: 0o600 });
  // 3. A version was replaced (garbage queued in the same transaction) and the process died before deleting it.
  const replaced = blobOf('collected-later');
  const db = await openSqliteStore(dataDir, Date.now());
  await db.db.transaction().execute(async (trx) => {
    await trx.deleteFrom('artifact_objects' as never).where('key' as never, '=', 'collected-later' as never).execute();
    await trx.insertInto('artifact_garbage' as never).values({ blob_id: replaced, queued_at: 1 } as never).execute();
  });
  await db.close();
  assert.ok(existsSync(join(root, 'blobs', replaced.slice(0, 2), replaced)));

  opened = await openLocal(dataDir);
  try {
    assert.equal((await opened.store.getObject(ALICE, 'crash', 'committed-but-not-moved'))?.body.toString(), 'committed');
    assert.ok(existsSync(published), 'moved into place');
    assert.deepEqual(files(join(root, 'incoming')), [], 'uncommitted bodies and strays are gone');
    assert.ok(!existsSync(join(root, 'blobs', replaced.slice(0, 2), replaced)), 'queued garbage is deleted');
    assert.deepEqual(await opened.db.db.selectFrom('artifact_garbage' as never).selectAll().execute(), []);
    assert.equal(files(join(root, 'blobs')).length, 1, 'exactly the one referenced blob is left');
  } finally {
    await opened.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
