/** Accounts: each has its own access keys (core/accessKeys.ts) and its own data. The root account: core/rootCredentials.ts. */
import { newAccessKeyId, newAccountId, newSecretAccessKey } from '../lib/ids.ts';
import { invalidParameter } from '../lib/errors.ts';
import type { SecretSealer } from '../kms/secretSeal.ts';
import { insertAccessKey } from './accessKeys.ts';
import type { Core } from './context.ts';
import * as accounts from '../store/accounts/index.ts';

export interface AccountKeys {
  accountId: string;
  name: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export const ROOT_ACCOUNT_NAME = 'root';
const ACCOUNT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** A new account with its first access key, sealed under `sealer`; the secret is returned once, here. */
export async function createAccount(core: Core, sealer: SecretSealer, name: string): Promise<AccountKeys> {
  if (!ACCOUNT_NAME.test(name)) throw invalidParameter('An account name is 1–64 letters, digits, dots, dashes or underscores.');
  const now = core.clock.now();
  return core.db.transaction().execute(async (tx) => {
    const taken = await accounts.idByName(tx, name);
    if (taken) throw invalidParameter(`An account named ${name} already exists (${taken}).`);
    let accountId = newAccountId();
    while (await accounts.idExists(tx, accountId)) accountId = newAccountId();
    const keys = { accountId, name, accessKeyId: newAccessKeyId(), secretAccessKey: newSecretAccessKey() };
    await accounts.insert(tx, { accountId, name, createdAt: now });
    await insertAccessKey(tx, sealer, { ...keys, origin: 'created', now });
    return keys;
  });
}

export async function findAccount(core: Core, nameOrId: string): Promise<{ accountId: string; name: string } | undefined> {
  const account = await accounts.byIdOrName(core.db, nameOrId);
  return account && { accountId: account.accountId, name: account.name };
}

export async function listAccounts(core: Core): Promise<{ accountId: string; name: string; createdAt: number }[]> {
  return accounts.list(core.db);
}
