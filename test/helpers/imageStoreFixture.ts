/**
 * Shared fixture for the image-store unit tests (test/unit/images*.test.ts): a store on real files and a real SQLite
 * database in a temporary directory, a simulated kill -9, deterministic disk contents, the run executor's write loop,
 * export, a stand-in sealer, and helpers to find and corrupt stored bytes.
 */
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { openSqliteStore, type Store } from '../../src/store/openStore.ts';
import { imageStoreMigration } from '../../src/store/migrations/002_image_store.ts';
import { openImageStore, type ImageStore, type OpenImageStoreOptions } from '../../src/images/imageStore.ts';
import { plainSealer, type BlockSealer } from '../../src/images/blockSealer.ts';
import { simulateCrashOfLocalOwners } from '../../src/images/packOwner.ts';
import type { RecordedBlock } from '../../src/images/types.ts';
import { openManifest } from '../../src/images/manifest.ts';

export const B = 512 * 1024;
export const tenant = { accountId: '111122223333', region: 'us-east-1' };
export const JOB = 'sms-job-0123abcd';

export interface Fixture {
  dir: string;
  state: Store;
  images: ImageStore;
  reopen(options?: Partial<OpenImageStoreOptions>): Promise<Fixture>;
  close(): Promise<void>;
}

/** Applies migration 002 unless the store's migration list already did. */
export async function ensureImageTables(state: Store): Promise<void> {
  const db = state.db as unknown as Kysely<any>;
  const applied = await db.selectFrom('ferry_migrations').select('version').where('version', '=', imageStoreMigration.version).executeTakeFirst();
  if (applied) return;
  await db.transaction().execute(async (trx) => {
    await imageStoreMigration.up(trx);
    await trx.insertInto('ferry_migrations').values({ version: imageStoreMigration.version, name: imageStoreMigration.name, applied_at: Date.now() }).execute();
  });
}

/** A store in a fresh temporary directory (removed on close), or reopened on `dir` (left in place). */
export async function openFixture(existing?: string, options: Partial<OpenImageStoreOptions> = {}): Promise<Fixture> {
  const dir = existing ?? mkdtempSync(join(tmpdir(), 'ferry-images-'));
  const state = await openSqliteStore(dir, Date.now());
  await ensureImageTables(state);
  const images = await openImageStore({ db: state.db, dataDir: dir, packSizeBytes: 4 * B, ...options });
  const fixture: Fixture = {
    dir,
    state,
    images,
    reopen: (more = {}) => openFixture(dir, { ...options, ...more }),
    async close() {
      await images.close();
      await state.close();
      if (!existing) rmSync(dir, { recursive: true, force: true });
    },
  };
  return fixture;
}

/** What kill -9 leaves behind: nothing flushed, nothing sealed, the database connection simply gone. */
export async function crash(fixture: Fixture): Promise<void> {
  simulateCrashOfLocalOwners();
  await fixture.state.close();
}

/** A deterministic pseudo-random block (AES-CTR keystream): incompressible, unique per seed. */
export function noise(seed: string, length = B): Buffer {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

/** A compressible block: text with a seed in it. */
export function text(seed: string, length = B): Buffer {
  const line = Buffer.from(`${seed}: the quick brown fox jumps over the lazy dog ${seed.length}\n`);
  const out = Buffer.alloc(length);
  for (let at = 0; at < length; at += line.length) line.copy(out, at);
  return out;
}

/** A disk from block specs: a seed (noise), 't:seed' (text) or null (zeros). `tail` shortens the last block. */
export function disk(specs: (string | null)[], tail = 0): Buffer {
  const out = Buffer.alloc(specs.length * B - tail);
  specs.forEach((spec, i) => {
    if (spec === null) return;
    const block = spec.startsWith('t:') ? text(spec) : noise(spec);
    block.copy(out, i * B, 0, Math.min(B, out.length - i * B));
  });
  return out;
}

export const sha = (data: Buffer): Buffer => createHash('sha256').update(data).digest();
export const isZero = (data: Buffer): boolean => data.equals(Buffer.alloc(data.length));

/** What the run executor does: ask first, put what is missing, record, in batches. Returns how many blocks were sent. */
export async function writeDisk(images: ImageStore, runId: string, diskIndex: number, data: Buffer, only?: (blockIndex: number) => boolean): Promise<number> {
  let sent = 0;
  const count = Math.ceil(data.length / B);
  for (let start = 0; start < count; start += 8) {
    const entries: RecordedBlock[] = [];
    const blocks: Buffer[] = [];
    for (let i = start; i < Math.min(count, start + 8); i++) {
      if (only && !only(i)) continue;
      const block = data.subarray(i * B, Math.min(data.length, (i + 1) * B));
      entries.push({ blockIndex: i, sha256: isZero(block) ? null : sha(block) });
      blocks.push(block);
    }
    const asked = entries.map((e, k) => ({ e, block: blocks[k]! })).filter((x) => x.e.sha256 !== null);
    const missing = await images.missingBlocks(runId, asked.map((x) => x.e.sha256!));
    for (let k = 0; k < asked.length; k++) {
      if (!missing[k]) continue;
      const result = await images.putBlock(runId, asked[k]!.e.sha256!, asked[k]!.block);
      if (result.stored) sent++;
    }
    if (entries.length > 0) await images.recordBlocks(runId, diskIndex, entries);
  }
  return sent;
}

export async function makeImage(
  images: ImageStore,
  runId: string,
  disks: Buffer[],
  extra: { parentAmiId?: string; mode?: 'full' | 'incremental'; sealer?: BlockSealer; only?: (d: number, i: number) => boolean } = {},
): Promise<{ amiId: string; sent: number }> {
  await images.beginImage(runId, {
    tenant,
    replicationJobId: JOB,
    sealer: extra.sealer ?? plainSealer,
    parentAmiId: extra.parentAmiId,
    mode: extra.mode,
    disks: disks.map((d, index) => ({ index, sizeBytes: d.length })),
  });
  let sent = 0;
  for (const [index, data] of disks.entries()) sent += await writeDisk(images, runId, index, data, extra.only ? (i) => extra.only!(index, i) : undefined);
  const { amiId } = await images.finishImage(runId);
  return { amiId, sent };
}

export async function exported(images: ImageStore, amiId: string, diskIndex: number, dir: string): Promise<Buffer> {
  const out = join(dir, `${amiId}-${diskIndex}-${randomBytes(3).toString('hex')}.raw`);
  await images.exportDisk(amiId, diskIndex, 'raw', out);
  const data = readFileSync(out);
  rmSync(out);
  return data;
}

/** A stand-in for the KMS sealer: HMAC ids, AES-256-GCM seals (the real one lives in src/kms). */
export function testSealer(keyRef: string): BlockSealer {
  const key = createHash('sha256').update(keyRef).digest();
  return {
    keyRef,
    storageId: (s) => createHmac('sha256', key).update(s).digest(),
    seal(id, data) {
      const nonce = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, nonce).setAAD(id);
      const body = Buffer.concat([cipher.update(data), cipher.final()]);
      return Buffer.concat([nonce, cipher.getAuthTag(), body]);
    },
    open(id, sealed) {
      const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12)).setAAD(id);
      decipher.setAuthTag(sealed.subarray(12, 28));
      return Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()]);
    },
  };
}

export async function blockIdOf(f: Fixture, amiId: string, diskIndex: number, blockIndex: number): Promise<number> {
  const snapshotId = (await f.images.listImages()).find((i) => i.amiId === amiId)!.disks[diskIndex]!.snapshotId;
  const manifest = await openManifest(join(f.images.root, 'manifests', `${snapshotId}.manifest`));
  try {
    return await manifest.entry(blockIndex);
  } finally {
    await manifest.close();
  }
}

export function flipByte(path: string, offset: number): void {
  const size = statSync(path).size;
  assert.ok(offset < size);
  const fd = openSync(path, 'r+');
  const byte = Buffer.alloc(1);
  readSync(fd, byte, 0, 1, offset);
  byte[0] = byte[0]! ^ 0xff;
  writeSync(fd, byte, 0, 1, offset);
  closeSync(fd);
}
