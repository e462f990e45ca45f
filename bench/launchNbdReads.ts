/**
 * The per-read cost of the NBD export a launched instance boots from (src/images/nbdExportServer.ts over
 * snapshotSource.ts): a 32 MiB disk of incompressible data (the size of the KVM sample) is put in a fresh image store,
 * served with ImageStore.serveDisk, and read by QEMU's own client (`qemu-img bench`) in 32 KiB requests, as a guest
 * boot reads it: one at a time (the latency a booting guest waits for each read) and 8 in flight.
 *
 *   node bench/launchNbdReads.ts [--passes 3]
 */
import { execFile } from 'node:child_process';
import { parseArgs, promisify } from 'node:util';
import { createCipheriv, createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../src/store/openStore.ts';
import { imageStoreMigration } from '../src/store/migrations/002_image_store.ts';
import { openImageStore } from '../src/images/imageStore.ts';
import { plainSealer } from '../src/images/blockSealer.ts';

const B = 512 * 1024;
const DISK_BYTES = 32 * 1024 * 1024;
const READ_BYTES = 32 * 1024;
const { values } = parseArgs({ options: { passes: { type: 'string', default: '3' } } });
const root = mkdtempSync(join(tmpdir(), 'ferry-nbd-bench-'));

const state = await openSqliteStore(root, Date.now());
const db = state.db as unknown as import('kysely').Kysely<any>;
if (!(await db.selectFrom('ferry_migrations').select('version').where('version', '=', 2).executeTakeFirst())) {
  await db.transaction().execute(async (trx) => {
    await imageStoreMigration.up(trx);
    await trx.insertInto('ferry_migrations').values({ version: 2, name: imageStoreMigration.name, applied_at: Date.now() }).execute();
  });
}
const images = await openImageStore({ db: state.db, dataDir: root, compression: 'zstd' });
const random = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16));
const disk = random.update(Buffer.alloc(DISK_BYTES));
await images.beginImage('nbd-bench', { tenant: { accountId: '1', region: 'r' }, replicationJobId: 'j', sealer: plainSealer, disks: [{ index: 0, sizeBytes: DISK_BYTES }] });
const entries = [];
for (let i = 0; i < DISK_BYTES / B; i++) {
  const block = disk.subarray(i * B, (i + 1) * B);
  const sha256 = createHash('sha256').update(block).digest();
  await images.putBlock('nbd-bench', sha256, block);
  entries.push({ blockIndex: i, sha256 });
}
await images.recordBlocks('nbd-bench', 0, entries);
await images.finishImage('nbd-bench');
const [image] = await images.listImages();

/** Microseconds per read of `qemu-img bench` over the whole disk with `depth` requests in flight. */
// Asynchronous: the export is served by this very process, whose event loop must stay free to answer.
async function benchReads(uri: string, depth: number): Promise<number> {
  const count = DISK_BYTES / READ_BYTES;
  const { stdout } = await promisify(execFile)('qemu-img', ['bench', '-f', 'raw', '-c', String(count), '-d', String(depth), '-s', String(READ_BYTES), '-S', String(READ_BYTES), uri]);
  // qemu-img's own timing excludes its start-up and the NBD handshake: what is left is the reads.
  const seconds = /completed in ([\d.]+) seconds/.exec(stdout)?.[1];
  if (!seconds) throw new Error(`qemu-img bench printed no timing: ${stdout}`);
  return (Number(seconds) * 1e6) / count;
}

const socketPath = join(root, 'disk.sock');
const served = await images.serveDisk(image!.amiId, 0, socketPath);
const results: Record<string, number[]> = { 'depth 1': [], 'depth 8': [] };
try {
  for (let pass = 0; pass < Number(values.passes); pass++) {
    results['depth 1']!.push(await benchReads(served.uri, 1));
    results['depth 8']!.push(await benchReads(served.uri, 8));
  }
} finally {
  await served.close();
  await images.close?.();
  // The store keeps a checkpointer thread: without closing it the bench printed its figures and never exited.
  await state.close();
  rmSync(root, { recursive: true, force: true });
}
const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
console.log(`NBD export, 32 MiB disk, ${DISK_BYTES / READ_BYTES} reads of 32 KiB per pass (qemu-img bench's own timing, first pass cold); load ${load}`);
for (const [label, runs] of Object.entries(results)) {
  const sorted = [...runs].sort((a, b) => a - b);
  console.log(`${label}: best ${sorted[0]!.toFixed(0)} µs/read, median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(0)} µs/read, worst ${sorted.at(-1)!.toFixed(0)} µs/read`);
}
