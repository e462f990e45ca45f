/**
 * `ferry apps catalog`: the application catalog ImportAppCatalog imports (Ferry's stand-in for Migration Hub).
 *   ferry apps catalog load FILE [--account NAME|ID] [--region R]    replaces the catalog with FILE's applications
 *   ferry apps catalog list [--account NAME|ID] [--region R] [--json] shows it, with what the last import did
 * FILE: {"applications": [{"id": "web-shop", "name": "web-shop", "description": "…", "servers": ["s-…", "vm-12",
 * {"vmManagerId": "…", "vmId": "…"}]}]} — servers by server id, VM id, or VM manager and VM id.
 */
import { readFile, stat } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { resolveDataDir } from '../config/config.ts';
import { ServiceError } from '../lib/errors.ts';
import { ROOT_ACCOUNT_NAME } from '../core/accounts.ts';
import { listCatalog, loadCatalog, parseCatalog } from '../core/apps/appCatalog.ts';
import { withAdminCore } from './adminCore.ts';
import { accountOf } from './accounts.ts';

/** A catalog file is JSON of at most this size (1000 applications of 1000 servers fit easily). */
const MAX_CATALOG_FILE = 16 * 1024 * 1024;

interface TenantFlags {
  dataDir?: string;
  account: string;
  region: string;
  json?: boolean;
}

export function addAppCommands(program: Command, out: (text: string) => void = (text) => void process.stdout.write(text)): Command {
  const apps = program.command('apps').description('applications (SMS App operations)');
  const catalog = apps.command('catalog').description("the application catalog ImportAppCatalog imports (Ferry's stand-in for Migration Hub)");
  const tenant = (command: Command) =>
    command
      .addOption(new Option('--data-dir <dir>', 'data directory (env FERRY_DATA_DIR, default ./ferry-data)'))
      .option('--account <name-or-id>', 'account whose catalog it is', ROOT_ACCOUNT_NAME)
      .option('--region <region>', 'region of the catalog', 'us-east-1');
  const inTenant = <T>(flags: TenantFlags, work: (core: Parameters<Parameters<typeof withAdminCore>[1]>[0], t: { accountId: string; region: string }) => Promise<T>) => {
    const dataDir = resolveDataDir(flags.dataDir, process.env);
    return withAdminCore(dataDir, async (core) => work(core, { accountId: (await accountOf(core, flags.account)).accountId, region: flags.region }));
  };

  tenant(catalog.command('load').description("replace the catalog with FILE's applications").argument('<file>', 'JSON: {"applications": [...]}')).action(
    async (file: string, flags: TenantFlags) => {
      if ((await stat(file)).size > MAX_CATALOG_FILE) throw new ServiceError('InvalidParameterException', `${file} is larger than ${MAX_CATALOG_FILE} bytes.`);
      let document: unknown;
      try {
        document = JSON.parse(await readFile(file, 'utf8'));
      } catch (error) {
        throw new ServiceError('InvalidParameterException', `${file} is not JSON: ${(error as Error).message}`);
      }
      const entries = parseCatalog(document);
      const count = await inTenant(flags, (core, t) => loadCatalog(core, t, entries));
      out(`Loaded ${count} application(s) into the catalog of ${flags.region}; ImportAppCatalog imports them.\n`);
    },
  );
  tenant(catalog.command('list').description('show the catalog and what the last ImportAppCatalog did with each entry'))
    .option('--json', 'print JSON')
    .action(async (flags: TenantFlags) => {
      const entries = await inTenant(flags, (core, t) => listCatalog(core, t));
      if (flags.json) return out(`${JSON.stringify(entries, null, 2)}\n`);
      for (const e of entries) out(`${e.id}  ${e.name}  ${e.servers.length} server(s)  ${e.importResult ?? 'not imported yet'}\n`);
    });
  return apps;
}
