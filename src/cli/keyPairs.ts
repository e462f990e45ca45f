/**
 * `ferry key-pairs`: the SSH public keys a launch configuration's `ec2KeyName` names (EC2's ImportKeyPair for Ferry).
 *   ferry key-pairs import NAME --public-key-file FILE [--account NAME|ID] [--region R] [--json]
 *   ferry key-pairs list [--account NAME|ID] [--region R] [--json]
 *   ferry key-pairs delete NAME [--account NAME|ID] [--region R]
 * Only public keys are stored; a launched instance gets the named key through cloud-init.
 */
import { readFile, stat } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { resolveDataDir } from '../config/config.ts';
import { ServiceError } from '../lib/errors.ts';
import { ROOT_ACCOUNT_NAME } from '../core/accounts.ts';
import { deleteKeyPair, importKeyPair, listKeyPairs, type KeyPair } from '../core/apps/keyPairs.ts';
import { MAX_PUBLIC_KEY_LENGTH } from '../domain/sshPublicKey.ts';
import { withAdminCore } from './adminCore.ts';
import { accountOf } from './accounts.ts';

interface TenantFlags {
  dataDir?: string;
  account: string;
  region: string;
  json?: boolean;
}

const describe = (key: KeyPair, region: string) => ({
  keyName: key.keyName,
  keyType: key.keyType,
  keyFingerprint: key.fingerprint,
  region,
  createdAt: new Date(key.createdAt).toISOString(),
});

export function addKeyPairCommands(program: Command, out: (text: string) => void = (text) => void process.stdout.write(text)): Command {
  const dataDirOption = () => new Option('--data-dir <dir>', 'data directory (env FERRY_DATA_DIR, default ./ferry-data)');
  const tenant = (command: Command) =>
    command
      .addOption(dataDirOption())
      .option('--account <name-or-id>', 'account the key pair belongs to', ROOT_ACCOUNT_NAME)
      .option('--region <region>', 'region of the key pair', 'us-east-1')
      .option('--json', 'print JSON');
  const run = <T>(flags: TenantFlags, work: (core: Parameters<Parameters<typeof withAdminCore>[1]>[0], t: { accountId: string; region: string }) => Promise<T>) => {
    const dataDir = resolveDataDir(flags.dataDir, process.env);
    return withAdminCore(dataDir, async (core) => work(core, { accountId: (await accountOf(core, flags.account)).accountId, region: flags.region }));
  };

  const keyPairs = program.command('key-pairs').description('manage the SSH key pairs launch configurations name (ec2KeyName)');
  tenant(keyPairs.command('import').description('import an OpenSSH public key under NAME').argument('<name>', 'key pair name'))
    .requiredOption('--public-key-file <file>', 'the public key (e.g. ~/.ssh/id_ed25519.pub)')
    .action(async (name: string, flags: TenantFlags & { publicKeyFile: string }) => {
      if ((await stat(flags.publicKeyFile)).size > MAX_PUBLIC_KEY_LENGTH) {
        throw new ServiceError('InvalidParameterException', `${flags.publicKeyFile} is too large to be a public key.`);
      }
      const text = await readFile(flags.publicKeyFile, 'utf8');
      const key = await run(flags, (core, t) => importKeyPair(core, t, name, text));
      out(flags.json ? `${JSON.stringify(describe(key, flags.region), null, 2)}\n` : `Key pair ${key.keyName} (${key.keyType}) ${key.fingerprint}\n`);
    });
  tenant(keyPairs.command('list').description('list key pairs')).action(async (flags: TenantFlags) => {
    const keys = await run(flags, (core, t) => listKeyPairs(core, t));
    if (flags.json) return out(`${JSON.stringify(keys.map((k) => describe(k, flags.region)), null, 2)}\n`);
    for (const key of keys) out(`${key.keyName}  ${key.keyType}  ${key.fingerprint}  ${new Date(key.createdAt).toISOString()}\n`);
  });
  tenant(keyPairs.command('delete').description('delete a key pair').argument('<name>', 'key pair name')).action(async (name: string, flags: TenantFlags) => {
    if (!(await run(flags, (core, t) => deleteKeyPair(core, t, name)))) throw new ServiceError('InvalidParameterException', `No key pair ${name} in ${flags.region}.`);
    out(`Deleted key pair ${name}\n`);
  });
  return keyPairs;
}
