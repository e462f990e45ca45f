/** The service's limits and timings (spec §3.5, §4), in one object so tests and operators can change them. */
import { DAY, HOUR, MINUTE, SECOND } from '../lib/clock.ts';

export interface Policy {
  /** Consecutive failed runs before a job pauses (or, for a one-time job, fails). Spec §9.4. */
  maxConsecutiveFailures: number;
  /** Delay before the retry run after a failed run, when the next scheduled run is later than that. */
  retryDelayMs: number;
  /** A paused job not resumed within this time is deleted. */
  pausedJobExpiryMs: number;
  /** A job is terminated this long after its first replication. */
  jobLifetimeMs: number;
  onDemandRunsPerWindow: number;
  onDemandWindowMs: number;
  maxNonTerminalJobsPerAccount: number;
  maxSeedAheadMs: number;
  /** A connector whose last heartbeat is older than this is UNHEALTHY. */
  connectorHeartbeatTimeoutMs: number;
  /** How often connectors are asked to heartbeat. */
  connectorHeartbeatIntervalMs: number;
  /** A claimed run whose connector has not reported for this long is failed (dead connector). */
  runLeaseMs: number;
  /** A catalog import with no inventory from any connector after this long goes back to its previous status. */
  catalogImportTimeoutMs: number;
  /** Applications (spec §3.5): at most this many per account and region, groups per app, servers per app. */
  maxAppsPerAccount: number;
  maxServerGroupsPerApp: number;
  maxServersPerApp: number;
}

export const defaultPolicy: Policy = {
  maxConsecutiveFailures: 3,
  retryDelayMs: 15 * MINUTE,
  pausedJobExpiryMs: 4 * DAY,
  jobLifetimeMs: 90 * DAY,
  onDemandRunsPerWindow: 2,
  onDemandWindowMs: 24 * HOUR,
  maxNonTerminalJobsPerAccount: 50,
  maxSeedAheadMs: 30 * DAY,
  connectorHeartbeatTimeoutMs: 90 * SECOND,
  connectorHeartbeatIntervalMs: 30 * SECOND,
  runLeaseMs: 2 * MINUTE,
  catalogImportTimeoutMs: 5 * MINUTE,
  maxAppsPerAccount: 50,
  maxServerGroupsPerApp: 10,
  maxServersPerApp: 50,
};
