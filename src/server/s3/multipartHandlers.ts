/** Multipart uploads: Create, UploadPart, Complete, Abort and ListParts (`aws s3 cp` uses them above 8 MB). */
import { ArtifactError } from '../../artifacts/errors.ts';
import { iso } from './bucketHandlers.ts';
import { notImplemented } from './s3Errors.ts';
import {
  bodyExpectations,
  headerValue,
  integerParameter,
  malformedXml,
  readXmlBody,
  refuseUnsupportedWriteHeaders,
  userMetadata,
  type S3Call,
  type S3Response,
} from './s3Request.ts';
import { childrenNamed, childText, xmlDocument } from './xml.ts';

/** Upload ids are opaque; anything longer than this cannot be one of ours. */
const MAX_UPLOAD_ID_LENGTH = 256;

function uploadId(call: S3Call): string {
  const id = call.query.get('uploadId') ?? '';
  if (id === '' || id.length > MAX_UPLOAD_ID_LENGTH) {
    throw new ArtifactError('NoSuchUpload', 'The specified multipart upload does not exist.', { UploadId: id.slice(0, MAX_UPLOAD_ID_LENGTH) });
  }
  return id;
}

export async function createMultipartUpload(call: S3Call): Promise<S3Response> {
  refuseUnsupportedWriteHeaders(call.headers);
  if (call.headers['if-none-match'] !== undefined) throw notImplemented('If-None-Match on multipart uploads');
  const contentType = headerValue(call.headers, 'content-type');
  const upload = await call.store.createMultipartUpload(call.caller.accountId, call.bucket, call.key, {
    ...(contentType !== undefined ? { contentType } : {}),
    metadata: userMetadata(call.headers),
  });
  return {
    status: 200,
    body: xmlDocument('InitiateMultipartUploadResult', [['Bucket', call.bucket], ['Key', call.key], ['UploadId', upload.uploadId]]),
  };
}

export async function uploadPart(call: S3Call): Promise<S3Response> {
  if (call.headers['x-amz-copy-source'] !== undefined) throw notImplemented('UploadPartCopy (x-amz-copy-source on a part)');
  const partText = call.query.get('partNumber') ?? '';
  const partNumber = /^\d{1,5}$/.test(partText) ? Number(partText) : NaN;
  const part = await call.store.uploadPart(call.caller.accountId, call.bucket, call.key, uploadId(call), partNumber, call.body, bodyExpectations(call));
  return { status: 200, headers: { etag: part.etag } };
}

export async function completeMultipartUpload(call: S3Call): Promise<S3Response> {
  const id = uploadId(call);
  const request = await readXmlBody(call);
  if (!request || request.name !== 'CompleteMultipartUpload') throw malformedXml('expected <CompleteMultipartUpload>.');
  const partNodes = childrenNamed(request, 'Part');
  if (partNodes.length > call.limits.maxParts) throw malformedXml(`at most ${call.limits.maxParts} parts.`);
  const parts = partNodes.map((node) => {
    const number = childText(node, 'PartNumber');
    const etag = childText(node, 'ETag');
    if (number === undefined || !/^\d{1,5}$/.test(number) || etag === undefined) throw malformedXml('every <Part> has a <PartNumber> and an <ETag>.');
    return { partNumber: Number(number), etag };
  });
  const stored = await call.store.completeMultipartUpload(call.caller.accountId, call.bucket, call.key, id, parts);
  const location = `http://${call.host}/${encodeURIComponent(call.bucket)}/${call.key.split('/').map(encodeURIComponent).join('/')}`;
  return {
    status: 200,
    body: xmlDocument('CompleteMultipartUploadResult', [['Location', location], ['Bucket', call.bucket], ['Key', call.key], ['ETag', stored.etag]]),
  };
}

export async function abortMultipartUpload(call: S3Call): Promise<S3Response> {
  await call.store.abortMultipartUpload(call.caller.accountId, call.bucket, call.key, uploadId(call));
  return { status: 204 };
}

export async function listParts(call: S3Call): Promise<S3Response> {
  const id = uploadId(call);
  const maxParts = integerParameter(call, 'max-parts', 1000, 0, 1000);
  const marker = integerParameter(call, 'part-number-marker', 0, 0, call.limits.maxParts);
  const all = (await call.store.listParts(call.caller.accountId, call.bucket, call.key, id)).filter((p) => p.partNumber > marker);
  const page = all.slice(0, maxParts);
  const truncated = all.length > page.length;
  const owner = call.caller.accountId;
  return {
    status: 200,
    body: xmlDocument('ListPartsResult', [
      ['Bucket', call.bucket],
      ['Key', call.key],
      ['UploadId', id],
      ['Initiator', [['ID', owner], ['DisplayName', owner]]],
      ['Owner', [['ID', owner], ['DisplayName', owner]]],
      ['StorageClass', 'STANDARD'],
      ['PartNumberMarker', marker],
      ['NextPartNumberMarker', truncated ? page.at(-1)!.partNumber : undefined],
      ['MaxParts', maxParts],
      ['IsTruncated', truncated],
      ...page.map((p) => ['Part', [['PartNumber', p.partNumber], ['LastModified', iso(p.lastModified)], ['ETag', p.etag], ['Size', p.size]]] as [string, [string, string | number][]]),
    ]),
  };
}
