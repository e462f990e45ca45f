/**
 * The instance tables (migration 009) as small named functions. Every change goes through `changeInstance`, which
 * updates only when the row is still in the state the caller read (so a terminate and a launch step never overwrite
 * each other) and publishes an `instance.state` event once committed.
 */
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { inTransaction, type Core } from '../core/context.ts';
import type { Tenant } from '../domain/tenant.ts';
import type { HydrationState, InstanceState } from '../domain/instance.ts';
import type { ValidationStatus } from '../domain/instanceConsole.ts';
import type { DeviceLayout, DiskBus } from '../domain/instanceDevices.ts';

export interface InstancesTable {
  seq?: number;
  instance_id: string;
  account_id: string;
  region: string;
  app_id: string | null;
  server_id: string;
  ami_id: string;
  domain_name: string;
  state: InstanceState;
  state_message: string | null;
  hydration: HydrationState;
  hydration_message: string | null;
  plan: string;
  inputs: string | null;
  console_nonce: string;
  launched_at: number;
  boot_started_at: number | null;
  boot_deadline_at: number | null;
  booted_at: number | null;
  validation_deadline_at: number | null;
  hydrated_at: number | null;
  terminated_at: number | null;
  updated_at: number;
}

export interface InstanceValidationsTable {
  instance_id: string;
  validation_id: string;
  position: number;
  name: string;
  status: ValidationStatus;
  message: string | null;
  at: number | null;
}

interface LaunchHostTable {
  id: number;
  owner_id: string;
  created_at: number;
}

export interface InstanceTables {
  instances: InstancesTable;
  instance_validations: InstanceValidationsTable;
  launch_host: LaunchHostTable;
}

export type InstanceRow = Required<Omit<InstancesTable, 'seq'>>;
export type ValidationRow = InstanceValidationsTable;

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

const db = (core: Core) => core.db as unknown as Kysely<InstanceTables>;

/** This installation's id, written into every domain's metadata (created on first use). */
export async function launchOwnerId(core: Core): Promise<string> {
  const row = await db(core).selectFrom('launch_host').select('owner_id').where('id', '=', 1).executeTakeFirst();
  if (row) return row.owner_id;
  await db(core)
    .insertInto('launch_host')
    .values({ id: 1, owner_id: randomBytes(16).toString('hex'), created_at: core.clock.now() })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
  return (await db(core).selectFrom('launch_host').select('owner_id').where('id', '=', 1).executeTakeFirstOrThrow()).owner_id;
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

async function currentRow(t: Kysely<InstanceTables>, instanceId: string): Promise<InstanceRow> {
  return (await t.selectFrom('instances').selectAll().where('instance_id', '=', instanceId).executeTakeFirstOrThrow()) as InstanceRow;
}

export async function insertInstance(core: Core, row: InstanceRow, validations: ValidationRow[]): Promise<void> {
  await inTransaction(core, async (tx, emit) => {
    const t = tx as unknown as Kysely<InstanceTables>;
    await t.insertInto('instances').values(row).execute();
    if (validations.length > 0) await t.insertInto('instance_validations').values(validations).execute();
    emit(eventOf(row, null));
  });
}

export async function findInstance(core: Core, instanceId: string): Promise<InstanceRow | undefined> {
  return (await db(core).selectFrom('instances').selectAll().where('instance_id', '=', instanceId).executeTakeFirst()) as InstanceRow | undefined;
}

/** The instance if it belongs to the tenant: another account's id is as unknown as a made-up one. */
export async function tenantInstance(core: Core, tenant: Tenant, instanceId: string): Promise<InstanceRow | undefined> {
  const row = await findInstance(core, instanceId);
  return row && row.account_id === tenant.accountId && row.region === tenant.region ? row : undefined;
}

export async function tenantInstances(core: Core, tenant: Tenant, appId?: string): Promise<InstanceRow[]> {
  let query = db(core).selectFrom('instances').selectAll().where('account_id', '=', tenant.accountId).where('region', '=', tenant.region);
  if (appId !== undefined) query = query.where('app_id', '=', appId);
  return (await query.orderBy('seq').execute()) as InstanceRow[];
}

/** Rows Ferry may still have work for (everything not terminated). */
export async function liveInstances(core: Core): Promise<InstanceRow[]> {
  return (await db(core).selectFrom('instances').selectAll().where('state', '!=', 'terminated').orderBy('seq').execute()) as InstanceRow[];
}

/** Instances that read `amiId` through its export: not terminated, not failed (stopped), not yet hydrated. */
export async function instancesReadingImage(core: Core, amiId: string): Promise<string[]> {
  const rows = await db(core)
    .selectFrom('instances')
    .select('instance_id')
    .where('ami_id', '=', amiId)
    .where('state', 'not in', ['terminated', 'failed'])
    .where('hydration', '!=', 'hydrated')
    .orderBy('seq')
    .execute();
  return rows.map((r) => r.instance_id);
}

export async function validationsOf(core: Core, instanceIds: readonly string[]): Promise<Map<string, ValidationRow[]>> {
  const out = new Map<string, ValidationRow[]>();
  if (instanceIds.length === 0) return out;
  const rows = await db(core).selectFrom('instance_validations').selectAll().where('instance_id', 'in', [...instanceIds]).orderBy('position').execute();
  for (const row of rows) {
    const list = out.get(row.instance_id) ?? [];
    list.push(row);
    out.set(row.instance_id, list);
  }
  return out;
}

/**
 * Applies `patch` if the instance is still in `expected` state; returns the new row, or undefined when the state
 * had moved on (the caller re-reads and decides again).
 */
export async function changeInstance(core: Core, instanceId: string, expected: InstanceState, patch: Partial<InstanceRow>): Promise<InstanceRow | undefined> {
  return inTransaction(core, async (tx, emit) => {
    const t = tx as unknown as Kysely<InstanceTables>;
    const before = await t.selectFrom('instances').select(['state', 'hydration']).where('instance_id', '=', instanceId).executeTakeFirst();
    const result = await t
      .updateTable('instances')
      .set({ ...patch, updated_at: core.clock.now() })
      .where('instance_id', '=', instanceId)
      .where('state', '=', expected)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) return undefined;
    const row = await currentRow(t, instanceId);
    emit(eventOf(row, before ?? null));
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
    const t = tx as unknown as Kysely<InstanceTables>;
    const updated = await t
      .updateTable('instance_validations')
      .set({ status: result.status, message: result.message, at: core.clock.now() })
      .where('instance_id', '=', row.instance_id)
      .where('validation_id', '=', result.validationId)
      .where('status', '=', 'PENDING')
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) === 0) return false;
    const current = await currentRow(t, row.instance_id);
    emit(eventOf(current, { state: current.state, hydration: current.hydration }));
    return true;
  });
}

/** Fails every validation still PENDING with `message` (the guest never reported them). */
export async function failPendingValidations(core: Core, row: InstanceRow, message: string): Promise<number> {
  return inTransaction(core, async (tx, emit) => {
    const t = tx as unknown as Kysely<InstanceTables>;
    const updated = await t
      .updateTable('instance_validations')
      .set({ status: 'FAILED', message, at: core.clock.now() })
      .where('instance_id', '=', row.instance_id)
      .where('status', '=', 'PENDING')
      .executeTakeFirst();
    const count = Number(updated.numUpdatedRows);
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
