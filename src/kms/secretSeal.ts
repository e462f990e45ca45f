/**
 * Seals small secrets that Ferry must read back in the clear (an access key's secret: SigV4 verification recomputes
 * the caller's HMAC with it, so it cannot be stored as a hash the way connector tokens are). Sealed like KMS key
 * material: AES-256-GCM (envelope.ts), under a subkey of the master key for this purpose only, with associated data
 * naming what the secret belongs to, so a sealed value copied onto another row does not open.
 *
 * Stored form: base64 of envelope.ts's wrapped format, with the master key's public fingerprint beside it, so a
 * process holding another master key says so instead of failing every signature.
 */
import { aad, subkey, unwrap, wrap } from './envelope.ts';
import type { MasterKey } from './masterKey.ts';

export interface SecretSealer {
  /** Fingerprint of the master key this sealer seals under (stored with every sealed value). */
  readonly fingerprint: string;
  /** Seals `secret` for the owner named by `context` (e.g. access key id and account id). */
  seal(secret: string, context: readonly string[]): string;
  /** Opens a value sealed with the same purpose and context; throws UnwrapError when anything differs. */
  unseal(sealed: string, context: readonly string[]): string;
}

/** A sealer for one kind of secret (`purpose`, e.g. `access-key-secret`), under `master`. */
export function secretSealer(master: Pick<MasterKey, 'key' | 'fingerprint'>, purpose: string): SecretSealer {
  const key = subkey(master.key, `sealed-secret/${purpose}`);
  const label = `ferry/sealed-secret/${purpose}/v1`;
  return {
    fingerprint: master.fingerprint,
    seal: (secret, context) => wrap(key, Buffer.from(secret, 'utf8'), aad(label, ...context)).toString('base64'),
    unseal: (sealed, context) => unwrap(key, Buffer.from(sealed, 'base64'), aad(label, ...context)).toString('utf8'),
  };
}
