/**
 * What an S3 request says, read from the wire: the bucket and key of a path-style URL, the body's declared length
 * and digests, user metadata, and the small XML bodies some operations take (read whole, with a bound).
 */
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { ArtifactStore, BodyExpectations } from '../../artifacts/artifactStore.ts';
import { ArtifactError } from '../../artifacts/errors.ts';
import type { ArtifactLimits } from '../../artifacts/limits.ts';
import { UNSIGNED_PAYLOAD, type S3Caller } from './authenticate.ts';
import { S3Error, notImplemented } from './s3Errors.ts';
import { parseXml, XmlSyntaxError, type XmlElement } from './xml.ts';

/** XML request bodies (CompleteMultipartUpload of 10,000 parts is about 0.8 MB; Delete of 1,000 keys less). */
export const MAX_XML_BODY_BYTES = 2 * 1024 * 1024;

/** One authenticated S3 request, as the operation handlers see it. */
export interface S3Call {
  store: ArtifactStore;
  limits: ArtifactLimits;
  caller: S3Caller;
  method: string;
  /** '' for service-level requests (ListBuckets). */
  bucket: string;
  /** '' for bucket-level requests. */
  key: string;
  query: Map<string, string>;
  headers: IncomingHttpHeaders;
  /** The request body, read at most once. */
  body: AsyncIterable<Uint8Array>;
  /** The Host the client addressed, for Location values. */
  host: string;
  requestId: string;
}

export interface S3Response {
  status: number;
  headers?: Record<string, string>;
  body?: Buffer | Readable;
}

/** Bucket and key of a path-style URL (`/bucket/key…`); the key is everything after the bucket's slash, decoded. */
export function parseTarget(url: string): { bucket: string; key: string } {
  const path = url.split('?', 1)[0]!;
  if (!path.startsWith('/')) throw new S3Error('InvalidURI', "Couldn't parse the specified URI: the path must start with /.");
  const slash = path.indexOf('/', 1);
  const bucket = decodePath(slash < 0 ? path.slice(1) : path.slice(1, slash));
  const key = slash < 0 ? '' : decodePath(path.slice(slash + 1));
  return { bucket, key };
}

function decodePath(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new S3Error('InvalidURI', "Couldn't parse the specified URI: the path is not valid percent-encoded UTF-8.");
  }
}

export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/** The body's exact length: S3 wants Content-Length on every upload (no chunked transfer encoding). */
export function contentLength(headers: IncomingHttpHeaders): number {
  const text = headers['content-length'];
  if (text === undefined) {
    if (headers['transfer-encoding'] !== undefined) throw new S3Error('MissingContentLength', 'You must provide the Content-Length HTTP header (chunked transfer encoding is not accepted).');
    return 0;
  }
  const length = Number(text);
  if (!/^\d{1,16}$/.test(text) || !Number.isSafeInteger(length)) throw new S3Error('InvalidArgument', 'Content-Length must be a whole number of bytes.');
  return length;
}

/** The decoded Content-MD5, when sent; InvalidDigest when it is not 16 bytes of base64. */
export function contentMd5(headers: IncomingHttpHeaders): Buffer | undefined {
  const text = headerValue(headers, 'content-md5');
  if (text === undefined) return undefined;
  const digest = Buffer.from(text, 'base64');
  if (digest.length !== 16 || digest.toString('base64') !== text.trim()) {
    throw new S3Error('InvalidDigest', 'The Content-MD5 you specified is not valid (16 bytes, base64).');
  }
  return digest;
}

/** What the client declared about the body it is sending, for the store to check as the bytes arrive. */
export function bodyExpectations(call: S3Call): BodyExpectations {
  if (headerValue(call.headers, 'content-encoding')?.split(',').some((e) => e.trim() === 'aws-chunked')) {
    throw notImplemented('aws-chunked content encoding (checksums in trailers); send the body as it is, with Content-Length');
  }
  const checksums = Object.keys(call.headers).filter((name) => name.startsWith('x-amz-checksum-') || name === 'x-amz-trailer');
  if (checksums.length > 0) throw notImplemented(`additional checksums (${checksums.join(', ')}); use Content-MD5`);
  const expect: BodyExpectations = { size: contentLength(call.headers) };
  if (call.caller.payloadHash !== UNSIGNED_PAYLOAD) expect.sha256 = call.caller.payloadHash;
  const md5 = contentMd5(call.headers);
  if (md5) expect.md5 = md5;
  return expect;
}

/** `x-amz-meta-*` headers, by name without the prefix. */
export function userMetadata(headers: IncomingHttpHeaders): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith('x-amz-meta-') && value !== undefined) metadata[name.slice('x-amz-meta-'.length)] = Array.isArray(value) ? value.join(',') : value;
  }
  return metadata;
}

/**
 * Headers asking for storage features Ferry does not have are refused, never ignored: the client would believe an
 * object is encrypted, locked or tagged when it is not. `private` ACLs and the STANDARD class are what every object
 * gets, so those are accepted.
 */
export function refuseUnsupportedWriteHeaders(headers: IncomingHttpHeaders): void {
  for (const name of Object.keys(headers)) {
    if (/^x-amz-(server-side-encryption|object-lock-|tagging|website-redirect-location|grant-)/.test(name)) throw notImplemented(`the ${name} header`);
  }
  const acl = headerValue(headers, 'x-amz-acl');
  if (acl !== undefined && acl !== 'private') throw notImplemented(`the canned ACL ${acl} (every object is private to its account)`);
  const storageClass = headerValue(headers, 'x-amz-storage-class');
  if (storageClass !== undefined && storageClass !== 'STANDARD') throw notImplemented(`the storage class ${storageClass} (only STANDARD)`);
  if (headers['if-match'] !== undefined) throw notImplemented('conditional writes with If-Match');
  const ifNoneMatch = headerValue(headers, 'if-none-match');
  if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== '*') throw notImplemented('If-None-Match on writes other than *');
}

/**
 * Reads a small XML body whole (bounded), checks it against the declared length and digests, and parses it;
 * undefined for an empty body.
 */
export async function readXmlBody(call: S3Call): Promise<XmlElement | undefined> {
  const expect = bodyExpectations(call);
  if ((expect.size ?? 0) > MAX_XML_BODY_BYTES) {
    throw new S3Error('MaxMessageLengthExceeded', `Your request was too big: XML bodies are limited to ${MAX_XML_BODY_BYTES} bytes.`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of call.body) {
    size += chunk.length;
    if (size > MAX_XML_BODY_BYTES) throw new S3Error('MaxMessageLengthExceeded', `Your request was too big: XML bodies are limited to ${MAX_XML_BODY_BYTES} bytes.`);
    chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }
  const body = Buffer.concat(chunks);
  if (expect.size !== undefined && body.length !== expect.size) throw new ArtifactError('IncompleteBody', 'You did not provide the number of bytes specified by the Content-Length header.');
  if (expect.sha256 !== undefined && createHash('sha256').update(body).digest('hex') !== expect.sha256) {
    throw new ArtifactError('XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.");
  }
  if (expect.md5 && !createHash('md5').update(body).digest().equals(expect.md5)) {
    throw new ArtifactError('BadDigest', 'The Content-MD5 you specified did not match what we received.');
  }
  if (body.length === 0) return undefined;
  try {
    return parseXml(body.toString('utf8'));
  } catch (thrown) {
    if (thrown instanceof XmlSyntaxError) {
      throw new S3Error('MalformedXML', `The XML you provided was not well-formed or did not validate against our published schema: ${thrown.message}`);
    }
    throw thrown;
  }
}

export const malformedXml = (why: string): S3Error =>
  new S3Error('MalformedXML', `The XML you provided was not well-formed or did not validate against our published schema: ${why}`);

/** A whole number from a query parameter, within bounds; InvalidArgument otherwise. */
export function integerParameter(call: S3Call, name: string, fallback: number, min: number, max: number): number {
  const text = call.query.get(name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^-?\d{1,10}$/.test(text) || value < min) {
    throw new ArtifactError('InvalidArgument', `Provided ${name} not an integer or within integer range.`, { ArgumentName: name, ArgumentValue: text });
  }
  return Math.min(value, max);
}
