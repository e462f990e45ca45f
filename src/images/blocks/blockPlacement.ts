/**
 * Where the image store's sealed packs and its manifests are kept, given its BlockStorage. With local storage
 * everything stays where the store has always kept it (every method below is a no-op or a plain file operation).
 * With a remote storage (S3), the data dir is a write-back staging area: packs are written locally as before
 * (appends, O_DIRECT, crash recovery by truncation all unchanged), and a pack is uploaded when it is sealed —
 * before its index row says `sealed`, so a sealed pack is always in the bucket — after which its local file is
 * removed. Manifests are uploaded before the image that names them becomes visible, and fetched into the local
 * manifests directory when a reader needs one that is not there (another host wrote it, or the cache was lost).
 */
import { existsSync, statSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BlockObjectGoneError, manifestObjectName, packObjectName, type BlockStorage } from './blockStorage.ts';
import { packPath } from '../packFile.ts';
import { PackGoneError } from '../packReader.ts';

/** How much of a local pack one upload append carries. */
const UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024;

export class BlockPlacement {
  readonly root: string;
  readonly storage: BlockStorage;
  readonly remote: boolean;

  constructor(root: string, storage: BlockStorage) {
    this.root = root;
    this.storage = storage;
    this.remote = storage.kind !== 'local';
  }

  /** Uploads a synced local pack (remote storage only). Idempotent: a pack already uploaded whole is left alone. */
  async publishPack(packId: number): Promise<void> {
    if (!this.remote) return;
    const path = packPath(this.root, packId);
    const name = packObjectName(packId);
    const localSize = statSync(path).size;
    const remoteSize = await this.storage.sizeOf(name);
    if (remoteSize === localSize) return;
    if (remoteSize !== undefined) await this.storage.delete(name); // a different pack under the same id: ours wins
    const file = await open(path, 'r');
    try {
      const first = Buffer.alloc(Math.min(localSize, UPLOAD_CHUNK_BYTES));
      await file.read(first, 0, first.length, 0);
      const upload = await this.storage.createPack(name, first);
      try {
        for (let at = first.length; at < localSize; at += UPLOAD_CHUNK_BYTES) {
          const chunk = Buffer.alloc(Math.min(UPLOAD_CHUNK_BYTES, localSize - at));
          await file.read(chunk, 0, chunk.length, at);
          await upload.append([chunk]);
        }
        await upload.seal();
      } catch (thrown) {
        await upload.abort().catch(() => {});
        throw thrown;
      }
    } finally {
      await file.close();
    }
  }

  /** Removes the local copy of a pack that is sealed in remote storage. */
  async dropLocalPack(packId: number): Promise<void> {
    if (this.remote) await rm(packPath(this.root, packId), { force: true });
  }

  /** Reads from the remote copy of a pack (the PackReader's fallback when the local file is gone). */
  async readRemotePack(packId: number, offset: number, length: number): Promise<Buffer> {
    try {
      return await this.storage.readRange(packObjectName(packId), offset, length);
    } catch (thrown) {
      throw thrown instanceof BlockObjectGoneError ? new PackGoneError(packId) : thrown;
    }
  }

  /** The bytes a pack takes: the local file while there is one, else the remote object (0 when neither exists). */
  async packBytes(packId: number): Promise<number> {
    try {
      return statSync(packPath(this.root, packId)).size;
    } catch {
      if (!this.remote) return 0;
      return (await this.storage.sizeOf(packObjectName(packId))) ?? 0;
    }
  }

  async deletePack(packId: number): Promise<void> {
    await rm(packPath(this.root, packId), { force: true });
    if (this.remote) await this.storage.delete(packObjectName(packId));
  }

  manifestPath(snapshotId: string): string {
    return join(this.root, 'manifests', `${snapshotId}.manifest`);
  }

  /** Uploads a manifest just written locally (remote storage only). */
  async publishManifest(snapshotId: string): Promise<void> {
    if (this.remote) await this.storage.putObject(manifestObjectName(snapshotId), await readFile(this.manifestPath(snapshotId)));
  }

  /** A local path holding the manifest, fetched from remote storage when missing locally. */
  async localManifest(snapshotId: string): Promise<string> {
    const path = this.manifestPath(snapshotId);
    if (!this.remote || existsSync(path)) return path;
    let bytes: Buffer;
    try {
      bytes = await this.storage.readObject(manifestObjectName(snapshotId));
    } catch (thrown) {
      if (thrown instanceof BlockObjectGoneError) return path; // the reader reports the missing file
      throw thrown;
    }
    // Written aside and renamed: a concurrent reader never opens half a manifest.
    await mkdir(dirname(path), { recursive: true, mode: 0o700 }); // a cache: it may have been cleared
    const tmp = `${path}.fetch-${process.pid}-${Math.random().toString(16).slice(2)}`;
    await writeFile(tmp, bytes, { mode: 0o600 });
    await rename(tmp, path);
    return path;
  }

  async deleteManifest(snapshotId: string): Promise<void> {
    await rm(this.manifestPath(snapshotId), { force: true });
    if (this.remote) await this.storage.delete(manifestObjectName(snapshotId));
  }

  /** Snapshot ids of the manifests kept in remote storage (none for local storage: the directory is the truth). */
  async remoteManifestIds(): Promise<string[]> {
    if (!this.remote) return [];
    const ids: string[] = [];
    for await (const object of this.storage.list('manifests/')) {
      const match = /^manifests\/(snap-[0-9a-f]{17})\.manifest$/.exec(object.name);
      if (match) ids.push(match[1]!);
    }
    return ids;
  }
}
