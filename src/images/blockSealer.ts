/**
 * How the image store keeps blocks: a sealer maps a block's plaintext SHA-256 to the id it is stored under and
 * seals/opens its bytes. Dedup happens per storage id, so the sealer also draws the dedup domains. Its key reference,
 * stored (numbered, in image_keys) with every block so the right sealer opens it, is one of:
 * - a KMS key ARN: an encrypted job's blocks (src/kms/sealer.ts, KeyedBlockSealer) — ids keyed per KMS key (an HMAC
 *   of the SHA-256), bytes sealed with AES-256-GCM;
 * - `plain:<account id>:<master key fingerprint>`: an unencrypted job's blocks (AccountBlockSealer) — ids keyed per
 *   account, bytes as they are. The same content names different blocks in different accounts, so a connector can
 *   only ever reference blocks its own account stored, and a digest tells it nothing about anyone else's;
 * - `plain`: blocks of stores made before per-account ids (storage id = the SHA-256 itself). Still read; nothing
 *   the service runs writes new ones.
 */
export interface BlockSealer {
  /** Identifies the key; stored with each block so the right sealer opens it. */
  readonly keyRef: string;
  /** The id a block with this plaintext SHA-256 is stored under (32 bytes). */
  storageId(sha256: Buffer): Buffer;
  /** Seals already-compressed (or raw) bytes. */
  seal(storageId: Buffer, data: Buffer): Buffer;
  /** Opens sealed bytes; throws if they were tampered with. */
  open(storageId: Buffer, sealed: Buffer): Buffer;
}

export const LEGACY_PLAIN_KEY_REF = 'plain';
const ACCOUNT_KEY_REF = /^plain:([^:]+):([0-9a-f]+)$/;

/** The legacy sealer of unencrypted blocks (storage id = SHA-256): tests and stores made before per-account ids. */
export const plainSealer: BlockSealer = {
  keyRef: LEGACY_PLAIN_KEY_REF,
  storageId: (sha256) => sha256,
  seal: (_id, data) => data,
  open: (_id, sealed) => sealed,
};

export function accountKeyRef(accountId: string, masterFingerprint: string): string {
  return `plain:${accountId}:${masterFingerprint}`;
}

/** The account and master key fingerprint of an account key reference, or undefined for any other reference. */
export function parseAccountKeyRef(keyRef: string): { accountId: string; masterFingerprint: string } | undefined {
  const match = ACCOUNT_KEY_REF.exec(keyRef);
  return match ? { accountId: match[1]!, masterFingerprint: match[2]! } : undefined;
}

/** Whether blocks stored under this key reference are encrypted (only KMS keys encrypt). */
export function isEncryptedKeyRef(keyRef: string): boolean {
  return keyRef !== LEGACY_PLAIN_KEY_REF && parseAccountKeyRef(keyRef) === undefined;
}
