/** S3's rules for bucket names, object keys and user metadata, checked before anything is stored. */
import { ArtifactError } from './errors.ts';
import type { ArtifactLimits } from './limits.ts';

const BUCKET_CHARS = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const IP_ADDRESS = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;
/** Prefixes and suffixes AWS reserves for its own bucket kinds (access points, directory buckets, table buckets…). */
const RESERVED_PREFIXES = ['xn--', 'sthree-', 'amzn-s3-demo-'];
const RESERVED_SUFFIXES = ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3'];

/** Why `name` is not a valid general-purpose bucket name, or undefined when it is. */
export function bucketNameProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 63) return 'Bucket names are 3 to 63 characters long.';
  if (!BUCKET_CHARS.test(name)) {
    return 'Bucket names contain only lower-case letters, digits, dots and hyphens, and begin and end with a letter or digit.';
  }
  if (name.includes('..')) return 'Bucket names must not contain two adjacent periods.';
  if (IP_ADDRESS.test(name)) return 'Bucket names must not be formatted as an IP address.';
  const prefix = RESERVED_PREFIXES.find((p) => name.startsWith(p));
  if (prefix) return `Bucket names must not start with ${prefix}.`;
  const suffix = RESERVED_SUFFIXES.find((s) => name.endsWith(s));
  if (suffix) return `Bucket names must not end with ${suffix}.`;
  return undefined;
}

export function checkBucketName(name: string): void {
  const problem = bucketNameProblem(name);
  if (problem) throw new ArtifactError('InvalidBucketName', `The specified bucket is not valid. ${problem}`, { BucketName: name });
}

/**
 * Keys are any well-formed Unicode except NUL, 1 to maxKeyBytes bytes of UTF-8. They are never turned into file
 * paths (objects are stored by generated id), so `../`, `//` and a leading `/` are ordinary characters here.
 */
export function checkKey(key: string, limits: ArtifactLimits): void {
  if (key.length === 0) throw new ArtifactError('InvalidArgument', 'An object key must not be empty.', { ArgumentName: 'key' });
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > limits.maxKeyBytes) {
    throw new ArtifactError('KeyTooLongError', `Your key is too long: ${bytes} bytes of UTF-8; the maximum is ${limits.maxKeyBytes}.`, {
      Size: String(bytes),
      MaxSizeAllowed: String(limits.maxKeyBytes),
    });
  }
  if (!key.isWellFormed() || key.includes('\u0000')) {
    throw new ArtifactError('InvalidArgument', 'An object key must be well-formed UTF-8 without NUL characters.', { ArgumentName: 'key' });
  }
}

const METADATA_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

/** User metadata: header-token names, printable values, at most maxMetadataBytes of names plus values. */
export function checkMetadata(metadata: Record<string, string>, limits: ArtifactLimits): void {
  let bytes = 0;
  for (const [name, value] of Object.entries(metadata)) {
    if (!METADATA_NAME.test(name)) {
      throw new ArtifactError('InvalidArgument', `x-amz-meta-${name} is not a valid metadata header name.`, { ArgumentName: `x-amz-meta-${name}` });
    }
    bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
  }
  if (bytes > limits.maxMetadataBytes) {
    throw new ArtifactError(
      'MetadataTooLarge',
      `Your metadata headers exceed the maximum allowed metadata size: ${bytes} bytes; the maximum is ${limits.maxMetadataBytes}.`,
      { Size: String(bytes), MaxSizeAllowed: String(limits.maxMetadataBytes) },
    );
  }
}
