/**
 * Ferry's own read-only operations, beside the SMS ones on the same endpoint (target prefix `Ferry_20261122`,
 * SigV4-signed with service `sms`, same errors): what the SMS API has no shape for — the images in Ferry's store,
 * a run's live byte progress, the on-demand quota, connectors' last heartbeats, and launched instances with their
 * serial console output. The console and `ferry status` use them.
 */
import type { Operation } from '../../api/operation.ts';
import { listImages } from './listImages.ts';
import { getRunProgress } from './getRunProgress.ts';
import { getOnDemandQuota } from './getOnDemandQuota.ts';
import { listConnectorHeartbeats } from './listConnectorHeartbeats.ts';
import { listInstances } from './listInstances.ts';
import { getInstanceConsoleOutput } from './getInstanceConsoleOutput.ts';

export const FERRY_TARGET_PREFIX = 'Ferry_20261122';

export const ferryOperations = {
  ListImages: listImages,
  GetRunProgress: getRunProgress,
  GetOnDemandQuota: getOnDemandQuota,
  ListConnectorHeartbeats: listConnectorHeartbeats,
  ListInstances: listInstances,
  GetInstanceConsoleOutput: getInstanceConsoleOutput,
} as const;

export function findFerryOperation(name: string): Operation<unknown, unknown> | undefined {
  return Object.hasOwn(ferryOperations, name)
    ? (ferryOperations[name as keyof typeof ferryOperations] as unknown as Operation<unknown, unknown>)
    : undefined;
}
