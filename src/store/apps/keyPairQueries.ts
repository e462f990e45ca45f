/** Each tenant's SSH key pairs (public keys only), by name: what launch configurations name as ec2KeyName. */
import type { Selectable } from 'kysely';
import type { Tenant } from '../../domain/tenant.ts';
import type { KeyPairsTable } from '../schema.ts';
import { inTenant } from '../tenancy.ts';
import type { AppExecutor } from './appQueries.ts';

export type KeyPairRow = Selectable<KeyPairsTable>;

export function selectKeyPair(db: AppExecutor, tenant: Tenant, keyName: string): Promise<KeyPairRow | undefined> {
  return db.selectFrom('key_pairs').selectAll().where(inTenant(tenant)).where('key_name', '=', keyName).executeTakeFirst();
}

/** The tenant's key pairs by name. */
export function selectKeyPairs(db: AppExecutor, tenant: Tenant): Promise<KeyPairRow[]> {
  return db.selectFrom('key_pairs').selectAll().where(inTenant(tenant)).orderBy('key_name').execute();
}

export async function countKeyPairs(db: AppExecutor, tenant: Tenant): Promise<number> {
  const { count } = await db
    .selectFrom('key_pairs')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where(inTenant(tenant))
    .executeTakeFirstOrThrow();
  return Number(count);
}

export async function insertKeyPair(db: AppExecutor, tenant: Tenant, key: Omit<KeyPairRow, 'seq' | 'account_id' | 'region'>): Promise<void> {
  await db.insertInto('key_pairs').values({ account_id: tenant.accountId, region: tenant.region, ...key }).execute();
}

/** Whether there was such a key pair to delete. */
export async function deleteKeyPair(db: AppExecutor, tenant: Tenant, keyName: string): Promise<boolean> {
  const result = await db.deleteFrom('key_pairs').where(inTenant(tenant)).where('key_name', '=', keyName).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}
