/**
 * How the image store keeps blocks of encrypted jobs: the sealer maps a block's plaintext SHA-256 to the id it is
 * stored under and seals/opens its bytes. The plain sealer stores by SHA-256 as is; a KMS-keyed sealer (src/kms)
 * derives ids with an HMAC under the key, so equal content under different keys never shares a block, and seals
 * with AES-256-GCM under a data key wrapped by the job's key.
 */
export interface BlockSealer {
  /** Identifies the key (or 'plain'); stored with each block so the right sealer opens it. */
  readonly keyRef: string;
  /** The id a block with this plaintext SHA-256 is stored under (32 bytes). */
  storageId(sha256: Buffer): Buffer;
  /** Seals already-compressed (or raw) bytes. */
  seal(storageId: Buffer, data: Buffer): Buffer;
  /** Opens sealed bytes; throws if they were tampered with. */
  open(storageId: Buffer, sealed: Buffer): Buffer;
}

export const plainSealer: BlockSealer = {
  keyRef: 'plain',
  storageId: (sha256) => sha256,
  seal: (_id, data) => data,
  open: (_id, sealed) => sealed,
};
