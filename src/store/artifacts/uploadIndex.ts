/** Open multipart uploads and their parts, as stored (what they mean to the S3 API is src/artifacts'). */
import type { ArtifactTx, Queryable } from './artifactIndex.ts';
import type { ArtifactPartsTable, ArtifactUploadsTable } from './artifactTables.ts';

export function uploadRow(db: Queryable, uploadId: string): Promise<ArtifactUploadsTable | undefined> {
  return db.selectFrom('artifact_uploads').selectAll().where('upload_id', '=', uploadId).executeTakeFirst();
}

export async function insertUpload(db: Queryable, row: ArtifactUploadsTable): Promise<void> {
  await db.insertInto('artifact_uploads').values(row).execute();
}

export async function countOpenUploads(db: Queryable, accountId: string): Promise<number> {
  const row = await db
    .selectFrom('artifact_uploads')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('account_id', '=', accountId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function partsOf(db: Queryable, uploadId: string): Promise<ArtifactPartsTable[]> {
  return db.selectFrom('artifact_parts').selectAll().where('upload_id', '=', uploadId).orderBy('part_number').execute();
}

/** Records a part in place of an earlier upload of the same number; returns the replaced part's blob (garbage). */
export async function replacePart(trx: ArtifactTx, row: ArtifactPartsTable): Promise<string[]> {
  const old = await trx
    .selectFrom('artifact_parts')
    .select('blob_id')
    .where('upload_id', '=', row.upload_id)
    .where('part_number', '=', row.part_number)
    .executeTakeFirst();
  if (old) {
    await trx.updateTable('artifact_parts').set(row).where('upload_id', '=', row.upload_id).where('part_number', '=', row.part_number).execute();
  } else {
    await trx.insertInto('artifact_parts').values(row).execute();
  }
  return old ? [old.blob_id] : [];
}

/** Removes an upload and its parts; returns the blobs of the parts (for the caller to keep or collect). */
export async function deleteUpload(trx: ArtifactTx, uploadId: string): Promise<string[]> {
  const parts = await trx.deleteFrom('artifact_parts').where('upload_id', '=', uploadId).returning('blob_id').execute();
  await trx.deleteFrom('artifact_uploads').where('upload_id', '=', uploadId).execute();
  return parts.map((p) => p.blob_id);
}

export async function uploadIdsOfBucket(db: Queryable, bucket: string): Promise<string[]> {
  return (await db.selectFrom('artifact_uploads').select('upload_id').where('bucket', '=', bucket).execute()).map((r) => r.upload_id);
}
