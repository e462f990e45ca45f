/**
 * Stored values read back identical on every dialect: the same rows in, the same JavaScript values out (numbers,
 * strings, Uint8Array, null), through Kysely and through the committed-data reads, with text ordered byte-wise and
 * identity keys never handed out twice.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql, type Kysely } from 'kysely';
import type { ImageTables } from '../../src/images/schema.ts';
import type { ArtifactTables } from '../../src/store/artifacts/artifactTables.ts';
import { describeEachDialect, type StoreUnderTest } from '../helpers/stores.ts';

const storageId = new Uint8Array([0, 1, 127, 128, 254, 255]);
const block = {
  storage_id: storageId,
  key_id: 7,
  pack_id: 3,
  pack_offset: 2 ** 40 + 17,
  stored_len: 65_536,
  raw_len: 0,
  flags: 1,
  gen: Number.MAX_SAFE_INTEGER,
  created_at: 1_733_300_000_123,
};

const plain = <T extends object>(row: T): T => ({ ...row });

describeEachDialect('stored types', (dialect) => {
  let under: StoreUnderTest;
  before(async () => {
    under = await dialect.open();
  });
  after(() => under.dispose());

  test('integers, 64-bit numbers and bytes read back as written', async () => {
    const { readRows, readArrays } = under.store;
    const db = under.store.db as unknown as Kysely<ImageTables>;
    const { block_id } = await db.insertInto('image_blocks').values(block).returning('block_id').executeTakeFirstOrThrow();
    assert.equal(typeof block_id, 'number');
    const query = db.selectFrom('image_blocks').selectAll().where('block_id', '=', block_id).compile();
    for (const row of [await db.selectFrom('image_blocks').selectAll().where('block_id', '=', block_id).executeTakeFirstOrThrow(), (await readRows(query))[0]!]) {
      const { storage_id, ...rest } = plain(row);
      const { storage_id: _written, ...expected } = block;
      assert.deepEqual(rest, { ...expected, block_id });
      assert.ok(storage_id instanceof Uint8Array && !Buffer.isBuffer(storage_id), 'bytes come back as a plain Uint8Array');
      assert.deepEqual([...storage_id], [...storageId]);
    }
    const arrays = await readArrays(db.selectFrom('image_blocks').select(['gen', 'pack_offset', 'created_at']).where('block_id', '=', block_id).compile());
    assert.deepEqual(arrays.map((a) => [...a]), [[block.gen, block.pack_offset, block.created_at]]);
  });

  test('text, nulls and 0/1 flags; count and sum are numbers', async () => {
    const { db } = under.store;
    const names = ['plain', '', 'ünïcödé ✓', 'emoji 🚚', "quote ' and \\ backslash"];
    for (const [i, name] of names.entries()) {
      await db.insertInto('accounts').values({ account_id: `50000000000${i}`, name, created_at: i }).execute();
    }
    const rows = await db.selectFrom('accounts').select(['account_id', 'name', 'created_at']).where('account_id', 'like', '5000%').orderBy('account_id').execute();
    assert.deepEqual(rows.map(plain), names.map((name, i) => ({ account_id: `50000000000${i}`, name, created_at: i })));
    const totals = await db
      .selectFrom('accounts')
      .select([sql<number>`count(*)`.as('n'), sql<number>`sum(created_at)`.as('total')])
      .where('account_id', 'like', '5000%')
      .executeTakeFirstOrThrow();
    assert.deepEqual(plain(totals), { n: 5, total: 10 });
    await db.insertInto('catalogs').values({ account_id: '500000000000', region: 'us-east-1', status: 'NOT_IMPORTED', last_modified_on: null, import_requested_at: null, status_before_import: null }).execute();
    const catalog = await db.selectFrom('catalogs').selectAll().where('account_id', '=', '500000000000').executeTakeFirstOrThrow();
    assert.deepEqual(plain(catalog), { account_id: '500000000000', region: 'us-east-1', status: 'NOT_IMPORTED', last_modified_on: null, import_requested_at: null, status_before_import: null });
  });

  test('text orders byte-wise (UTF-8), as S3 lists keys', async () => {
    const db = under.store.db as unknown as Kysely<ArtifactTables>;
    const keys = ['a', 'B', 'é', 'Z', '_', 'a/b', 'a-b', 'A'];
    await db.insertInto('artifact_buckets').values({ name: 'order', account_id: '1', region: 'r', created_at: 0 }).execute();
    for (const key of keys) {
      await db.insertInto('artifact_objects').values({ bucket: 'order', key, size: 0, etag: '"e"', content_type: null, metadata: '{}', blob_id: null, segments: null, part_count: null, last_modified: 0 }).execute();
    }
    const listed = (await db.selectFrom('artifact_objects').select('key').where('bucket', '=', 'order').orderBy('key').execute()).map((r) => r.key);
    const byBytes = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    assert.deepEqual(listed, byBytes);
  });

  test('identity keys increase and are never handed out twice', async () => {
    const { db } = under.store;
    const insert = async (n: number) =>
      (await db.insertInto('image_deletions').values({ account_id: '1', region: 'r', replication_job_id: `j${n}`, ami_id: `ami-${n}`, requested_at: n, attempts: 0 }).returning('seq').executeTakeFirstOrThrow()).seq;
    const first = await insert(1);
    const second = await insert(2);
    assert.ok(second > first);
    await db.deleteFrom('image_deletions').where('seq', '=', second).execute();
    assert.ok((await insert(3)) > second);
  });
});
