/**
 * `image_runs`: a run's image from begin to finish. The row is created once (idempotently) with the generation and
 * block watermark the collector protects it by; finishing it, the image row and its snapshot rows are written in
 * the caller's one transaction.
 */
import type { Tenant } from '../../domain/tenant.ts';
import type { Selectable } from 'kysely';
import type { Executor } from '../executor.ts';
import type { ImageIndexDb } from './indexDb.ts';
import type { ImageRunMode, ImageRunState, ImageRunsTable } from './schema.ts';

export interface IndexedRunDisk {
  index: number;
  sizeBytes: number;
  blockCount: number;
  snapshotId: string;
}

/** A run's image as the index holds it. */
export interface IndexedRun {
  runSeq: number;
  runId: string;
  tenant: Tenant;
  replicationJobId: string;
  parentAmiId: string | null;
  mode: ImageRunMode;
  keyId: number;
  compression: string;
  state: ImageRunState;
  /** The image's id, chosen when the run began (visible once it finishes). */
  amiId: string;
  disks: IndexedRunDisk[];
}

/** A run's image as it begins: what the index will hold (but its sequence number and state), and its markers. */
export interface NewRun extends Omit<IndexedRun, 'runSeq' | 'state' | 'disks'> {
  disks: readonly IndexedRunDisk[];
  blockWatermark: number;
  beginGeneration: number;
  now: number;
}

const toRun = (row: Selectable<ImageRunsTable>): IndexedRun => ({
  runSeq: Number(row.run_seq),
  runId: row.run_id,
  tenant: { accountId: row.account_id, region: row.region },
  replicationJobId: row.replication_job_id,
  parentAmiId: row.parent_ami_id,
  mode: row.mode,
  keyId: Number(row.key_id),
  compression: row.compression,
  state: row.state,
  amiId: row.ami_id,
  disks: JSON.parse(row.disks) as IndexedRunDisk[],
});

export async function runById(db: ImageIndexDb, runId: string): Promise<IndexedRun | undefined> {
  const row = await db.selectFrom('image_runs').selectAll().where('run_id', '=', runId).executeTakeFirst();
  return row && toRun(row);
}

/** The image a run finished, if it is still available, and whose it is (asked inside core's unit of work). */
export async function finishedImageOfRun(db: Executor, runId: string): Promise<{ amiId: string; accountId: string; region: string } | undefined> {
  const row = await db
    .selectFrom('image_runs')
    .innerJoin('images', 'images.ami_id', 'image_runs.ami_id')
    .select(['images.ami_id', 'images.account_id', 'images.region'])
    .where('image_runs.run_id', '=', runId)
    .where('image_runs.state', '=', 'finished')
    .where('images.state', '=', 'available')
    .executeTakeFirst();
  return row ? { amiId: row.ami_id, accountId: row.account_id, region: row.region } : undefined;
}

/** The highest block id handed out so far (0 for an empty index): a new run's watermark. */
export async function highestBlockId(db: ImageIndexDb): Promise<number> {
  const top = await db.selectFrom('image_blocks').select((eb) => eb.fn.max('block_id').as('top')).executeTakeFirst();
  return Number(top?.top ?? 0);
}

/** Creates the run's row, unless a row of that run id exists (a concurrent begin of the same run wins harmlessly). */
export async function insertRunUnlessExists(db: ImageIndexDb, run: NewRun): Promise<void> {
  await db
    .insertInto('image_runs')
    .values({
      run_id: run.runId,
      account_id: run.tenant.accountId,
      region: run.tenant.region,
      replication_job_id: run.replicationJobId,
      parent_ami_id: run.parentAmiId,
      mode: run.mode,
      key_id: run.keyId,
      compression: run.compression,
      state: 'writing',
      ami_id: run.amiId,
      disks: JSON.stringify(run.disks),
      block_watermark: run.blockWatermark,
      begin_generation: run.beginGeneration,
      new_blocks: 0,
      new_bytes: 0,
      created_at: run.now,
      updated_at: run.now,
    })
    .onConflict((oc) => oc.column('run_id').doNothing())
    .execute();
}

/** Stamps a run that is still being written; false when it is not (finished, abandoned or unknown). */
export async function touchWritingRun(db: ImageIndexDb, runSeq: number, now: number): Promise<boolean> {
  const live = await db.updateTable('image_runs').set({ updated_at: now }).where('run_seq', '=', runSeq).where('state', '=', 'writing').executeTakeFirst();
  return Number(live.numUpdatedRows) === 1;
}

/** Moves a writing run to finished; answers the blocks and bytes it added, or undefined when it was not writing. */
export async function finishWritingRun(db: ImageIndexDb, runSeq: number, now: number): Promise<{ newBlocks: number; newBytes: number } | undefined> {
  const finished = await db
    .updateTable('image_runs')
    .set({ state: 'finished', updated_at: now })
    .where('run_seq', '=', runSeq)
    .where('state', '=', 'writing')
    .returning(['new_blocks', 'new_bytes'])
    .executeTakeFirst();
  return finished && { newBlocks: Number(finished.new_blocks), newBytes: Number(finished.new_bytes) };
}

/** Moves a writing run to abandoned (a run in any other state is left as it is). */
export async function abandonWritingRun(db: ImageIndexDb, runSeq: number, now: number): Promise<void> {
  await db.updateTable('image_runs').set({ state: 'abandoned', updated_at: now }).where('run_seq', '=', runSeq).where('state', '=', 'writing').execute();
}

/** Adds blocks (and their stored bytes) a run put into the store to its counts. */
export async function addRunNewBlocks(db: ImageIndexDb, runSeq: number, added: { blocks: number; bytes: number }, now: number): Promise<void> {
  await db
    .updateTable('image_runs')
    .set((eb) => ({ new_blocks: eb('new_blocks', '+', added.blocks), new_bytes: eb('new_bytes', '+', added.bytes), updated_at: now }))
    .where('run_seq', '=', runSeq)
    .execute();
}
