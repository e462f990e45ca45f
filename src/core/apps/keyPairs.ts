/**
 * Per-tenant SSH key pairs, the `ec2KeyName` a launch configuration names: an operator imports public keys
 * (`ferry key-pairs import NAME --public-key-file F`), a launch injects the named one through cloud-init. Only public
 * keys are stored; EC2's rule holds: names are unique per account and region.
 */
import { invalidParameter, notPermitted } from '../../lib/errors.ts';
import { KEY_NAME, parseSshPublicKey, PublicKeyError } from '../../domain/sshPublicKey.ts';
import type { Core, Tx } from '../context.ts';
import type { Tenant } from '../../domain/tenant.ts';
import { countKeyPairs, deleteKeyPair as deleteKeyPairRow, insertKeyPair, selectKeyPair, selectKeyPairs, type KeyPairRow } from '../../store/apps/keyPairQueries.ts';

export interface KeyPair {
  keyName: string;
  keyType: string;
  fingerprint: string;
  publicKey: string;
  createdAt: number;
}

/** Key pairs an account may hold in a region (EC2's default quota). */
export const MAX_KEY_PAIRS = 5000;

type Reader = Tx | Core['db'];

export async function findKeyPair(db: Reader, tenant: Tenant, keyName: string): Promise<KeyPair | undefined> {
  const row = await selectKeyPair(db, tenant, keyName);
  return row && keyPairOf(row);
}

const keyPairOf = (row: KeyPairRow): KeyPair => ({ keyName: row.key_name, keyType: row.key_type, fingerprint: row.fingerprint, publicKey: row.public_key, createdAt: row.created_at });

export async function importKeyPair(core: Core, tenant: Tenant, keyName: string, publicKeyText: string): Promise<KeyPair> {
  if (!KEY_NAME.test(keyName)) throw invalidParameter(`Key pair names are 1 to 255 printable ASCII characters; got ${JSON.stringify(keyName)}.`);
  let parsed;
  try {
    parsed = parseSshPublicKey(publicKeyText);
  } catch (error) {
    if (error instanceof PublicKeyError) throw invalidParameter(`Not a usable OpenSSH public key: ${error.message}`);
    throw error;
  }
  const now = core.clock.now();
  return core.db.transaction().execute(async (tx) => {
    if (await findKeyPair(tx, tenant, keyName)) throw invalidParameter(`The key pair ${keyName} already exists; delete it first to replace it.`);
    if ((await countKeyPairs(tx, tenant)) >= MAX_KEY_PAIRS) throw notPermitted(`The account already has ${MAX_KEY_PAIRS} key pairs in ${tenant.region}.`);
    await insertKeyPair(tx, tenant, { key_name: keyName, key_type: parsed.keyType, public_key: parsed.line, fingerprint: parsed.fingerprint, created_at: now });
    return { keyName, keyType: parsed.keyType, fingerprint: parsed.fingerprint, publicKey: parsed.line, createdAt: now };
  });
}

export async function listKeyPairs(core: Core, tenant: Tenant): Promise<KeyPair[]> {
  return (await selectKeyPairs(core.db, tenant)).map(keyPairOf);
}

/** Deleting a key pair does not touch instances launched with it (as in EC2); a launch configuration naming it fails at launch. */
export async function deleteKeyPair(core: Core, tenant: Tenant, keyName: string): Promise<boolean> {
  return deleteKeyPairRow(core.db, tenant, keyName);
}
