/** Accounts and their access keys: the credential store SigV4 verification reads. */
import { existsSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { newAccessKeyId, newAccountId, newSecretAccessKey } from '../lib/ids.ts';
import { invalidParameter } from '../lib/errors.ts';
import type { Core } from './context.ts';
import type { SecretLookup } from '../protocol/sigv4.ts';

export interface AccountKeys {
  accountId: string;
  name: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export const ROOT_ACCOUNT_NAME = 'root';
const ACCOUNT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export async function createAccount(core: Core, name: string): Promise<AccountKeys> {
  if (!ACCOUNT_NAME.test(name)) throw invalidParameter('An account name is 1–64 letters, digits, dots, dashes or underscores.');
  const now = core.clock.now();
  return core.db.transaction().execute(async (tx) => {
    const taken = await tx.selectFrom('accounts').select('account_id').where('name', '=', name).executeTakeFirst();
    if (taken) throw invalidParameter(`An account named ${name} already exists (${taken.account_id}).`);
    let accountId = newAccountId();
    while (await tx.selectFrom('accounts').select('account_id').where('account_id', '=', accountId).executeTakeFirst()) {
      accountId = newAccountId();
    }
    const keys = { accountId, name, accessKeyId: newAccessKeyId(), secretAccessKey: newSecretAccessKey() };
    await tx.insertInto('accounts').values({ account_id: accountId, name, created_at: now }).execute();
    await tx
      .insertInto('access_keys')
      .values({ access_key_id: keys.accessKeyId, secret_access_key: keys.secretAccessKey, account_id: accountId, created_at: now })
      .execute();
    return keys;
  });
}

export async function findAccount(core: Core, nameOrId: string): Promise<{ accountId: string; name: string } | undefined> {
  const row = await core.db
    .selectFrom('accounts')
    .select(['account_id', 'name'])
    .where((eb) => eb.or([eb('account_id', '=', nameOrId), eb('name', '=', nameOrId)]))
    .executeTakeFirst();
  return row && { accountId: row.account_id, name: row.name };
}

export async function listAccounts(core: Core): Promise<{ accountId: string; name: string; createdAt: number }[]> {
  const rows = await core.db.selectFrom('accounts').selectAll().orderBy('created_at').execute();
  return rows.map((r) => ({ accountId: r.account_id, name: r.name, createdAt: r.created_at }));
}

export interface RootCredentials {
  accountId: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Where they came from: the environment, or a file Ferry generated in the data dir. */
  source: 'env' | 'generated' | 'file';
  file?: string;
}

/**
 * The root account's keys: from FERRY_ROOT_ACCESS_KEY_ID / FERRY_ROOT_SECRET_ACCESS_KEY when set, otherwise
 * generated on first start and kept in `<data-dir>/root-credentials.json` (mode 0600).
 */
export async function ensureRootCredentials(core: Core, dataDir: string, env: NodeJS.ProcessEnv): Promise<RootCredentials> {
  const now = core.clock.now();
  let root = await core.db.selectFrom('accounts').select('account_id').where('name', '=', ROOT_ACCOUNT_NAME).executeTakeFirst();
  if (!root) {
    const accountId = newAccountId();
    await core.db.insertInto('accounts').values({ account_id: accountId, name: ROOT_ACCOUNT_NAME, created_at: now }).execute();
    root = { account_id: accountId };
  }
  const accountId = root.account_id;
  const file = join(dataDir, 'root-credentials.json');
  let keys: { accessKeyId: string; secretAccessKey: string };
  let source: RootCredentials['source'];
  if (env.FERRY_ROOT_ACCESS_KEY_ID && env.FERRY_ROOT_SECRET_ACCESS_KEY) {
    keys = { accessKeyId: env.FERRY_ROOT_ACCESS_KEY_ID, secretAccessKey: env.FERRY_ROOT_SECRET_ACCESS_KEY };
    source = 'env';
  } else if (existsSync(file)) {
    keys = JSON.parse(readFileSync(file, 'utf8')) as typeof keys;
    source = 'file';
  } else {
    keys = { accessKeyId: newAccessKeyId(), secretAccessKey: newSecretAccessKey() };
    writeFileSync(file, JSON.stringify({ ...keys, accountId }, null, 2) + '\n', { mode: 0o600 });
    chmodSync(file, 0o600);
    source = 'generated';
  }
  await core.db
    .insertInto('access_keys')
    .values({ access_key_id: keys.accessKeyId, secret_access_key: keys.secretAccessKey, account_id: accountId, created_at: now })
    .onConflict((oc) => oc.column('access_key_id').doUpdateSet({ secret_access_key: keys.secretAccessKey, account_id: accountId }))
    .execute();
  return { accountId, ...keys, source, file: source === 'env' ? undefined : file };
}

/**
 * Secret lookup for SigV4, with a small cache of known keys. Unknown keys always go to the store, so keys that
 * `ferry accounts create` adds from another process work at once.
 */
export function secretLookup(core: Core, ttlMs = 60_000): SecretLookup {
  const cache = new Map<string, { secretAccessKey: string; accountId: string; until: number }>();
  return async (accessKeyId) => {
    const now = Date.now();
    const hit = cache.get(accessKeyId);
    if (hit && hit.until > now) return hit;
    const row = await core.db
      .selectFrom('access_keys')
      .select(['secret_access_key', 'account_id'])
      .where('access_key_id', '=', accessKeyId)
      .executeTakeFirst();
    if (!row) {
      cache.delete(accessKeyId);
      return undefined;
    }
    const entry = { secretAccessKey: row.secret_access_key, accountId: row.account_id, until: now + ttlMs };
    if (cache.size > 10_000) cache.clear();
    cache.set(accessKeyId, entry);
    return entry;
  };
}
