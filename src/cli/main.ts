/** `ferry`: the one command-line entry point (serve, accounts, connectors, credentials). */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { parseBlocksSetting } from '../images/blocks/blocksUrl.ts';
import { resolveDataDir, resolveLaunchConfig, resolveServeConfig } from '../config/config.ts';
import { startLocalLibvirt } from '../launch/libvirtDaemon.ts';
import { NO_LAUNCH_NODE } from '../domain/launchPlacement.ts';
import { startFerry, VERSION } from '../main.ts';
import { createLogger } from '../lib/logger.ts';
import { ROOT_ACCOUNT_NAME } from '../core/accounts.ts';
import { issueConnector } from '../core/connectors.ts';
import { regionArgument } from '../protocol/region.ts';
import { withAdminCore } from './adminCore.ts';
import { addMigrateCommand } from './migrate.ts';
import { addAccountCommands, accountOf } from './accounts.ts';
import { addKmsCommands } from './kms.ts';
import { addImageCommands } from './images.ts';
import { addConnectorCommand } from './connector.ts';
import { addStatusCommand } from './status.ts';
import { addRunsCommands } from './runsWatch.ts';
import { addKeyPairCommands } from './keyPairs.ts';
import { addAppCommands } from './appCatalog.ts';
import { addAppsWatchCommand } from './appsWatch.ts';
import { createSampleDatastore } from '../agent/sample/createSampleDatastore.ts';
import { DATA_DIR_MODE } from '../store/dataDirPermissions.ts';
import type { Policy } from '../domain/policy.ts';

const program = new Command()
  .name('ferry')
  .description('Ferry: a self-hosted server-migration service that speaks the AWS SMS API.')
  .version(VERSION)
  .showHelpAfterError();

const dataDirOption = () => new Option('--data-dir <dir>', 'data directory (env FERRY_DATA_DIR, default ./ferry-data)');

program
  .command('serve')
  .description('run the SMS API, the scheduler and the connector API')
  .addOption(new Option('--host <host>', 'address to listen on (env FERRY_HOST, default 127.0.0.1)'))
  .addOption(new Option('--port <port>', 'port to listen on (env FERRY_PORT, default 7676)'))
  .addOption(dataDirOption())
  .addOption(new Option('--datastore <dir>', 'serve the VMs in this directory with the embedded connector (env FERRY_DATASTORE; default: a generated sample in the data dir)'))
  .addOption(new Option('--store <url>', 'keep state in PostgreSQL at this postgres:// URL, shared by N nodes (env FERRY_STORE; default: SQLite in the data dir)'))
  .addOption(new Option('--blocks <url>', 'where image blocks live: local (pack files in the data dir) or s3://bucket/prefix (env FERRY_BLOCKS; default local)'))
  .addOption(new Option('--s3-endpoint <url>', 'the S3-compatible endpoint for --blocks s3://… (env FERRY_S3_ENDPOINT; default AWS; path-style unless FERRY_S3_PATH_STYLE=false)'))
  .addOption(new Option('--max-bandwidth <rate>', "the embedded connector's upload limit in bytes per second, e.g. 200M (env FERRY_MAX_BANDWIDTH; default none)"))
  // Launch (src/launch): instances run on libvirt.
  .addOption(new Option('--launch-uri <uri>', 'libvirt URI to launch instances through (env FERRY_LAUNCH_URI, default qemu:///system)'))
  .addOption(new Option('--instances-dir <dir>', "instances' overlays, seeds and consoles (env FERRY_INSTANCES_DIR, default /var/lib/ferry/instances for root)"))
  .addOption(new Option('--no-embedded-connector', 'run only the control plane: connectors run elsewhere (env FERRY_EMBEDDED_CONNECTOR=off)'))
  // Observability: webhooks for job, run, app and instance state changes (docs/events.md).
  .addOption(
    new Option('--webhook <url>', 'POST signed job, run, app and instance state changes to this URL; repeatable (env FERRY_WEBHOOK_URLS, comma-separated)')
      .argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]),
  )
  .addHelpText(
    'after',
    '\nEnvironment: FERRY_MAX_JOBS_PER_ACCOUNT=<n> raises the limit of non-terminal replication jobs per account and region (default 50).' +
      '\nFERRY_WEBHOOK_SECRET signs webhook deliveries (default: <data-dir>/webhook-secret, generated 0600). Metrics: GET /metrics.' +
      '\nIn a cluster (--store postgres://…), FERRY_LAUNCH_NODE=<node id> names the one node that launches instances (docs/cluster.md).',
  )
  .action(async (flags: { host?: string; port?: string; dataDir?: string; store?: string; datastore?: string; maxBandwidth?: string; blocks?: string; s3Endpoint?: string; embeddedConnector: boolean; webhook?: string[]; launchUri?: string; instancesDir?: string }) => {
    const config = resolveServeConfig(flags, process.env);
    // A malformed --blocks / --s3-endpoint fails here, before the sample datastore is built, not after.
    parseBlocksSetting(config.blocks, config.s3Endpoint, process.env);
    const launch = resolveLaunchConfig(flags, process.env);
    const log = createLogger(config.logLevel);
    // Start libvirt when it is installed but not running (local default URI only), or say in one line what is missing.
    const libvirtNote = await startLocalLibvirt(launch.uri);
    if (libvirtNote) log.info({ uri: launch.uri }, libvirtNote);
    // FERRY_MAX_JOBS_PER_ACCOUNT: the limit of non-terminal replication jobs per account and region (SMS: 50).
    // Raising it lets one account run more jobs (operators with large estates, benchmarks); unset keeps 50.
    const policy: Partial<Policy> = {};
    const maxJobs = process.env.FERRY_MAX_JOBS_PER_ACCOUNT;
    if (maxJobs !== undefined && maxJobs !== '') {
      const value = Number(maxJobs);
      if (!/^[0-9]+$/.test(maxJobs.trim()) || !Number.isSafeInteger(value) || value < 1) {
        throw new Error(`FERRY_MAX_JOBS_PER_ACCOUNT must be a positive integer; got ${JSON.stringify(maxJobs)}.`);
      }
      policy.maxNonTerminalJobsPerAccount = value;
    }
    const embedded = flags.embeddedConnector && process.env.FERRY_EMBEDDED_CONNECTOR !== 'off';
    let datastore = embedded ? config.datastore : undefined;
    if (embedded && !datastore) {
      // No datastore given: serve a small generated sample so a newcomer can import and replicate at once.
      datastore = join(config.dataDir, 'sample-datastore');
      // The sample goes inside the data dir: make that private first, or a first start would create it 0755 and
      // then warn that it had to tighten it.
      mkdirSync(config.dataDir, { recursive: true, mode: DATA_DIR_MODE });
      try {
        const sample = await createSampleDatastore(datastore, { log: (message) => log.info(message) });
        if (sample.created) log.info({ datastore, ms: Math.round(sample.elapsedMs) }, 'sample datastore created');
      } catch (error) {
        log.warn({ err: (error as Error).message }, 'no sample datastore: the embedded connector is not started (use --datastore DIR)');
        datastore = undefined;
      }
    }
    const ferry = await startFerry({ ...config, datastore, log, policy, webhookUrls: flags.webhook, launch });
    log.info({ url: ferry.url, dataDir: config.dataDir, version: VERSION }, 'ferry is listening');
    // One line on whether instances can be launched here, and if not, what is missing (or which node launches).
    const placement = ferry.launchPlacement;
    if (placement.kind === 'elsewhere') log.info({ launchNode: placement.node }, `instances are launched by node ${placement.node} (FERRY_LAUNCH_NODE)`);
    else if (placement.kind === 'nowhere') log.warn(`launching is unavailable: ${NO_LAUNCH_NODE}`);
    else {
      void ferry.instances.availability().then((launching) =>
        launching.available
          ? log.info({ uri: launch.uri, instancesDir: launch.instancesDir }, 'launching is available')
          : log.warn({ uri: launch.uri }, `launching is unavailable: ${launching.reason}`),
      );
    }
    const root = ferry.root;
    if (root.source === 'generated') {
      process.stderr.write(
        `\nFerry generated root credentials in ${root.file} (mode 0600).\n` +
          `Use them with the AWS CLI, boto3 or the AWS SDKs:\n\n` +
          `  eval "$(npx ferry credentials --data-dir ${config.dataDir})"\n` +
          `  aws --endpoint-url ${ferry.url} --region us-east-1 sms get-connectors\n\n`,
      );
    }
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'shutting down');
      await ferry.close();
      process.exit(0);
    };
    process.on('SIGINT', () => void stop('SIGINT'));
    process.on('SIGTERM', () => void stop('SIGTERM'));
  });

addAccountCommands(program);

const connectors = program.command('connectors').description('manage connectors');
connectors
  .command('register')
  .description('issue a connector identity and its token (the connector registers itself with it)')
  .addOption(dataDirOption())
  .option('--account <name-or-id>', 'account the connector belongs to', ROOT_ACCOUNT_NAME)
  .option('--region <region>', 'region the connector serves', 'us-east-1')
  .option('--label <label>', 'a note to recognise it by')
  .option('--json', 'print JSON')
  .action(async (flags: { dataDir?: string; account: string; region: string; label?: string; json?: boolean }) => {
    const region = regionArgument(flags.region, process.env);
    const dataDir = resolveDataDir(flags.dataDir, process.env);
    const issued = await withAdminCore(dataDir, async (core) => {
      const account = await accountOf(core, flags.account);
      const connector = await issueConnector(core, { accountId: account.accountId, region }, flags.label ?? null);
      return { ...connector, accountId: account.accountId, region };
    });
    if (flags.json) {
      process.stdout.write(JSON.stringify(issued, null, 2) + '\n');
      return;
    }
    process.stdout.write(
      `Connector ${issued.connectorId} (account ${issued.accountId}, region ${issued.region})\n` +
        `Token: ${issued.token}\n` +
        `(The token is shown only now. The connector sends it as 'Authorization: Bearer TOKEN' to /ferry/connector/v1/.)\n`,
    );
  });

addMigrateCommand(program);
addKmsCommands(program);
addImageCommands(program);
addConnectorCommand(program);
addStatusCommand(program);
addRunsCommands(program);
addKeyPairCommands(program);
addAppsWatchCommand(addAppCommands(program));

try {
  await program.parseAsync(process.argv);
} catch (thrown) {
  const message = thrown instanceof Error ? thrown.message : String(thrown);
  process.stderr.write(`ferry: ${message}\n`);
  process.exit(1);
}
