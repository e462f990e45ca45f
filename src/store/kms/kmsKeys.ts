/**
 * KMS keys and their aliases as stored, per tenant: rows in and out, the alias that names a key, the wrapped material
 * a keyring adds once. What the rows mean (ARNs, the default key, key references) is src/kms's business.
 */
import type { Tenant } from '../../domain/tenant.ts';
import { inTenant } from '../tenancy.ts';
import { kmsDb, type KmsKeysTable } from './kmsTables.ts';
import type { Kysely } from 'kysely';

/** The store or a transaction of it (the core's `Kysely<Database>`, its `Tx`, or a KMS view of either). */
type Db = Kysely<any>;

export type StoredKmsKey = KmsKeysTable;

export function get(db: Db, keyId: string): Promise<StoredKmsKey | undefined> {
  return kmsDb(db).selectFrom('kms_keys').selectAll().where('key_id', '=', keyId).executeTakeFirst();
}

export function byArn(db: Db, arn: string): Promise<Pick<StoredKmsKey, 'key_id' | 'arn'> | undefined> {
  return kmsDb(db).selectFrom('kms_keys').select(['key_id', 'arn']).where('arn', '=', arn).executeTakeFirst();
}

/** The tenant's key `keyId` (another tenant's key of that id is not found). */
export function getInTenant(db: Db, tenant: Tenant, keyId: string): Promise<StoredKmsKey | undefined> {
  return kmsDb(db).selectFrom('kms_keys').selectAll().where('key_id', '=', keyId).where(inTenant(tenant)).executeTakeFirst();
}

/** The tenant's key its alias `alias` names. */
export function byAlias(db: Db, tenant: Tenant, alias: string): Promise<StoredKmsKey | undefined> {
  return kmsDb(db)
    .selectFrom('kms_aliases')
    .innerJoin('kms_keys', 'kms_keys.key_id', 'kms_aliases.key_id')
    .selectAll('kms_keys')
    .where(inTenant(tenant, 'kms_aliases'))
    .where('kms_aliases.alias_name', '=', alias)
    .executeTakeFirst();
}

/** Keys, oldest first; all of them, or those of one account and/or region. */
export function list(db: Db, filter: Partial<Tenant> = {}): Promise<StoredKmsKey[]> {
  let query = kmsDb(db).selectFrom('kms_keys').selectAll().orderBy('created_at').orderBy('key_id');
  if (filter.accountId !== undefined) query = query.where('account_id', '=', filter.accountId);
  if (filter.region !== undefined) query = query.where('region', '=', filter.region);
  return query.execute();
}

/** The aliases of these keys, by alias name. */
export function aliasesOf(db: Db, keyIds: readonly string[]): Promise<{ key_id: string; alias_name: string }[]> {
  if (keyIds.length === 0) return Promise.resolve([]);
  return kmsDb(db).selectFrom('kms_aliases').select(['key_id', 'alias_name']).where('key_id', 'in', [...keyIds]).orderBy('alias_name').execute();
}

/** A key without material (a keyring adds it on first use, setMaterial). */
export async function insertKey(db: Db, key: { tenant: Tenant; keyId: string; arn: string; keyManager: string; description: string | null; now: number }): Promise<void> {
  await kmsDb(db)
    .insertInto('kms_keys')
    .values({
      key_id: key.keyId,
      account_id: key.tenant.accountId,
      region: key.tenant.region,
      arn: key.arn,
      description: key.description,
      key_manager: key.keyManager,
      created_at: key.now,
      wrapped_material: null,
      wrapped_data_key: null,
      master_key_fingerprint: null,
    })
    .execute();
}

export async function deleteKey(db: Db, keyId: string): Promise<void> {
  await kmsDb(db).deleteFrom('kms_keys').where('key_id', '=', keyId).execute();
}

/** Names `keyId` by `alias` in the tenant; an alias already taken fails (a unique violation). */
export async function insertAlias(db: Db, tenant: Tenant, alias: string, keyId: string, now: number): Promise<void> {
  await kmsDb(db).insertInto('kms_aliases').values({ account_id: tenant.accountId, region: tenant.region, alias_name: alias, key_id: keyId, created_at: now }).execute();
}

/** insertAlias unless the alias is taken; whether this call named the key. */
export async function insertAliasIfFree(db: Db, tenant: Tenant, alias: string, keyId: string, now: number): Promise<boolean> {
  const inserted = await kmsDb(db)
    .insertInto('kms_aliases')
    .values({ account_id: tenant.accountId, region: tenant.region, alias_name: alias, key_id: keyId, created_at: now })
    .onConflict((oc) => oc.columns(['account_id', 'region', 'alias_name']).doNothing())
    .executeTakeFirst();
  return Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0;
}

/** Stores a key's wrapped material and data key, unless it has material already (the first writer's stands). */
export async function setMaterial(db: Db, keyId: string, wrapped: { material: string; dataKey: string; fingerprint: string }): Promise<void> {
  await kmsDb(db)
    .updateTable('kms_keys')
    .set({ wrapped_material: wrapped.material, wrapped_data_key: wrapped.dataKey, master_key_fingerprint: wrapped.fingerprint })
    .where('key_id', '=', keyId)
    .where('wrapped_material', 'is', null)
    .execute();
}
