/**
 * Input schemas of the App operations' shapes (spec §7), member for member as the model defines them, with the
 * model's constraints (patterns and lengths of ids, names, commands, timeouts, S3 names) and Ferry's own bounds on
 * everything else a client controls [I] — so no request can make Ferry store or walk an unbounded amount.
 * Limits that are service limits (10 groups, 50 servers, 50 apps) are checked by the core as
 * OperationNotPermittedException; the list bounds here only cap the work one request can ask for.
 */
import { SERVER_TYPE_VIRTUAL_MACHINE, VM_MANAGER_TYPES } from '../domain/enums.ts';
import {
  APP_VALIDATION_STRATEGIES,
  SCRIPT_TYPES,
  SERVER_VALIDATION_STRATEGIES,
  VALIDATION_STATUSES,
} from '../domain/appEnums.ts';
import { JOB_SETTINGS_INPUT } from './jobSettings.ts';
import { bool, boundedStr, int, listOf, oneOf, str, struct, timestamp, type Field, type Shape } from './schema.ts';

/** The model's AppIdWithValidation. */
export const APP_ID_PATTERN = /^app-[0-9a-f]{17}$/;
/** The model's ValidationId. */
export const VALIDATION_ID_PATTERN = /^val-[0-9a-f]{17}$/;
/** The model's InstanceId. */
const INSTANCE_ID_PATTERN = /(^i-(\w{8}|\w{17})$)|(^mi-\w{17}$)/;
/** The model's NonEmptyStringWithMaxLen255. */
const NON_EMPTY_NAME = boundedStr({ min: 1, max: 255, pattern: /^[\S]+$/ });
/** CloudFormation logical ids. */
const LOGICAL_ID_PATTERN = /^[A-Za-z0-9]{1,255}$/;

/** Ferry's bounds [I]. */
export const APP_BOUNDS = {
  name: 255,
  description: 1024,
  roleName: 64,
  clientToken: 64,
  groupName: 255,
  /** Entries one request may send; the service limits (policy) are lower and checked by the core. */
  groupsPerRequest: 100,
  serversPerRequest: 1000,
  tags: 50,
  tagKey: 128,
  tagValue: 256,
  appIdsFilter: 100,
  networkName: 255,
  keyName: 255,
  instanceType: 64,
  instanceProfile: 128,
  validationsPerRequest: 200,
  launchOrderMax: 1000,
} as const;

/** An app id member: required by Ferry wherever the operation works on an app (spec §7) — opaque, or patterned. */
export const appIdField = (patterned = false): Field =>
  patterned ? boundedStr({ pattern: APP_ID_PATTERN }, true) : boundedStr({ max: 64 }, true);

export const serverField: Field = struct({
  serverId: boundedStr({ max: 64 }),
  serverType: oneOf([SERVER_TYPE_VIRTUAL_MACHINE]),
  vmServer: struct({
    vmServerAddress: struct({ vmManagerId: str(), vmId: str() }),
    vmName: str(),
    vmManagerName: str(),
    vmManagerType: oneOf(VM_MANAGER_TYPES),
    vmPath: str(),
  }),
  replicationJobId: str(),
  replicationJobTerminated: bool(),
});

export const serverGroupsField: Field = listOf(
  struct({
    serverGroupId: boundedStr({ max: 64 }),
    name: boundedStr({ max: APP_BOUNDS.groupName }),
    serverList: listOf(serverField, APP_BOUNDS.serversPerRequest),
  }),
  APP_BOUNDS.groupsPerRequest,
);

export const tagsField: Field = listOf(
  struct({ key: boundedStr({ min: 1, max: APP_BOUNDS.tagKey }), value: boundedStr({ max: APP_BOUNDS.tagValue }) }),
  APP_BOUNDS.tags,
);

/** The app's own members, shared by CreateApp and UpdateApp. */
export const appMembers: Shape = {
  name: boundedStr({ max: APP_BOUNDS.name }),
  description: boundedStr({ max: APP_BOUNDS.description }),
  roleName: boundedStr({ max: APP_BOUNDS.roleName }),
  serverGroups: serverGroupsField,
  tags: tagsField,
};

export const s3LocationField: Field = struct({ bucket: boundedStr({ min: 3, max: 63 }), key: boundedStr({ max: 1024 }) });

export const serverReplicationParametersField: Field = struct({
  seedTime: timestamp(),
  runOnce: bool(),
  ...JOB_SETTINGS_INPUT,
});

export const serverGroupReplicationConfigurationsField: Field = listOf(
  struct({
    serverGroupId: boundedStr({ max: 64 }),
    serverReplicationConfigurations: listOf(
      struct({ server: serverField, serverReplicationParameters: serverReplicationParametersField }),
      APP_BOUNDS.serversPerRequest,
    ),
  }),
  APP_BOUNDS.groupsPerRequest,
);

export const serverGroupLaunchConfigurationsField: Field = listOf(
  struct({
    serverGroupId: boundedStr({ max: 64 }),
    launchOrder: int(1, APP_BOUNDS.launchOrderMax),
    serverLaunchConfigurations: listOf(
      struct({
        server: serverField,
        logicalId: boundedStr({ pattern: LOGICAL_ID_PATTERN }),
        vpc: boundedStr({ max: APP_BOUNDS.networkName }),
        subnet: boundedStr({ max: APP_BOUNDS.networkName }),
        securityGroup: boundedStr({ max: APP_BOUNDS.networkName }),
        ec2KeyName: boundedStr({ max: APP_BOUNDS.keyName }),
        userData: struct({ s3Location: s3LocationField }),
        instanceType: boundedStr({ max: APP_BOUNDS.instanceType }),
        associatePublicIpAddress: bool(),
        iamInstanceProfileName: boundedStr({ max: APP_BOUNDS.instanceProfile }),
        configureScript: s3LocationField,
        configureScriptType: oneOf(SCRIPT_TYPES),
      }),
      APP_BOUNDS.serversPerRequest,
    ),
  }),
  APP_BOUNDS.groupsPerRequest,
);

const sourceField: Field = struct({ s3Location: s3LocationField });

export const appValidationConfigurationsField: Field = listOf(
  struct({
    validationId: boundedStr({ pattern: VALIDATION_ID_PATTERN }),
    name: NON_EMPTY_NAME,
    appValidationStrategy: oneOf(APP_VALIDATION_STRATEGIES),
    ssmValidationParameters: struct({
      source: sourceField,
      instanceId: boundedStr({ pattern: INSTANCE_ID_PATTERN }),
      scriptType: oneOf(SCRIPT_TYPES),
      command: boundedStr({ min: 1, max: 64000 }),
      executionTimeoutSeconds: int(60, 28800),
      outputS3BucketName: boundedStr({ min: 3, max: 63 }),
    }),
  }),
  APP_BOUNDS.validationsPerRequest,
);

export const serverGroupValidationConfigurationsField: Field = listOf(
  struct({
    serverGroupId: boundedStr({ max: 64 }),
    serverValidationConfigurations: listOf(
      struct({
        server: serverField,
        validationId: boundedStr({ pattern: VALIDATION_ID_PATTERN }),
        name: NON_EMPTY_NAME,
        serverValidationStrategy: oneOf(SERVER_VALIDATION_STRATEGIES),
        userDataValidationParameters: struct({ source: sourceField, scriptType: oneOf(SCRIPT_TYPES) }),
      }),
      APP_BOUNDS.validationsPerRequest,
    ),
  }),
  APP_BOUNDS.groupsPerRequest,
);

export const notificationContextField: Field = {
  ...struct({
    validationId: boundedStr({ pattern: VALIDATION_ID_PATTERN }, true),
    status: { ...oneOf(VALIDATION_STATUSES), required: true },
    statusMessage: boundedStr({ max: 2500 }),
  }),
  required: true,
};
