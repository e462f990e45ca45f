/**
 * KMS-style keys per (account, region): ids, ARNs, aliases, and how a `kmsKeyId` as SMS accepts it (key id,
 * `alias/NAME`, key ARN, alias ARN — spec §4.4, §6.1) resolves to a key. Everything here needs only the store, so the
 * API validates keys without holding the master key; key material is the keyring's business (keyring.ts).
 *
 * Each (account, region) has a default key, alias `alias/aws/ebs` as AWS names the EBS default key, created on first
 * use: by an encrypted job without a `kmsKeyId`, or by naming that alias.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { invalidParameter } from '../lib/errors.ts';
import type { Tenant } from '../domain/tenant.ts';
import * as kmsKeys from '../store/kms/index.ts';

/** The store or a transaction of it; typed loosely so both the core's `Kysely<Database>` and its `Tx` fit. */
export type KmsDb = Kysely<any>;

export const DEFAULT_KEY_ALIAS = 'alias/aws/ebs';
const DEFAULT_KEY_DESCRIPTION = 'Default key that protects my EBS volumes when no other key is defined';

export type KeyManager = 'CUSTOMER' | 'AWS';

export interface KmsKey {
  keyId: string;
  arn: string;
  accountId: string;
  region: string;
  aliases: string[];
  description: string | null;
  keyManager: KeyManager;
  createdAt: number;
}

export const keyArn = (tenant: Tenant, keyId: string): string => `arn:aws:kms:${tenant.region}:${tenant.accountId}:key/${keyId}`;
export const aliasArn = (tenant: Tenant, alias: string): string => `arn:aws:kms:${tenant.region}:${tenant.accountId}:${alias}`;

const ALIAS = /^alias\/[a-zA-Z0-9/_-]+$/;
const ALIAS_MAX = 256;

/** Checks a user-chosen alias like AWS KMS does: `alias/` + [a-zA-Z0-9/_-]+, at most 256 characters, not `alias/aws/…`. */
export function validateAliasName(alias: string): void {
  if (!ALIAS.test(alias) || alias.length > ALIAS_MAX) {
    throw invalidParameter(
      `Alias ${JSON.stringify(alias)} is not valid: an alias is 'alias/' followed by letters, digits, '/', '_' or '-' (at most ${ALIAS_MAX} characters in all).`,
    );
  }
  if (alias.startsWith('alias/aws/')) throw invalidParameter(`Alias ${alias} is reserved: names beginning with alias/aws/ are for AWS-managed keys.`);
}

interface ArnParts {
  partition: string;
  region: string;
  accountId: string;
}

export type KeyReference =
  | { kind: 'keyId'; keyId: string }
  | { kind: 'alias'; alias: string }
  | ({ kind: 'keyArn'; keyId: string } & ArnParts)
  | ({ kind: 'aliasArn'; alias: string } & ArnParts);

const ARN = /^arn:([^:]+):kms:([^:]*):([^:]*):(key\/.+|alias\/.+)$/;

/** Which of the four accepted forms `value` is in; anything not an alias or an ARN is taken as a key id. */
export function parseKeyReference(value: string): KeyReference {
  const arn = ARN.exec(value);
  if (arn) {
    const [, partition, region, accountId, resource] = arn as unknown as [string, string, string, string, string];
    return resource.startsWith('key/')
      ? { kind: 'keyArn', partition, region, accountId, keyId: resource.slice('key/'.length) }
      : { kind: 'aliasArn', partition, region, accountId, alias: resource };
  }
  if (value.startsWith('alias/')) return { kind: 'alias', alias: value };
  return { kind: 'keyId', keyId: value };
}

/**
 * The key `kmsKeyId` names in `tenant`, or the tenant's default key (created if need be) when it is undefined.
 * An unknown id, alias or ARN, or an ARN of another account or region, is an InvalidParameterException naming it.
 */
export async function resolveKey(db: KmsDb, tenant: Tenant, kmsKeyId: string | undefined, now: number): Promise<KmsKey> {
  if (kmsKeyId === undefined) return ensureDefaultKey(db, tenant, now);
  const unknown = () =>
    invalidParameter(
      `kmsKeyId ${JSON.stringify(kmsKeyId)} does not identify a KMS key of account ${tenant.accountId} in ${tenant.region}. ` +
        `Use a key id, alias/NAME, key ARN or alias ARN of a key created with 'ferry kms create-key', or omit kmsKeyId to use the default key.`,
    );
  if (kmsKeyId.trim() === '') throw invalidParameter('kmsKeyId must not be empty; omit it to use the default key.');
  const ref = parseKeyReference(kmsKeyId);
  if (ref.kind === 'keyArn' || ref.kind === 'aliasArn') {
    if (ref.partition !== 'aws') throw unknown();
    if (ref.accountId !== tenant.accountId) {
      throw invalidParameter(
        `kmsKeyId ${kmsKeyId} is a key of account ${ref.accountId || '(none)'}; this request can only use keys of account ${tenant.accountId}.`,
      );
    }
    if (ref.region !== tenant.region) {
      throw invalidParameter(`kmsKeyId ${kmsKeyId} is a key of region ${ref.region || '(none)'}; this request can only use keys of ${tenant.region}.`);
    }
  }
  if ((ref.kind === 'alias' || ref.kind === 'aliasArn') && ref.alias === DEFAULT_KEY_ALIAS) return ensureDefaultKey(db, tenant, now);
  const row = ref.kind === 'alias' || ref.kind === 'aliasArn' ? await kmsKeys.byAlias(db, tenant, ref.alias) : await kmsKeys.getInTenant(db, tenant, ref.keyId);
  if (!row) throw unknown();
  return (await withAliases(db, [row]))[0]!;
}

/**
 * What CreateReplicationJob / UpdateReplicationJob check (an existence check, spec §3.4 step 5): a given `kmsKeyId`
 * must resolve, whether or not the job is encrypted; an encrypted job without one gets the default key created.
 * The job keeps the caller's string (spec §5 echoes it as given) and resolves it again when it seals.
 */
export async function validateJobKey(db: KmsDb, tenant: Tenant, given: string | undefined, needsDefault: boolean, now: number): Promise<void> {
  if (given !== undefined) await resolveKey(db, tenant, given, now);
  else if (needsDefault) await ensureDefaultKey(db, tenant, now);
}

/** The tenant's default key (`alias/aws/ebs`), created on first use; safe against concurrent first uses. */
export async function ensureDefaultKey(db: KmsDb, tenant: Tenant, now: number): Promise<KmsKey> {
  const existing = await findByAlias(db, tenant, DEFAULT_KEY_ALIAS);
  if (existing) return existing;
  return atomically(db, async (tx) => {
    const keyId = randomUUID();
    await insertKey(tx, tenant, keyId, 'AWS', DEFAULT_KEY_DESCRIPTION, now);
    if (!(await kmsKeys.insertAliasIfFree(tx, tenant, DEFAULT_KEY_ALIAS, keyId, now))) {
      // Someone created it between our read and our insert: theirs wins.
      await kmsKeys.deleteKey(tx, keyId);
    }
    return (await findByAlias(tx, tenant, DEFAULT_KEY_ALIAS))!;
  });
}

/** Adds a customer key (no material yet; the keyring adds it) with an optional alias. */
export async function createKeyRecord(
  db: KmsDb,
  tenant: Tenant,
  options: { alias?: string; description?: string },
  now: number,
): Promise<KmsKey> {
  if (options.alias !== undefined) validateAliasName(options.alias);
  return atomically(db, async (tx) => {
    if (options.alias !== undefined) {
      const taken = await findByAlias(tx, tenant, options.alias);
      if (taken) throw invalidParameter(`Alias ${options.alias} already exists in account ${tenant.accountId}, ${tenant.region} (key ${taken.keyId}).`);
    }
    const keyId = randomUUID();
    await insertKey(tx, tenant, keyId, 'CUSTOMER', options.description ?? null, now);
    if (options.alias !== undefined) await kmsKeys.insertAlias(tx, tenant, options.alias, keyId, now);
    return (await findById(tx, keyId))!;
  });
}

/** Keys, oldest first, with their aliases; all of them, or those of one account and/or region. */
export async function listKeys(db: KmsDb, filter: Partial<Tenant> = {}): Promise<KmsKey[]> {
  return withAliases(db, await kmsKeys.list(db, filter));
}

export async function findById(db: KmsDb, keyId: string): Promise<KmsKey | undefined> {
  const row = await kmsKeys.get(db, keyId);
  return row && (await withAliases(db, [row]))[0];
}

async function findByAlias(db: KmsDb, tenant: Tenant, alias: string): Promise<KmsKey | undefined> {
  const row = await kmsKeys.byAlias(db, tenant, alias);
  return row && (await withAliases(db, [row]))[0];
}

function insertKey(tx: KmsDb, tenant: Tenant, keyId: string, keyManager: KeyManager, description: string | null, now: number): Promise<void> {
  return kmsKeys.insertKey(tx, { tenant, keyId, arn: keyArn(tenant, keyId), keyManager, description, now });
}

async function withAliases(db: KmsDb, rows: kmsKeys.StoredKmsKey[]): Promise<KmsKey[]> {
  if (rows.length === 0) return [];
  const aliases = await kmsKeys.aliasesOf(db, rows.map((r) => r.key_id));
  return rows.map((r) => ({
    keyId: r.key_id,
    arn: r.arn,
    accountId: r.account_id,
    region: r.region,
    aliases: aliases.filter((a) => a.key_id === r.key_id).map((a) => a.alias_name),
    description: r.description,
    keyManager: r.key_manager as KeyManager,
    createdAt: Number(r.created_at),
  }));
}

/** Runs `work` in the caller's transaction if there is one, otherwise in a new one. */
async function atomically<T>(db: KmsDb, work: (tx: KmsDb) => Promise<T>): Promise<T> {
  return db.isTransaction ? work(db) : db.transaction().execute(work);
}
