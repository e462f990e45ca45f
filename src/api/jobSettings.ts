/**
 * The input members every replication job's settings share, validated alike wherever they arrive:
 * CreateReplicationJob, UpdateReplicationJob and an App's ServerReplicationParameters.
 */
import { bool, int, oneOf, str, type Field } from './schema.ts';
import { LICENSE_TYPES } from '../domain/enums.ts';
import { JOB_SETTING_LIMITS } from '../domain/jobSettings.ts';

const { frequencyHours, recentAmisToKeep } = JOB_SETTING_LIMITS;

export const JOB_SETTINGS_INPUT = {
  frequency: int(frequencyHours.min, frequencyHours.max),
  licenseType: oneOf(LICENSE_TYPES),
  numberOfRecentAmisToKeep: int(recentAmisToKeep.min, recentAmisToKeep.max),
  encrypted: bool(),
  kmsKeyId: str(),
} as const satisfies Record<string, Field>;
