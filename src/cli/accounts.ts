/**
 * `ferry credentials` and `ferry accounts`: accounts and their access keys, straight on the data dir's store.
 *   ferry credentials [--region R]                          shell exports of the root account's key
 *   ferry accounts create NAME [--json] | list
 *   ferry accounts keys list ACCOUNT [--json]               ids, origins and dates (never secrets)
 *   ferry accounts keys create ACCOUNT [--json]             a second key, to rotate without downtime
 *   ferry accounts keys delete ACCOUNT ACCESS_KEY_ID [--force]
 * The rules live in core/accessKeys.ts and core/rootCredentials.ts. No command here makes a key it was not asked
 * for; the one exception is `credentials` on a data dir whose root account has never had a key (first start).
 */
import { Command, Option } from 'commander';
import { resolveDataDir } from '../config/config.ts';
import { ServiceError } from '../lib/errors.ts';
import { createAccount, findAccount, listAccounts, ROOT_ACCOUNT_NAME } from '../core/accounts.ts';
import { createAccessKey, deleteAccessKey, listAccessKeys, type KeyOrigin } from '../core/accessKeys.ts';
import {
  ensureRootAccount,
  forgetRootCredentialsFile,
  generateRootKey,
  readRootCredentialsFile,
  rootHasHadKeys,
  rootKeysFromEnv,
  ROOT_CREDENTIALS_FILE,
} from '../core/rootCredentials.ts';
import type { Core } from '../core/context.ts';
import { withAdminCore, withAdminSecrets } from './adminCore.ts';

const dataDirOption = () => new Option('--data-dir <dir>', 'data directory (env FERRY_DATA_DIR, default ./ferry-data)');
const out = (text: string) => void process.stdout.write(text);

const ORIGIN: Record<KeyOrigin, string> = {
  created: 'created',
  environment: 'root key from FERRY_ROOT_ACCESS_KEY_ID',
  generated: `root key generated into ${ROOT_CREDENTIALS_FILE}`,
  legacy: 'root key from before origins were recorded',
};

export function addAccountCommands(program: Command): void {
  program
    .command('credentials')
    .description('print shell exports for the root credentials (for eval)')
    .addOption(dataDirOption())
    .option('--region <region>', 'region to export as AWS_REGION', 'us-east-1')
    .action(async (flags: { dataDir?: string; region: string }) => {
      const dataDir = resolveDataDir(flags.dataDir, process.env);
      const keys = rootKeysFromEnv(process.env) ?? readRootCredentialsFile(dataDir) ?? (await firstRootKey(dataDir));
      out(`export AWS_ACCESS_KEY_ID=${keys.accessKeyId}\nexport AWS_SECRET_ACCESS_KEY=${keys.secretAccessKey}\nexport AWS_REGION=${flags.region}\n`);
    });

  const accounts = program.command('accounts').description('manage accounts (each has its own keys and its own data)');
  accounts
    .command('create')
    .description('create an account with its own access key; prints its id and keys once')
    .argument('<name>', 'account name')
    .addOption(dataDirOption())
    .option('--json', 'print JSON')
    .action(async (name: string, flags: { dataDir?: string; json?: boolean }) => {
      const dataDir = resolveDataDir(flags.dataDir, process.env);
      const keys = await withAdminSecrets(dataDir, process.env, (core, secrets) => createAccount(core, secrets.accessKeys, name));
      if (flags.json) return out(JSON.stringify(keys, null, 2) + '\n');
      out(`Account ${keys.name}: ${keys.accountId}\n${exportsOf(keys)}(The secret is shown only now.)\n`);
    });
  accounts
    .command('list')
    .description('list accounts')
    .addOption(dataDirOption())
    .action(async (flags: { dataDir?: string }) => {
      const rows = await withAdminCore(resolveDataDir(flags.dataDir, process.env), listAccounts);
      for (const row of rows) out(`${row.accountId}  ${row.name}  ${new Date(row.createdAt).toISOString()}\n`);
    });

  const keys = accounts
    .command('keys')
    .description("an account's access keys: at most 2 at a time; rotate by creating the second, moving clients, deleting the first");
  keys
    .command('list')
    .description("list an account's access keys (ids, dates and origins; secrets are never shown again)")
    .argument('<account>', 'account name or id')
    .addOption(dataDirOption())
    .option('--json', 'print JSON')
    .action(async (nameOrId: string, flags: { dataDir?: string; json?: boolean }) => {
      const list = await withAdminCore(resolveDataDir(flags.dataDir, process.env), async (core) => listAccessKeys(core, (await accountOf(core, nameOrId)).accountId));
      if (flags.json) return out(JSON.stringify(list.map((k) => ({ ...k, createdAt: new Date(k.createdAt).toISOString() })), null, 2) + '\n');
      for (const key of list) out(`${key.accessKeyId}  ${new Date(key.createdAt).toISOString()}  ${ORIGIN[key.origin]}\n`);
    });
  keys
    .command('create')
    .description('create another access key for the account; prints it once')
    .argument('<account>', 'account name or id')
    .addOption(dataDirOption())
    .option('--json', 'print JSON')
    .action(async (nameOrId: string, flags: { dataDir?: string; json?: boolean }) => {
      const dataDir = resolveDataDir(flags.dataDir, process.env);
      const made = await withAdminSecrets(dataDir, process.env, async (core, secrets) => {
        const account = await accountOf(core, nameOrId);
        return { ...account, ...(await createAccessKey(core, secrets.accessKeys, account)) };
      });
      if (flags.json) return out(JSON.stringify(made, null, 2) + '\n');
      out(
        `Account ${made.name} (${made.accountId}): new access key\n${exportsOf(made)}` +
          `(The secret is shown only now. Move the clients to it, then delete the old key: ferry accounts keys delete ${made.name} OLD_ACCESS_KEY_ID)\n`,
      );
    });
  keys
    .command('delete')
    .description('delete an access key: requests signed with it are refused from the next one on, in the running service too')
    .argument('<account>', 'account name or id')
    .argument('<access-key-id>', 'the key to delete')
    .addOption(dataDirOption())
    .option('--force', "delete the account's last key too (not possible for the root account)")
    .action(async (nameOrId: string, accessKeyId: string, flags: { dataDir?: string; force?: boolean }) => {
      const dataDir = resolveDataDir(flags.dataDir, process.env);
      const deleted = await withAdminCore(dataDir, async (core) => {
        const account = await accountOf(core, nameOrId);
        const key = await deleteAccessKey(core, { ...account, isRoot: account.name === ROOT_ACCOUNT_NAME }, accessKeyId, { force: flags.force });
        return { account, key };
      });
      out(`Deleted access key ${deleted.key.accessKeyId} of account ${deleted.account.name}; it no longer authenticates.\n`);
      if (deleted.account.name === ROOT_ACCOUNT_NAME && forgetRootCredentialsFile(dataDir, accessKeyId)) {
        out(`Removed ${ROOT_CREDENTIALS_FILE}, which held it.\n`);
      }
    });
}

/** An account by name or id; the root account is created (without keys) when it does not exist yet. */
export async function accountOf(core: Core, nameOrId: string): Promise<{ accountId: string; name: string }> {
  if (nameOrId === ROOT_ACCOUNT_NAME) await ensureRootAccount(core);
  const account = await findAccount(core, nameOrId);
  if (!account) throw new ServiceError('InvalidParameterException', `No account named or numbered ${nameOrId}.`);
  return account;
}

function exportsOf(keys: { accessKeyId: string; secretAccessKey: string }): string {
  return `export AWS_ACCESS_KEY_ID=${keys.accessKeyId}\nexport AWS_SECRET_ACCESS_KEY=${keys.secretAccessKey}\n`;
}

/** `ferry credentials` with neither the environment's key nor the file: only a root account without any key gets one. */
async function firstRootKey(dataDir: string): Promise<{ accessKeyId: string; secretAccessKey: string }> {
  return withAdminSecrets(dataDir, process.env, async (core, secrets) => {
    const accountId = await ensureRootAccount(core);
    if (await rootHasHadKeys(core, accountId)) {
      throw new Error(
        `the root account's key is not at hand: ${dataDir}/${ROOT_CREDENTIALS_FILE} does not exist (the service takes the key from ` +
          `FERRY_ROOT_ACCESS_KEY_ID/FERRY_ROOT_SECRET_ACCESS_KEY; set them here too) — or make another with 'ferry accounts keys create root'.`,
      );
    }
    return generateRootKey(core, secrets.accessKeys, dataDir, accountId);
  });
}
