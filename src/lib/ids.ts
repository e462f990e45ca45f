/** Every identifier format Ferry hands out, built in one place (spec §3.1). */
import { randomBytes, randomInt } from 'node:crypto';

/**
 * Random hex digits for ids, cut from a pool of random bytes drawn 4 KiB at a time: a draw per id cost about 12 µs
 * here, two per CreateReplicationJob. Ids are not secrets (tokens and keys below draw their own bytes).
 */
const POOL_BYTES = 4096;
let pool = '';
let used = 0;
function hex(chars: number): string {
  if (used + chars > pool.length) {
    pool = randomBytes(POOL_BYTES).toString('hex');
    used = 0;
  }
  used += chars;
  return pool.slice(used - chars, used);
}

export const newServerId = (): string => `s-${hex(8)}`;
/** `count` server ids from one draw of random bytes (an inventory needs thousands; one draw each cost ~15 µs). */
export function newServerIds(count: number): string[] {
  const bytes = randomBytes(4 * count).toString('hex');
  return Array.from({ length: count }, (_, i) => `s-${bytes.slice(8 * i, 8 * i + 8)}`);
}
export const newReplicationJobId = (): string => `sms-job-${hex(8)}`;
export const newReplicationRunId = (): string => `sms-run-${hex(8)}`;
export const newConnectorId = (): string => `c-${hex(17)}`;
export const newRequestId = (): string => crypto.randomUUID();
/** Applications (spec §3.1): `app-` and `val-` + 17 lower-case hex (model patterns); server groups `sg-` + 8 hex. */
export const newAppId = (): string => `app-${hex(17)}`;
export const newServerGroupId = (): string => `sg-${hex(8)}`;
export const newValidationId = (): string => `val-${hex(17)}`;
/** The label that ties an instance to the launch step that asked for it (see core/apps/launchCoordinator.ts). */
export const newLaunchToken = (): string => `lt-${hex(24)}`;

/** 12 decimal digits, never starting with 0, like an AWS account id. */
export function newAccountId(): string {
  return String(randomInt(1, 10)) + Array.from({ length: 11 }, () => randomInt(0, 10)).join('');
}

const KEY_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** 20 characters starting with AKIA, like an AWS long-term access key id. */
export function newAccessKeyId(): string {
  const bytes = randomBytes(16);
  let out = 'AKIA';
  for (const b of bytes) out += KEY_ALPHABET[b % 32];
  return out;
}

/** 40 characters of base64, like an AWS secret access key. */
export function newSecretAccessKey(): string {
  return randomBytes(30).toString('base64');
}

/** A bearer token for a connector: only its SHA-256 is stored. */
export function newConnectorToken(): string {
  return `fct_${randomBytes(32).toString('base64url')}`;
}

// Artifact buckets (src/artifacts).
/** A file name for stored object bytes: 128 random bits, so it never says anything about the key. */
export const newArtifactBlobId = (): string => randomBytes(16).toString('hex');
/** A multipart upload id, opaque like S3's. */
export const newMultipartUploadId = (): string => randomBytes(36).toString('base64url');
