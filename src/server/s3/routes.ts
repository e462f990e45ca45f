/**
 * Which S3 operation a request is: by method, by whether it names a bucket and a key, and by its subresource query
 * parameters (`?uploads`, `?uploadId`, `?location`, …). Each operation lists the parameters it understands; a
 * request with any other parameter asks for a feature Ferry does not have and is answered NotImplemented, never
 * served as if the parameter were absent (GET /b?versioning must not list the bucket).
 */
import { S3Error, notImplemented } from './s3Errors.ts';
import * as bucket from './bucketHandlers.ts';
import * as list from './listHandlers.ts';
import * as object from './objectHandlers.ts';
import * as multipart from './multipartHandlers.ts';
import type { S3Call, S3Response } from './s3Request.ts';

type Level = 'service' | 'bucket' | 'object';

export interface S3Route {
  name: string;
  method: string;
  level: Level;
  /** Parameters that select this operation (all must be present). */
  selectors: readonly string[];
  /** Further parameters it accepts. */
  parameters: readonly string[];
  /** Whether the operation reads a request body. */
  takesBody: boolean;
  handle(call: S3Call): Promise<S3Response>;
}

/** Signature parameters of presigned URLs, and botocore's operation hint; never a subresource. */
const ALWAYS_ACCEPTED = new Set(['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-SignedHeaders', 'X-Amz-Signature', 'x-id']);

const route = (
  name: string,
  method: string,
  level: Level,
  handle: S3Route['handle'],
  options: { selectors?: string[]; parameters?: string[]; takesBody?: boolean } = {},
): S3Route => ({ name, method, level, handle, selectors: options.selectors ?? [], parameters: options.parameters ?? [], takesBody: options.takesBody ?? false });

const LIST_V2 = ['list-type', 'prefix', 'delimiter', 'max-keys', 'continuation-token', 'start-after', 'encoding-type', 'fetch-owner'];
const RESPONSE_OVERRIDES = ['response-content-type', 'response-content-language', 'response-expires', 'response-cache-control', 'response-content-disposition', 'response-content-encoding'];

/** More specific routes (with selectors) come before the plain one of the same method and level. */
export const S3_ROUTES: readonly S3Route[] = [
  route('ListBuckets', 'GET', 'service', bucket.listBuckets),
  route('GetBucketLocation', 'GET', 'bucket', bucket.getBucketLocation, { selectors: ['location'] }),
  route('ListObjectsV2', 'GET', 'bucket', list.listObjectsV2, { selectors: ['list-type'], parameters: LIST_V2 }),
  route('ListObjects', 'GET', 'bucket', list.listObjects, { parameters: ['prefix', 'delimiter', 'marker', 'max-keys', 'encoding-type'] }),
  route('CreateBucket', 'PUT', 'bucket', bucket.createBucket, { takesBody: true }),
  route('HeadBucket', 'HEAD', 'bucket', bucket.headBucket),
  route('DeleteBucket', 'DELETE', 'bucket', bucket.deleteBucket),
  route('DeleteObjects', 'POST', 'bucket', object.deleteObjects, { selectors: ['delete'], takesBody: true }),
  route('ListParts', 'GET', 'object', multipart.listParts, { selectors: ['uploadId'], parameters: ['max-parts', 'part-number-marker'] }),
  route('GetObject', 'GET', 'object', object.getObject, { parameters: RESPONSE_OVERRIDES }),
  route('HeadObject', 'HEAD', 'object', object.headObject),
  route('UploadPart', 'PUT', 'object', multipart.uploadPart, { selectors: ['uploadId', 'partNumber'], takesBody: true }),
  route('PutObject', 'PUT', 'object', object.putObject, { takesBody: true }),
  route('AbortMultipartUpload', 'DELETE', 'object', multipart.abortMultipartUpload, { selectors: ['uploadId'] }),
  route('DeleteObject', 'DELETE', 'object', object.deleteObject),
  route('CreateMultipartUpload', 'POST', 'object', multipart.createMultipartUpload, { selectors: ['uploads'] }),
  route('CompleteMultipartUpload', 'POST', 'object', multipart.completeMultipartUpload, { selectors: ['uploadId'], takesBody: true }),
];

/** The operation for a request, or the S3 error that says why there is none. */
export function selectRoute(method: string, target: { bucket: string; key: string }, query: ReadonlyMap<string, string>): S3Route {
  const level: Level = target.bucket === '' ? 'service' : target.key === '' ? 'bucket' : 'object';
  const candidates = S3_ROUTES.filter((r) => r.level === level && r.method === method);
  if (candidates.length === 0) {
    throw new S3Error('MethodNotAllowed', `The specified method ${method} is not allowed against this resource.`, { Method: method, ResourceType: level.toUpperCase() });
  }
  const chosen = candidates.find((r) => r.selectors.every((s) => query.has(s)));
  if (!chosen) throw new S3Error('MethodNotAllowed', `The specified method ${method} is not allowed against this resource.`, { Method: method, ResourceType: level.toUpperCase() });
  for (const name of query.keys()) {
    if (!ALWAYS_ACCEPTED.has(name) && !chosen.selectors.includes(name) && !chosen.parameters.includes(name)) {
      throw notImplemented(`the ?${name} query parameter on ${method} requests to ${level === 'service' ? 'the service' : `a ${level}`}`);
    }
  }
  return chosen;
}
