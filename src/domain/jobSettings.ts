/**
 * What a replication job's settings may be (spec's job settings table): hours between runs and how many
 * recent AMIs to keep (0 keeps them all). CreateReplicationJob, UpdateReplicationJob, an App's server replication
 * parameters and the console's job form all read them here.
 */
export const JOB_SETTING_LIMITS = {
  frequencyHours: { min: 1, max: 24 },
  recentAmisToKeep: { min: 0, max: 270 },
} as const;
