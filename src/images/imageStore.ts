/**
 * The local image store: versioned machine images made of deduplicated, compressed and (for encrypted jobs)
 * sealed 512 KiB blocks, laid out like Proxmox Backup Server's fixed-chunk datastore — packs of block records under
 * `<dataDir>/images/packs`, one manifest (ordered block ids) per snapshot under `<dataDir>/images/manifests`, and
 * the index, unfinished runs and images in the control plane's database (migration 002).
 *
 * Writing a run's image: beginImage → (missingBlocks → putBlock for the missing → recordBlocks)* → finishImage.
 * Everything a run has recorded survives a kill -9; beginImage with the same run id picks the run up again and
 * committedBlocks says what is done. An image becomes visible only in finishImage's transaction, with its
 * manifests already durable. Reading (list, get, readBlock, export) works from another process while the service
 * writes. See garbageCollector.ts for why collection is safe while runs write.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BitSet } from './bitSet.ts';
import { DirectWriteBuffers, alignUp, directIoWanted } from './directIo.ts';
import { unsyncedTransaction } from '../store/unsyncedTransaction.ts';
import { isEncryptedKeyRef, type BlockSealer } from './blockSealer.ts';
import { KeyRing } from './keyRing.ts';
import { RECORD_HEADER_SIZE, encodeBlock, isAllZero, sha256 } from './blockCodec.ts';
import { BlockFetcher } from './blockFetcher.ts';
import { BlockWriter } from './blockWriter.ts';
import { KnownBlocks } from './knownBlocks.ts';
import { DEFAULT_FLUSH_BYTES, DEFAULT_PACK_SIZE, IMAGE_BLOCK_SIZE } from './constants.ts';
import type { ImageDb } from './db.ts';
import { CorruptBlockError, ImageStoreError } from './errors.ts';
import { exportSnapshot } from './exportDisk.ts';
import { collectGarbage } from './garbageCollector.ts';
import { toSummary } from './imageCatalog.ts';
import { abandonWritingRun, availableImage, availableImages, gcGeneration, imageOwner, indexedStorageIds, keyIdFor, markImageDeleted, runById, snapshotsOf, touchBlocks } from '../store/images/index.ts';
import { commitImage, insertRun, sameRun, validateBegin } from './imageRuns.ts';
import { imageUsage } from './imageUsage.ts';
import { openManifest, type ManifestSummary } from './manifest.ts';
import { buildManifest } from './manifestBuilder.ts';
import { serveSnapshot, type ServedDisk } from './serveDisk.ts';
import { PackReader } from './packReader.ts';
import { newPackOwner } from './packOwner.ts';
import { recoverPacks } from './packRecovery.ts';
import { commitRunRecords, committedBlocks, deleteRunBlocks } from './runBlocks.ts';
import { ParentDiffs, type DiffSpan } from './parentDiff.ts';
import { storeStats } from './storeStats.ts';
import { BlockPlacement } from './blocks/blockPlacement.ts';
import { LocalBlockStorage } from './blocks/localBlockStorage.ts';
import type { OpenImageStoreOptions } from './openImageStoreOptions.ts';
export type { OpenImageStoreOptions };
import type { ImageTarget } from './imageTarget.ts';
import type {
  BeginImageOptions, CommittedBlocks, Compression, ExportFormat, ExportOptions, ExportResult, FinishedImage, GcOptions, GcReport,
  ImageDetails, ImageRunInfo, ImageStoreLog, ImageSummary, PutBlockResult, PutBlocksOptions, RecordedBlock, RunDisk, StoreStats, Tenant,
} from './types.ts';

interface ActiveRun {
  runSeq: number;
  sealer: BlockSealer;
  keyId: number;
  compress: boolean;
  disks: RunDisk[];
  known: KnownBlocks;
}

const silentLog: ImageStoreLog = { info() {}, warn() {} };
/** The largest pack record: header, a whole block, and room for the sealer's nonce and tag. */
const MAX_RECORD_BYTES = RECORD_HEADER_SIZE + IMAGE_BLOCK_SIZE + 1024;
/**
 * O_DIRECT staging buffers: how many pack writes can be in flight, each of up to DIRECT_GROUP_RECORDS records
 * (about 4 MiB): 24 MiB in all.
 */
const DIRECT_BUFFERS = 6;
const DIRECT_GROUP_RECORDS = 8;
const ZERO_BLOCK_SHA256 = sha256(Buffer.alloc(IMAGE_BLOCK_SIZE));

export async function openImageStore(options: OpenImageStoreOptions): Promise<ImageStore> {
  // The image tables are not part of the control plane's Database type (migration 002 adds them).
  const db = options.db as unknown as ImageDb;
  const root = join(options.dataDir, 'images');
  try {
    await gcGeneration(db);
  } catch (thrown) {
    const why = thrown instanceof Error ? thrown.message : String(thrown);
    throw new ImageStoreError('InvalidArgument', `The image store tables are unusable (${why}): apply migration 002 (src/store/migrations/002_image_store.ts).`);
  }
  if (!options.readOnly) {
    mkdirSync(join(root, 'packs'), { recursive: true, mode: 0o700 });
    mkdirSync(join(root, 'manifests'), { recursive: true, mode: 0o700 });
  }
  const store = new ImageStore(db, root, options);
  if (!options.readOnly) await recoverPacks(db, root, store.now(), options.log ?? silentLog, store.placement);
  return store;
}

export class ImageStore implements ImageTarget {
  readonly root: string;
  readonly now: () => number;
  readonly #db: ImageDb;
  readonly #log: ImageStoreLog;
  readonly #readOnly: boolean;
  readonly #compression: Compression;
  readonly #packSize: number;
  readonly #owner: { owner: string; release(): void } | undefined;
  readonly #writer: BlockWriter | undefined;
  readonly #packs: PackReader;
  /** Where sealed packs and manifests are kept: here, or in remote block storage with this directory as staging. */
  readonly placement: BlockPlacement;
  readonly #fetcher: BlockFetcher;
  readonly #runs = new Map<string, ActiveRun>();
  readonly #keys: KeyRing;
  /** Manifest files (snapshot @ file identity and mtime) this process has checked whole. */
  readonly #verifiedManifests = new Set<string>();
  readonly #diffs: ParentDiffs;
  #closed = false;

  /** Use openImageStore. */
  constructor(db: ImageDb, root: string, options: OpenImageStoreOptions) {
    this.#db = db;
    this.root = root;
    this.now = options.now ?? Date.now;
    this.#log = options.log ?? silentLog;
    this.#readOnly = options.readOnly ?? false;
    this.#compression = options.compression ?? 'zstd';
    this.#packSize = options.packSizeBytes ?? DEFAULT_PACK_SIZE;
    this.#keys = new KeyRing(db, options.resolveSealer);
    this.placement = new BlockPlacement(root, options.blocks ?? new LocalBlockStorage(root));
    const placement = this.placement;
    this.#packs = new PackReader(root, placement.remote ? (packId, offset, length) => placement.readRemotePack(packId, offset, length) : undefined);
    this.#fetcher = new BlockFetcher(db, this.#packs, (keyId) => this.#keys.sealerFor(keyId));
    this.#diffs = new ParentDiffs(db, (snapshotId) => placement.localManifest(snapshotId));
    if (!this.#readOnly) {
      this.#owner = newPackOwner();
      this.#writer = new BlockWriter({
        db,
        root,
        owner: this.#owner.owner,
        packSize: this.#packSize,
        flushBytes: options.flushBytes ?? DEFAULT_FLUSH_BYTES,
        now: this.now,
        placement,
        onIndexed: (runSeq, hex, blockId) => [...this.#runs.values()].find((run) => run.runSeq === runSeq)?.known.remember(hex, blockId),
        direct: (options.directIo ?? directIoWanted()) ? DirectWriteBuffers.probe(join(root, 'packs'), DIRECT_GROUP_RECORDS * alignUp(MAX_RECORD_BYTES), DIRECT_BUFFERS) : undefined,
      });
    }
  }

  // ── Writing a run's image ──────────────────────────────────────────────────────────────────────────────────

  /** Starts a run's image, or picks up the one begun earlier under the same run id (same tenant, job, key, disks). */
  async beginImage(runId: string, options: BeginImageOptions): Promise<ImageRunInfo> {
    this.#writable();
    const mode = options.mode ?? 'full';
    validateBegin(runId, options, mode);
    const keyRef = options.sealer.keyRef;
    const keyId = await keyIdFor(this.#db, keyRef);
    this.#keys.remember(options.sealer);
    let row = await runById(this.#db, runId);
    const resumed = row !== undefined;
    if (!row) {
      await insertRun(this.#db, runId, { ...options, mode, compression: options.compression ?? this.#compression }, keyId, this.now());
      row = await runById(this.#db, runId);
      if (!row) throw new Error(`run ${runId} vanished while it was begun`);
    }
    const disks = row.disks;
    if (!sameRun(row, options, mode, keyId)) throw new ImageStoreError('Conflict', `Run ${runId} was begun with other parameters (tenant, job, key, mode, parent or disks).`);
    if (row.state === 'abandoned') throw new ImageStoreError('Conflict', `Run ${runId} was abandoned; start a new run.`);
    if (row.state === 'writing') {
      this.#runs.set(runId, { runSeq: row.runSeq, sealer: options.sealer, keyId, compress: row.compression === 'zstd', disks, known: new KnownBlocks() });
    }
    return { runId, amiId: row.amiId, state: row.state, resumed, mode, parentAmiId: row.parentAmiId, keyRef, disks };
  }

  /** Picks up a run begun on another node (or before a restart) so its block calls work here; false: not writing. */
  async resumeImage(runId: string, sealerOf: () => Promise<BlockSealer>): Promise<boolean> {
    if (this.#runs.has(runId)) return true;
    const row = await runById(this.#db, runId);
    if (row?.state !== 'writing') return false;
    const sealer = await sealerOf();
    const keyId = await keyIdFor(this.#db, sealer.keyRef);
    if (keyId !== row.keyId) throw new ImageStoreError('Conflict', `Run ${runId} was begun under another key.`);
    this.#keys.remember(sealer);
    this.#runs.set(runId, { runSeq: row.runSeq, sealer, keyId, compress: row.compression === 'zstd', disks: row.disks, known: new KnownBlocks() });
    return true;
  }

  /**
   * Dedup, ask first: for each plaintext SHA-256, true when the store lacks the block under this run's key (put
   * it), false when it has it (just record it). A "has it" answer protects the block from collection.
   */
  async missingBlocks(runId: string, sha256s: readonly Buffer[]): Promise<boolean[]> {
    const run = this.#active(runId);
    const ids = sha256s.map((s) => (s.equals(ZERO_BLOCK_SHA256) ? undefined : run.sealer.storageId(s)));
    const hexes = ids.map((id) => id?.toString('hex'));
    const ask = ids.filter((id, i): id is Buffer => id !== undefined && !this.#writer!.isPending(hexes[i]!));
    const found = ask.length === 0 ? new Map() : await unsyncedTransaction(this.#db, (trx) => touchBlocks(trx, ask));
    for (const [hex, block] of found) {
      if (block.keyId !== run.keyId) throw new ImageStoreError('Conflict', `Sealer ${run.sealer.keyRef} produced a storage id already used under another key.`);
      run.known.remember(hex, block.blockId);
    }
    return hexes.map((hex) => hex !== undefined && !this.#writer!.isPending(hex) && !found.has(hex));
  }

  /** Hash diff: the indexes of a span of an incremental run's disk that differ from its parent's (parentDiff.ts). */
  async diffBlocks(runId: string, diskIndex: number, span: DiffSpan): Promise<number[]> {
    return this.#diffs.compare(runId, this.#active(runId), diskIndex, span);
  }

  /**
   * Stores one block: checks it against its SHA-256, refuses zeros, compresses (kept raw unless it saves 10%),
   * seals and appends it to the current pack. Durable and indexed at the next flush (recordBlocks flushes).
   */
  async putBlock(runId: string, blockSha256: Buffer, data: Buffer, options: PutBlocksOptions = {}): Promise<PutBlockResult> {
    const [result] = await this.putBlocks(runId, [{ sha256: blockSha256, data }], options);
    return result!;
  }

  /**
   * putBlock for a batch: one index lookup for all of them, and their pack appends in flight together.
   * `trustedDigests` skips the per-block SHA-256 and zero checks, for a caller in this process that computed the
   * digests from these very bytes (the embedded connector's hash workers): checking again would hash every
   * block twice on the service's main thread. Bytes that crossed a process boundary are always checked.
   */
  async putBlocks(runId: string, blocks: readonly { sha256: Buffer; data: Buffer }[], options: PutBlocksOptions = {}): Promise<PutBlockResult[]> {
    const run = this.#active(runId);
    for (const { sha256: digest, data } of blocks) {
      if (data.length === 0 || data.length > IMAGE_BLOCK_SIZE) throw new ImageStoreError('InvalidArgument', `A block is 1..${IMAGE_BLOCK_SIZE} bytes, not ${data.length}.`);
      if (options.trustedDigests) continue;
      if (isAllZero(data)) throw new ImageStoreError('InvalidArgument', 'Zero blocks are never stored: record them with sha256 null.');
      if (!sha256(data).equals(digest)) throw new ImageStoreError('InvalidArgument', `Block data does not match SHA-256 ${digest.toString('hex')}.`);
    }
    // Copies: the ids outlive this call (until the next flush), the caller's buffers may not.
    const ids = blocks.map((b) => Buffer.from(run.sealer.storageId(b.sha256)));
    const unknown = ids.filter((id) => !this.#writer!.isPending(id.toString('hex')));
    const indexed = unknown.length === 0 ? new Set<string>() : await indexedStorageIds(this.#db, unknown);
    // Encoded together (compression and sealing run on the thread pool), then appended in as few writes as fit.
    const encoded = await Promise.all(
      blocks.map(({ data }, i) => {
        const hex = ids[i]!.toString('hex');
        return indexed.has(hex) || this.#writer!.isPending(hex) ? undefined : encodeBlock(data, ids[i]!, run.sealer, run.compress);
      }),
    );
    const toWrite = encoded.flatMap((block, i) => (block ? [{ storageId: ids[i]!, block, index: i }] : []));
    const stored = await this.#writer!.writeMany(run.runSeq, run.keyId, toWrite);
    const results: PutBlockResult[] = blocks.map(() => ({ stored: false, storedBytes: 0 }));
    toWrite.forEach(({ block, index }, i) => {
      if (stored[i]) results[index] = { stored: true, storedBytes: block.header.length + block.payload.length };
    });
    return results;
  }

  /**
   * Commits which block each listed block index of the new snapshot holds (sha256 null = zero). Blocks put
   * before are flushed first; every referenced block must be in the store. Survives a killed process when this
   * returns, and a power loss from the next synced commit on (finishImage's at the latest).
   */
  async recordBlocks(runId: string, diskIndex: number, entries: readonly RecordedBlock[]): Promise<void> {
    const run = this.#active(runId);
    const disk = run.disks.find((d) => d.index === diskIndex);
    if (!disk) throw new ImageStoreError('InvalidArgument', `Run ${runId} has no disk ${diskIndex}.`);
    const byIndex = new Map<number, Buffer | undefined>();
    for (const entry of entries) {
      if (!Number.isInteger(entry.blockIndex) || entry.blockIndex < 0 || entry.blockIndex >= disk.blockCount) {
        throw new ImageStoreError('InvalidArgument', `Block index ${entry.blockIndex} is outside disk ${diskIndex} (0..${disk.blockCount - 1}).`);
      }
      byIndex.set(entry.blockIndex, entry.sha256 === null || entry.sha256.equals(ZERO_BLOCK_SHA256) ? undefined : run.sealer.storageId(entry.sha256));
    }
    if (byIndex.size === 0) return;
    await this.#writer!.flush();
    const wanted = [...new Map([...byIndex.values()].filter((id): id is Buffer => id !== undefined).map((id) => [id.toString('hex'), id])).values()];
    await commitRunRecords(this.#db, { runId, runSeq: run.runSeq, keyId: run.keyId, known: run.known }, diskIndex, byIndex, wanted, this.now());
  }

  /** Makes every block put so far (by any run here) durable and indexed; recordBlocks and finishImage do it too. */
  async flush(): Promise<void> {
    this.#writable();
    await this.#writer!.flush();
  }

  /** The block indexes of a disk the run has committed (to skip on resume), as ranges: as small as the set is simple. */
  async committedBlocks(runId: string, diskIndex: number): Promise<CommittedBlocks> {
    const row = await runById(this.#db, runId);
    if (!row) throw new ImageStoreError('NotFound', `Run ${runId} has no image in progress.`);
    if (!row.disks.some((d) => d.index === diskIndex)) throw new ImageStoreError('InvalidArgument', `Run ${runId} has no disk ${diskIndex}.`);
    return committedBlocks(this.#db, row.runSeq, diskIndex);
  }

  /** Writes every snapshot's manifest, then makes the image visible in one transaction. Idempotent. */
  async finishImage(runId: string): Promise<FinishedImage> {
    this.#writable();
    const row = await runById(this.#db, runId);
    if (!row) throw new ImageStoreError('NotFound', `Run ${runId} has no image in progress.`);
    const disks = row.disks;
    const result = { amiId: row.amiId, snapshotIds: disks.map((d) => d.snapshotId) };
    if (row.state === 'finished') return result;
    if (row.state === 'abandoned') throw new ImageStoreError('Conflict', `Run ${runId} was abandoned.`);
    // With remote block storage the image must read back from every node once it is visible: its blocks' packs are
    // sealed (uploaded) first, not left open in this node's staging area. Locally a flush is enough.
    if (this.placement.remote) await this.#writer!.sealCurrent();
    else await this.#writer!.flush();
    const runSeq = row.runSeq;
    const parentSnapshots = row.mode === 'incremental' && row.parentAmiId ? ((await snapshotsOf(this.#db, [row.parentAmiId])).get(row.parentAmiId) ?? []) : [];
    const distinct = new BitSet();
    const built: { disk: RunDisk; summary: ManifestSummary }[] = [];
    for (const disk of disks) {
      const parent = parentSnapshots.find((s) => s.diskIndex === disk.index);
      const summary = await buildManifest(
        {
          db: this.#db,
          runSeq,
          diskIndex: disk.index,
          sizeBytes: disk.sizeBytes,
          blockCount: disk.blockCount,
          parent: parent ? { path: await this.placement.localManifest(parent.snapshotId), sha256: parent.manifestSha256 } : undefined,
        },
        this.placement.manifestPath(disk.snapshotId),
        distinct,
      );
      built.push({ disk, summary });
      await this.placement.publishManifest(disk.snapshotId);
    }
    // (Looked up before the transaction: SQLite has one connection, and the transaction holds it.)
    const encrypted = isEncryptedKeyRef(await this.#keys.keyRef(row.keyId));
    await commitImage(this.#db, row, { encrypted, distinctBlocks: distinct.count, snapshots: built, now: this.now() });
    this.#runs.delete(runId);
    await this.#diffs.drop(runId);
    await deleteRunBlocks(this.#db, runSeq);
    this.#log.info({ runId, amiId: row.amiId }, 'image finished');
    return result;
  }

  /** Gives up a run's image: its committed blocks become garbage. */
  async abandonImage(runId: string): Promise<void> {
    this.#writable();
    this.#runs.delete(runId);
    await this.#diffs.drop(runId);
    const row = await runById(this.#db, runId);
    if (!row || row.state === 'abandoned') return;
    if (row.state === 'finished') throw new ImageStoreError('Conflict', `Run ${runId} already finished as ${row.amiId}; delete the image instead.`);
    await abandonWritingRun(this.#db, row.runSeq, this.now());
    await deleteRunBlocks(this.#db, row.runSeq);
  }

  // ── Reading ────────────────────────────────────────────────────────────────────────────────────────────────

  async listImages(tenant?: Tenant): Promise<ImageSummary[]> {
    const images = await availableImages(this.#db, tenant);
    const snapshots = await snapshotsOf(this.#db, images.map((i) => i.amiId));
    const summaries = [];
    for (const image of images) summaries.push(toSummary(image, snapshots.get(image.amiId) ?? [], await this.#keys.keyRef(image.keyId)));
    return summaries;
  }

  /** One available image, cheaply (rows only): what a run needs to build on a parent. */
  async findImage(amiId: string): Promise<ImageSummary | undefined> {
    const row = await availableImage(this.#db, amiId);
    if (!row) return undefined;
    const snapshots = (await snapshotsOf(this.#db, [amiId])).get(amiId) ?? [];
    return toSummary(row, snapshots, await this.#keys.keyRef(row.keyId));
  }

  /**
   * One available image with what it costs in the store: stored bytes, blocks shared with the account's other
   * images, what deleting it would free. Reads the data entries of every available manifest of the account: for
   * admin views, not for hot paths (use findImage).
   */
  async getImage(amiId: string): Promise<ImageDetails | undefined> {
    const row = await availableImage(this.#db, amiId);
    if (!row) return undefined;
    const snapshots = (await snapshotsOf(this.#db, [amiId])).get(amiId) ?? [];
    const usage = await imageUsage(
      this.#db,
      (id) => this.placement.localManifest(id),
      { amiId, accountId: row.tenant.accountId },
      snapshots.map((s) => ({ snapshotId: s.snapshotId, sha256: s.manifestSha256 })),
    );
    return { ...toSummary(row, snapshots, await this.#keys.keyRef(row.keyId)), usage };
  }

  /** One block of a disk, verified; zeros for a zero block. The last block may be short. */
  async readBlock(amiId: string, diskIndex: number, blockIndex: number): Promise<Buffer> {
    const snap = await this.#snapshot(amiId, diskIndex);
    const manifest = await openManifest(await this.placement.localManifest(snap.snapshotId));
    try {
      const verified = `${snap.snapshotId}@${await manifest.fingerprint()}`;
      if (!this.#verifiedManifests.has(verified)) {
        await manifest.verify(snap.manifestSha256);
        this.#verifiedManifests.add(verified);
      }
      const blockId = await manifest.entry(blockIndex);
      const length = Math.min(IMAGE_BLOCK_SIZE, snap.sizeBytes - blockIndex * IMAGE_BLOCK_SIZE);
      if (blockId === 0) return Buffer.alloc(length);
      const data = await this.#fetcher.readById(blockId, { amiId, diskIndex, blockIndex });
      return data.length > length ? data.subarray(0, length) : data;
    } finally {
      await manifest.close();
    }
  }

  /** Writes one disk of an image to `outputPath` as raw (sparse), qcow2 or VMDK. */
  async exportDisk(amiId: string, diskIndex: number, format: ExportFormat, outputPath: string, options: ExportOptions = {}): Promise<ExportResult> {
    const snap = await this.#snapshot(amiId, diskIndex);
    try {
      return await exportSnapshot(this.#fetcher, {
        manifestPath: await this.placement.localManifest(snap.snapshotId),
        manifestSha256: snap.manifestSha256,
        amiId,
        diskIndex,
        format,
        outputPath,
        options,
      });
    } catch (thrown) {
      if (thrown instanceof CorruptBlockError && !(await availableImage(this.#db, amiId))) {
        throw new ImageStoreError('NotFound', `Image ${amiId} was deleted during the export.`);
      }
      throw thrown;
    }
  }

  /** Serves one disk read-only over NBD on `socketPath` until closed (serveDisk.ts; used by src/launch). */
  async serveDisk(amiId: string, diskIndex: number, socketPath: string): Promise<ServedDisk> {
    const snap = await this.#snapshot(amiId, diskIndex);
    const snapshot = { manifestPath: await this.placement.localManifest(snap.snapshotId), manifestSha256: snap.manifestSha256, amiId, diskIndex };
    return serveSnapshot(this.#fetcher, snapshot, socketPath);
  }

  // ── Deleting and collecting ────────────────────────────────────────────────────────────────────────────────

  /**
   * Retention's hook (ImageDeleter): hides the image at once; the next collection frees its blocks. Deleting an
   * image that is already gone is a no-op, so retried deletions are harmless.
   */
  async deleteImage(tenant: Tenant, replicationJobId: string, amiId: string): Promise<void> {
    this.#writable();
    const row = await imageOwner(this.#db, amiId);
    if (!row || row.state === 'deleted') return;
    if (row.tenant.accountId !== tenant.accountId || row.tenant.region !== tenant.region || row.replicationJobId !== replicationJobId) {
      throw new ImageStoreError('NotFound', `Image ${amiId} does not belong to ${replicationJobId} in ${tenant.accountId}/${tenant.region}.`);
    }
    await markImageDeleted(this.#db, amiId, this.now());
    this.#log.info({ amiId, replicationJobId }, 'image deleted');
  }

  async collectGarbage(options: GcOptions = {}): Promise<GcReport> {
    this.#writable();
    // Seal this process's pack too, so its dead records can be compacted like any other pack's.
    await this.#writer!.sealCurrent();
    return collectGarbage(
      {
        db: this.#db,
        root: this.root,
        owner: this.#owner!.owner,
        now: this.now,
        log: this.#log,
        packs: this.#packs,
        packSize: this.#packSize,
        manifestsDir: join(this.root, 'manifests'),
        manifestPath: (id) => this.placement.localManifest(id),
        placement: this.placement,
      },
      options,
    );
  }

  stats(): Promise<StoreStats> {
    return storeStats(this.#db, this.root);
  }

  /** Flushes and seals this process's pack. The database stays open (it is the caller's). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#diffs.close();
    await this.#writer?.close();
    this.#owner?.release();
    await this.#packs.close();
    await this.placement.storage.close();
  }

  // ── Internals ──────────────────────────────────────────────────────────────────────────────────────────────

  #writable(): void {
    if (this.#closed) throw new ImageStoreError('Conflict', 'The image store is closed.');
    if (this.#readOnly) throw new ImageStoreError('ReadOnly', 'The image store was opened read-only.');
  }

  #active(runId: string): ActiveRun {
    this.#writable();
    const run = this.#runs.get(runId);
    if (!run) throw new ImageStoreError('Conflict', `Run ${runId} is not being written here: call beginImage first (again after a restart).`);
    return run;
  }

  async #snapshot(amiId: string, diskIndex: number) {
    if (!(await availableImage(this.#db, amiId))) throw new ImageStoreError('NotFound', `Image ${amiId} does not exist.`);
    const snap = (await snapshotsOf(this.#db, [amiId])).get(amiId)?.find((s) => s.diskIndex === diskIndex);
    if (!snap) throw new ImageStoreError('NotFound', `Image ${amiId} has no disk ${diskIndex}.`);
    return snap;
  }
}
