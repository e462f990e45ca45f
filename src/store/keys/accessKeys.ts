/**
 * Access keys as stored: sealed secrets (sealing and unsealing are the caller's, core/accessKeys.ts), origins,
 * deletion. Deleting a key drops its secret in the same write, so a deleted key never authenticates again.
 */
import { CompiledQuery, sql } from 'kysely';
import type { Executor } from '../executor.ts';
import type { StoreCapabilities } from '../openStore.ts';
import type { AccessKeysTable } from '../schema.ts';

/** A secret as the store holds it: sealed under the master key `fingerprint`. */
export interface SealedSecret {
  sealedSecret: string;
  fingerprint: string;
}

export interface StoredKey {
  access_key_id: string;
  account_id: string;
  origin: string;
  created_at: number;
  deleted_at: number | null;
}

export async function insert(db: Executor, key: { accessKeyId: string; accountId: string; origin: string; secret: SealedSecret; now: number }): Promise<void> {
  await db
    .insertInto('access_keys')
    .values({
      access_key_id: key.accessKeyId,
      account_id: key.accountId,
      origin: key.origin,
      sealed_secret: key.secret.sealedSecret,
      master_key_fingerprint: key.secret.fingerprint,
      plain_secret: null,
      created_at: key.now,
      deleted_at: null,
    })
    .execute();
}

/** Replaces a key's secret with `secret` (and its origin, when given), clearing any plain-text one. */
export async function setSecret(db: Executor, accessKeyId: string, secret: SealedSecret, origin?: string): Promise<void> {
  await db
    .updateTable('access_keys')
    .set({ ...(origin === undefined ? {} : { origin }), sealed_secret: secret.sealedSecret, master_key_fingerprint: secret.fingerprint, plain_secret: null })
    .where('access_key_id', '=', accessKeyId)
    .execute();
}

/** Keys whose secret is still in plain text (from before migration 7). */
export function withPlainSecrets(db: Executor): Promise<{ access_key_id: string; account_id: string; plain_secret: string | null }[]> {
  return db.selectFrom('access_keys').select(['access_key_id', 'account_id', 'plain_secret']).where('plain_secret', 'is not', null).execute();
}

/** The account's keys that are not deleted, oldest first. */
export function activeOf(db: Executor, accountId: string): Promise<StoredKey[]> {
  return db
    .selectFrom('access_keys')
    .select(['access_key_id', 'account_id', 'origin', 'created_at', 'deleted_at'])
    .where('account_id', '=', accountId)
    .where('deleted_at', 'is', null)
    .orderBy('created_at')
    .orderBy('access_key_id')
    .execute();
}

export function get(db: Executor, accessKeyId: string): Promise<StoredKey | undefined> {
  return db.selectFrom('access_keys').select(['access_key_id', 'account_id', 'origin', 'created_at', 'deleted_at']).where('access_key_id', '=', accessKeyId).executeTakeFirst();
}

/** Marks keys deleted and drops their secrets. */
export async function revoke(db: Executor, accessKeyIds: readonly string[], now: number): Promise<void> {
  if (accessKeyIds.length === 0) return;
  await db
    .updateTable('access_keys')
    .set({ deleted_at: now, sealed_secret: null, master_key_fingerprint: null, plain_secret: null })
    .where('access_key_id', 'in', accessKeyIds)
    .where('deleted_at', 'is', null)
    .execute();
}

export interface SecretRow {
  account_id: string;
  sealed_secret: string | null;
  master_key_fingerprint: string | null;
}

/**
 * The SigV4 secret lookup of one key that is not deleted, as a compiled query for the committed-data reader. It is
 * the hottest read there is (every request), so its SQL is built once and only the parameter changes.
 */
export function secretLookupQuery(db: Executor): (accessKeyId: string) => CompiledQuery<SecretRow> {
  const sql = db.selectFrom('access_keys').select(['account_id', 'sealed_secret', 'master_key_fingerprint']).where('access_key_id', '=', '').where('deleted_at', 'is', null).compile().sql;
  return (accessKeyId) => CompiledQuery.raw(sql, [accessKeyId]) as CompiledQuery<SecretRow>;
}

/** Distinct fingerprints of the master keys that secrets are sealed under. */
export async function sealingFingerprints(db: Executor): Promise<string[]> {
  const rows = await db.selectFrom('access_keys').select('master_key_fingerprint').distinct().where('master_key_fingerprint', 'is not', null).execute();
  return rows.map((r) => r.master_key_fingerprint!);
}

/**
 * After plain-text secrets were overwritten (the store zeroes what it overwrites, openStore.ts's secure_delete): the
 * copies of the old pages still in the store's own log file are checkpointed away and the file truncated, so the
 * plain text is gone from every file of the store. PostgreSQL keeps no such file beside its tables.
 */
export async function purgeOverwrittenPages(db: Executor, capabilities: Pick<StoreCapabilities, 'checkpointableLog'>): Promise<void> {
  if (capabilities.checkpointableLog) await sql`pragma wal_checkpoint(TRUNCATE)`.execute(db);
}

/** A key with everything stored about it, secrets included (the root key bootstrap opens them). */
export function withSecret(db: Executor, accessKeyId: string): Promise<AccessKeysTable | undefined> {
  return db.selectFrom('access_keys').selectAll().where('access_key_id', '=', accessKeyId).executeTakeFirst();
}

/** The account's keys that are not deleted, secrets included, newest first. */
export function activeWithSecretsOf(db: Executor, accountId: string): Promise<AccessKeysTable[]> {
  return db.selectFrom('access_keys').selectAll().where('account_id', '=', accountId).where('deleted_at', 'is', null).orderBy('created_at', 'desc').execute();
}

/** Whether the account has ever had a key (deleted ones count). */
export async function everHad(db: Executor, accountId: string): Promise<boolean> {
  return (await db.selectFrom('access_keys').select('access_key_id').where('account_id', '=', accountId).limit(1).executeTakeFirst()) !== undefined;
}

/** The account's keys that are not deleted, came from one of `origins`, and are not `exceptId`. */
export async function activeOfOrigins(db: Executor, accountId: string, origins: readonly string[], exceptId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('access_keys')
    .select('access_key_id')
    .where('account_id', '=', accountId)
    .where('deleted_at', 'is', null)
    .where('origin', 'in', [...origins])
    .where('access_key_id', '!=', exceptId)
    .execute();
  return rows.map((r) => r.access_key_id);
}
