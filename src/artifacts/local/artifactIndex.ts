/** The artifact index as the S3 API sees it: buckets and objects in its shapes, with its errors (SQL: store/artifacts/). */
import { accessDenied, noSuchBucket } from '../errors.ts';
import type { ArtifactBucket, StoredObject } from '../artifactStore.ts';
import { bucketRow, bucketRowsOf, type Queryable } from '../../store/artifacts/artifactIndex.ts';
import type { ArtifactObjectsTable } from '../../store/artifacts/artifactTables.ts';

export async function findBucket(db: Queryable, name: string): Promise<(ArtifactBucket & { accountId: string }) | undefined> {
  const row = await bucketRow(db, name);
  return row && { name: row.name, region: row.region, createdAt: Number(row.created_at), accountId: row.account_id };
}

/** The bucket, when `accountId` owns it; NoSuchBucket or AccessDenied otherwise. */
export async function ownedBucket(db: Queryable, accountId: string, name: string): Promise<ArtifactBucket> {
  const bucket = await findBucket(db, name);
  if (!bucket) throw noSuchBucket(name);
  if (bucket.accountId !== accountId) throw accessDenied(name);
  return { name: bucket.name, region: bucket.region, createdAt: bucket.createdAt };
}

export async function listBucketRows(db: Queryable, accountId: string): Promise<ArtifactBucket[]> {
  const rows = await bucketRowsOf(db, accountId);
  return rows.map((r) => ({ name: r.name, region: r.region, createdAt: Number(r.created_at) }));
}

export function toStoredObject(row: ArtifactObjectsTable): StoredObject {
  const object: StoredObject = {
    bucket: row.bucket,
    key: row.key,
    size: Number(row.size),
    etag: row.etag,
    lastModified: Number(row.last_modified),
    metadata: JSON.parse(row.metadata) as Record<string, string>,
  };
  if (row.content_type !== null) object.contentType = row.content_type;
  if (row.part_count !== null) object.partCount = row.part_count;
  return object;
}
