/**
 * Block objects as files under the image store's root (`<dataDir>/images`): the default, and byte for byte the
 * layout Ferry has always written (packs/<shard>/<id>.pack, manifests/<snapshot>.manifest). Packs are appended in
 * place and fsynced at seal; manifests are written to a temporary name, fsynced and renamed, so they exist whole
 * or not at all.
 */
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BlockObjectGoneError, checkObjectName, type BlockStorage, type PackUpload, type StoredObject, type UnfinishedUpload } from './blockStorage.ts';
import { fsyncDirectory } from '../packFile.ts';
import { readFullyAt } from '../../lib/readAt.ts';

export class LocalBlockStorage implements BlockStorage {
  readonly kind = 'local';
  readonly location: string;
  readonly #root: string;

  constructor(root: string) {
    this.#root = root;
    this.location = root;
  }

  async createPack(name: string, header: Buffer): Promise<PackUpload> {
    const path = this.#path(name);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const file = await open(path, 'wx', 0o600);
    try {
      await writeAll(file, [header], 0);
      await file.sync();
      fsyncDirectory(dirname(path));
    } catch (thrown) {
      await file.close();
      throw thrown;
    }
    return new LocalPackUpload(name, path, file, header.length);
  }

  async putObject(name: string, bytes: Buffer): Promise<void> {
    const path = this.#path(name);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const tmp = `${path}.tmp-${process.pid}`;
    const file = await open(tmp, 'w', 0o600);
    try {
      await writeAll(file, [bytes], 0);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
    fsyncDirectory(dirname(path));
  }

  async readRange(name: string, offset: number, length: number): Promise<Buffer> {
    const file = await this.#open(name);
    try {
      const target = Buffer.allocUnsafe(length);
      return await readFullyAt(file, target, length, offset);
    } finally {
      await file.close();
    }
  }

  async readObject(name: string): Promise<Buffer> {
    const file = await this.#open(name);
    try {
      return await file.readFile();
    } finally {
      await file.close();
    }
  }

  async sizeOf(name: string): Promise<number | undefined> {
    try {
      return (await stat(this.#path(name))).size;
    } catch (thrown) {
      if ((thrown as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw thrown;
    }
  }

  async delete(name: string): Promise<void> {
    await rm(this.#path(name), { force: true });
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    const names: string[] = [];
    await walk(this.#root, '', names);
    names.sort();
    for (const name of names) {
      if (!name.startsWith(prefix) || name.includes('.tmp-')) continue;
      const sizeBytes = await this.sizeOf(name);
      if (sizeBytes !== undefined) yield { name, sizeBytes };
    }
  }

  /** A local pack is written in place: a killed writer leaves its file, which recovery cuts back and seals. */
  async *unfinishedUploads(_prefix: string): AsyncIterable<UnfinishedUpload> {}

  async abortUnfinished(_upload: UnfinishedUpload): Promise<void> {}

  async close(): Promise<void> {}

  #path(name: string): string {
    checkObjectName(name);
    return join(this.#root, ...name.split('/'));
  }

  async #open(name: string): Promise<FileHandle> {
    try {
      return await open(this.#path(name), 'r');
    } catch (thrown) {
      if ((thrown as NodeJS.ErrnoException).code === 'ENOENT') throw new BlockObjectGoneError(name);
      throw thrown;
    }
  }
}

class LocalPackUpload implements PackUpload {
  readonly name: string;
  readonly #path: string;
  readonly #file: FileHandle;
  #size: number;
  #closed = false;

  constructor(name: string, path: string, file: FileHandle, size: number) {
    this.name = name;
    this.#path = path;
    this.#file = file;
    this.#size = size;
  }

  get size(): number {
    return this.#size;
  }

  async append(parts: readonly Buffer[]): Promise<number> {
    if (this.#closed) throw new Error(`pack ${this.name} is closed`);
    const offset = this.#size;
    let length = 0;
    for (const part of parts) length += part.length;
    // The offset is taken before the write, so concurrent appends keep their call order and never overlap.
    this.#size += length;
    await writeAll(this.#file, parts, offset);
    return offset;
  }

  async seal(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#file.datasync();
    } finally {
      await this.#file.close();
    }
  }

  async abort(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      await this.#file.close();
    }
    await rm(this.#path, { force: true });
  }
}

async function writeAll(file: FileHandle, parts: readonly Buffer[], position: number): Promise<void> {
  const whole = parts.length === 1 ? parts[0]! : Buffer.concat(parts as Buffer[]);
  let done = 0;
  while (done < whole.length) {
    const { bytesWritten } = await file.write(whole, done, whole.length - done, position + done);
    done += bytesWritten;
  }
}

async function walk(root: string, relative: string, into: string[]): Promise<void> {
  let entries;
  try {
    entries = await readdir(join(root, relative), { withFileTypes: true });
  } catch (thrown) {
    if ((thrown as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw thrown;
  }
  for (const entry of entries) {
    const name = relative === '' ? entry.name : `${relative}/${entry.name}`;
    if (entry.isDirectory()) await walk(root, name, into);
    else if (entry.isFile()) into.push(name);
  }
}
