/**
 * The keyring's crypto primitives, all from node:crypto: AES-256-GCM wrapping of small secrets (key material, data
 * keys) with associated data that binds each wrapped secret to what it belongs to, and HKDF-SHA256 to derive
 * single-purpose subkeys from a key's material.
 *
 * Wrapped format (then base64 in the store): version 0x01 | nonce (12) | tag (16) | ciphertext.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

const VERSION = 0x01;
const NONCE = 12;
const TAG = 16;

/** Associated data: the parts joined by NUL, under a purpose label, so a secret unwraps only where it was wrapped. */
export function aad(label: string, ...parts: string[]): Buffer {
  return Buffer.from([label, ...parts].join('\0'), 'utf8');
}

export function wrap(kek: Buffer, secret: Buffer, associated: Buffer): Buffer {
  const nonce = randomBytes(NONCE);
  const cipher = createCipheriv('aes-256-gcm', kek, nonce, { authTagLength: TAG });
  cipher.setAAD(associated);
  const body = Buffer.concat([cipher.update(secret), cipher.final()]);
  return Buffer.concat([Buffer.of(VERSION), nonce, cipher.getAuthTag(), body]);
}

/** Unwraps, or throws `UnwrapError` if the wrapping key or the associated data differ, or the bytes were altered. */
export function unwrap(kek: Buffer, wrapped: Buffer, associated: Buffer): Buffer {
  if (wrapped.length < 1 + NONCE + TAG || wrapped[0] !== VERSION) throw new UnwrapError('not a wrapped secret (bad length or version)');
  const decipher = createDecipheriv('aes-256-gcm', kek, wrapped.subarray(1, 1 + NONCE), { authTagLength: TAG });
  decipher.setAAD(associated);
  decipher.setAuthTag(wrapped.subarray(1 + NONCE, 1 + NONCE + TAG));
  try {
    return Buffer.concat([decipher.update(wrapped.subarray(1 + NONCE + TAG)), decipher.final()]);
  } catch {
    throw new UnwrapError('authentication failed');
  }
}

export class UnwrapError extends Error {
  override name = 'UnwrapError';
}

/** A 32-byte subkey of `material` for one purpose (HKDF-SHA256, no salt: the material is already uniform). */
export function subkey(material: Buffer, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', material, Buffer.alloc(0), `ferry-kms/${purpose}`, 32));
}

/** A short public fingerprint of a key, to tell which master key wrapped something without revealing it. */
export function fingerprint(key: Buffer): string {
  return createHmac('sha256', key).update('ferry-kms/fingerprint').digest('hex').slice(0, 16);
}
