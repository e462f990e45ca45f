/**
 * Ferry's own read-only operations, beside the SMS ones on the same endpoint (target prefix `Ferry_20261122`,
 * SigV4-signed with service `sms`, same errors): what the SMS API has no shape for — the images in Ferry's store,
 * a run's live byte progress, the on-demand quota, connectors' last heartbeats, and launched instances with their
 * serial console output. The console and `ferry status` use them.
 */
import type { Operation } from '../operation.ts';
import { FERRY_TARGET_PREFIX, type FerryInput, type FerryOperationName, type FerryOutput } from '../../api/ferryWire.ts';
import { listImages } from './listImages.ts';
import { getRunProgress } from './getRunProgress.ts';
import { getOnDemandQuota } from './getOnDemandQuota.ts';
import { listConnectorHeartbeats } from './listConnectorHeartbeats.ts';
import { listInstances } from './listInstances.ts';
import { getInstanceConsoleOutput } from './getInstanceConsoleOutput.ts';

export { FERRY_TARGET_PREFIX };

/** One handler per operation of the wire contract: a missing or mistyped one is a compile error. */
export const ferryOperations: { readonly [Op in FerryOperationName]: Operation<FerryInput<Op>, FerryOutput<Op, Date>> } = {
  ListImages: listImages,
  GetRunProgress: getRunProgress,
  GetOnDemandQuota: getOnDemandQuota,
  ListConnectorHeartbeats: listConnectorHeartbeats,
  ListInstances: listInstances,
  GetInstanceConsoleOutput: getInstanceConsoleOutput,
};

export function findFerryOperation(name: string): Operation<unknown, unknown> | undefined {
  return Object.hasOwn(ferryOperations, name)
    ? (ferryOperations[name as FerryOperationName] as unknown as Operation<unknown, unknown>)
    : undefined;
}
