/**
 * Errors of the artifact store, named with S3's error codes so the REST endpoint passes them through unchanged and
 * the App operations can map them to SMS exceptions. Their HTTP statuses live at the edge (src/server/s3/s3Errors.ts).
 */
import { CodedError } from '../lib/errors.ts';

export const ARTIFACT_ERROR_CODES = [
  'AccessDenied',
  'BadDigest',
  'BucketAlreadyExists',
  'BucketAlreadyOwnedByYou',
  'BucketNotEmpty',
  'EntityTooLarge',
  'EntityTooSmall',
  'IncompleteBody',
  'InvalidArgument',
  'InvalidBucketName',
  'InvalidPart',
  'InvalidPartOrder',
  'InvalidRange',
  'KeyTooLongError',
  'MetadataTooLarge',
  'NoSuchBucket',
  'NoSuchKey',
  'NoSuchUpload',
  'PreconditionFailed',
  'TooManyBuckets',
  'TooManyUploads',
  'XAmzContentSHA256Mismatch',
] as const;

export type ArtifactErrorCode = (typeof ARTIFACT_ERROR_CODES)[number];

/** An S3-shaped error: its code plus what it is about, for S3's error document (`<BucketName>`, `<Key>`, `<UploadId>`, …). */
export class S3CodedError<Code extends string> extends CodedError<Code> {
  readonly details: Readonly<Record<string, string>>;
  constructor(code: Code, message: string, details: Record<string, string> = {}) {
    super(code, message);
    this.details = details;
  }
}

export class ArtifactError extends S3CodedError<ArtifactErrorCode> {}

export const noSuchBucket = (bucket: string): ArtifactError =>
  new ArtifactError('NoSuchBucket', 'The specified bucket does not exist.', { BucketName: bucket });

export const noSuchKey = (bucket: string, key: string): ArtifactError =>
  new ArtifactError('NoSuchKey', 'The specified key does not exist.', { BucketName: bucket, Key: key });

export const noSuchUpload = (uploadId: string): ArtifactError =>
  new ArtifactError(
    'NoSuchUpload',
    'The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
    { UploadId: uploadId },
  );

/** Another account's bucket: S3 says AccessDenied (bucket names are global, so existence is not a secret). */
export const accessDenied = (bucket: string): ArtifactError =>
  new ArtifactError('AccessDenied', `Access Denied: bucket ${bucket} belongs to another account.`, { BucketName: bucket });
