/**
 * Source disks are read with O_DIRECT where the read allows it (src/agent/disks/directReads.ts): the bytes are the
 * file's, whatever the alignment; aligned reads into the engine's page-aligned batches bypass the page cache
 * (checked with fincore); anything the kernel refuses falls back to the page cache; FERRY_DIRECT_IO=off turns it off.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DirectReader } from '../../src/agent/disks/directReads.ts';
import { pageAlignedShared } from '../../src/lib/alignedMemory.ts';

const dir = mkdtempSync(join(tmpdir(), 'ferry-direct-reads-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function directWorksHere(): boolean {
  try {
    closeSync(openSync(join(dir, 'probe'), constants.O_RDONLY | constants.O_CREAT | constants.O_DIRECT));
    return true;
  } catch {
    return false;
  }
}
const skip = directWorksHere() ? false : 'no O_DIRECT on the temp filesystem';

/** An odd-sized file (a tail that cannot be read directly) and its bytes. */
function sample(name: string): { path: string; bytes: Buffer } {
  const bytes = randomBytes(3 * 512 * 1024 + 1000);
  const path = join(dir, name);
  writeFileSync(path, bytes);
  execFileSync('sync', ['-f', path]);
  return { path, bytes };
}

async function readAll(reader: DirectReader, target: Buffer, size: number): Promise<void> {
  for (let done = 0; done < size; ) {
    const n = await reader.read(target, done, size - done, done);
    assert.ok(n > 0, `no progress at ${done}`);
    done += n;
  }
}

const residentPages = (path: string): number => Number(execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'PAGES', path], { encoding: 'utf8' }).trim());
const hasFincore = spawnSync('fincore', ['--version']).status === 0;

test('aligned reads into page-aligned memory go direct, bypass the page cache, and return the file bytes', { skip }, async () => {
  const { path, bytes } = sample('aligned.img');
  execFileSync('dd', [`if=${path}`, 'iflag=nocache', 'count=0', 'status=none']); // drop what writing it cached
  const handle = await open(path, 'r');
  const reader = await DirectReader.of(handle, {});
  try {
    const target = Buffer.from(pageAlignedShared(bytes.length), 0, bytes.length);
    await readAll(reader, target, bytes.length);
    assert.ok(target.equals(bytes));
    assert.equal(reader.direct, true, 'the aligned reads stayed direct');
    // Only the odd tail (read through the cache) may have left pages behind.
    if (hasFincore) assert.ok(residentPages(path) <= 1, `${residentPages(path)} pages cached`);
  } finally {
    await reader.close();
    await handle.close();
  }
});

test('a buffer the kernel refuses for O_DIRECT is read through the page cache, from then on', { skip }, async () => {
  const { path, bytes } = sample('unaligned.img');
  const handle = await open(path, 'r');
  const reader = await DirectReader.of(handle, {});
  try {
    const target = Buffer.alloc(bytes.length + 1).subarray(1); // 1 byte past whatever alignment malloc gave
    await readAll(reader, target, bytes.length);
    assert.ok(target.equals(bytes));
    assert.equal(reader.direct, false);
  } finally {
    await reader.close();
    await handle.close();
  }
});

test('FERRY_DIRECT_IO=off reads through the page cache', async () => {
  const { path, bytes } = sample('off.img');
  const handle = await open(path, 'r');
  const reader = await DirectReader.of(handle, { FERRY_DIRECT_IO: 'off' });
  try {
    assert.equal(reader.direct, false);
    const target = Buffer.from(pageAlignedShared(bytes.length), 0, bytes.length);
    await readAll(reader, target, bytes.length);
    assert.ok(target.equals(bytes));
  } finally {
    await reader.close();
    await handle.close();
  }
});

test('a whole-file read of a file already in the page cache reads it from there; one not cached stays direct', { skip: skip || (hasFincore ? false : 'no fincore') }, async () => {
  const { path, bytes } = sample('cached.img');
  execFileSync('cat', [path], { stdio: 'ignore' }); // in the page cache, as a disk a host just used
  const cached = await open(path, 'r');
  const fromCache = await DirectReader.of(cached, {});
  const { path: coldPath } = sample('cold.img');
  execFileSync('dd', [`if=${coldPath}`, 'iflag=nocache', 'count=0', 'status=none']);
  const cold = await open(coldPath, 'r');
  const direct = await DirectReader.of(cold, {});
  try {
    fromCache.readsWholeFile();
    direct.readsWholeFile();
    // Until the check answers, reads go through the cache (so a cached file's first reads do not wait for it).
    await Promise.all([fromCache.checked(), direct.checked()]);
    const target = Buffer.from(pageAlignedShared(bytes.length), 0, bytes.length);
    await readAll(fromCache, target, bytes.length);
    assert.ok(target.equals(bytes));
    assert.equal(fromCache.direct, false, 'the cached file is read through the cache');
    await readAll(direct, target, bytes.length);
    assert.equal(direct.direct, true, 'the file not in the cache is read directly');
    assert.ok(residentPages(coldPath) <= 1, `${residentPages(coldPath)} pages of the cold file cached`);
  } finally {
    await fromCache.close();
    await direct.close();
    await cached.close();
    await cold.close();
  }
});

test('reads during the page-cache check go through the cache, so a cached file is not held up by it; direct after it', { skip: skip || (hasFincore ? false : 'no fincore') }, async () => {
  const { path, bytes } = sample('checking.img');
  execFileSync('dd', [`if=${path}`, 'iflag=nocache', 'count=0', 'status=none']); // not in the cache: the check says direct
  const handle = await open(path, 'r');
  const reader = await DirectReader.of(handle, {});
  try {
    const target = Buffer.from(pageAlignedShared(bytes.length), 0, bytes.length);
    reader.readsWholeFile();
    // Issued before the check (a fincore process) can have answered: read through the cache.
    assert.equal(await reader.read(target, 0, 512 * 1024, 0), 512 * 1024);
    assert.ok(target.subarray(0, 512 * 1024).equals(bytes.subarray(0, 512 * 1024)));
    assert.ok(residentPages(path) >= 128, `${residentPages(path)} pages cached by the read during the check`);
    await reader.checked();
    assert.equal(reader.direct, true, 'the file was not in the cache: direct from then on');
    await readAll(reader, target, bytes.length);
    assert.ok(target.equals(bytes));
  } finally {
    await reader.close();
    await handle.close();
  }
});
