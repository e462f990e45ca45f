/** Whether an id is taken in the table that issues it (ids are drawn at random; core/uniqueId.ts draws again). */
import type { Executor } from './executor.ts';

/** The tables whose ids are drawn at random, with their id column. */
export type IdColumn = {
  servers: 'server_id';
  jobs: 'replication_job_id';
  runs: 'replication_run_id';
  apps: 'app_id';
  app_server_groups: 'server_group_id';
  app_validations: 'validation_id';
};

export async function isIdTaken<T extends keyof IdColumn>(db: Executor, table: T, column: IdColumn[T], id: string): Promise<boolean> {
  // One column of one row, whichever table: the casts only tell kysely the (table, column) pair is one of the above.
  const row = await db
    .selectFrom(table as 'jobs')
    .select(column as 'replication_job_id')
    .where(column as 'replication_job_id', '=', id)
    .executeTakeFirst();
  return row !== undefined;
}
