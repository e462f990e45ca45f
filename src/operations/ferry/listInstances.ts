import type { Operation } from '../operation.ts';
import { str } from '../../api/schema.ts';
import { ServiceError } from '../../lib/errors.ts';
import { epochDate } from '../../protocol/awsJson.ts';
import type { Instance } from '../../apps/instances.ts';
import type { FerryInput, FerryInstance, FerryOutput } from '../../api/ferryWire.ts';

const optionalDate = (ms: number | null) => (ms === null ? undefined : epochDate(ms));

export function toFerryInstance(i: Instance): FerryInstance<Date> {
  return {
    instanceId: i.instanceId,
    appId: i.appId ?? undefined,
    serverId: i.serverId,
    amiId: i.amiId,
    domainName: i.domainName,
    state: i.state,
    stateMessage: i.stateMessage ?? undefined,
    hydration: i.hydration,
    hydrationMessage: i.hydrationMessage ?? undefined,
    launchedAt: epochDate(i.launchedAt),
    bootedAt: optionalDate(i.bootedAt),
    hydratedAt: optionalDate(i.hydratedAt),
    terminatedAt: optionalDate(i.terminatedAt),
    validations: i.validations.map((v) => ({ validationId: v.validationId, name: v.name, status: v.status, message: v.message ?? undefined, at: optionalDate(v.at) })),
    labels: i.labels,
  };
}

/** The caller's launched instances (oldest first), optionally of one app: state, hydration and validation results. */
export const listInstances: Operation<FerryInput<'ListInstances'>, FerryOutput<'ListInstances', Date>> = {
  input: { appId: { kind: 'string', maxLength: 64 } },
  async handle(input, { tenant, instances }) {
    if (!instances) throw new ServiceError('NotImplementedException', 'This Ferry runs without the launch subsystem.');
    const list = await instances.list(tenant, input.appId === undefined ? {} : { appId: input.appId });
    return { instances: list.map(toFerryInstance) };
  },
};
