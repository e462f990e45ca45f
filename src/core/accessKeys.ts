/**
 * Access keys: creating, listing and deleting them, and the secret lookup SigV4 verification uses.
 *
 * Rules (documented in README "Accounts and tenancy" and SECURITY.md):
 * - A secret is stored only sealed under the master key (kms/secretSeal.ts), and shown once, when the key is made.
 * - An account has at most 2 active keys, as an IAM user: enough to rotate without downtime (create the second,
 *   move the clients, delete the first).
 * - Deleting the last key of an account needs `force`; the root account always keeps one (replace it instead).
 * - A deleted key keeps its row, without its secret, so its id never authenticates or comes back again.
 * - The lookup reads the key's row on every request, so a deletion — by this process or by a `ferry accounts keys
 *   delete` in another one — refuses the very next request. Only the unsealed secret is cached, keyed by the sealed
 *   value it came from.
 */
import type { CompiledQuery, Kysely } from 'kysely';
import { newAccessKeyId, newSecretAccessKey } from '../lib/ids.ts';
import { invalidParameter, notPermitted } from '../lib/errors.ts';
import { UnwrapError } from '../kms/envelope.ts';
import type { SecretSealer } from '../kms/secretSeal.ts';
import type { SecretLookup } from '../domain/credentials.ts';
import type { Database } from '../store/schema.ts';
import type { Core } from './context.ts';
import * as keys from '../store/keys/index.ts';

/** The purpose access-key secrets are sealed for (kms/secretSeal.ts). */
export const ACCESS_KEY_SECRETS = 'access-key-secret';
export const MAX_ACTIVE_KEYS_PER_ACCOUNT = 2;
/** Longer ids are never looked up (AWS access key ids are 16–128 characters). */
const MAX_ACCESS_KEY_ID_LENGTH = 128;
const MAX_UNSEALED_CACHE = 10_000;

export type KeyOrigin = 'created' | 'environment' | 'generated' | 'legacy';
/** Origins of the root account's start-up key: the key from the environment replaces every other one of these. */
export const ROOT_BOOTSTRAP_ORIGINS: readonly KeyOrigin[] = ['environment', 'generated', 'legacy'];

export interface AccessKeyInfo {
  accessKeyId: string;
  accountId: string;
  origin: KeyOrigin;
  createdAt: number;
}

export interface NewAccessKey {
  accessKeyId: string;
  secretAccessKey: string;
}

/** What a sealed secret is bound to: the key and its account (a sealed value moved to another row does not open). */
const sealContext = (accessKeyId: string, accountId: string) => [accessKeyId, accountId];

const sealed = (sealer: SecretSealer, secret: string, accessKeyId: string, accountId: string): keys.SealedSecret => ({
  sealedSecret: sealer.seal(secret, sealContext(accessKeyId, accountId)),
  fingerprint: sealer.fingerprint,
});

/** Inserts a key with its secret sealed (inside the caller's transaction). */
export async function insertAccessKey(
  db: Kysely<Database>,
  sealer: SecretSealer,
  key: NewAccessKey & { accountId: string; origin: KeyOrigin; now: number },
): Promise<void> {
  await keys.insert(db, { accessKeyId: key.accessKeyId, accountId: key.accountId, origin: key.origin, secret: sealed(sealer, key.secretAccessKey, key.accessKeyId, key.accountId), now: key.now });
}

/** Replaces the sealed secret of an existing key (the root key from the environment, when its secret changed). */
export async function resealAccessKey(db: Kysely<Database>, sealer: SecretSealer, key: NewAccessKey & { accountId: string; origin: KeyOrigin }): Promise<void> {
  await keys.setSecret(db, key.accessKeyId, sealed(sealer, key.secretAccessKey, key.accessKeyId, key.accountId), key.origin);
}

/** The secret of a stored key, unsealed (undefined when it has none: deleted, or sealed under another master key). */
export function openSecret(
  sealer: SecretSealer,
  row: { access_key_id: string; account_id: string; sealed_secret: string | null; master_key_fingerprint: string | null; plain_secret: string | null },
): string | undefined {
  if (row.plain_secret !== null) return row.plain_secret;
  if (row.sealed_secret === null || row.master_key_fingerprint !== sealer.fingerprint) return undefined;
  try {
    return sealer.unseal(row.sealed_secret, sealContext(row.access_key_id, row.account_id));
  } catch (thrown) {
    if (thrown instanceof UnwrapError) return undefined;
    throw thrown;
  }
}

/** Seals every secret still in plain text (keys from before migration 7) and clears it, in one transaction. */
export async function sealPlainAccessKeys(core: Core, sealer: SecretSealer): Promise<number> {
  return core.db.transaction().execute(async (tx) => {
    const rows = await keys.withPlainSecrets(tx);
    for (const row of rows) await keys.setSecret(tx, row.access_key_id, sealed(sealer, row.plain_secret!, row.access_key_id, row.account_id));
    return rows.length;
  });
}

/** A new key for the account; refused when it already has MAX_ACTIVE_KEYS_PER_ACCOUNT. */
export async function createAccessKey(core: Core, sealer: SecretSealer, account: { accountId: string; name: string }): Promise<NewAccessKey> {
  const now = core.clock.now();
  return core.db.transaction().execute(async (tx) => {
    const active = await activeKeys(tx, account.accountId);
    if (active.length >= MAX_ACTIVE_KEYS_PER_ACCOUNT) {
      throw notPermitted(
        `Account ${account.name} already has ${active.length} access keys, the most an account may have: delete one first ` +
          `(ferry accounts keys delete ${account.name} ${active[0]!.accessKeyId}).`,
      );
    }
    const key = { accessKeyId: newAccessKeyId(), secretAccessKey: newSecretAccessKey() };
    await insertAccessKey(tx, sealer, { ...key, accountId: account.accountId, origin: 'created', now });
    return key;
  });
}

/** The account's keys that authenticate, oldest first (never their secrets). */
export function listAccessKeys(core: Core, accountId: string): Promise<AccessKeyInfo[]> {
  return activeKeys(core.db, accountId);
}

async function activeKeys(db: Kysely<Database>, accountId: string): Promise<AccessKeyInfo[]> {
  const rows = await keys.activeOf(db, accountId);
  return rows.map((r) => ({ accessKeyId: r.access_key_id, accountId: r.account_id, origin: r.origin as KeyOrigin, createdAt: r.created_at }));
}

/**
 * Deletes a key of the account: from the next request on it is refused, here and in any running service. The last
 * key of an account goes only with `force`, and never the root account's (`isRoot`): create its replacement first.
 */
export async function deleteAccessKey(
  core: Core,
  account: { accountId: string; name: string; isRoot: boolean },
  accessKeyId: string,
  options: { force?: boolean } = {},
): Promise<AccessKeyInfo> {
  const now = core.clock.now();
  return core.db.transaction().execute(async (tx) => {
    const row = await keys.get(tx, accessKeyId);
    if (!row || row.account_id !== account.accountId) throw invalidParameter(`Account ${account.name} has no access key ${accessKeyId}.`);
    if (row.deleted_at !== null) throw invalidParameter(`Access key ${accessKeyId} of account ${account.name} is already deleted.`);
    const active = await activeKeys(tx, account.accountId);
    if (active.length === 1) {
      if (account.isRoot) {
        throw notPermitted(
          `${accessKeyId} is the root account's only access key. Create its replacement first (ferry accounts keys create ${account.name}), ` +
            `or restart the service with FERRY_ROOT_ACCESS_KEY_ID/FERRY_ROOT_SECRET_ACCESS_KEY set to a new key, which replaces it.`,
        );
      }
      if (!options.force) {
        throw notPermitted(`${accessKeyId} is the only access key of account ${account.name}; deleting it locks the account out. Add --force to delete it anyway.`);
      }
    }
    await revokeAccessKeys(tx, [accessKeyId], now);
    return { accessKeyId: row.access_key_id, accountId: row.account_id, origin: row.origin as KeyOrigin, createdAt: row.created_at };
  });
}

/** Marks keys deleted and drops their secrets (inside the caller's transaction). */
export async function revokeAccessKeys(db: Kysely<Database>, accessKeyIds: readonly string[], now: number): Promise<void> {
  await keys.revoke(db, accessKeyIds, now);
}

/**
 * Secret lookup for SigV4. Every call reads the key's row (one primary-key read on the read-only connection, a few
 * microseconds), so a key deleted by any process stops working at the next request; unsealing is cached per sealed
 * value, so a request costs no AES work once its key was seen. `onProblem` hears keys that exist but cannot be
 * opened (sealed under another master key, or altered), which the caller sees as unknown keys.
 */
export function secretLookup(core: Core, sealer: SecretSealer, onProblem: (message: string) => void = () => {}): SecretLookup {
  let lookup: ((accessKeyId: string) => CompiledQuery<keys.SecretRow>) | undefined;
  const unsealed = new Map<string, { sealed: string; accountId: string; secretAccessKey: string }>();
  return async (accessKeyId) => {
    if (accessKeyId.length > MAX_ACCESS_KEY_ID_LENGTH) return undefined;
    lookup ??= keys.secretLookupQuery(core.db);
    const [row] = await core.readRows(lookup(accessKeyId));
    if (!row || row.sealed_secret === null) {
      unsealed.delete(accessKeyId);
      return undefined;
    }
    const hit = unsealed.get(accessKeyId);
    if (hit && hit.sealed === row.sealed_secret && hit.accountId === row.account_id) return { secretAccessKey: hit.secretAccessKey, accountId: row.account_id };
    const secretAccessKey = openSecret(sealer, { access_key_id: accessKeyId, ...row, plain_secret: null });
    if (secretAccessKey === undefined) {
      onProblem(
        row.master_key_fingerprint === sealer.fingerprint
          ? `access key ${accessKeyId}: its sealed secret does not open (altered in the store)`
          : `access key ${accessKeyId}: sealed under master key ${row.master_key_fingerprint}, not this one (${sealer.fingerprint})`,
      );
      return undefined;
    }
    if (unsealed.size >= MAX_UNSEALED_CACHE) unsealed.clear();
    unsealed.set(accessKeyId, { sealed: row.sealed_secret, accountId: row.account_id, secretAccessKey });
    return { secretAccessKey, accountId: row.account_id };
  };
}
