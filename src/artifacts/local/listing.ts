/**
 * One page of a bucket listing over the index: keys in byte order under a prefix, rolled up into common prefixes
 * at the delimiter, resumable from an opaque marker. Each common prefix costs one query that jumps past every key
 * under it, so a page costs at most about maxKeys small indexed queries, whatever the bucket holds.
 */
import { ArtifactError } from '../errors.ts';
import { prefixSuccessor } from '../keyOrder.ts';
import type { ArtifactObject, ListOptions, ObjectListing } from '../artifactStore.ts';
import { keysFrom, type ListedRow, type Queryable } from '../../store/artifacts/artifactIndex.ts';

/** A resume position: keys after `key`, or from `key` on when `inclusive`. */
interface Position {
  key: string;
  inclusive: boolean;
}

/** Markers are `e<key>` (after key) or `i<key>` (from key on). The REST edge wraps them in its own token encoding. */
function encodeMarker(position: Position): string {
  return (position.inclusive ? 'i' : 'e') + position.key;
}

function decodeMarker(marker: string): Position {
  const kind = marker[0];
  if (kind !== 'i' && kind !== 'e') throw new ArtifactError('InvalidArgument', 'The continuation token provided is incorrect.', { ArgumentName: 'continuation-token' });
  return { key: marker.slice(1), inclusive: kind === 'i' };
}

/** The common prefix `key` rolls up into, if any. */
function commonPrefixOf(key: string, prefix: string, delimiter: string | undefined): string | undefined {
  if (!delimiter) return undefined;
  const at = key.indexOf(delimiter, prefix.length);
  return at < 0 ? undefined : key.slice(0, at + delimiter.length);
}

/** Keys after a common prefix, or nothing: no key sorts after every string that starts with a prefix of U+10FFFF. */
function afterPrefix(commonPrefix: string): Position | 'end' {
  const next = prefixSuccessor(commonPrefix);
  return next === undefined ? 'end' : { key: next, inclusive: true };
}

/**
 * Where a listing starts. A start-after that is itself a common prefix under the same delimiter (ListObjects v1's
 * NextMarker) resumes after everything it rolled up, so a group is never reported twice.
 */
function startPosition(options: ListOptions, prefix: string): Position | 'end' | undefined {
  if (options.marker !== undefined) return decodeMarker(options.marker);
  if (options.startAfter === undefined || options.startAfter === '') return undefined;
  const group = commonPrefixOf(options.startAfter, prefix, options.delimiter);
  if (group !== undefined && group === options.startAfter) return afterPrefix(group);
  return { key: options.startAfter, inclusive: false };
}

export async function listPage(db: Queryable, bucket: string, options: ListOptions, maxKeys: number): Promise<ObjectListing> {
  const prefix = options.prefix ?? '';
  const delimiter = options.delimiter === '' ? undefined : options.delimiter;
  const range = { low: prefix, high: prefix === '' ? undefined : prefixSuccessor(prefix) };
  const objects: ArtifactObject[] = [];
  const commonPrefixes: string[] = [];
  let position = startPosition(options, prefix);
  const count = () => objects.length + commonPrefixes.length;

  fill: while (position !== 'end' && count() < maxKeys) {
    const rows: ListedRow[] = await keysFrom(db, bucket, position, range, maxKeys - count() + 1);
    if (rows.length === 0) {
      position = 'end';
      break;
    }
    for (const row of rows) {
      if (count() === maxKeys) break fill;
      const group = commonPrefixOf(row.key, prefix, delimiter);
      if (group !== undefined) {
        commonPrefixes.push(group);
        position = afterPrefix(group);
        continue fill;
      }
      objects.push(toListed(bucket, row));
      position = { key: row.key, inclusive: false };
    }
  }
  const truncated = position !== 'end' && position !== undefined && count() > 0 && (await keysFrom(db, bucket, position, range, 1)).length > 0;
  const listing: ObjectListing = { objects, commonPrefixes, truncated };
  if (truncated) listing.nextMarker = encodeMarker(position as Position);
  return listing;
}

function toListed(bucket: string, row: ListedRow): ArtifactObject {
  const object: ArtifactObject = { bucket, key: row.key, size: Number(row.size), etag: row.etag, lastModified: Number(row.last_modified) };
  if (row.content_type !== null) object.contentType = row.content_type;
  return object;
}
