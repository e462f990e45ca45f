/**
 * What any node can answer about instances from the store alone, without libvirt: the instance as the App
 * operations see it, a tenant's instances, and which instances still read an image through its export. The node that
 * launches (LibvirtInstanceService) and the nodes of a cluster that do not (LaunchElsewhere) answer these alike.
 */
import type { Core } from '../core/context.ts';
import type { Tenant } from '../domain/tenant.ts';
import type { Instance } from '../apps/instances.ts';
import { instancesReadingImage, tenantInstance, tenantInstances, validationsOf, type InstanceRow, type ValidationRow } from './instanceRepo.ts';

export function toInstance(row: InstanceRow, validations: ValidationRow[]): Instance {
  const plan = JSON.parse(row.plan) as { labels?: Record<string, string> };
  return {
    instanceId: row.instance_id,
    tenant: { accountId: row.account_id, region: row.region },
    appId: row.app_id,
    serverId: row.server_id,
    amiId: row.ami_id,
    domainName: row.domain_name,
    state: row.state,
    stateMessage: row.state_message,
    hydration: row.hydration,
    launchedAt: row.launched_at,
    bootedAt: row.booted_at,
    hydratedAt: row.hydrated_at,
    terminatedAt: row.terminated_at,
    validations: validations.map((v) => ({ validationId: v.validation_id, name: v.name, status: v.status, message: v.message, at: v.at })),
    labels: plan.labels ?? {},
    hydrationMessage: row.hydration_message,
  };
}

export class InstanceRecords {
  readonly #core: Core;

  constructor(core: Core) {
    this.#core = core;
  }

  async get(tenant: Tenant, instanceId: string): Promise<Instance | undefined> {
    const row = await tenantInstance(this.#core, tenant, instanceId);
    if (!row) return undefined;
    return toInstance(row, (await validationsOf(this.#core, [instanceId])).get(instanceId) ?? []);
  }

  async list(tenant: Tenant, filter: { appId?: string } = {}): Promise<Instance[]> {
    const rows = await tenantInstances(this.#core, tenant, filter.appId);
    const validations = await validationsOf(this.#core, rows.map((r) => r.instance_id));
    return rows.map((row) => toInstance(row, validations.get(row.instance_id) ?? []));
  }

  /** Instances that still read `amiId` through its export (retention waits for them). */
  imageReaders(amiId: string): Promise<string[]> {
    return instancesReadingImage(this.#core, amiId);
  }
}
