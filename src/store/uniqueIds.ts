/** Whether an id is taken in the table that issues it (ids are drawn at random; core/uniqueId.ts draws again). */
import type { Executor } from './executor.ts';
import { compiledOnce, rowsOf } from './compiledOnce.ts';

/** The tables whose ids are drawn at random, with their id column. */
export type IdColumn = {
  servers: 'server_id';
  jobs: 'replication_job_id';
  runs: 'replication_run_id';
  apps: 'app_id';
  app_server_groups: 'server_group_id';
  app_validations: 'validation_id';
};

type Lookup = ReturnType<typeof lookupIn>;
const lookups = new Map<keyof IdColumn, Lookup>();

function lookupIn<T extends keyof IdColumn>(table: T, column: IdColumn[T]) {
  // One column of one row, whichever table: the casts only tell kysely the (table, column) pair is one of the above.
  // Compiled once per table: every CreateReplicationJob draws two ids.
  return compiledOnce(`isIdTaken.${table}`, (db, p: { id: string }) =>
    db
      .selectFrom(table as 'jobs')
      .select(column as 'replication_job_id')
      .where(column as 'replication_job_id', '=', p.id)
      .limit(1),
  );
}

export async function isIdTaken<T extends keyof IdColumn>(db: Executor, table: T, column: IdColumn[T], id: string): Promise<boolean> {
  let lookup = lookups.get(table);
  if (!lookup) lookups.set(table, (lookup = lookupIn(table, column)));
  return (await rowsOf(db, lookup(db, { id }))).length > 0;
}
