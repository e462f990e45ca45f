/**
 * The image store across processes: a writer killed with SIGKILL mid-run resumes without re-sending what it had
 * committed, and its image exports to raw, qcow2 and VMDK that `qemu-img compare` finds identical to the source;
 * `ferry images export` (a read-only store in another process) works while the service writes and compacts.
 *
 * The child processes are this same file, run with FERRY_IMAGES_CHILD set.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Kysely } from 'kysely';
import { openSqliteStore, type Store } from '../../src/store/openStore.ts';
import { imageStoreMigration } from '../../src/store/migrations/002_image_store.ts';
import { openImageStore, type ImageStore } from '../../src/images/imageStore.ts';
import { plainSealer } from '../../src/images/blockSealer.ts';
import type { RecordedBlock } from '../../src/images/types.ts';
import { openManifest } from '../../src/images/manifest.ts';
import { run } from '../helpers/process.ts';

const B = 512 * 1024;
const tenant = { accountId: '111122223333', region: 'us-east-1' };
const JOB = 'sms-job-0badcafe';
const SELF = fileURLToPath(import.meta.url);

function noise(seed: string, length = B): Buffer {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

/** A VM disk of `blocks` blocks: a mix of random data, text and zeros, deterministic in `seed`. */
function vmDisk(seed: string, blocks: number): Buffer {
  const out = Buffer.alloc(blocks * B);
  for (let i = 0; i < blocks; i++) {
    const kind = i % 7;
    if (kind === 3 || kind === 5) continue; // zeros
    if (kind === 1) out.fill(`${seed} block ${i}: some log line that compresses well\n`, i * B, (i + 1) * B);
    else noise(`${seed}-${i}`).copy(out, i * B);
  }
  return out;
}

const sha = (data: Buffer): Buffer => createHash('sha256').update(data).digest();

async function open(dir: string, readOnly = false): Promise<{ state: Store; images: ImageStore; close(): Promise<void> }> {
  const state = await openSqliteStore(dir, Date.now());
  const db = state.db as unknown as Kysely<any>;
  if (!readOnly && !(await db.selectFrom('ferry_migrations').select('version').where('version', '=', 2).executeTakeFirst())) {
    await db.transaction().execute(async (trx) => {
      await imageStoreMigration.up(trx);
      await trx.insertInto('ferry_migrations').values({ version: 2, name: imageStoreMigration.name, applied_at: Date.now() }).execute();
    });
  }
  const images = await openImageStore({ db: state.db, dataDir: dir, readOnly, packSizeBytes: 8 * B });
  return { state, images, close: async () => (await images.close(), await state.close()) };
}

/** Writes the blocks `wanted` selects, four per commit; calls `committed` after each. Returns the blocks sent. */
async function writeBlocks(images: ImageStore, runId: string, data: Buffer, wanted: (i: number) => boolean, committed?: (n: number) => void): Promise<number> {
  let sent = 0;
  let done = 0;
  const count = data.length / B;
  for (let start = 0; start < count; start += 4) {
    const entries: RecordedBlock[] = [];
    for (let i = start; i < start + 4; i++) {
      if (!wanted(i)) continue;
      const block = data.subarray(i * B, (i + 1) * B);
      const zero = block.equals(Buffer.alloc(B));
      const hash = zero ? null : sha(block);
      if (hash && (await images.missingBlocks(runId, [hash]))[0]) if ((await images.putBlock(runId, hash, block)).stored) sent++;
      entries.push({ blockIndex: i, sha256: hash });
    }
    if (entries.length === 0) continue;
    await images.recordBlocks(runId, 0, entries);
    done += entries.length;
    committed?.(done);
  }
  return sent;
}

async function beginRun(images: ImageStore, runId: string, sizeBytes: number) {
  return images.beginImage(runId, { tenant, replicationJobId: JOB, sealer: plainSealer, disks: [{ index: 0, sizeBytes }] });
}

async function makeImage(images: ImageStore, runId: string, data: Buffer): Promise<string> {
  await beginRun(images, runId, data.length);
  await writeBlocks(images, runId, data, () => true);
  return (await images.finishImage(runId)).amiId;
}

// ── Child processes ───────────────────────────────────────────────────────────────────────────────────────────

async function child(): Promise<void> {
  const { FERRY_IMAGES_CHILD: role, DIR: dir, RUN_ID: runId, AMI_ID: amiId, OUT: out, FORMAT: format } = process.env;
  if (role === 'writer') {
    const store = await open(dir!);
    const data = vmDisk('killed', 96);
    await beginRun(store.images, runId!, data.length);
    await writeBlocks(store.images, runId!, data, () => true, (n) => process.stdout.write(`committed ${n}\n`));
    process.stdout.write('finished writing\n');
    await new Promise(() => {}); // the parent kills us
  } else if (role === 'exporter') {
    const store = await open(dir!, true);
    process.stdout.write('opened\n');
    await store.images.exportDisk(amiId!, 0, format as 'raw', out!);
    await store.close();
    process.stdout.write('exported\n');
  }
}

if (process.env.FERRY_IMAGES_CHILD) {
  await child();
} else {
  test('a run killed with SIGKILL resumes without re-sending committed blocks and exports identically as raw, qcow2 and VMDK', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-images-kill-'));
    await (await open(dir)).close();
    const runId = 'sms-run-0000dead';
    const data = vmDisk('killed', 96);

    const writer = spawn(process.execPath, [SELF], { env: { ...process.env, FERRY_IMAGES_CHILD: 'writer', DIR: dir, RUN_ID: runId }, stdio: ['ignore', 'pipe', 'inherit'] });
    let seen = 0;
    const exit = new Promise<NodeJS.Signals | null>((resolve) => writer.on('exit', (_code, signal) => resolve(signal)));
    writer.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      for (const match of chunk.matchAll(/committed (\d+)/g)) seen = Math.max(seen, Number(match[1]));
      if (seen >= 24) writer.kill('SIGKILL');
    });
    assert.equal(await exit, 'SIGKILL');

    const store = await open(dir);
    try {
      assert.deepEqual(await store.images.listImages(), [], 'no half-written image is visible');
      const resumed = await beginRun(store.images, runId, data.length);
      assert.equal(resumed.resumed, true);
      const committed = await store.images.committedBlocks(runId, 0);
      assert.ok(committed.count >= seen, `${committed.count} committed, ${seen} acknowledged`);
      const uncommittedData = [...Array(96).keys()].filter((i) => !committed.has(i) && !data.subarray(i * B, (i + 1) * B).equals(Buffer.alloc(B))).length;
      const sent = await writeBlocks(store.images, runId, data, (i) => !committed.has(i));
      assert.ok(sent <= uncommittedData, `sent ${sent}, at most ${uncommittedData} were not committed`);
      const { amiId } = await store.images.finishImage(runId);

      const source = join(dir, 'source.raw');
      writeFileSync(source, data);
      const raw = join(dir, 'out.raw');
      await store.images.exportDisk(amiId, 0, 'raw', raw);
      assert.ok(readFileSync(raw).equals(data), 'raw export is byte-identical');
      for (const format of ['qcow2', 'vmdk'] as const) {
        const out = join(dir, `out.${format}`);
        const phases = new Set<string>();
        await store.images.exportDisk(amiId, 0, format, out, { onProgress: (p) => phases.add(p.phase) });
        assert.deepEqual([...phases], ['convert']);
        const info = JSON.parse((await run('qemu-img', ['info', '--output=json', out])).stdout) as { format: string };
        assert.equal(info.format, format);
        const compare = await run('qemu-img', ['compare', '-f', 'raw', '-F', format, source, out]);
        assert.equal(compare.code, 0, `qemu-img compare ${format}: ${compare.stdout}${compare.stderr}`);
      }
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a corrupt block fails a qcow2 export with the image and the offset named', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-images-corrupt-'));
    const store = await open(dir);
    try {
      const data = vmDisk('corrupt', 8);
      const amiId = await makeImage(store.images, 'sms-run-00000c01', data);
      const snapshotId = (await store.images.listImages())[0]!.disks[0]!.snapshotId;
      const manifest = await openManifest(join(store.images.root, 'manifests', `${snapshotId}.manifest`));
      const blockId = await manifest.entry(6);
      await manifest.close();
      const row = (await (store.state.db as unknown as Kysely<any>).selectFrom('image_blocks').selectAll().where('block_id', '=', blockId).executeTakeFirstOrThrow()) as {
        pack_id: number;
        pack_offset: number;
      };
      const packFile = join(store.images.root, 'packs', '0000', `${row.pack_id.toString(16).padStart(8, '0')}.pack`);
      const pack = readFileSync(packFile);
      pack[row.pack_offset + 64 + 4096] ^= 0x55;
      writeFileSync(packFile, pack);
      await assert.rejects(
        store.images.exportDisk(amiId, 0, 'qcow2', join(dir, 'bad.qcow2')),
        new RegExp(`Image ${amiId} disk 0 is corrupt at byte offset ${6 * B}`),
      );
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an export from another process works while the service writes, deletes and compacts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-images-export-'));
    const service = await open(dir);
    try {
      // `mixed` interleaves A's blocks with blocks only it has; once it is deleted, A's packs are mostly dead and
      // compaction moves A's blocks while the other process reads them.
      const a = vmDisk('a', 48);
      const mixed = Buffer.alloc(96 * B);
      for (let i = 0; i < 48; i++) {
        a.copy(mixed, 2 * i * B, i * B, (i + 1) * B);
        noise(`mixed-${i}`).copy(mixed, (2 * i + 1) * B);
      }
      const mixedAmi = await makeImage(service.images, 'sms-run-00000a01', mixed);
      const amiA = await makeImage(service.images, 'sms-run-00000a02', a);
      await service.images.deleteImage(tenant, JOB, mixedAmi);

      const out = join(dir, 'a.raw');
      const exporter = spawn(process.execPath, [SELF], {
        env: { ...process.env, FERRY_IMAGES_CHILD: 'exporter', DIR: dir, AMI_ID: amiA, OUT: out, FORMAT: 'raw' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      exporter.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
      const opened = new Promise<void>((resolve) => exporter.stdout.setEncoding('utf8').on('data', (t: string) => ((stdout += t), stdout.includes('opened') && resolve())));
      const exit = new Promise<number | null>((resolve) => exporter.on('exit', (code) => resolve(code)));
      await opened;
      const [report] = await Promise.all([
        service.images.collectGarbage(),
        makeImage(service.images, 'sms-run-00000a03', vmDisk('b', 24)),
      ]);
      assert.equal(await exit, 0, stderr);
      assert.ok(report.packsCompacted + report.packsDeleted > 0, JSON.stringify(report));
      assert.ok(readFileSync(out).equals(a), 'the export is byte-identical');
    } finally {
      await service.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
