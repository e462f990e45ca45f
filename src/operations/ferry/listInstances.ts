import type { Operation } from '../../api/operation.ts';
import { str } from '../../api/schema.ts';
import { ServiceError } from '../../lib/errors.ts';
import { epochDate } from '../../protocol/awsJson.ts';
import type { Instance } from '../../launch/instanceService.ts';

export interface FerryInstance {
  instanceId: string;
  appId?: string;
  serverId: string;
  amiId: string;
  domainName: string;
  state: string;
  stateMessage?: string;
  hydration: string;
  hydrationMessage?: string;
  launchedAt: Date;
  bootedAt?: Date;
  hydratedAt?: Date;
  terminatedAt?: Date;
  validations: { validationId: string; name: string; status: string; message?: string; at?: Date }[];
  labels: Record<string, string>;
}

const optionalDate = (ms: number | null) => (ms === null ? undefined : epochDate(ms));

export function toFerryInstance(i: Instance): FerryInstance {
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
export const listInstances: Operation<{ appId?: string }, { instances: FerryInstance[] }> = {
  input: { appId: { kind: 'string', maxLength: 64 } },
  async handle(input, { tenant, instances }) {
    if (!instances) throw new ServiceError('NotImplementedException', 'This Ferry runs without the launch subsystem.');
    const list = await instances.list(tenant, input.appId === undefined ? {} : { appId: input.appId });
    return { instances: list.map(toFerryInstance) };
  },
};
