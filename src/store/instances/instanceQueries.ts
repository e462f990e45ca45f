/**
 * The instance repository's queries, each on an executor (the store or the caller's transaction). Numbers come
 * back as numbers whatever the dialect returns for a bigint, so callers compare times without caring.
 */
import type { InstanceState } from '../../domain/instance.ts';
import type { Tenant } from '../../domain/tenant.ts';
import type { InstanceExecutor, InstanceRow, ValidationRow } from './instanceTables.ts';
import { inTenant } from '../tenancy.ts';

const TIME_COLUMNS = ['launched_at', 'boot_started_at', 'boot_deadline_at', 'booted_at', 'validation_deadline_at', 'hydrated_at', 'terminated_at', 'updated_at'] as const;

/** The row as the domain reads it: times as numbers (PostgreSQL returns bigints as strings), no `seq`. */
function toInstanceRow(raw: Record<string, unknown>): InstanceRow {
  const { seq: _seq, ...row } = raw;
  for (const column of TIME_COLUMNS) if (row[column] !== null && row[column] !== undefined) row[column] = Number(row[column]);
  return row as unknown as InstanceRow;
}

function toValidationRow(raw: ValidationRow): ValidationRow {
  return { ...raw, position: Number(raw.position), at: raw.at === null ? null : Number(raw.at) };
}

export async function insertInstanceRow(db: InstanceExecutor, row: InstanceRow, validations: readonly ValidationRow[]): Promise<void> {
  await db.insertInto('instances').values(row).execute();
  if (validations.length > 0) await db.insertInto('instance_validations').values([...validations]).execute();
}

export async function selectInstance(db: InstanceExecutor, instanceId: string): Promise<InstanceRow | undefined> {
  const row = await db.selectFrom('instances').selectAll().where('instance_id', '=', instanceId).executeTakeFirst();
  return row && toInstanceRow(row);
}

/** The tenant's instances in launch order, or those of one app. */
export async function selectTenantInstances(db: InstanceExecutor, tenant: Tenant, appId?: string): Promise<InstanceRow[]> {
  let query = db.selectFrom('instances').selectAll().where(inTenant(tenant));
  if (appId !== undefined) query = query.where('app_id', '=', appId);
  return (await query.orderBy('seq').execute()).map(toInstanceRow);
}

/** Rows Ferry may still have work for (everything not terminated), in launch order. */
export async function selectLiveInstances(db: InstanceExecutor): Promise<InstanceRow[]> {
  return (await db.selectFrom('instances').selectAll().where('state', '!=', 'terminated').orderBy('seq').execute()).map(toInstanceRow);
}

/** Instances that read `amiId` through its export: not terminated, not failed (stopped), not yet hydrated. */
export async function selectInstancesReadingImage(db: InstanceExecutor, amiId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('instances')
    .select('instance_id')
    .where('ami_id', '=', amiId)
    .where('state', 'not in', ['terminated', 'failed'])
    .where('hydration', '!=', 'hydrated')
    .orderBy('seq')
    .execute();
  return rows.map((r) => r.instance_id);
}

/** Each instance's validations, in their launch configuration's order. */
export async function selectValidations(db: InstanceExecutor, instanceIds: readonly string[]): Promise<Map<string, ValidationRow[]>> {
  const out = new Map<string, ValidationRow[]>();
  if (instanceIds.length === 0) return out;
  const rows = await db.selectFrom('instance_validations').selectAll().where('instance_id', 'in', [...instanceIds]).orderBy('instance_id').orderBy('position').execute();
  for (const row of rows) {
    const list = out.get(row.instance_id) ?? [];
    list.push(toValidationRow(row));
    out.set(row.instance_id, list);
  }
  return out;
}

export async function selectInstanceStatus(db: InstanceExecutor, instanceId: string): Promise<{ state: string; hydration: string } | undefined> {
  const row = await db.selectFrom('instances').select(['state', 'hydration']).where('instance_id', '=', instanceId).executeTakeFirst();
  return row && { state: row.state, hydration: row.hydration };
}

/** Applies `patch` only while the instance is in `expected` state (a terminate and a launch step never overwrite each other). */
export async function updateInstanceInState(db: InstanceExecutor, instanceId: string, expected: InstanceState, patch: Partial<InstanceRow>, now: number): Promise<boolean> {
  const result = await db
    .updateTable('instances')
    .set({ ...patch, updated_at: now })
    .where('instance_id', '=', instanceId)
    .where('state', '=', expected)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Records a validation's result if it is still PENDING (the first result wins). */
export async function updatePendingValidation(
  db: InstanceExecutor,
  instanceId: string,
  result: { validationId: string; status: 'SUCCEEDED' | 'FAILED'; message: string },
  now: number,
): Promise<boolean> {
  const updated = await db
    .updateTable('instance_validations')
    .set({ status: result.status, message: result.message, at: now })
    .where('instance_id', '=', instanceId)
    .where('validation_id', '=', result.validationId)
    .where('status', '=', 'PENDING')
    .executeTakeFirst();
  return Number(updated.numUpdatedRows) === 1;
}

/** Fails every validation of the instance still PENDING; returns how many. */
export async function failPendingValidationRows(db: InstanceExecutor, instanceId: string, message: string, now: number): Promise<number> {
  const updated = await db
    .updateTable('instance_validations')
    .set({ status: 'FAILED', message, at: now })
    .where('instance_id', '=', instanceId)
    .where('status', '=', 'PENDING')
    .executeTakeFirst();
  return Number(updated.numUpdatedRows);
}

/** This installation's launch owner id, written on first use by whichever node gets there first. */
export async function ensureLaunchOwner(db: InstanceExecutor, candidate: string, now: number): Promise<string> {
  const row = await db.selectFrom('launch_host').select('owner_id').where('id', '=', 1).executeTakeFirst();
  if (row) return row.owner_id;
  await db
    .insertInto('launch_host')
    .values({ id: 1, owner_id: candidate, created_at: now })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
  return (await db.selectFrom('launch_host').select('owner_id').where('id', '=', 1).executeTakeFirstOrThrow()).owner_id;
}
