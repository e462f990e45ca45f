/**
 * Migration 14: drops the index on jobs (account, region, state). It served the per-account job limit, which
 * counted the account's non-terminal jobs; since migration 11 that limit reads a kept count, and no query on jobs
 * is planned with it any more (EXPLAIN QUERY PLAN of every statement on jobs). It still cost every new job, and
 * every state change, one more index page written to the WAL. `if exists`: a store may have lost it already.
 */
import type { Migration } from './index.ts';

export const dropJobsTenantStateMigration: Migration = {
  version: 14,
  name: 'drop the unused jobs (tenant, state) index',
  async up(db) {
    await db.schema.dropIndex('jobs_tenant_state').ifExists().execute();
  },
};
