/**
 * Instances as the launch subsystem sees them: transactions and events over the instance repository's queries
 * (store/instances/). Every change goes through `changeInstance`, which updates only when the row is still in the
 * state the caller read (so a terminate and a launch step never overwrite each other) and publishes an
 * `instance.state` event once committed.
 */
import { randomBytes } from 'node:crypto';
import { inTransaction, type Core } from '../core/context.ts';
import type { Tenant } from '../domain/tenant.ts';
import type { InstanceState } from '../domain/instance.ts';
import type { DeviceLayout, DiskBus } from '../domain/instanceDevices.ts';
import {
  ensureLaunchOwner,
  failPendingValidationRows,
  insertInstanceRow,
  selectInstance,
  selectInstanceStatus,
  selectInstancesReadingImage,
  selectLiveInstances,
  selectTenantInstances,
  selectValidations,
  updateInstanceInState,
  updatePendingValidation,
} from '../store/instances/instanceQueries.ts';
import { instanceDb, type InstanceExecutor, type InstanceRow, type ValidationRow } from '../store/instances/instanceTables.ts';

export type { InstanceRow, InstancesTable, InstanceTables, InstanceValidationsTable, ValidationRow } from '../store/instances/instanceTables.ts';

/** What a launch resolved to, fixed when the instance is created (JSON in `plan`). */
export interface LaunchPlan {
  vcpus: number;
  memoryMiB: number;
  bus: DiskBus;
  layout: DeviceLayout;
  virtType: 'qemu' | 'kvm';
  network: { name: string; portgroup?: string; filter?: string };
  diskSizes: number[];
  hostname: string;
  bootTimeoutMs: number;
  validationTimeoutMs: number;
  labels: Record<string, string>;
  seed: boolean;
}

/** What only the seed needs (JSON in `inputs`, dropped once the seed is written): user data and scripts. */
export interface LaunchInputs {
  userData: string | null;
  sshPublicKey: string | null;
  validations: { validationId: string; script: string; scriptType: 'SHELL_SCRIPT' | 'POWERSHELL_SCRIPT' }[];
  /** base64, like the others; absent in rows written before configure scripts reached the guest. */
  configureScript?: { script: string; scriptType: 'SHELL_SCRIPT' | 'POWERSHELL_SCRIPT' } | null;
}

const db = (core: Core): InstanceExecutor => instanceDb(core.db);

/** This installation's id, written into every domain's metadata (created on first use). */
export async function launchOwnerId(core: Core): Promise<string> {
  return ensureLaunchOwner(db(core), randomBytes(16).toString('hex'), core.clock.now());
}

function eventOf(row: InstanceRow, previous: { state: string; hydration: string } | null) {
  return {
    previous,
    type: 'instance.state' as const,
    tenant: { accountId: row.account_id, region: row.region },
    instanceId: row.instance_id,
    appId: row.app_id,
    serverId: row.server_id,
    state: row.state,
    hydration: row.hydration,
    message: row.state_message ?? row.hydration_message,
  };
}

async function currentRow(t: InstanceExecutor, instanceId: string): Promise<InstanceRow> {
  const row = await selectInstance(t, instanceId);
  if (!row) throw new Error(`instance ${instanceId} vanished inside its own transaction`);
  return row;
}

export async function insertInstance(core: Core, row: InstanceRow, validations: ValidationRow[]): Promise<void> {
  await inTransaction(core, async (tx, emit) => {
    await insertInstanceRow(instanceDb(tx), row, validations);
    emit(eventOf(row, null));
  });
}

export function findInstance(core: Core, instanceId: string): Promise<InstanceRow | undefined> {
  return selectInstance(db(core), instanceId);
}

/** The instance if it belongs to the tenant: another account's id is as unknown as a made-up one. */
export async function tenantInstance(core: Core, tenant: Tenant, instanceId: string): Promise<InstanceRow | undefined> {
  const row = await findInstance(core, instanceId);
  return row && row.account_id === tenant.accountId && row.region === tenant.region ? row : undefined;
}

export function tenantInstances(core: Core, tenant: Tenant, appId?: string): Promise<InstanceRow[]> {
  return selectTenantInstances(db(core), tenant, appId);
}

/** Rows Ferry may still have work for (everything not terminated). */
export function liveInstances(core: Core): Promise<InstanceRow[]> {
  return selectLiveInstances(db(core));
}

/** Instances that read `amiId` through its export: not terminated, not failed (stopped), not yet hydrated. */
export function instancesReadingImage(core: Core, amiId: string): Promise<string[]> {
  return selectInstancesReadingImage(db(core), amiId);
}

export function validationsOf(core: Core, instanceIds: readonly string[]): Promise<Map<string, ValidationRow[]>> {
  return selectValidations(db(core), instanceIds);
}

/**
 * Applies `patch` if the instance is still in `expected` state; returns the new row, or undefined when the state
 * had moved on (the caller re-reads and decides again).
 */
/**
 * Moves an instance from `expected` (else nothing happens: undefined). `failValidations`: the validations still
 * PENDING fail with this message in the same transaction, so no reader sees a failed instance with pending ones.
 */
export async function changeInstance(
  core: Core,
  instanceId: string,
  expected: InstanceState,
  patch: Partial<InstanceRow>,
  failValidations?: string,
): Promise<InstanceRow | undefined> {
  return inTransaction(core, async (tx, emit) => {
    const t = instanceDb(tx);
    const before = await selectInstanceStatus(t, instanceId);
    const now = core.clock.now();
    if (!(await updateInstanceInState(t, instanceId, expected, patch, now))) return undefined;
    const row = await currentRow(t, instanceId);
    emit(eventOf(row, before ?? null));
    if (failValidations !== undefined && (await failPendingValidationRows(t, instanceId, failValidations, now)) > 0) {
      emit(eventOf(row, { state: row.state, hydration: row.hydration }));
    }
    return row;
  });
}

/** Records a validation's result if it is still PENDING (the first result wins). */
export async function recordValidation(
  core: Core,
  row: InstanceRow,
  result: { validationId: string; status: 'SUCCEEDED' | 'FAILED'; message: string },
): Promise<boolean> {
  return inTransaction(core, async (tx, emit) => {
    const t = instanceDb(tx);
    if (!(await updatePendingValidation(t, row.instance_id, result, core.clock.now()))) return false;
    const current = await currentRow(t, row.instance_id);
    emit(eventOf(current, { state: current.state, hydration: current.hydration }));
    return true;
  });
}

/** Fails every validation still PENDING with `message` (the guest never reported them). */
export async function failPendingValidations(core: Core, row: InstanceRow, message: string): Promise<number> {
  return inTransaction(core, async (tx, emit) => {
    const t = instanceDb(tx);
    const count = await failPendingValidationRows(t, row.instance_id, message, core.clock.now());
    if (count > 0) {
      const current = await currentRow(t, row.instance_id);
      emit(eventOf(current, { state: current.state, hydration: current.hydration }));
    }
    return count;
  });
}

export function parsePlan(row: InstanceRow): LaunchPlan {
  return JSON.parse(row.plan) as LaunchPlan;
}
