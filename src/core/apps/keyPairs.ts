/**
 * Per-tenant SSH key pairs, the `ec2KeyName` a launch configuration names: an operator imports public keys
 * (`ferry key-pairs import NAME --public-key-file F`), a launch injects the named one through cloud-init. Only public
 * keys are stored; EC2's rule holds: names are unique per account and region.
 */
import { invalidParameter, notPermitted } from '../../lib/errors.ts';
import { KEY_NAME, parseSshPublicKey, PublicKeyError } from '../../domain/sshPublicKey.ts';
import type { Core, Tx } from '../context.ts';
import type { Tenant } from '../../domain/tenant.ts';

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
  const row = await db
    .selectFrom('key_pairs')
    .selectAll()
    .where('account_id', '=', tenant.accountId)
    .where('region', '=', tenant.region)
    .where('key_name', '=', keyName)
    .executeTakeFirst();
  return row && { keyName: row.key_name, keyType: row.key_type, fingerprint: row.fingerprint, publicKey: row.public_key, createdAt: row.created_at };
}

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
    const { count } = await tx
      .selectFrom('key_pairs')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .where('account_id', '=', tenant.accountId)
      .where('region', '=', tenant.region)
      .executeTakeFirstOrThrow();
    if (Number(count) >= MAX_KEY_PAIRS) throw notPermitted(`The account already has ${MAX_KEY_PAIRS} key pairs in ${tenant.region}.`);
    await tx
      .insertInto('key_pairs')
      .values({ account_id: tenant.accountId, region: tenant.region, key_name: keyName, key_type: parsed.keyType, public_key: parsed.line, fingerprint: parsed.fingerprint, created_at: now })
      .execute();
    return { keyName, keyType: parsed.keyType, fingerprint: parsed.fingerprint, publicKey: parsed.line, createdAt: now };
  });
}

export async function listKeyPairs(core: Core, tenant: Tenant): Promise<KeyPair[]> {
  const rows = await core.db
    .selectFrom('key_pairs')
    .selectAll()
    .where('account_id', '=', tenant.accountId)
    .where('region', '=', tenant.region)
    .orderBy('key_name')
    .execute();
  return rows.map((row) => ({ keyName: row.key_name, keyType: row.key_type, fingerprint: row.fingerprint, publicKey: row.public_key, createdAt: row.created_at }));
}

/** Deleting a key pair does not touch instances launched with it (as in EC2); a launch configuration naming it fails at launch. */
export async function deleteKeyPair(core: Core, tenant: Tenant, keyName: string): Promise<boolean> {
  const result = await core.db
    .deleteFrom('key_pairs')
    .where('account_id', '=', tenant.accountId)
    .where('region', '=', tenant.region)
    .where('key_name', '=', keyName)
    .executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}
