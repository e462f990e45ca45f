/**
 * The connector embedded in `ferry serve --datastore DIR`: the root account's connector for region us-east-1,
 * with an identity kept in `<data-dir>/embedded-connector.json` (0600) so it survives restarts and its runs resume.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Core } from './core/context.ts';
import type { DataPlane } from './core/runImages.ts';
import { connectorForToken, issueConnector } from './core/connectors.ts';
import { Connector, type ConnectorOptions } from './agent/connector.ts';
import { LocalTransport } from './server/connector/localTransport.ts';

export const EMBEDDED_REGION = 'us-east-1';

export async function startEmbeddedConnector(options: {
  core: Core;
  plane: DataPlane;
  dataDir: string;
  datastore: string;
  rootAccountId: string;
  version: string;
  log: Logger;
  pollIntervalMs?: number;
  /** Upload limit in bytes per second (`ferry serve --max-bandwidth`). */
  maxBandwidth?: number;
  /** Passed to the Connector (metrics). */
  onRunFinished?: ConnectorOptions['onRunFinished'];
}): Promise<Connector> {
  const file = join(options.dataDir, 'embedded-connector.json');
  let identity: { connectorId: string; token: string } | undefined;
  if (existsSync(file)) {
    identity = JSON.parse(readFileSync(file, 'utf8')) as { connectorId: string; token: string };
    // A disassociated embedded connector is replaced by a new one (DisassociateConnector revoked its token).
    if (!(await connectorForToken(options.core, identity.token))) identity = undefined;
  }
  if (!identity) {
    identity = await issueConnector(options.core, { accountId: options.rootAccountId, region: EMBEDDED_REGION }, 'embedded');
    writeFileSync(file, JSON.stringify(identity, null, 2) + '\n', { mode: 0o600 });
  }
  const connector = new Connector({
    transport: new LocalTransport(options.core, options.plane, identity.token),
    datastore: options.datastore,
    log: options.log,
    version: options.version,
    pollIntervalMs: options.pollIntervalMs ?? 1000,
    maxBandwidth: options.maxBandwidth,
    ipAddress: '127.0.0.1',
    onRunFinished: options.onRunFinished,
    // In process there is no reason to wait for the next poll: queued runs and catalog imports wake the connector.
    wakeOn: (wake) =>
      options.core.events.subscribe((event) => {
        if (!('tenant' in event) || event.tenant.accountId !== options.rootAccountId || event.tenant.region !== EMBEDDED_REGION) return;
        if ((event.type === 'run.state' && event.state === 'PENDING') || (event.type === 'catalog.state' && event.status === 'IMPORTING')) wake();
      }),
  });
  await connector.start();
  return connector;
}
