/**
 * NotifyAppValidationOutput and GetAppValidationOutput (spec §7). The latest output of each configured validation:
 * a caller's own report (NotifyAppValidationOutput), or — for a USERDATA validation of a launched server — the result
 * the instance reported at boot (launch subsystem), whichever is newer. A validation nobody has run yet is
 * READY_FOR_VALIDATION.
 */
import { invalidParameter } from '../../lib/errors.ts';
import type { AppPorts, InstanceValidationResult } from '../../apps/ports.ts';
import type { Core } from '../context.ts';
import type { Tenant } from '../../domain/tenant.ts';
import type { ServerRow } from '../../store/rows.ts';
import { checkAppActive, loadLaunchRows, loadMembers, loadValidations, requireApp, requireAppForChange, type AppRow, type MemberRow } from './appRecords.ts';
import { serverRowsOf } from './appSnapshot.ts';
import { latestValidationOutput } from '../../domain/appValidationOutput.ts';
import { selectValidationOutputs, upsertValidationOutput, validationConfigured } from '../../store/apps/validationOutputs.ts';

export async function notifyValidationOutput(
  core: Core,
  tenant: Tenant,
  input: { appId: string; notificationContext: { validationId: string; status: string; statusMessage?: string } },
): Promise<void> {
  const now = core.clock.now();
  await core.db.transaction().execute(async (tx) => {
    const app = await requireAppForChange(tx, core, tenant, input.appId);
    const { validationId, status, statusMessage } = input.notificationContext;
    if (!(await validationConfigured(tx, app.app_id, validationId))) throw invalidParameter(`Validation ${validationId} is not configured for app ${app.app_id} (GetAppValidationConfiguration lists them).`);
    checkAppActive(app);
    await upsertValidationOutput(tx, {
      validation_id: validationId,
      app_id: app.app_id,
      account_id: app.account_id,
      region: app.region,
      source: 'NOTIFIED',
      status,
      status_message: statusMessage ?? null,
      output_bucket: null,
      output_key: null,
      reported_at: now,
    });
  });
}

/** What the instances of the app's latest launch reported for each validation. */
async function instanceResults(core: Core, tenant: Tenant, app: AppRow, ports: AppPorts): Promise<Map<string, InstanceValidationResult>> {
  const results = new Map<string, InstanceValidationResult>();
  if (!ports.instances || app.launch_phase === 'NONE') return results;
  for (const row of await loadLaunchRows(core.db, app)) {
    if (row.instance_id === null) continue;
    const instance = await ports.instances.get(tenant, row.instance_id);
    for (const result of instance?.validations ?? []) results.set(result.validationId, result);
  }
  return results;
}

/**
 * One configured validation's latest output, as GetAppValidationOutput answers it (operations/apps/appConfigMappers.ts
 * shapes it): times in epoch ms, a server-level validation's server by id (with its membership row while it is in the
 * app), an app-level one's SSM output location when it reported one.
 */
export interface ValidationOutputRow {
  validationId: string;
  name: string;
  status: string;
  statusMessage?: string;
  latestValidationTime?: number;
  server?: { serverId: string; member?: MemberRow };
  ssmOutput?: { bucket: string; key: string };
}

export async function getValidationOutput(core: Core, tenant: Tenant, appId: string, ports: AppPorts): Promise<{ outputs: ValidationOutputRow[]; servers: Map<string, ServerRow> }> {
  const app = await requireApp(core.db, tenant, appId);
  const validations = await loadValidations(core.db, app.app_id);
  const outputs = await selectValidationOutputs(core.db, app.app_id);
  const fromInstances = await instanceResults(core, tenant, app, ports);
  const members = await loadMembers(core.db, app.app_id);
  const servers = await serverRowsOf(core.db, members);
  const rows = validations.map((v) => {
    const stored = outputs.get(v.validation_id);
    const latest = latestValidationOutput(stored && { status: stored.status, message: stored.status_message, at: stored.reported_at }, fromInstances.get(v.validation_id));
    const output: ValidationOutputRow = { validationId: v.validation_id, name: v.name, status: latest.status };
    if (latest.statusMessage !== undefined) output.statusMessage = latest.statusMessage;
    if (latest.latestValidationTime !== undefined) output.latestValidationTime = latest.latestValidationTime;
    if (v.kind === 'SERVER') {
      output.server = { serverId: v.server_id!, member: members.find((m) => m.server_id === v.server_id) };
    } else if (stored?.output_bucket && stored.output_key) {
      output.ssmOutput = { bucket: stored.output_bucket, key: stored.output_key };
    }
    return output;
  });
  return { outputs: rows, servers };
}
