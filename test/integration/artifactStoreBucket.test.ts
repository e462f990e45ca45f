/**
 * The artifact store with its bytes in a bucket (moto_server), as a node with remote block storage keeps them: the
 * shared ArtifactStore suite, then what is particular to it — the bucket's layout and a large object's streamed
 * multipart upload and ranged reads; two stores on one index and one bucket (two nodes) reading each other's
 * objects while garbage waits out its grace period; and every state a crash can leave, swept or collected.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateMultipartUploadCommand, ListMultipartUploadsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { openSqliteStore, type Store } from '../../src/store/openStore.ts';
import { openLocalArtifactStore, type LocalArtifactStore } from '../../src/artifacts/local/localArtifactStore.ts';
import { BucketBlobs, blobObjectName } from '../../src/artifacts/bucket/bucketBlobs.ts';
import { PENDING_LEASE_MS } from '../../src/artifacts/local/sharedBlobs.ts';
import { S3BlockStorage, MIN_PART_BYTES } from '../../src/images/blocks/s3BlockStorage.ts';
import { collect } from '../../src/images/blocks/blockStorage.ts';
import { startTestBucket, testBucketClient, type TestBucket } from '../helpers/s3.ts';
import { artifactStoreSuite, SUITE_LIMITS } from '../helpers/artifactStoreSuite.ts';
import type { ArtifactLimits } from '../../src/artifacts/limits.ts';

const ALICE = '111111111111';
let started: Promise<TestBucket> | undefined;
const testBucket = () => (started ??= startTestBucket());
after(async () => {
  await (await started)?.stop();
});

/** A store on `dataDir`'s SQLite index (or `db`) with its blobs under a prefix of the moto bucket. */
async function openBucketStore(options: { dataDir: string; prefix: string; db?: Store; graceMs?: number; now?: () => number; limits?: Partial<ArtifactLimits> }) {
  const bucket = await testBucket();
  const storage = new S3BlockStorage({ bucket: bucket.bucket, prefix: options.prefix, endpoint: bucket.endpoint, forcePathStyle: true, credentials: bucket.credentials, partSizeBytes: MIN_PART_BYTES });
  const db = options.db ?? (await openSqliteStore(options.dataDir, Date.now()));
  const store = await openLocalArtifactStore({
    db: db.db,
    dataDir: options.dataDir,
    now: options.now ?? (() => Date.now()),
    limits: options.limits ?? SUITE_LIMITS,
    blobs: new BucketBlobs(storage, join(options.dataDir, 'artifacts')),
    garbageGraceMs: options.graceMs ?? 0,
  });
  return {
    store,
    db,
    storage,
    async close() {
      await store.close();
      await storage.close();
      if (!options.db) await db.close();
    },
  };
}

const blobNames = async (storage: S3BlockStorage) => (await collect(storage.list('artifacts/'))).map((o) => o.name);
const objectBlobs = async (db: Store) =>
  (await db.db.selectFrom('artifact_objects' as never).select(['key', 'blob_id', 'segments'] as never).execute()) as unknown as { key: string; blob_id: string | null; segments: string | null }[];
const garbageRows = async (db: Store) => (await db.db.selectFrom('artifact_garbage' as never).selectAll().execute()) as unknown as { blob_id: string; queued_at: number }[];
const prefix = () => `p${randomBytes(4).toString('hex')}`;

async function bytesOf(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

// The whole suite with no grace at all: garbage is deleted as soon as no reader of this process holds it.
artifactStoreSuite('bucket store', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-artifacts-bucket-'));
  const opened = await openBucketStore({ dataDir, prefix: prefix() });
  return {
    store: opened.store,
    async close() {
      await opened.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
});

test('bucket store: blobs are artifacts/blobs/<ab>/<id> in the bucket, nothing stays in the data dir; a large object streams up in parts and back by ranges', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-artifacts-bucket-'));
  const { store, storage, db, close } = await openBucketStore({ dataDir, prefix: prefix(), limits: { ...SUITE_LIMITS, maxObjectBytes: 64 * 1024 * 1024 } });
  try {
    await store.ensureBucket(ALICE, 'files', 'us-east-1');
    await store.putObject(ALICE, 'files', '../../escape.txt', Buffer.from('one'));
    // 2.5 parts of 5 MiB: a multipart upload in the bucket; read back across the 4 MiB read chunks and the parts.
    const big = randomBytes(12 * 1024 * 1024 + 7);
    const stored = await store.writeObject(ALICE, 'files', 'big.bin', (async function* () {
      for (let at = 0; at < big.length; at += 1024 * 1024) yield big.subarray(at, at + 1024 * 1024);
    })(), { size: big.length });
    assert.equal(stored.etag, `"${createHash('md5').update(big).digest('hex')}"`);
    const names = await blobNames(storage);
    assert.equal(names.length, 2);
    for (const name of names) assert.match(name, /^artifacts\/blobs\/([0-9a-f]{2})\/\1[0-9a-f]{30}$/);
    const bigRow = (await objectBlobs(db)).find((r) => r.key === 'big.bin')!;
    assert.equal(await storage.sizeOf(blobObjectName(bigRow.blob_id!)), big.length);
    assert.deepEqual(readdirSync(join(dataDir, 'artifacts'), { recursive: true }), ['incoming'], 'no bytes in the data dir: the temporary file went');
    assert.ok((await bytesOf((await store.openObject(ALICE, 'files', 'big.bin')).body)).equals(big));
    const ranged = await store.openObject(ALICE, 'files', 'big.bin', { range: { start: 4 * 1024 * 1024 - 3, end: 10 * 1024 * 1024 + 2 } });
    assert.ok((await bytesOf(ranged.body)).equals(big.subarray(4 * 1024 * 1024 - 3, 10 * 1024 * 1024 + 3)));
    assert.ok((await bytesOf((await store.openObject(ALICE, 'files', 'big.bin', { range: { suffix: 5 } })).body)).equals(big.subarray(-5)));
    assert.equal((await store.putObject(ALICE, 'files', 'empty', Buffer.alloc(0))).size, 0);
    assert.equal((await store.getObject(ALICE, 'files', 'empty'))?.body.length, 0);
    await store.deleteObject(ALICE, 'files', 'big.bin');
    await store.deleteObject(ALICE, 'files', 'empty');
    await store.collectGarbage();
    assert.equal((await blobNames(storage)).length, 1, 'only the current object is left');
    assert.deepEqual(await garbageRows(db), []);
  } finally {
    await close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('two nodes on one index and one bucket: each reads what the other wrote; garbage stays for the grace period, then one node deletes it', async () => {
  const dirs = [mkdtempSync(join(tmpdir(), 'ferry-artifacts-node1-')), mkdtempSync(join(tmpdir(), 'ferry-artifacts-node2-'))];
  const db = await openSqliteStore(dirs[0]!, Date.now());
  let clock = Date.now();
  const shared = { prefix: prefix(), db, graceMs: 60_000, now: () => clock, limits: { ...SUITE_LIMITS, maxObjectBytes: 16 * 1024 * 1024 } };
  const one = await openBucketStore({ ...shared, dataDir: dirs[0]! });
  const two = await openBucketStore({ ...shared, dataDir: dirs[1]! });
  try {
    await one.store.ensureBucket(ALICE, 'shared', 'us-east-1');
    const body = randomBytes(9 * 1024 * 1024); // three read chunks: the reader GETs after the delete
    await one.store.putObject(ALICE, 'shared', 'k', body);
    assert.ok((await two.store.getObject(ALICE, 'shared', 'k', { maxBytes: body.length }))!.body.equals(body));
    // Node 1 opens the object; node 2 deletes it and collects: the bytes stay until the grace has passed.
    const reader = await one.store.openObject(ALICE, 'shared', 'k');
    await two.store.deleteObject(ALICE, 'shared', 'k');
    await two.store.collectGarbage();
    assert.equal((await blobNames(one.storage)).length, 1);
    assert.ok((await bytesOf(reader.body)).equals(body), 'a reader on another node streams on');
    clock += 60_001;
    await two.store.collectGarbage();
    await one.store.collectGarbage();
    assert.deepEqual(await blobNames(one.storage), []);
    assert.deepEqual(await garbageRows(db), []);
  } finally {
    await one.close();
    await two.close();
    await db.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
});

test('bucket store with no grace: a reader in this process keeps the blobs it streams until it closes', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-artifacts-bucket-'));
  const { store, storage, db, close } = await openBucketStore({ dataDir, prefix: prefix(), limits: { ...SUITE_LIMITS, maxObjectBytes: 16 * 1024 * 1024 } });
  try {
    await store.ensureBucket(ALICE, 'reading', 'us-east-1');
    const body = randomBytes(9 * 1024 * 1024);
    await store.putObject(ALICE, 'reading', 'k', body);
    const reader = await store.openObject(ALICE, 'reading', 'k');
    await store.deleteObject(ALICE, 'reading', 'k');
    await store.collectGarbage();
    assert.equal((await blobNames(storage)).length, 1, 'held by the reader');
    assert.equal((await garbageRows(db)).length, 1, 'still queued');
    assert.ok((await bytesOf(reader.body)).equals(body));
    if (!reader.body.closed) await new Promise((resolve) => reader.body.once('close', resolve)); // releases the blobs
    await store.collectGarbage();
    assert.deepEqual(await blobNames(storage), []);
    assert.deepEqual(await garbageRows(db), []);
  } finally {
    await close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('bucket store, after a crash: leftovers are swept at start, pending blobs expire, a commit whose blob was collected fails', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-artifacts-bucket-'));
  const where = prefix();
  let clock = Date.now();
  let opened = await openBucketStore({ dataDir, prefix: where, graceMs: 1000, now: () => clock });
  const bucket = await testBucket();
  const client = testBucketClient(bucket);
  try {
    await opened.store.ensureBucket(ALICE, 'crash', 'us-east-1');
    await opened.store.putObject(ALICE, 'crash', 'kept', Buffer.from('committed'));
    const [kept] = await blobNames(opened.storage);
    // A collector claimed this blob's row and was killed before deleting it (or a receive's commit never happened).
    const orphan = 'ab'.padEnd(32, '0');
    await client.send(new PutObjectCommand({ Bucket: bucket.bucket, Key: `${where}/${blobObjectName(orphan)}`, Body: 'no row names me' }));
    // A node killed mid-upload: an unfinished multipart upload of a blob no row names, and one still pending.
    const dropped = 'cd'.padEnd(32, '1');
    const pending = 'ef'.padEnd(32, '2');
    for (const id of [dropped, pending]) await client.send(new CreateMultipartUploadCommand({ Bucket: bucket.bucket, Key: `${where}/${blobObjectName(id)}` }));
    await opened.db.db.insertInto('artifact_garbage' as never).values({ blob_id: pending, queued_at: clock + PENDING_LEASE_MS } as never).execute();
    // A temporary file of a body being received.
    writeFileSync(join(dataDir, 'artifacts', 'incoming', 'f'.repeat(32)), 'half a body');
    await opened.close();

    opened = await openBucketStore({ dataDir, prefix: where, graceMs: 1000, now: () => clock });
    await waitFor(async () => (await blobNames(opened.storage)).length === 1);
    assert.deepEqual(await blobNames(opened.storage), [kept], 'the orphan is swept');
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket.bucket, Prefix: `${where}/` }));
    assert.deepEqual(uploads.Uploads?.map((u) => u.Key), [`${where}/${blobObjectName(pending)}`], 'only the pending blob’s upload is kept');
    assert.deepEqual(readdirSync(join(dataDir, 'artifacts', 'incoming')), []);
    // The pending row outlives its lease and grace: collected (and its upload then swept).
    clock += PENDING_LEASE_MS + 1001;
    await opened.store.collectGarbage();
    assert.deepEqual(await garbageRows(opened.db), []);
    await opened.store.close(); // stops the timers; sweep by hand
    const blobs = new BucketBlobs(opened.storage, join(dataDir, 'artifacts'));
    await blobs.sweep(async () => new Set([kept!.slice(-32)]));
    assert.deepEqual((await client.send(new ListMultipartUploadsCommand({ Bucket: bucket.bucket, Prefix: `${where}/` }))).Uploads ?? [], []);
    await opened.storage.close();
    await opened.db.close();

    // A receive that outlives its lease: a collector claims its pending row, so its commit fails and its bytes go.
    opened = await openBucketStore({ dataDir, prefix: where, graceMs: 1000, now: () => clock });
    const store: LocalArtifactStore = opened.store;
    const slow = (async function* () {
      yield Buffer.from('first half, ');
      clock += PENDING_LEASE_MS + 1001;
      await store.collectGarbage();
      yield Buffer.from('second half');
    })();
    await assert.rejects(store.writeObject(ALICE, 'crash', 'slow', slow, {}), /collected before its commit/);
    assert.equal(await store.headObject(ALICE, 'crash', 'slow'), undefined);
    assert.deepEqual(await blobNames(opened.storage), [kept], 'the uncommitted blob is deleted');
    assert.deepEqual(await garbageRows(opened.db), []);
    assert.equal((await store.getObject(ALICE, 'crash', 'kept'))?.body.toString(), 'committed');
  } finally {
    client.destroy();
    await opened.close().catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
  }
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
