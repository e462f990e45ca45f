/** Multipart uploads as the S3 API sees them: in its shapes, with its errors (SQL: store/artifacts/uploadIndex.ts). */
import { noSuchUpload } from '../errors.ts';
import type { MultipartUpload, UploadedPart } from '../artifactStore.ts';
import type { Queryable } from '../../store/artifacts/artifactIndex.ts';
import type { ArtifactPartsTable, ArtifactUploadsTable } from '../../store/artifacts/artifactTables.ts';
import { uploadRow } from '../../store/artifacts/uploadIndex.ts';

/** The upload, when it exists and was started by `accountId` for this bucket and key; NoSuchUpload otherwise. */
export async function findUpload(db: Queryable, accountId: string, bucket: string, key: string, uploadId: string): Promise<ArtifactUploadsTable> {
  const row = await uploadRow(db, uploadId);
  if (!row || row.account_id !== accountId || row.bucket !== bucket || row.key !== key) throw noSuchUpload(uploadId);
  return row;
}

export function toUpload(row: ArtifactUploadsTable): MultipartUpload {
  return { uploadId: row.upload_id, bucket: row.bucket, key: row.key, initiated: Number(row.created_at) };
}

export function toUploadedPart(row: ArtifactPartsTable): UploadedPart {
  return { partNumber: row.part_number, etag: row.etag, size: Number(row.size), lastModified: Number(row.last_modified) };
}
