/** `ferry connector`: a standalone connector near the disks, talking to a Ferry service over HTTP. */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { Connector } from '../agent/connector.ts';
import { HttpTransport } from '../agent/httpTransport.ts';
import { createLogger } from '../lib/logger.ts';
import { VERSION } from '../main.ts';
import { parseBandwidth } from '../config/config.ts';

export function addConnectorCommand(program: Command): void {
  program
    .command('connector')
    .description('run a connector: serve the VMs of a datastore directory to a Ferry service')
    .requiredOption('--server <url>', 'the Ferry service, e.g. http://ferry.example:7676')
    .requiredOption('--token <token>', 'the token `ferry connectors register` printed (env FERRY_CONNECTOR_TOKEN)', process.env.FERRY_CONNECTOR_TOKEN)
    .requiredOption('--datastore <dir>', 'directory of VM folders (see docs/datastore.md)')
    .option('--max-bandwidth <rate>', 'upload limit in bytes per second (e.g. 50M, 1G)')
    .option('--poll-interval <seconds>', 'how often to heartbeat and look for work', '2')
    .action(async (flags: { server: string; token: string; datastore: string; maxBandwidth?: string; pollInterval: string }) => {
      const log = createLogger(process.env.FERRY_LOG_LEVEL ?? 'info');
      const connector = new Connector({
        transport: new HttpTransport(flags.server, flags.token),
        datastore: resolve(flags.datastore),
        log,
        version: VERSION,
        maxBandwidth: flags.maxBandwidth ? parseBandwidth(flags.maxBandwidth) : undefined,
        pollIntervalMs: Math.max(0.2, Number(flags.pollInterval) || 2) * 1000,
      });
      await connector.start();
      // The connector's own timers are unref'd (embedded in `ferry serve`, the server keeps the process alive):
      // standalone, this keeps it running until a signal stops it.
      const keepAlive = setInterval(() => {}, 60_000);
      const stop = async (signal: string) => {
        log.info({ signal }, 'connector stopping');
        clearInterval(keepAlive);
        await connector.stop();
        process.exit(0);
      };
      process.on('SIGINT', () => void stop('SIGINT'));
      process.on('SIGTERM', () => void stop('SIGTERM'));
    });
}
