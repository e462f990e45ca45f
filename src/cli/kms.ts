/**
 * `ferry kms`: KMS-style keys for encrypted replication jobs.
 *   ferry kms create-key [--alias alias/NAME] [--account NAME|ID] [--region R] [--description D] [--json]
 *   ferry kms list [--account NAME|ID] [--region R] [--json]
 * A job names a key by id, alias, key ARN or alias ARN (`kmsKeyId`); encrypted jobs without one use the account's
 * default key (`alias/aws/ebs`), created on first use.
 */
import { Command, Option } from 'commander';
import { resolveDataDir } from '../config/config.ts';
import { regionArgument } from '../protocol/region.ts';
import { ROOT_ACCOUNT_NAME } from '../core/accounts.ts';
import { Keyring } from '../kms/keyring.ts';
import { aliasArn, listKeys, type KmsKey } from '../kms/keys.ts';
import { MASTER_KEY_ENV } from '../kms/masterKey.ts';
import { openSecretsAtRest } from '../core/secretsAtRest.ts';
import { withAdminCore } from './adminCore.ts';
import { accountOf } from './accounts.ts';

export interface KmsCommandOptions {
  /** Where results go (default: process.stdout). */
  stdout?: (text: string) => void;
  /** Where notices go (default: process.stderr). */
  stderr?: (text: string) => void;
  /** Environment for FERRY_DATA_DIR, FERRY_MASTER_KEY and the root credentials (default: process.env). */
  env?: NodeJS.ProcessEnv;
}

const DEFAULT_REGION = 'us-east-1';

/** Adds `kms create-key` and `kms list` to `program`. */
export function addKmsCommands(program: Command, options: KmsCommandOptions = {}): Command {
  const stdout = options.stdout ?? ((text: string) => void process.stdout.write(text));
  const stderr = options.stderr ?? ((text: string) => void process.stderr.write(text));
  const env = options.env ?? process.env;
  const dataDirOption = () => new Option('--data-dir <dir>', 'data directory (env FERRY_DATA_DIR, default ./ferry-data)');

  const kms = program
    .command('kms')
    .description('manage KMS keys for encrypted replication jobs')
    .addHelpText(
      'after',
      `\nKey material is stored wrapped under a master key: ${MASTER_KEY_ENV} (64 hex characters or base64 of 32 bytes), ` +
        `or <data-dir>/master.key, generated with mode 0600 on first use. Keep a copy: without it, encrypted images cannot be read.`,
    );

  kms
    .command('create-key')
    .description('create a key; prints its id and ARN (and alias)')
    .addOption(dataDirOption())
    .option('--alias <alias>', 'an alias for the key, alias/NAME')
    .option('--account <name-or-id>', 'account the key belongs to', ROOT_ACCOUNT_NAME)
    .option('--region <region>', 'region of the key', DEFAULT_REGION)
    .option('--description <text>', 'a note to recognise it by')
    .option('--json', 'print JSON')
    .action(async (flags: { dataDir?: string; alias?: string; account: string; region: string; description?: string; json?: boolean }) => {
      // The region rule of the API (protocol/region.ts): a region becomes part of ARNs, which are split on ':'.
      regionArgument(flags.region, env);
      const dataDir = resolveDataDir(flags.dataDir, env);
      const { key, master } = await withAdminCore(dataDir, async (core) => {
        // The master key as the service finds it, checked against what the store is already sealed with.
        const { master } = await openSecretsAtRest(core, dataDir, env);
        const accountId = (await accountOf(core, flags.account)).accountId;
        const key = await new Keyring(core.db, master, core.clock).createKey(
          { accountId, region: flags.region },
          { alias: flags.alias, description: flags.description },
        );
        return { key, master };
      }, env);
      if (master.source === 'generated') {
        stderr(`Ferry generated the master key ${master.file} (mode 0600). Back it up: without it, encrypted images cannot be read.\n`);
      }
      if (flags.json) {
        stdout(JSON.stringify(describe(key), null, 2) + '\n');
        return;
      }
      stdout(`Key ${key.keyId}\nARN ${key.arn}\n`);
      for (const alias of key.aliases) stdout(`Alias ${alias} (${aliasArn(key, alias)})\n`);
    });

  kms
    .command('list')
    .description('list keys, with their aliases')
    .addOption(dataDirOption())
    .option('--account <name-or-id>', 'only keys of this account')
    .option('--region <region>', 'only keys of this region')
    .option('--json', 'print JSON')
    .action(async (flags: { dataDir?: string; account?: string; region?: string; json?: boolean }) => {
      const dataDir = resolveDataDir(flags.dataDir, env);
      const keys = await withAdminCore(dataDir, async (core) => {
        const accountId = flags.account === undefined ? undefined : (await accountOf(core, flags.account)).accountId;
        // Listing needs no key material, so no master key: it works even where the master key is not at hand.
        return listKeys(core.db, { accountId, region: flags.region });
      }, env);
      if (flags.json) {
        stdout(JSON.stringify(keys.map(describe), null, 2) + '\n');
        return;
      }
      for (const key of keys) {
        const aliases = key.aliases.length > 0 ? key.aliases.join(',') : '-';
        stdout(`${key.keyId}  ${key.arn}  ${aliases}  ${key.keyManager}${key.description ? `  ${key.description}` : ''}\n`);
      }
    });
  return kms;
}

function describe(key: KmsKey) {
  return {
    keyId: key.keyId,
    arn: key.arn,
    aliases: key.aliases.map((alias) => ({ aliasName: alias, aliasArn: aliasArn(key, alias) })),
    accountId: key.accountId,
    region: key.region,
    description: key.description,
    keyManager: key.keyManager,
    createdAt: new Date(key.createdAt).toISOString(),
  };
}
