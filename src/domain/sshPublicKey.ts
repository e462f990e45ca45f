/**
 * OpenSSH public keys, as `ferry key-pairs import` accepts them (the key types EC2's ImportKeyPair accepts: RSA of
 * at least 1024 bits, ED25519, and ECDSA): `TYPE BASE64 [comment]`, one line. The wire blob is checked to carry
 * the type it claims, and the fingerprint is OpenSSH's (`SHA256:` + unpadded base64 of the blob's SHA-256), so an
 * operator can compare it with `ssh-keygen -lf`.
 */
import { createHash } from 'node:crypto';

export interface SshPublicKey {
  keyType: 'rsa' | 'ed25519' | 'ecdsa';
  /** The normalized line: type, base64 and comment (if any), single-spaced. */
  line: string;
  fingerprint: string;
}

/** A key line is at most a few kilobytes (RSA 16384 is ~2.8 KB); anything larger is not a public key. */
export const MAX_PUBLIC_KEY_LENGTH = 16 * 1024;
/** EC2 key pair names: 1–255 ASCII characters. */
export const KEY_NAME = /^[\x20-\x7e]{1,255}$/;

const TYPES: Record<string, SshPublicKey['keyType']> = {
  'ssh-rsa': 'rsa',
  'ssh-ed25519': 'ed25519',
  'ecdsa-sha2-nistp256': 'ecdsa',
  'ecdsa-sha2-nistp384': 'ecdsa',
  'ecdsa-sha2-nistp521': 'ecdsa',
};

export class PublicKeyError extends Error {}

/** Reads the SSH wire format's length-prefixed strings. */
function readStrings(blob: Buffer, count: number): Buffer[] {
  const out: Buffer[] = [];
  let offset = 0;
  for (let i = 0; i < count; i++) {
    if (offset + 4 > blob.length) throw new PublicKeyError('the key data is truncated.');
    const length = blob.readUInt32BE(offset);
    offset += 4;
    if (offset + length > blob.length) throw new PublicKeyError('the key data is truncated.');
    out.push(blob.subarray(offset, offset + length));
    offset += length;
  }
  return out;
}

function rsaModulusBits(modulus: Buffer): number {
  let start = 0;
  while (start < modulus.length && modulus[start] === 0) start++;
  if (start === modulus.length) return 0;
  return (modulus.length - start - 1) * 8 + (32 - Math.clz32(modulus[start]!));
}

export function parseSshPublicKey(text: string): SshPublicKey {
  if (text.length > MAX_PUBLIC_KEY_LENGTH) throw new PublicKeyError(`a public key is at most ${MAX_PUBLIC_KEY_LENGTH} characters long.`);
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  if (lines.length !== 1) throw new PublicKeyError('expected exactly one OpenSSH public key line (TYPE BASE64 [comment]).');
  const [type, data, ...comment] = lines[0]!.split(/\s+/);
  const keyType = TYPES[type ?? ''];
  if (!keyType) throw new PublicKeyError(`unsupported key type ${JSON.stringify(type)}; use ssh-rsa, ssh-ed25519 or ecdsa-sha2-nistp256/384/521.`);
  if (!data || !/^[A-Za-z0-9+/]+={0,2}$/.test(data)) throw new PublicKeyError('the key data is not base64.');
  const blob = Buffer.from(data, 'base64');
  const [name] = readStrings(blob, 1);
  if (name!.toString('latin1') !== type) throw new PublicKeyError(`the key data is a ${name!.toString('latin1')} key, not ${type}.`);
  if (keyType === 'rsa') {
    const [, , modulus] = readStrings(blob, 3);
    const bits = rsaModulusBits(modulus!);
    if (bits < 1024) throw new PublicKeyError(`RSA keys must have at least 1024 bits; this one has ${bits}.`);
  } else if (keyType === 'ed25519') {
    const [, key] = readStrings(blob, 2);
    if (key!.length !== 32) throw new PublicKeyError('an ED25519 key is 32 bytes.');
  } else {
    readStrings(blob, 3);
  }
  const fingerprint = `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
  return { keyType, line: [type, data, ...comment].join(' '), fingerprint };
}
