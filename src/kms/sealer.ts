/**
 * The image store's sealer for blocks of encrypted jobs (interface: src/images/blockSealer.ts).
 *
 * - Storage id = HMAC-SHA256(id-key, plaintext SHA-256), the id-key derived (HKDF) from the KMS key's material: equal
 *   content under different keys never shares a block, and an id says nothing about the content to someone without
 *   the key (plain SHA-256 ids would let anyone confirm a guessed block).
 * - Seal = AES-256-GCM under the key's data key, a random 96-bit nonce per block, AAD = the storage id (a block moved
 *   to another id fails to open). Output: nonce (12) | tag (16) | ciphertext.
 * - Random nonces bound a data key to about 2^32 seals (NIST SP 800-38D); with dedup, that is 2^32 distinct 512 KiB
 *   blocks = 2 PiB per key.
 */
import { createCipheriv, createDecipheriv, createHmac, randomFillSync } from 'node:crypto';
import type { BlockSealer } from '../images/blockSealer.ts';

const NONCE = 12;
const TAG = 16;
export const SEAL_OVERHEAD = NONCE + TAG;

export class SealError extends Error {
  override name = 'SealError';
}

export class KeyedBlockSealer implements BlockSealer {
  readonly keyRef: string;
  readonly #idKey: Buffer;
  readonly #dataKey: Buffer;

  /** `keyRef` is the KMS key's ARN; `idKey` and `dataKey` are 32 bytes each (see Keyring). */
  constructor(keyRef: string, idKey: Buffer, dataKey: Buffer) {
    if (idKey.length !== 32 || dataKey.length !== 32) throw new Error('KeyedBlockSealer needs a 32-byte id key and a 32-byte data key.');
    this.keyRef = keyRef;
    this.#idKey = idKey;
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
