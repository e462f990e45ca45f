/**
 * The service side of a run's image: a connector that holds an ACTIVE run begins its image, asks which blocks the
 * store lacks, sends those, records every block index, and finishes the image. Each call checks that the run is
 * still the connector's, then hands over to the image store with the job's sealer (encrypted jobs: the job's KMS
 * key). The image store makes the writes durable and resumable; this module only guards and translates.
 */
import type { ImageTarget } from '../images/imageTarget.ts';
import type { DiffSpan } from '../images/parentDiff.ts';
import type { CommittedBlocks } from '../images/types.ts';
import type { BegunImage, ImageDiskPlan } from '../domain/connectorCalls.ts';
import type { BlockSealer } from '../images/blockSealer.ts';
import type { Keyring } from '../kms/keyring.ts';
import type { Core } from './context.ts';
import type { ConnectorRow, JobRow, RunRow } from '../store/rows.ts';
import { heldRun as heldRunRow } from './runChanges.ts';
import { ImageRequestError } from '../images/errors.ts';
import { BlockRangeSet } from '../lib/blockRangeSet.ts';
import { unsyncedTransaction } from '../store/unsyncedTransaction.ts';
import * as catalog from '../store/catalog/index.ts';
import * as jobs from '../store/jobs/index.ts';
import * as runs from '../store/runs/index.ts';
import { tenantOf } from '../domain/tenant.ts';

export interface DataPlane<Images extends ImageTarget = ImageTarget> {
  images: Images;
  keyring: Keyring;
}

/** The run the connector holds, with its job. */
async function heldRun(core: Core, connector: ConnectorRow, runId: string): Promise<{ run: RunRow; job: JobRow }> {
  const run = await heldRunRow(core.db, connector, runId);
  const job = await jobs.get(core.db, run.replication_job_id);
  if (!job) throw new Error(`run ${runId} has no job ${run.replication_job_id}`);
  return { run, job };
}

/**
 * The run the connector holds, picked up by this node's image store if another node began it: on a shared store a
 * connector's calls may reach any node (its node died, a load balancer moved it), and the run goes on from the
 * blocks it committed, wherever they were written.
 */
async function heldRunHere(core: Core, plane: DataPlane, connector: ConnectorRow, runId: string): Promise<void> {
  const { run } = await heldRun(core, connector, runId);
  await plane.images.resumeImage(runId, () => sealerOf(plane, run));
}

/** Encrypted runs seal under the job's KMS key; the others store blocks under their account's ids (no dedup across accounts). */
async function sealerOf(plane: DataPlane, run: RunRow): Promise<BlockSealer> {
  if (run.encrypted !== 1) return plane.keyring.accountSealer(run.account_id);
  return plane.keyring.sealerFor(tenantOf(run), run.kms_key_id);
}

/**
 * Each disk's virtual size as the server catalog saw it, in disk order (0: a disk the connector could not read);
 * undefined when the catalog holds no disk layout for the server (a connector that reports none).
 */
async function catalogDiskSizes(core: Core, job: JobRow): Promise<number[] | undefined> {
  const serverDetails = await catalog.serverDetails(core.db, job.server_id);
  const details: unknown = serverDetails ? JSON.parse(serverDetails) : undefined;
  const disks = typeof details === 'object' && details !== null ? (details as { disks?: unknown }).disks : undefined;
  if (!Array.isArray(disks) || disks.length === 0) return undefined;
  return disks.map((disk: unknown) => {
    const size = typeof disk === 'object' && disk !== null ? (disk as { virtualSize?: unknown }).virtualSize : undefined;
    return typeof size === 'number' && Number.isSafeInteger(size) && size > 0 ? size : 0;
  });
}

/**
 * A run's disks must be disks the catalog saw for its server, no larger than it saw them. (The image store also
 * bounds every disk by MAX_DISK_BYTES, which is what holds for a server whose catalog entry has no disk layout.)
 */
function checkDisksAgainstCatalog(disks: readonly ImageDiskPlan[], catalog: readonly number[] | undefined, serverId: string): void {
  if (!catalog) return;
  for (const disk of disks) {
    const known = catalog[disk.index];
    if (known === undefined) {
      throw new ImageRequestError(`Disk ${disk.index} is not a disk of server ${serverId}: the server catalog saw ${catalog.length} disk(s). Re-import the catalog (ImportServerCatalog) after the VM changed.`);
    }
    if (disk.sizeBytes > known) {
      throw new ImageRequestError(
        `Disk ${disk.index} is declared as ${disk.sizeBytes} bytes, more than the ${known} bytes the server catalog saw for server ${serverId}. Re-import the catalog (ImportServerCatalog) after the VM changed.`,
      );
    }
  }
}

/**
 * The image a run can build on incrementally: the job's latest, if its blocks are stored under the key this run
 * stores under. Otherwise (a job that changed encryption or key, or an image from before per-account block ids)
 * there is none, and the connector reads the disk in full.
 */
export async function parentOfRun(core: Core, plane: DataPlane, connector: ConnectorRow, runId: string): Promise<BegunImage['parent']> {
  const { run, job } = await heldRun(core, connector, runId);
  const parentImage = job.latest_ami_id ? await plane.images.findImage(job.latest_ami_id) : undefined;
  if (!parentImage || parentImage.keyRef !== (await sealerOf(plane, run)).keyRef) return null;
  const meta = await runs.diskMetaOf(core.db, parentImage.runId);
  const disks = parentImage.disks.map((d) => ({ index: d.index, sizeBytes: d.sizeBytes, meta: meta.get(d.index) }));
  return { amiId: parentImage.amiId, disks, compareBlocks: true };
}

export async function beginRunImage(core: Core, plane: DataPlane, connector: ConnectorRow, runId: string, disks: ImageDiskPlan[]): Promise<BegunImage> {
  const { run, job } = await heldRun(core, connector, runId);
  if (disks.length === 0) throw new ImageRequestError('An image needs at least one disk.');
  checkDisksAgainstCatalog(disks, await catalogDiskSizes(core, job), job.server_id);
  const parentImage = job.latest_ami_id ? await plane.images.findImage(job.latest_ami_id) : undefined;
  const incremental = disks.every((d) => d.mode === 'incremental');
  if (incremental && !parentImage) throw new ImageRequestError('An incremental image needs the job to have a parent image.');
  const sealer = await sealerOf(plane, run);
  const begun = await plane.images.beginImage(runId, {
    tenant: tenantOf(run),
    replicationJobId: job.replication_job_id,
    parentAmiId: parentImage?.amiId,
    mode: incremental ? 'incremental' : 'full',
    sealer,
    disks: disks.map((d) => ({ index: d.index, sizeBytes: d.sizeBytes })),
  });
  // Unsynced (one commit for all disks): the run's image commits synced when it finishes, and that makes these
  // durable too; a power loss before then restarts the run.
  await unsyncedTransaction(core.db, async (tx) => {
    for (const disk of disks) {
      if (!disk.meta) continue;
      await runs.saveDiskMeta(tx, runId, disk.index, disk.meta);
    }
  });
  const committed = new Map<number, CommittedBlocks>();
  for (const disk of begun.disks) committed.set(disk.index, begun.state === 'finished' ? everyBlock(disk.blockCount) : await plane.images.committedBlocks(runId, disk.index));
  return { amiId: begun.amiId, committed, parent: await parentOfRun(core, plane, connector, runId) };
}

/**
 * A run whose image is already finished has every block committed. A connector killed after finishImage but before
 * it reported the run COMPLETED begins the image again when it resumes the run: it must skip every block and go
 * straight to finishImage (idempotent, the same amiId), not send blocks into an image that is no longer written.
 */
function everyBlock(blockCount: number): CommittedBlocks {
  const all = new BlockRangeSet();
  if (blockCount > 0) all.appendRange(0, blockCount);
  return all;
}

export async function missingRunBlocks(core: Core, plane: DataPlane, connector: ConnectorRow, runId: string, sha256s: Buffer[]): Promise<boolean[]> {
  await heldRunHere(core, plane, connector, runId);
  return plane.images.missingBlocks(runId, sha256s);
}

/**
 * Hash diff: the indexes of a span of the run's disk that differ from the run's own parent image (the one its image
 * was begun over, the job's latest, checked then to be the tenant's): a connector never names the image it compares
 * with, so it can compare only with an image of its own account and job.
 */
export async function diffRunBlocks(core: Core, plane: DataPlane, connector: ConnectorRow, runId: string, diskIndex: number, span: DiffSpan): Promise<number[]> {
  await heldRunHere(core, plane, connector, runId);
  return plane.images.diffBlocks(runId, diskIndex, span);
}

/** `trustedDigests`: only for the embedded connector, whose hash workers computed the digests in this process. */
export async function putRunBlocks(
  core: Core,
  plane: DataPlane,
  connector: ConnectorRow,
  runId: string,
  blocks: readonly { sha256: Buffer; data: Buffer }[],
  options: { trustedDigests?: boolean } = {},
): Promise<void> {
  await heldRunHere(core, plane, connector, runId);
  await plane.images.putBlocks(runId, blocks, options);
  // A put is acknowledged to a connector that may record it through another node (this one killed, the balancer
  // moving it): on a shared store the block is indexed before the answer, so any node can record it. (In this
  // node's open pack until sealed: a killed node's data dir must come back, docs/cluster.md.) The embedded
  // connector dies with its node, so its puts keep the cheaper contract: durable at the next record.
  if (core.capabilities.sharedByNodes && !options.trustedDigests) await plane.images.flush();
}

export async function recordRunBlocks(
  core: Core,
  plane: DataPlane,
  connector: ConnectorRow,
  runId: string,
  diskIndex: number,
  records: { blockIndex: number; sha256: Buffer | null }[],
): Promise<void> {
  await heldRunHere(core, plane, connector, runId);
  await plane.images.recordBlocks(runId, diskIndex, records);
}

export async function finishRunImage(core: Core, plane: DataPlane, connector: ConnectorRow, runId: string): Promise<{ amiId: string; snapshotIds: string[] }> {
  await heldRunHere(core, plane, connector, runId);
  return plane.images.finishImage(runId);
}
