/**
 * S3 locations named by launch and validation configurations (user data, configure and validation scripts): the
 * bucket must follow S3's bucket naming rules (3–63 characters of lower-case letters, digits, dots and hyphens,
 * starting and ending with a letter or digit, no `..`, not shaped like an IP address) and the key must be 1–1024
 * characters (the model's S3KeyName). Returns what is wrong, or null.
 */

export interface S3Location {
  bucket: string;
  key: string;
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const IP_ADDRESS = /^\d{1,3}(\.\d{1,3}){3}$/;

export function bucketNameProblem(bucket: string): string | null {
  if (bucket.length < 3 || bucket.length > 63) return `must be 3 to 63 characters long; got ${bucket.length}`;
  if (!BUCKET.test(bucket)) return 'may hold only lower-case letters, digits, dots and hyphens, and must start and end with a letter or digit';
  if (bucket.includes('..')) return 'must not contain two adjacent dots';
  if (IP_ADDRESS.test(bucket)) return 'must not be formatted as an IP address';
  return null;
}

export function keyProblem(key: string): string | null {
  if (key.length === 0) return 'must not be empty';
  if (key.length > 1024) return `must be at most 1024 characters long; got ${key.length}`;
  return null;
}

/** What is wrong with `location` (named `path` in the message), or null when it is well-formed. */
export function s3LocationProblem(location: Partial<S3Location>, path: string): string | null {
  if (!location.bucket) return `${path}.bucket is required.`;
  if (location.key === undefined) return `${path}.key is required.`;
  const bucket = bucketNameProblem(location.bucket);
  if (bucket) return `${path}.bucket ${JSON.stringify(location.bucket)} ${bucket}.`;
  const key = keyProblem(location.key);
  if (key) return `${path}.key ${key}.`;
  return null;
}

export const s3Uri = (location: S3Location): string => `s3://${location.bucket}/${location.key}`;
