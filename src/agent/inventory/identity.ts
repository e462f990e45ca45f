/** VM identity helpers: UUID normalisation and stable name-based ids. */
import { createHash } from 'node:crypto';

/**
 * Normalises the UUID spellings found in VM files to lower-case 8-4-4-4-12 form: VMware's
 * `56 4d 9a 7b 1c 2e 3f 40-51 62 73 84 95 a6 b7 c8`, braces (`{…}`, Hyper-V), upper case, no dashes.
 * Returns undefined for anything that is not 32 hex digits, and for the all-zero UUID.
 */
export function normaliseUuid(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const hex = value.trim().replace(/^\{|\}$/g, '').replace(/[\s-]/g, '').toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex) || /^0+$/.test(hex)) return undefined;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Ferry's namespace for name-based (RFC 4122 version 5) VM ids. */
const FERRY_VM_NAMESPACE = Buffer.from('6f0e2f54a1c94f3c9a0a5d3c1f7e2b18', 'hex');

/**
 * A stable UUID (RFC 4122 version 5, SHA-1 name-based) for a name such as a VM folder's path relative to the
 * datastore. The same name always gives the same id, on every machine.
 */
export function nameBasedUuid(name: string): string {
  const hash = createHash('sha1').update(FERRY_VM_NAMESPACE).update(name, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  return normaliseUuid(hash.subarray(0, 16).toString('hex'))!;
}
