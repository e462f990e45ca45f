/**
 * Where the image store's sealed packs and its manifests are kept, given its BlockStorage. With local storage
 * everything stays where the store has always kept it (every method below is a no-op or a plain file operation).
 * With a remote storage (S3), the data dir is a write-back staging area: packs are written locally as before
 * (appends, O_DIRECT, crash recovery by truncation all unchanged) and streamed to the bucket while they fill
 * (packStream.ts: each flush's synced bytes go up in the background); a pack's upload is completed when it is
 * sealed — before its index row says `sealed`, so a sealed pack is always in the bucket — after which its local
 * file is removed. Manifests are uploaded before the image that names them becomes visible, and fetched into the local
 * manifests directory when a reader needs one that is not there (another host wrote it, or the cache was lost).
 */
import { existsSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PackStream } from './packStream.ts';
import { BlockObjectGoneError, manifestObjectName, packObjectName, type BlockStorage } from './blockStorage.ts';
import { packPath } from '../packFile.ts';
import { PackGoneError } from '../packReader.ts';

export class BlockPlacement {
  readonly root: string;
  readonly storage: BlockStorage;
  readonly remote: boolean;
  /** Open packs being uploaded as they fill. */
  readonly #streams = new Map<number, PackStream>();

  constructor(root: string, storage: BlockStorage) {
    this.root = root;
    this.storage = storage;
    this.remote = storage.kind !== 'local';
  }

  /** An open pack's local file is synced up to `end` (remote storage only): its upload goes on in the background. */
  packSynced(packId: number, end: number): void {
    if (!this.remote) return;
    let stream = this.#streams.get(packId);
    if (stream === undefined) {
      stream = new PackStream(this.storage, packObjectName(packId), packPath(this.root, packId));
      this.#streams.set(packId, stream);
    }
    stream.advance(end);
  }

  /**
   * Uploads a synced local pack (remote storage only), finishing its stream when there is one. Idempotent: a pack
   * already uploaded whole is left alone. A failed stream throws; the next call uploads the pack afresh.
   */
  async publishPack(packId: number): Promise<void> {
    if (!this.remote) return;
    const path = packPath(this.root, packId);
    const name = packObjectName(packId);
    const localSize = statSync(path).size;
    const stream = this.#streams.get(packId);
    if (stream !== undefined) {
      this.#streams.delete(packId);
      await stream.finish(localSize);
      return;
    }
    const remoteSize = await this.storage.sizeOf(name);
    if (remoteSize === localSize) return;
    if (remoteSize !== undefined) await this.storage.delete(name); // a different pack under the same id: ours wins
    await new PackStream(this.storage, name, path).finish(localSize);
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
    const stream = this.#streams.get(packId);
    this.#streams.delete(packId);
    await stream?.abort();
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
