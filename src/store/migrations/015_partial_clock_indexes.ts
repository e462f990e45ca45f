/**
 * Migration 15: the indexes the scheduler's clocks are read from hold only the rows with that clock set. A run's
 * lease end (runs_lease) is set only while a connector holds it, a job's paused_at only while it is paused; every
 * new PENDING run and job still wrote an entry with a null clock to each, one more WAL frame per index per create.
 * Every query they serve compares the clock (which implies it is not null) or asks for its minimum with
 * `is not null` said (store/runs/runs.ts nextRunTimes, store/jobs/jobs.ts earliest). Same names, same columns.
 */
import type { Migration } from './index.ts';

export const partialClockIndexesMigration: Migration = {
  version: 15,
  name: 'lease and pause indexes hold only rows with the clock set',
  async up(db) {
    await db.schema.dropIndex('runs_lease').ifExists().execute();
    await db.schema.createIndex('runs_lease').ifNotExists().on('runs').columns(['state', 'lease_expires_at']).where('lease_expires_at', 'is not', null).execute();
    await db.schema.dropIndex('jobs_state_paused').ifExists().execute();
    await db.schema.createIndex('jobs_state_paused').ifNotExists().on('jobs').columns(['state', 'paused_at']).where('paused_at', 'is not', null).execute();
  },
};
