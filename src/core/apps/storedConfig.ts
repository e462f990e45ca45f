/** The JSON Ferry stores for an app's per-server configuration and for what a launch used (one place for both shapes). */
import type { S3Location } from '../../domain/s3Location.ts';

/** ServerReplicationParameters as stored: seedTime in epoch milliseconds. */
export interface StoredReplicationParameters {
  seedTime?: number;
  frequency?: number;
  runOnce?: boolean;
  licenseType?: string;
  numberOfRecentAmisToKeep?: number;
  encrypted?: boolean;
  kmsKeyId?: string;
}

/** ServerLaunchConfiguration without its `server`. */
export interface StoredLaunchConfiguration {
  logicalId?: string;
  vpc?: string;
  subnet?: string;
  securityGroup?: string;
  ec2KeyName?: string;
  userData?: S3Location;
  instanceType?: string;
  associatePublicIpAddress?: boolean;
  iamInstanceProfileName?: string;
  configureScript?: S3Location;
  configureScriptType?: string;
}

/** What a launch used, per group and server (GenerateChangeSet compares the current configuration with it). */
export interface LaunchedConfiguration {
  groups: {
    serverGroupId: string;
    name: string;
    launchOrder: number | null;
    servers: { serverId: string; amiId: string; vmName?: string; configuration: StoredLaunchConfiguration }[];
  }[];
}

/** A SERVER validation's configuration as stored (USERDATA). */
export interface StoredServerValidation {
  serverValidationStrategy: 'USERDATA';
  source: S3Location;
  scriptType: 'SHELL_SCRIPT' | 'POWERSHELL_SCRIPT';
}

/** An APP validation's configuration as stored (SSM). */
export interface StoredAppValidation {
  appValidationStrategy: 'SSM';
  source?: S3Location;
  instanceId?: string;
  scriptType: 'SHELL_SCRIPT' | 'POWERSHELL_SCRIPT';
  command?: string;
  executionTimeoutSeconds?: number;
  outputS3BucketName?: string;
}
