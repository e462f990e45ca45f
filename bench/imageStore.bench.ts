/**
 * Image store write throughput: a full run of a ~1 GiB disk (half random, a quarter text, a quarter zeros) through
 * missingBlocks → putBlock → recordBlocks → finishImage, against writing the same bytes with fs.writeSync and
 * against `qemu-img convert -O qcow2` of the same raw file. GB/s = 10^9 bytes/s of logical disk.
 *
 *   node bench/imageStore.bench.ts [--gib 1] [--compression zstd|none] [--concurrency 4]
 */
import { execFileSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openSqliteStore } from '../src/store/openStore.ts';
import { imageStoreMigration } from '../src/store/migrations/002_image_store.ts';
import { openImageStore } from '../src/images/imageStore.ts';
import { plainSealer } from '../src/images/blockSealer.ts';
import type { RecordedBlock } from '../src/images/types.ts';

const B = 512 * 1024;
const { values } = parseArgs({
  options: {
    gib: { type: 'string', default: '1' },
    compression: { type: 'string', default: 'zstd' },
    concurrency: { type: 'string', default: '4' },
    dir: { type: 'string' },
  },
});
const blocks = Math.round(Number(values.gib) * 2048);
const concurrency = Number(values.concurrency);
const compression = values.compression as 'zstd' | 'none';
const root = values.dir ?? mkdtempSync(join(tmpdir(), 'ferry-image-bench-'));

function makeDisk(): Buffer {
  const disk = Buffer.alloc(blocks * B);
  const key = createHash('sha256').update('bench').digest().subarray(0, 16);
  const random = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const line = 'Jun 14 03:12:44 host kernel: [12345.678] eth0: link up, 1000 Mbps, full duplex, lpa 0x45E1 seq ';
  for (let i = 0; i < blocks; i++) {
    const kind = i % 4; // 0, 1 random; 2 text; 3 zeros
    if (kind < 2) random.update(Buffer.alloc(B)).copy(disk, i * B);
    else if (kind === 2) disk.fill(`${line}${i}\n`, i * B, (i + 1) * B);
  }
  return disk;
}

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

const disk = makeDisk();
const rawPath = join(root, 'disk.raw');

// 1. fs.writeSync of the same bytes, 512 KiB at a time, with and without an fsync at the end.
function writeRaw(sync: boolean): number {
  rmSync(rawPath, { force: true });
  const t0 = process.hrtime.bigint();
  const fd = openSync(rawPath, 'w');
  for (let i = 0; i < blocks; i++) writeSync(fd, disk, i * B, B, i * B);
  if (sync) fsyncSync(fd);
  closeSync(fd);
  return seconds(t0);
}
const rawNoSyncSeconds = writeRaw(false);
execFileSync('sync', ['-f', rawPath]);
const rawSeconds = writeRaw(true);

// 2. qemu-img convert -O qcow2 of that file (reads it from the page cache).
const start = process.hrtime.bigint();
execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', rawPath, join(root, 'disk.qcow2')]);
execFileSync('sync', ['-f', join(root, 'disk.qcow2')]);
const qemuSeconds = seconds(start);
rmSync(join(root, 'disk.qcow2'));

// 3. The image store, as the run executor drives it: hash, ask, put the missing (a few at a time), record.
const state = await openSqliteStore(root, Date.now());
const db = state.db as unknown as import('kysely').Kysely<any>;
if (!(await db.selectFrom('ferry_migrations').select('version').where('version', '=', 2).executeTakeFirst())) {
  await db.transaction().execute(async (trx) => {
    await imageStoreMigration.up(trx);
    await trx.insertInto('ferry_migrations').values({ version: 2, name: imageStoreMigration.name, applied_at: Date.now() }).execute();
  });
}
const images = await openImageStore({ db: state.db, dataDir: root, compression });
const zero = Buffer.alloc(B);
async function storeRun(runId: string, prehashed?: Buffer[]): Promise<{ seconds: number; hashSeconds: number }> {
  const t0 = process.hrtime.bigint();
  let hashSeconds = 0;
  await images.beginImage(runId, { tenant: { accountId: '1', region: 'r' }, replicationJobId: 'j', sealer: plainSealer, disks: [{ index: 0, sizeBytes: disk.length }] });
  const BATCH = 64;
  // One recordBlocks in flight while the next batch is hashed and put: its flush (fdatasync + commit) overlaps.
  let recording: Promise<void> = Promise.resolve();
  for (let first = 0; first < blocks; first += BATCH) {
    const entries: RecordedBlock[] = [];
    const data: Buffer[] = [];
    const h0 = process.hrtime.bigint();
    for (let i = first; i < Math.min(blocks, first + BATCH); i++) {
      const block = disk.subarray(i * B, (i + 1) * B);
      const isZero = block.equals(zero);
      entries.push({ blockIndex: i, sha256: isZero ? null : (prehashed?.[i] ?? createHash('sha256').update(block).digest()) });
      data.push(block);
    }
    hashSeconds += seconds(h0);
    const asked = entries.map((e, k) => ({ e, block: data[k]! })).filter((x) => x.e.sha256 !== null);
    const missing = await images.missingBlocks(runId, asked.map((x) => x.e.sha256!));
    const queue = asked.filter((_x, k) => missing[k]);
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let next = queue.shift(); next; next = queue.shift()) await images.putBlock(runId, next.e.sha256!, next.block);
      }),
    );
    await recording;
    recording = images.recordBlocks(runId, 0, entries);
  }
  await recording;
  await images.finishImage(runId);
  return { seconds: seconds(t0), hashSeconds };
}
const full = await storeRun('bench-run-1');
const stats = await images.stats();
const [image] = await images.listImages();
function timed(work: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  return work().then(() => seconds(t0));
}
const exportRaw = await timed(() => images.exportDisk(image!.amiId, 0, 'raw', join(root, 'export.raw')));
const exportQcow2 = await timed(() => images.exportDisk(image!.amiId, 0, 'qcow2', join(root, 'export.qcow2')));
rmSync(join(root, 'export.raw'));
rmSync(join(root, 'export.qcow2'));
// A second full run of the same disk: everything deduplicates (what an unchanged VM costs).
const again = await storeRun('bench-run-2');

const gb = disk.length / 1e9;
const rate = (s: number) => `${(gb / s).toFixed(2)} GB/s (${s.toFixed(2)} s)`;
console.log(`disk: ${(disk.length / 2 ** 30).toFixed(2)} GiB, ${blocks} blocks: 1/2 random, 1/4 text, 1/4 zeros; compression ${compression}; ${concurrency} puts in flight`);
console.log(`fs.writeSync, no fsync          ${rate(rawNoSyncSeconds)}`);
console.log(`fs.writeSync + fsync            ${rate(rawSeconds)}`);
console.log(`qemu-img convert -O qcow2 + sync ${rate(qemuSeconds)}`);
console.log(`image store, full run           ${rate(full.seconds)}  (of which caller's SHA-256: ${full.hashSeconds.toFixed(2)} s)`);
console.log(`image store, same disk again    ${rate(again.seconds)}  (all blocks deduplicated)`);
console.log(`export raw (sparse)             ${rate(exportRaw)}`);
console.log(`export qcow2 (qemu-img over NBD) ${rate(exportQcow2)}`);
console.log(`stored ${stats.blocks} blocks, ${(stats.storedBytes / 1e6).toFixed(0)} MB in packs for ${(disk.length / 1e6).toFixed(0)} MB logical`);
await images.close();
await state.close();
if (!values.dir) rmSync(root, { recursive: true, force: true });
