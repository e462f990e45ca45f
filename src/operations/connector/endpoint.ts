/**
 * The service's side of the connector protocol, for one authenticated connector: each call of the contract
 * (protocol/connector/messages.ts ConnectorEndpoint) onto the rules in core/. The HTTP routes
 * (server/connectorApi.ts) and the embedded connector's in-process transport (server/connector/localTransport.ts)
 * both call exactly this, so a connector sees the same answers and the same refusals over either.
 */
import type { Core } from '../../core/context.ts';
import { recordHeartbeat, registerConnector } from '../../core/connectors.ts';
import { applyInventory } from '../../core/catalog.ts';
import { activeRuns, claimRuns, completeRun, failRun, reportProgress } from '../../core/runs.ts';
import { beginRunImage, diffRunBlocks, finishRunImage, missingRunBlocks, parentOfRun, putRunBlocks, recordRunBlocks, type DataPlane } from '../../core/runImages.ts';
import { MAX_FAILURE_MESSAGE_LENGTH, RunConflict } from '../../domain/replicationRun.ts';
import type { ConnectorRow } from '../../store/rows.ts';
import { AMI_ID } from '../../images/imageIds.ts';
import type { ConnectorEndpoint } from '../../protocol/connector/messages.ts';
import { badRequest } from '../../protocol/connector/routes.ts';

/** Runs one claim may take. */
export const MAX_CLAIM = 50;

/** Every call but register needs a registered connector. */
export function requireRegistered(connector: ConnectorRow): ConnectorRow {
  if (connector.registered_at === null) throw new RunConflict('The connector has not registered yet: POST /ferry/connector/v1/register first.');
  return connector;
}

export function connectorEndpoint(core: Core, plane: DataPlane | undefined, connector: ConnectorRow): ConnectorEndpoint {
  const registered = (): ConnectorRow => requireRegistered(connector);
  /** Image calls: a registered connector, then a service with an image store. */
  const withImages = async <T>(work: (plane: DataPlane, connector: ConnectorRow) => Promise<T>): Promise<T> => {
    const holder = registered();
    if (!plane) throw badRequest('This service has no image store configured.');
    return work(plane, holder);
  };
  return {
    async register(registration) {
      await registerConnector(core, connector, registration);
      return {
        connectorId: connector.connector_id,
        accountId: connector.account_id,
        region: connector.region,
        heartbeatIntervalSeconds: core.policy.connectorHeartbeatIntervalMs / 1000,
        leaseSeconds: core.policy.runLeaseMs / 1000,
      };
    },
    heartbeat: async (report) => recordHeartbeat(core, registered(), report),
    inventory: async (vms) => applyInventory(core, registered(), vms),
    claim: async (max) => claimRuns(core, registered(), Math.min(Math.floor(max), MAX_CLAIM)),
    activeRuns: async () => activeRuns(core, registered()),
    progress: async (runId, report) => reportProgress(core, registered(), runId, report),
    async complete(runId, amiId) {
      if (!AMI_ID.test(amiId)) throw badRequest('amiId must be ami- followed by 17 lower-case hex digits.');
      await completeRun(core, registered(), runId, amiId);
    },
    fail: async (runId, message) => failRun(core, registered(), runId, message.slice(0, MAX_FAILURE_MESSAGE_LENGTH)),
    parentImage: async (runId) => withImages((images, holder) => parentOfRun(core, images, holder, runId)),
    beginImage: async (runId, disks) => withImages((images, holder) => beginRunImage(core, images, holder, runId, disks)),
    diffBlocks: async (runId, diskIndex, span) => withImages((images, holder) => diffRunBlocks(core, images, holder, runId, diskIndex, span)),
    missingBlocks: async (runId, sha256s) => withImages((images, holder) => missingRunBlocks(core, images, holder, runId, sha256s)),
    putBlocks: async (runId, blocks, options) => withImages((images, holder) => putRunBlocks(core, images, holder, runId, blocks, options)),
    recordBlocks: async (runId, diskIndex, records) => withImages((images, holder) => recordRunBlocks(core, images, holder, runId, diskIndex, records)),
    finishImage: async (runId) => withImages((images, holder) => finishRunImage(core, images, holder, runId)),
  };
}
