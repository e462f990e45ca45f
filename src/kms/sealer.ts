/**
 * The image store's sealers (interface and key references: src/images/blockSealer.ts).
 *
 * Blocks of encrypted jobs (KeyedBlockSealer):
 * - Storage id = HMAC-SHA256(id-key, plaintext SHA-256), the id-key derived (HKDF) from the KMS key's material: equal
 *   content under different keys never shares a block, and an id says nothing about the content to someone without
 *   the key (plain SHA-256 ids would let anyone confirm a guessed block).
 * - Seal = AES-256-GCM under the key's data key, a random 96-bit nonce per block, AAD = the storage id (a block moved
 *   to another id fails to open). Output: nonce (12) | tag (16) | ciphertext.
 * - Random nonces bound a data key to about 2^32 seals (NIST SP 800-38D); with dedup, that is 2^32 distinct 512 KiB
 *   blocks = 2 PiB per key.
 *
 * Blocks of unencrypted jobs (AccountBlockSealer): storage id = HMAC-SHA256(account id-key, plaintext SHA-256), the
 * id-key derived (HKDF) from the master key and the account id; bytes stored as they are. Dedup stays inside the
 * account: another account's connector that knows a block's SHA-256 asks for, and can record, only its own
 * account's block of that content, never this one. The master key's fingerprint is part of the key reference, so
 * blocks stored under another master key are reported as such instead of failing their id check.
 */
import { createCipheriv, createDecipheriv, createHmac, createSecretKey, randomFillSync, type KeyObject } from 'node:crypto';
import { accountKeyRef, type BlockSealer } from '../images/blockSealer.ts';

const NONCE = 12;
const TAG = 16;
export const SEAL_OVERHEAD = NONCE + TAG;

export class SealError extends Error {
  override name = 'SealError';
}

export class KeyedBlockSealer implements BlockSealer {
  readonly keyRef: string;
  /** A KeyObject: an HMAC from it costs about a quarter of one from raw key bytes (three per block and run). */
  readonly #idKey: KeyObject;
  readonly #dataKey: Buffer;

  /** `keyRef` is the KMS key's ARN; `idKey` and `dataKey` are 32 bytes each (see Keyring). */
  constructor(keyRef: string, idKey: Buffer, dataKey: Buffer) {
    if (idKey.length !== 32 || dataKey.length !== 32) throw new Error('KeyedBlockSealer needs a 32-byte id key and a 32-byte data key.');
    this.keyRef = keyRef;
    this.#idKey = createSecretKey(idKey);
    this.#dataKey = dataKey;
  }

  storageId(sha256: Buffer): Buffer {
    if (sha256.length !== 32) throw new SealError(`storageId expects a 32-byte SHA-256; got ${sha256.length} bytes.`);
    return createHmac('sha256', this.#idKey).update(sha256).digest();
  }

  seal(storageId: Buffer, data: Buffer): Buffer {
    const out = Buffer.allocUnsafe(SEAL_OVERHEAD + data.length);
    const nonce = randomFillSync(out, 0, NONCE).subarray(0, NONCE);
    const cipher = createCipheriv('aes-256-gcm', this.#dataKey, nonce, { authTagLength: TAG });
    cipher.setAAD(storageId);
    const body = cipher.update(data);
    body.copy(out, SEAL_OVERHEAD);
    cipher.final(); // GCM emits no bytes here
    cipher.getAuthTag().copy(out, NONCE);
    return out;
  }

  open(storageId: Buffer, sealed: Buffer): Buffer {
    if (sealed.length < SEAL_OVERHEAD) throw this.#failed(storageId, `only ${sealed.length} bytes`);
    const decipher = createDecipheriv('aes-256-gcm', this.#dataKey, sealed.subarray(0, NONCE), { authTagLength: TAG });
    decipher.setAAD(storageId);
    decipher.setAuthTag(sealed.subarray(NONCE, SEAL_OVERHEAD));
    const plain = decipher.update(sealed.subarray(SEAL_OVERHEAD));
    try {
      decipher.final();
    } catch {
      throw this.#failed(storageId, 'authentication failed');
    }
    return plain;
  }

  #failed(storageId: Buffer, why: string): SealError {
    return new SealError(
      `Block ${storageId.toString('hex')} does not open under ${this.keyRef} (${why}): it was altered, or sealed under another key or id.`,
    );
  }
}

export class AccountBlockSealer implements BlockSealer {
  readonly keyRef: string;
  readonly #idKey: KeyObject;

  /** `idKey`: 32 bytes, this account's (see Keyring.accountSealer). */
  constructor(accountId: string, masterFingerprint: string, idKey: Buffer) {
    if (idKey.length !== 32) throw new Error('AccountBlockSealer needs a 32-byte id key.');
    this.keyRef = accountKeyRef(accountId, masterFingerprint);
    this.#idKey = createSecretKey(idKey);
  }

  storageId(sha256: Buffer): Buffer {
    if (sha256.length !== 32) throw new SealError(`storageId expects a 32-byte SHA-256; got ${sha256.length} bytes.`);
    return createHmac('sha256', this.#idKey).update(sha256).digest();
  }

  seal(_storageId: Buffer, data: Buffer): Buffer {
    return data;
  }

  open(_storageId: Buffer, sealed: Buffer): Buffer {
    return sealed;
  }
}
