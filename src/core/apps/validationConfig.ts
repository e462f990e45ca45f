/**
 * Put/Get/DeleteAppValidationConfiguration (spec §7): app-level validations (SSM: a command or script run on an
 * instance of the launched app) and server-level ones (USERDATA: a script the launched server runs at boot), with the
 * model's constraints (`val-` ids, names without whitespace, Command 1–64000, ExecutionTimeoutSeconds 60–28800, S3
 * names). A Put replaces the configuration; validation ids are kept when given (and assigned when not), so the
 * outputs of validations that stay are kept too.
 */
import type {
  AppValidationConfiguration,
  ServerGroupValidationConfiguration,
  ServerValidationConfiguration,
} from '@aws-sdk/client-sms';
import { invalidParameter, missingParameter } from '../../lib/errors.ts';
import { newValidationId } from '../../lib/ids.ts';
import { bucketNameProblem, s3LocationProblem, s3Uri, type S3Location } from '../../domain/s3Location.ts';
import type { AppPorts } from '../../apps/ports.ts';
import { freshId } from '../uniqueId.ts';
import { inTransaction, type Core } from '../context.ts';
import type { Tenant } from '../../domain/tenant.ts';
import { checkAppActive, loadGroups, loadMembers, loadValidations, requireApp, requireAppForChange, type ValidationRow } from './appRecords.ts';
import { deleteAllValidations, replaceValidations, selectValidationHeldElsewhere, updateAppRow } from '../../store/apps/configQueries.ts';
import { snapshotOf, type AppSnapshot } from './appSnapshot.ts';
import { memberOf } from './replicationConfig.ts';
import type { StoredAppValidation, StoredServerValidation } from './storedConfig.ts';
import { LAUNCHED_STATUSES, queueAppValidations } from './appValidationQueue.ts';

export interface PutValidationInput {
  appId: string;
  appValidationConfigurations?: AppValidationConfiguration[];
  serverGroupValidationConfigurations?: ServerGroupValidationConfiguration[];
}

interface Planned {
  validationId: string | undefined;
  kind: 'APP' | 'SERVER';
  name: string;
  path: string;
  serverGroupId: string | null;
  serverId: string | null;
  configuration: StoredAppValidation | StoredServerValidation;
}

const need = (value: unknown, path: string): void => {
  if (value === undefined || value === null || value === '') throw missingParameter(`The request is missing the required parameter ${path}.`);
};

function location(value: { bucket?: string; key?: string } | undefined, path: string): S3Location {
  need(value, path);
  const problem = s3LocationProblem(value!, path);
  if (problem) throw invalidParameter(problem);
  return { bucket: value!.bucket!, key: value!.key! };
}

function planAppValidation(config: AppValidationConfiguration, path: string): Planned {
  need(config.name, `${path}.name`);
  need(config.appValidationStrategy, `${path}.appValidationStrategy`);
  const ssm = config.ssmValidationParameters;
  need(ssm, `${path}.ssmValidationParameters`);
  need(ssm!.scriptType, `${path}.ssmValidationParameters.scriptType`);
  if (ssm!.source === undefined && ssm!.command === undefined) {
    throw missingParameter(`The request is missing ${path}.ssmValidationParameters.source or .command (what the validation runs).`);
  }
  const stored: StoredAppValidation = { appValidationStrategy: 'SSM', scriptType: ssm!.scriptType! };
  if (ssm!.source !== undefined) stored.source = location(ssm!.source.s3Location, `${path}.ssmValidationParameters.source.s3Location`);
  if (ssm!.command !== undefined) stored.command = ssm!.command;
  if (ssm!.instanceId !== undefined) stored.instanceId = ssm!.instanceId;
  if (ssm!.executionTimeoutSeconds !== undefined) stored.executionTimeoutSeconds = ssm!.executionTimeoutSeconds;
  if (ssm!.outputS3BucketName !== undefined) {
    const problem = bucketNameProblem(ssm!.outputS3BucketName);
    if (problem) throw invalidParameter(`${path}.ssmValidationParameters.outputS3BucketName ${problem}.`);
    stored.outputS3BucketName = ssm!.outputS3BucketName;
  }
  return { validationId: config.validationId, kind: 'APP', name: config.name!, path, serverGroupId: null, serverId: null, configuration: stored };
}

function planServerValidation(config: ServerValidationConfiguration, serverGroupId: string, path: string): Planned {
  need(config.server?.serverId, `${path}.server.serverId`);
  need(config.name, `${path}.name`);
  need(config.serverValidationStrategy, `${path}.serverValidationStrategy`);
  const params = config.userDataValidationParameters;
  need(params, `${path}.userDataValidationParameters`);
  need(params!.scriptType, `${path}.userDataValidationParameters.scriptType`);
  const source = location(params!.source?.s3Location, `${path}.userDataValidationParameters.source.s3Location`);
  return {
    validationId: config.validationId,
    kind: 'SERVER',
    name: config.name!,
    path,
    serverGroupId,
    serverId: config.server!.serverId!,
    configuration: { serverValidationStrategy: 'USERDATA', source, scriptType: params!.scriptType! },
  };
}

export async function putValidationConfiguration(core: Core, tenant: Tenant, input: PutValidationInput, ports: AppPorts): Promise<void> {
  const planned: Planned[] = (input.appValidationConfigurations ?? []).map((c, i) => planAppValidation(c, `appValidationConfigurations[${i}]`));
  for (const [i, group] of (input.serverGroupValidationConfigurations ?? []).entries()) {
    need(group.serverGroupId, `serverGroupValidationConfigurations[${i}].serverGroupId`);
    for (const [j, config] of (group.serverValidationConfigurations ?? []).entries()) {
      planned.push(planServerValidation(config, group.serverGroupId!, `serverGroupValidationConfigurations[${i}].serverValidationConfigurations[${j}]`));
    }
  }
  const ids = new Set<string>();
  for (const p of planned) {
    if (p.validationId === undefined) continue;
    if (ids.has(p.validationId)) throw invalidParameter(`${p.path}.validationId: ${p.validationId} is used twice.`);
    ids.add(p.validationId);
  }
  await requireApp(core.db, tenant, input.appId);
  if (ports.artifacts) {
    for (const p of planned) {
      const source = p.configuration.source;
      if (source && !(await ports.artifacts.headObject(tenant.accountId, source.bucket, source.key))) {
        throw invalidParameter(`${p.path}: the validation script ${s3Uri(source)} does not exist in this account's buckets; upload it first.`);
      }
    }
  }
  await inTransaction(core, async (tx, emit) => {
    const app = await requireAppForChange(tx, core, tenant, input.appId);
    const groups = await loadGroups(tx, app.app_id);
    const members = await loadMembers(tx, app.app_id);
    for (const p of planned.filter((q) => q.kind === 'SERVER')) {
      memberOf(groups, members, app, p.serverGroupId!, p.serverId!, { group: p.path.replace(/\.serverValidationConfigurations\[\d+\]$/, ''), server: p.path });
    }
    if (ids.size > 0) {
      const taken = await selectValidationHeldElsewhere(tx, app.app_id, [...ids]);
      if (taken) throw invalidParameter(`validationId ${taken.validation_id} belongs to another app; leave validationId out to get a new one.`);
    }
    checkAppActive(app);
    const rows = [];
    for (const [position, p] of planned.entries()) {
      rows.push({
        validation_id: p.validationId ?? (await freshId(tx, 'app_validations', 'validation_id', newValidationId)),
        app_id: app.app_id,
        account_id: app.account_id,
        region: app.region,
        kind: p.kind,
        server_group_id: p.serverGroupId,
        server_id: p.serverId,
        name: p.name,
        configuration: JSON.stringify(p.configuration),
        position,
      });
    }
    await replaceValidations(tx, app.app_id, rows);
    await updateAppRow(tx, app.app_id, { updated_at: core.clock.now() });
    // On a launched app, putting the configuration runs its app-level validations (again): SMS's way to re-validate.
    if (app.launch_phase === 'LAUNCH' && LAUNCHED_STATUSES.includes(app.launch_status)) await queueAppValidations(tx, app, core.clock.now(), emit);
  });
}

/** The app's rows GetAppValidationConfiguration answers from (operations/apps/appConfigMappers.ts shapes them). */
export async function getValidationConfiguration(core: Core, tenant: Tenant, appId: string): Promise<AppSnapshot & { validations: ValidationRow[] }> {
  const app = await requireApp(core.db, tenant, appId);
  const validations = await loadValidations(core.db, app.app_id);
  return { ...(await snapshotOf(core.db, app)), validations };
}

export async function deleteValidationConfiguration(core: Core, tenant: Tenant, appId: string): Promise<void> {
  await inTransaction(core, async (tx) => {
    const app = await requireAppForChange(tx, core, tenant, appId);
    checkAppActive(app);
    await deleteAllValidations(tx, app.app_id);
    await updateAppRow(tx, app.app_id, { updated_at: core.clock.now() });
  });
}
