/**
 * The root account and the key it starts with.
 *
 * - With FERRY_ROOT_ACCESS_KEY_ID / FERRY_ROOT_SECRET_ACCESS_KEY set, `ferry serve` makes that the root key and
 *   deletes the one it replaces: every other root key that came from the environment, from root-credentials.json
 *   or from before keys had origins. Keys made with `ferry accounts keys create root` stay (they are how a root key
 *   is rotated without downtime). root-credentials.json is removed once the key it holds is deleted.
 * - Without them, the key in `<data-dir>/root-credentials.json` (mode 0600) is used. Only when the root account has
 *   never had a key is one generated and written there: on the first `ferry serve`, or by `ferry credentials` on a
 *   data dir no service has started in. No other command and no later start makes a root key.
 * - A deleted key never comes back: a start whose environment names one refuses to run.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { newAccessKeyId, newAccountId, newSecretAccessKey } from '../lib/ids.ts';
import { createPrivateFileExclusively } from '../lib/privateFile.ts';
import type { SecretSealer } from '../kms/secretSeal.ts';
import { insertAccessKey, openSecret, resealAccessKey, revokeAccessKeys, ROOT_BOOTSTRAP_ORIGINS, type NewAccessKey } from './accessKeys.ts';
import { ROOT_ACCOUNT_NAME } from './accounts.ts';
import type { Core } from './context.ts';
import * as accounts from '../store/accounts/index.ts';
import * as keyStore from '../store/keys/index.ts';

export const ROOT_CREDENTIALS_FILE = 'root-credentials.json';
const ACCESS_KEY_ID = /^\w{16,128}$/;
const SECRET_ACCESS_KEY = /^[\x21-\x7e]{16,128}$/;

export interface RootCredentials extends NewAccessKey {
  accountId: string;
  /** The environment, the data dir's file (read, or generated now), or the store (neither is at hand). */
  source: 'env' | 'generated' | 'file' | 'store';
  file?: string;
}

/** The root account's id; the account (without keys) is created when missing. */
export async function ensureRootAccount(core: Core): Promise<string> {
  const found = await accounts.idByName(core.db, ROOT_ACCOUNT_NAME);
  if (found) return found;
  return core.db.transaction().execute(async (tx) => {
    const again = await accounts.idByName(tx, ROOT_ACCOUNT_NAME);
    if (again) return again;
    let accountId = newAccountId();
    while (await accounts.idExists(tx, accountId)) accountId = newAccountId();
    await accounts.insert(tx, { accountId, name: ROOT_ACCOUNT_NAME, createdAt: core.clock.now() });
    return accountId;
  });
}

/** FERRY_ROOT_ACCESS_KEY_ID and FERRY_ROOT_SECRET_ACCESS_KEY, validated; undefined when both are unset or empty. */
export function rootKeysFromEnv(env: NodeJS.ProcessEnv): NewAccessKey | undefined {
  const accessKeyId = env.FERRY_ROOT_ACCESS_KEY_ID ?? '';
  const secretAccessKey = env.FERRY_ROOT_SECRET_ACCESS_KEY ?? '';
  if (accessKeyId === '' && secretAccessKey === '') return undefined;
  if (accessKeyId === '' || secretAccessKey === '') {
    throw new Error(`${accessKeyId === '' ? 'FERRY_ROOT_SECRET_ACCESS_KEY' : 'FERRY_ROOT_ACCESS_KEY_ID'} is set but ${accessKeyId === '' ? 'FERRY_ROOT_ACCESS_KEY_ID' : 'FERRY_ROOT_SECRET_ACCESS_KEY'} is not; set both or neither.`);
  }
  if (!ACCESS_KEY_ID.test(accessKeyId)) throw new Error('FERRY_ROOT_ACCESS_KEY_ID must be 16–128 letters, digits or underscores, as AWS access key ids are.');
  if (!SECRET_ACCESS_KEY.test(secretAccessKey)) throw new Error('FERRY_ROOT_SECRET_ACCESS_KEY must be 16–128 printable characters without spaces.');
  return { accessKeyId, secretAccessKey };
}

/** The keys in `<dataDir>/root-credentials.json`, or undefined when there is no such file. */
export function readRootCredentialsFile(dataDir: string): NewAccessKey | undefined {
  const file = join(dataDir, ROOT_CREDENTIALS_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (thrown) {
    if ((thrown as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw thrown;
  }
  const parsed = JSON.parse(text) as Partial<NewAccessKey>;
  if (typeof parsed.accessKeyId !== 'string' || typeof parsed.secretAccessKey !== 'string') throw new Error(`${file} holds no accessKeyId and secretAccessKey.`);
  return { accessKeyId: parsed.accessKeyId, secretAccessKey: parsed.secretAccessKey };
}

/** Removes root-credentials.json if it holds `accessKeyId` (a deleted key); true when it did. */
export function forgetRootCredentialsFile(dataDir: string, accessKeyId: string): boolean {
  const held = readRootCredentialsFile(dataDir);
  if (held?.accessKeyId !== accessKeyId) return false;
  rmSync(join(dataDir, ROOT_CREDENTIALS_FILE), { force: true });
  return true;
}

/** Whether the root account has ever had a key (deleted keys count: they mean someone chose to remove them). */
export async function rootHasHadKeys(core: Core, accountId: string): Promise<boolean> {
  return keyStore.everHad(core.db, accountId);
}

/** What `ferry serve` does at start (see the module comment); `warn` hears keys it deleted and files it removed. */
export async function startRootCredentials(
  core: Core,
  sealer: SecretSealer,
  dataDir: string,
  env: NodeJS.ProcessEnv,
  warn: (message: string) => void,
): Promise<RootCredentials> {
  const accountId = await ensureRootAccount(core);
  const fromEnv = rootKeysFromEnv(env);
  if (fromEnv) return { ...(await installEnvironmentKey(core, sealer, dataDir, accountId, fromEnv, warn)), source: 'env' };
  const file = join(dataDir, ROOT_CREDENTIALS_FILE);
  const held = readRootCredentialsFile(dataDir);
  if (held) {
    const row = await keyRow(core, held.accessKeyId);
    if (row && row.account_id === accountId && row.deleted_at === null) return { ...held, accountId, source: 'file', file };
    if (!row && !(await rootHasHadKeys(core, accountId))) {
      // Written by a start that stopped before storing it (the file is written first), or a store that was reset.
      await storeGeneratedKey(core, sealer, accountId, held);
      return { ...held, accountId, source: 'file', file };
    }
    warn(`${file} holds access key ${held.accessKeyId}, which is ${row?.deleted_at ? 'deleted' : 'not a root key in this store'}; it is not used.`);
  } else if (!(await rootHasHadKeys(core, accountId))) {
    return { ...(await generateRootKey(core, sealer, dataDir, accountId)), accountId };
  }
  return { ...(await storedRootKey(core, sealer, accountId)), accountId, source: 'store' };
}

/**
 * The root key of a data dir whose root account has never had one: generated, written to root-credentials.json
 * (0600) and then stored, in that order, so a crash in between leaves a file the next start stores, never a stored
 * key nobody has seen.
 */
export async function generateRootKey(core: Core, sealer: SecretSealer, dataDir: string, accountId: string): Promise<NewAccessKey & { source: 'generated' | 'file'; file: string }> {
  const file = join(dataDir, ROOT_CREDENTIALS_FILE);
  const fresh = { accessKeyId: newAccessKeyId(), secretAccessKey: newSecretAccessKey() };
  const written = createPrivateFileExclusively(file, JSON.stringify({ ...fresh, accountId }, null, 2) + '\n');
  // Another process (a `ferry credentials` beside the first `ferry serve`) wrote it first: theirs is the key.
  const keys = written ? fresh : readRootCredentialsFile(dataDir)!;
  await storeGeneratedKey(core, sealer, accountId, keys);
  return { ...keys, source: written ? 'generated' : 'file', file };
}

async function storeGeneratedKey(core: Core, sealer: SecretSealer, accountId: string, keys: NewAccessKey): Promise<void> {
  await core.db.transaction().execute(async (tx) => {
    if (await keyStore.withSecret(tx, keys.accessKeyId)) return;
    await insertAccessKey(tx, sealer, { ...keys, accountId, origin: 'generated', now: core.clock.now() });
  });
}

function keyRow(core: Core, accessKeyId: string) {
  return keyStore.withSecret(core.db, accessKeyId);
}

/** The environment's key becomes the root key; the start-up keys it replaces are deleted. */
async function installEnvironmentKey(
  core: Core,
  sealer: SecretSealer,
  dataDir: string,
  accountId: string,
  keys: NewAccessKey,
  warn: (message: string) => void,
): Promise<NewAccessKey & { accountId: string }> {
  const now = core.clock.now();
  const replaced = await core.db.transaction().execute(async (tx) => {
    const row = await keyStore.withSecret(tx, keys.accessKeyId);
    if (row && row.account_id !== accountId) throw new Error(`FERRY_ROOT_ACCESS_KEY_ID ${keys.accessKeyId} is a key of account ${row.account_id}, not of the root account.`);
    if (row?.deleted_at) {
      throw new Error(
        `FERRY_ROOT_ACCESS_KEY_ID ${keys.accessKeyId} was deleted; a deleted key never works again. Set FERRY_ROOT_ACCESS_KEY_ID and ` +
          `FERRY_ROOT_SECRET_ACCESS_KEY to a new key pair (it replaces the old one).`,
      );
    }
    if (!row) await insertAccessKey(tx, sealer, { ...keys, accountId, origin: 'environment', now });
    else if (row.origin !== 'environment' || openSecret(sealer, row) !== keys.secretAccessKey) await resealAccessKey(tx, sealer, { ...keys, accountId, origin: 'environment' });
    const ids = await keyStore.activeOfOrigins(tx, accountId, ROOT_BOOTSTRAP_ORIGINS, keys.accessKeyId);
    await revokeAccessKeys(tx, ids, now);
    return ids;
  });
  for (const id of replaced) {
    warn(`root access key ${id} was replaced by FERRY_ROOT_ACCESS_KEY_ID ${keys.accessKeyId} and is deleted.`);
    if (forgetRootCredentialsFile(dataDir, id)) warn(`${join(dataDir, ROOT_CREDENTIALS_FILE)} held that key and is removed.`);
  }
  return { ...keys, accountId };
}

/** A root key from the store when neither the environment nor the file has one: the newest start-up key, else the newest. */
async function storedRootKey(core: Core, sealer: SecretSealer, accountId: string): Promise<NewAccessKey> {
  const rows = await keyStore.activeWithSecretsOf(core.db, accountId);
  const startUp = rows.filter((row) => (ROOT_BOOTSTRAP_ORIGINS as readonly string[]).includes(row.origin));
  for (const row of [...startUp, ...rows]) {
    const secretAccessKey = openSecret(sealer, row);
    if (secretAccessKey !== undefined) return { accessKeyId: row.access_key_id, secretAccessKey };
  }
  throw new Error('The root account has no usable access key in the store. Set FERRY_ROOT_ACCESS_KEY_ID and FERRY_ROOT_SECRET_ACCESS_KEY to a new key pair.');
}
