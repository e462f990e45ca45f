/** Object operations: PutObject (and CopyObject), GetObject, HeadObject, DeleteObject, DeleteObjects. */
import type { IncomingHttpHeaders } from 'node:http';
import type { RangeRequest, StoredObject } from '../../artifacts/artifactStore.ts';
import { ArtifactError } from '../../artifacts/errors.ts';
import { iso } from './bucketHandlers.ts';
import { S3Error, notImplemented } from './s3Errors.ts';
import {
  bodyExpectations,
  headerValue,
  malformedXml,
  readXmlBody,
  refuseUnsupportedWriteHeaders,
  userMetadata,
  type S3Call,
  type S3Response,
} from './s3Request.ts';
import { childrenNamed, childText, xmlDocument, type XmlNode } from './xml.ts';

/** What S3 reports for an object stored without a Content-Type. */
const DEFAULT_CONTENT_TYPE = 'binary/octet-stream';
/** DeleteObjects takes at most this many keys (as S3). */
const MAX_DELETE_KEYS = 1000;
/** GetObject's `response-*` query parameters and the header each overrides. */
const RESPONSE_OVERRIDES: Record<string, string> = {
  'response-content-type': 'content-type',
  'response-content-language': 'content-language',
  'response-expires': 'expires',
  'response-cache-control': 'cache-control',
  'response-content-disposition': 'content-disposition',
  'response-content-encoding': 'content-encoding',
};

export async function putObject(call: S3Call): Promise<S3Response> {
  refuseUnsupportedWriteHeaders(call.headers);
  if (call.headers['x-amz-copy-source'] !== undefined) return copyObject(call);
  const contentType = headerValue(call.headers, 'content-type');
  const stored = await call.store.writeObject(call.caller.accountId, call.bucket, call.key, call.body, {
    ...bodyExpectations(call),
    ...(contentType !== undefined ? { contentType } : {}),
    metadata: userMetadata(call.headers),
    ifNoneMatch: call.headers['if-none-match'] !== undefined,
  });
  return { status: 200, headers: { etag: stored.etag } };
}

/** CopyObject: a PutObject whose body is another object of the same account (read and written as a stream). */
async function copyObject(call: S3Call): Promise<S3Response> {
  for (const name of Object.keys(call.headers)) {
    if (name.startsWith('x-amz-copy-source-')) throw notImplemented(`the ${name} header`);
  }
  const source = parseCopySource(headerValue(call.headers, 'x-amz-copy-source')!);
  const directive = headerValue(call.headers, 'x-amz-metadata-directive') ?? 'COPY';
  if (directive !== 'COPY' && directive !== 'REPLACE') {
    throw new ArtifactError('InvalidArgument', 'Unknown metadata directive.', { ArgumentName: 'x-amz-metadata-directive', ArgumentValue: directive });
  }
  if (directive === 'COPY' && source.bucket === call.bucket && source.key === call.key) {
    throw new S3Error(
      'InvalidRequest',
      "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
    );
  }
  const { object, body } = await call.store.openObject(call.caller.accountId, source.bucket, source.key);
  const contentType = directive === 'REPLACE' ? headerValue(call.headers, 'content-type') : object.contentType;
  let stored: StoredObject;
  try {
    stored = await call.store.writeObject(call.caller.accountId, call.bucket, call.key, body, {
      size: object.size,
      ...(contentType !== undefined ? { contentType } : {}),
      metadata: directive === 'REPLACE' ? userMetadata(call.headers) : object.metadata,
    });
  } finally {
    // A write refused before reading leaves the source unread: close it, so its blobs are not held.
    body.destroy();
  }
  return { status: 200, body: xmlDocument('CopyObjectResult', [['LastModified', iso(stored.lastModified)], ['ETag', stored.etag]]) };
}

function parseCopySource(header: string): { bucket: string; key: string } {
  const [path, query] = header.split('?', 2) as [string, string | undefined];
  if (query !== undefined && !/^versionId=null$/.test(query)) throw notImplemented('object versions (x-amz-copy-source with a versionId)');
  let decoded: string;
  try {
    decoded = decodeURIComponent(path.replace(/^\//, ''));
  } catch {
    throw new ArtifactError('InvalidArgument', 'Invalid copy source encoding.', { ArgumentName: 'x-amz-copy-source' });
  }
  const slash = decoded.indexOf('/');
  if (slash <= 0 || slash === decoded.length - 1) {
    throw new ArtifactError('InvalidArgument', 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey.', { ArgumentName: 'x-amz-copy-source' });
  }
  return { bucket: decoded.slice(0, slash), key: decoded.slice(slash + 1) };
}

export async function getObject(call: S3Call): Promise<S3Response> {
  const overrides = responseOverrides(call);
  const range = parseRange(headerValue(call.headers, 'range'));
  const { object, body, range: served } = await call.store.openObject(call.caller.accountId, call.bucket, call.key, {
    ...(range ? { range } : {}),
    precondition: (found) => checkPreconditions(call.headers, found),
  });
  const headers = { ...objectHeaders(object), ...overrides };
  if (!served) return { status: 200, headers, body };
  headers['content-length'] = String(served.end - served.start + 1);
  headers['content-range'] = `bytes ${served.start}-${served.end}/${object.size}`;
  return { status: 206, headers, body };
}

export async function headObject(call: S3Call): Promise<S3Response> {
  const object = await call.store.describeObject(call.caller.accountId, call.bucket, call.key);
  checkPreconditions(call.headers, object);
  return { status: 200, headers: objectHeaders(object) };
}

export async function deleteObject(call: S3Call): Promise<S3Response> {
  await call.store.removeObject(call.caller.accountId, call.bucket, call.key);
  return { status: 204 };
}

export async function deleteObjects(call: S3Call): Promise<S3Response> {
  if (call.headers['content-md5'] === undefined) throw new S3Error('InvalidRequest', 'Missing required header for this request: Content-MD5.');
  const request = await readXmlBody(call);
  if (!request || request.name !== 'Delete') throw malformedXml('expected <Delete>.');
  const objects = childrenNamed(request, 'Object');
  if (objects.length === 0 || objects.length > MAX_DELETE_KEYS) throw malformedXml(`<Delete> names 1 to ${MAX_DELETE_KEYS} objects.`);
  const quiet = childText(request, 'Quiet') === 'true';
  const keys = objects.map((entry) => {
    const key = childText(entry, 'Key');
    if (key === undefined) throw malformedXml('every <Object> has a <Key>.');
    if (childText(entry, 'VersionId') !== undefined) throw notImplemented('object versions (a VersionId in DeleteObjects)');
    return key;
  });
  const results: XmlNode[] = [];
  for (const { key, error } of await call.store.removeObjects(call.caller.accountId, call.bucket, keys)) {
    if (error) results.push(['Error', [['Key', key], ['Code', error.code], ['Message', error.message]]]);
    else if (!quiet) results.push(['Deleted', [['Key', key]]]);
  }
  return { status: 200, body: xmlDocument('DeleteResult', results) };
}

function objectHeaders(object: StoredObject): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': object.contentType ?? DEFAULT_CONTENT_TYPE,
    'content-length': String(object.size),
    etag: object.etag,
    'last-modified': new Date(object.lastModified).toUTCString(),
    'accept-ranges': 'bytes',
  };
  if (object.partCount !== undefined) headers['x-amz-mp-parts-count'] = String(object.partCount);
  for (const [name, value] of Object.entries(object.metadata)) headers[`x-amz-meta-${name}`] = value;
  return headers;
}

function responseOverrides(call: S3Call): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [parameter, header] of Object.entries(RESPONSE_OVERRIDES)) {
    const value = call.query.get(parameter);
    if (value === undefined) continue;
    // Node refuses to send other characters in a header; say so instead of failing the response.
    if (!/^[\t\x20-\x7e]*$/.test(value)) throw new ArtifactError('InvalidArgument', `${parameter} must be printable ASCII.`, { ArgumentName: parameter });
    headers[header] = value;
  }
  return headers;
}

/**
 * A single `bytes=` range (RFC 9110 §14.1.2). Anything else — another unit, several ranges, a malformed one — is
 * ignored and the whole object is sent, as HTTP allows and S3 does.
 */
export function parseRange(header: string | undefined): RangeRequest | undefined {
  const m = header === undefined ? null : /^bytes=(\d{0,16})-(\d{0,16})$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') return { suffix: Number(m[2]) };
  const start = Number(m[1]);
  if (m[2] === '') return { start };
  const end = Number(m[2]);
  return end < start ? undefined : { start, end };
}

const bareEtag = (etag: string): string => etag.trim().replace(/^W\//, '').replace(/^"|"$/g, '');

function etagMatches(list: string, etag: string): boolean {
  return list.split(',').some((candidate) => candidate.trim() === '*' || bareEtag(candidate) === bareEtag(etag));
}

/** The HTTP date as whole seconds, or undefined when it does not parse (the header is then ignored, as HTTP says). */
function httpSeconds(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000);
}

/** GET/HEAD preconditions in RFC 9110 §13.2.2's order: PreconditionFailed (412) or NotModified (304). */
export function checkPreconditions(headers: IncomingHttpHeaders, object: StoredObject): void {
  const modified = Math.floor(object.lastModified / 1000);
  const ifMatch = headerValue(headers, 'if-match');
  const ifUnmodifiedSince = httpSeconds(headerValue(headers, 'if-unmodified-since'));
  const failed = (condition: string) =>
    new ArtifactError('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold.', { Condition: condition });
  if (ifMatch !== undefined) {
    if (!etagMatches(ifMatch, object.etag)) throw failed('If-Match');
  } else if (ifUnmodifiedSince !== undefined && modified > ifUnmodifiedSince) {
    throw failed('If-Unmodified-Since');
  }
  const ifNoneMatch = headerValue(headers, 'if-none-match');
  const ifModifiedSince = httpSeconds(headerValue(headers, 'if-modified-since'));
  const notModified = () => new S3Error('NotModified', 'Not Modified');
  if (ifNoneMatch !== undefined) {
    if (etagMatches(ifNoneMatch, object.etag)) throw notModified();
  } else if (ifModifiedSince !== undefined && modified <= ifModifiedSince) {
    throw notModified();
  }
}
