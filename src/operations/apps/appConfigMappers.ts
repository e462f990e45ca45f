/**
 * An app's stored configurations and validation outputs → the SMS output shapes of GetAppReplicationConfiguration,
 * GetAppLaunchConfiguration, GetAppValidationConfiguration and GetAppValidationOutput (core hands out the rows).
 */
import type {
  AppValidationConfiguration,
  GetAppLaunchConfigurationResponse,
  GetAppValidationConfigurationResponse,
  Server,
  ServerGroupReplicationConfiguration,
  ServerLaunchConfiguration,
  ServerReplicationParameters,
  ServerValidationConfiguration,
  ValidationOutput,
} from '@aws-sdk/client-sms';
import { epochDate } from '../../protocol/awsJson.ts';
import type { ServerRow } from '../../store/rows.ts';
import { groupMembers, parseJson, type MemberRow, type ValidationRow } from '../../core/apps/appRecords.ts';
import type { AppSnapshot } from '../../core/apps/appSnapshot.ts';
import type { StoredAppValidation, StoredLaunchConfiguration, StoredReplicationParameters, StoredServerValidation } from '../../core/apps/storedConfig.ts';
import type { ValidationOutputRow } from '../../core/apps/validationOutput.ts';
import { toMemberServer } from './appMappers.ts';

/** A validated server: as the catalog describes it while it is in the app, else by its id alone. */
function validatedServer(serverId: string, member: MemberRow | undefined, servers: ReadonlyMap<string, ServerRow>): Server {
  return member ? toMemberServer(member, servers) : { serverId };
}

export function toReplicationConfigurations({ groups, members, servers }: AppSnapshot): ServerGroupReplicationConfiguration[] {
  return groupMembers(groups, members)
    .map(({ group, members: inGroup }) => ({
      serverGroupId: group.server_group_id,
      serverReplicationConfigurations: inGroup
        .filter((m) => m.replication_parameters !== null)
        .map((m) => {
          const { seedTime, ...rest } = parseJson<StoredReplicationParameters>(m.replication_parameters)!;
          return {
            server: toMemberServer(m, servers),
            serverReplicationParameters: { ...rest, ...(seedTime === undefined ? {} : { seedTime: epochDate(seedTime) }) } as ServerReplicationParameters,
          };
        }),
    }))
    .filter((g) => g.serverReplicationConfigurations.length > 0);
}

export function toLaunchConfiguration({ app, groups, members, servers }: AppSnapshot): GetAppLaunchConfigurationResponse {
  const configurations = groupMembers(groups, members)
    .map(({ group, members: inGroup }) => ({
      serverGroupId: group.server_group_id,
      launchOrder: group.launch_order ?? undefined,
      serverLaunchConfigurations: inGroup
        .filter((m) => m.launch_configuration !== null)
        .map((m) => {
          const { userData, ...rest } = parseJson<StoredLaunchConfiguration>(m.launch_configuration)!;
          return { server: toMemberServer(m, servers), ...rest, ...(userData ? { userData: { s3Location: userData } } : {}) } as ServerLaunchConfiguration;
        }),
    }))
    .filter((g) => g.launchOrder !== undefined || g.serverLaunchConfigurations.length > 0);
  return {
    appId: app.app_id,
    roleName: app.launch_role_name ?? undefined,
    autoLaunch: app.auto_launch === 1,
    serverGroupLaunchConfigurations: configurations,
  };
}

export function toValidationConfiguration({ members, servers, validations }: AppSnapshot & { validations: ValidationRow[] }): GetAppValidationConfigurationResponse {
  const appLevel: AppValidationConfiguration[] = validations
    .filter((v) => v.kind === 'APP')
    .map((v) => {
      const { appValidationStrategy, source, ...ssm } = parseJson<StoredAppValidation>(v.configuration)!;
      return { validationId: v.validation_id, name: v.name, appValidationStrategy, ssmValidationParameters: { ...ssm, ...(source ? { source: { s3Location: source } } : {}) } };
    });
  const byGroup = new Map<string, ServerValidationConfiguration[]>();
  for (const v of validations.filter((w) => w.kind === 'SERVER')) {
    const stored = parseJson<StoredServerValidation>(v.configuration)!;
    const entry: ServerValidationConfiguration = {
      server: validatedServer(v.server_id!, members.find((m) => m.server_id === v.server_id), servers),
      validationId: v.validation_id,
      name: v.name,
      serverValidationStrategy: stored.serverValidationStrategy,
      userDataValidationParameters: { source: { s3Location: stored.source }, scriptType: stored.scriptType },
    };
    byGroup.set(v.server_group_id!, [...(byGroup.get(v.server_group_id!) ?? []), entry]);
  }
  return {
    appValidationConfigurations: appLevel,
    serverGroupValidationConfigurations: [...byGroup].map(([serverGroupId, serverValidationConfigurations]) => ({ serverGroupId, serverValidationConfigurations })),
  };
}

export function toValidationOutput(row: ValidationOutputRow, servers: ReadonlyMap<string, ServerRow>): ValidationOutput {
  const output: ValidationOutput = { validationId: row.validationId, name: row.name, status: row.status as ValidationOutput['status'] };
  if (row.statusMessage !== undefined) output.statusMessage = row.statusMessage;
  if (row.latestValidationTime !== undefined) output.latestValidationTime = epochDate(row.latestValidationTime);
  if (row.server) output.serverValidationOutput = { server: validatedServer(row.server.serverId, row.server.member, servers) };
  else if (row.ssmOutput) output.appValidationOutput = { ssmOutput: { s3Location: { bucket: row.ssmOutput.bucket, key: row.ssmOutput.key } } };
  return output;
}
