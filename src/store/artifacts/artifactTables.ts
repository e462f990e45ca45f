/**
 * Row shapes of the artifact tables (migration 010), as Kysely sees them; only store/artifacts/ names them in SQL.
 * Times are epoch milliseconds.
 */
import type { Kysely } from 'kysely';

export interface ArtifactBucketsTable {
  name: string;
  account_id: string;
  region: string;
  created_at: number;
}

export interface ArtifactObjectsTable {
  bucket: string;
  key: string;
  size: number;
  /** Quoted, as sent to clients. */
  etag: string;
  content_type: string | null;
  /** JSON object of user metadata. */
  metadata: string;
  /** The one blob of an object written by a plain PUT. */
  blob_id: string | null;
  /** For an object assembled from a multipart upload: JSON array of [blobId, bytes], in part order. */
  segments: string | null;
  part_count: number | null;
  last_modified: number;
}

export interface ArtifactUploadsTable {
  upload_id: string;
  account_id: string;
  bucket: string;
  key: string;
  content_type: string | null;
  metadata: string;
  created_at: number;
}

export interface ArtifactPartsTable {
  upload_id: string;
  part_number: number;
  blob_id: string;
  size: number;
  etag: string;
  last_modified: number;
}

export interface ArtifactGarbageTable {
  blob_id: string;
  queued_at: number;
}

export interface ArtifactTables {
  artifact_buckets: ArtifactBucketsTable;
  artifact_objects: ArtifactObjectsTable;
  artifact_uploads: ArtifactUploadsTable;
  artifact_parts: ArtifactPartsTable;
  artifact_garbage: ArtifactGarbageTable;
}

export type ArtifactDb = Kysely<ArtifactTables>;

/** One stored piece of an object: a blob file and its length. */
export type Segment = [blobId: string, bytes: number];
