/** Whether an id is already used in its table (core/uniqueId.ts draws new ids until one is free). */
import type { Executor } from './executor.ts';
import { compiledOnce, rowsOf } from './compiledOnce.ts';

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
  // One query per table: the casts name one table's id column in Kysely's types; the SQL uses `table` and `column`.
  return compiledOnce(`idTaken.${table}`, (db, p: { id: string }) =>
    db
      .selectFrom(table as 'jobs')
      .select(column as 'replication_job_id')
      .where(column as 'replication_job_id', '=', p.id)
      .limit(1),
  );
}

export async function idTaken<T extends keyof IdColumn>(db: Executor, table: T, column: IdColumn[T], id: string): Promise<boolean> {
  let lookup = lookups.get(table);
  if (!lookup) lookups.set(table, (lookup = lookupIn(table, column)));
  return (await rowsOf(db, lookup(db, { id }))).length > 0;
}
