/** Listing a bucket: ListObjectsV2 (what `aws s3 ls` uses) and the original ListObjects. */
import { ArtifactError } from '../../artifacts/errors.ts';
import { compareKeys } from '../../artifacts/keyOrder.ts';
import type { ArtifactObject, ListOptions, ObjectListing } from '../../artifacts/artifactStore.ts';
import { iso } from './bucketHandlers.ts';
import { integerParameter, type S3Call, type S3Response } from './s3Request.ts';
import { xmlDocument, type XmlNode } from './xml.ts';

/** Continuation tokens are at most this long (a 1,024-byte key, wrapped). */
const MAX_TOKEN_LENGTH = 4096;

/**
 * `encoding-type=url`: keys percent-encoded (everything but unreserved characters and `/`), so that any key —
 * control characters included — survives XML. Clients decode with unquote_plus, so no literal `+` is sent.
 */
function encoder(call: S3Call): (text: string) => string {
  const type = call.query.get('encoding-type');
  if (type === undefined) return (text) => text;
  if (type !== 'url') throw new ArtifactError('InvalidArgument', 'Invalid Encoding Method specified in Request', { ArgumentName: 'encoding-type', ArgumentValue: type });
  return (text) => encodeURIComponent(text).replace(/[!'()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`).replace(/%2F/g, '/');
}

function listOptions(call: S3Call, maxKeys: number): ListOptions {
  const options: ListOptions = { maxKeys };
  const prefix = call.query.get('prefix');
  const delimiter = call.query.get('delimiter');
  if (prefix) options.prefix = prefix;
  if (delimiter) options.delimiter = delimiter;
  return options;
}

function contents(objects: readonly ArtifactObject[], encode: (text: string) => string, owner?: string): XmlNode[] {
  return objects.map((o) => [
    'Contents',
    [
      ['Key', encode(o.key)],
      ['LastModified', iso(o.lastModified)],
      ['ETag', o.etag],
      ['Size', o.size],
      ...(owner ? ([['Owner', [['ID', owner], ['DisplayName', owner]]]] as XmlNode[]) : []),
      ['StorageClass', 'STANDARD'],
    ],
  ]);
}

const commonPrefixNodes = (listing: ObjectListing, encode: (text: string) => string): XmlNode[] =>
  listing.commonPrefixes.map((p) => ['CommonPrefixes', [['Prefix', encode(p)]]]);

export async function listObjectsV2(call: S3Call): Promise<S3Response> {
  if (call.query.get('list-type') !== '2') throw new ArtifactError('InvalidArgument', 'list-type must be 2.', { ArgumentName: 'list-type' });
  const encode = encoder(call);
  const maxKeys = integerParameter(call, 'max-keys', call.limits.maxListKeys, 0, call.limits.maxListKeys);
  const options = listOptions(call, maxKeys);
  const token = call.query.get('continuation-token');
  const startAfter = call.query.get('start-after');
  if (token !== undefined) options.marker = decodeToken(token);
  else if (startAfter) options.startAfter = startAfter;
  const listing = await call.store.listPage(call.caller.accountId, call.bucket, options);
  const owner = call.query.get('fetch-owner') === 'true' ? call.caller.accountId : undefined;
  return {
    status: 200,
    body: xmlDocument('ListBucketResult', [
      ['Name', call.bucket],
      ['Prefix', encode(options.prefix ?? '')],
      ['Delimiter', options.delimiter === undefined ? undefined : encode(options.delimiter)],
      ['MaxKeys', maxKeys],
      ['EncodingType', call.query.get('encoding-type')],
      ['KeyCount', listing.objects.length + listing.commonPrefixes.length],
      ['IsTruncated', listing.truncated],
      ['ContinuationToken', token],
      ['NextContinuationToken', listing.nextMarker === undefined ? undefined : Buffer.from(listing.nextMarker, 'utf8').toString('base64url')],
      ['StartAfter', startAfter === undefined ? undefined : encode(startAfter)],
      ...contents(listing.objects, encode, owner),
      ...commonPrefixNodes(listing, encode),
    ]),
  };
}

export async function listObjects(call: S3Call): Promise<S3Response> {
  const encode = encoder(call);
  const maxKeys = integerParameter(call, 'max-keys', call.limits.maxListKeys, 0, call.limits.maxListKeys);
  const options = listOptions(call, maxKeys);
  const marker = call.query.get('marker');
  if (marker) options.startAfter = marker;
  const listing = await call.store.listPage(call.caller.accountId, call.bucket, options);
  // S3 sends NextMarker only with a delimiter; without one, clients resume after the last key listed.
  let nextMarker: string | undefined;
  if (listing.truncated && options.delimiter !== undefined) {
    const lastKey = listing.objects.at(-1)?.key;
    const lastPrefix = listing.commonPrefixes.at(-1);
    nextMarker = lastKey === undefined ? lastPrefix : lastPrefix === undefined ? lastKey : compareKeys(lastKey, lastPrefix) > 0 ? lastKey : lastPrefix;
  }
  return {
    status: 200,
    body: xmlDocument('ListBucketResult', [
      ['Name', call.bucket],
      ['Prefix', encode(options.prefix ?? '')],
      ['Marker', encode(marker ?? '')],
      ['MaxKeys', maxKeys],
      ['Delimiter', options.delimiter === undefined ? undefined : encode(options.delimiter)],
      ['EncodingType', call.query.get('encoding-type')],
      ['IsTruncated', listing.truncated],
      ['NextMarker', nextMarker === undefined ? undefined : encode(nextMarker)],
      ...contents(listing.objects, encode, call.caller.accountId),
      ...commonPrefixNodes(listing, encode),
    ]),
  };
}

function decodeToken(token: string): string {
  const invalid = () => new ArtifactError('InvalidArgument', 'The continuation token provided is incorrect.', { ArgumentName: 'continuation-token' });
  if (token.length === 0 || token.length > MAX_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token)) throw invalid();
  const marker = Buffer.from(token, 'base64url').toString('utf8');
  if (!marker.isWellFormed() || Buffer.from(marker, 'utf8').toString('base64url') !== token) throw invalid();
  return marker;
}
