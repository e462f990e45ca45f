/**
 * SMS ids carry only 8 random hex digits (`s-`, `sms-job-`, `sms-run-`), so collisions are real at scale (a
 * 100k-server inventory would hit one more often than not). New ids are drawn until one is free, inside the
 * caller's transaction.
 */
import type { Tx } from './context.ts';

type IdColumn = {
  servers: 'server_id';
  jobs: 'replication_job_id';
  runs: 'replication_run_id';
  apps: 'app_id';
  app_server_groups: 'server_group_id';
  app_validations: 'validation_id';
};

export async function freshId<T extends keyof IdColumn>(tx: Tx, table: T, column: IdColumn[T], generate: () => string): Promise<string> {
  for (;;) {
    const id = generate();
    const taken = await tx
      .selectFrom(table as 'jobs')
      .select(column as 'replication_job_id')
      .where(column as 'replication_job_id', '=', id)
      .executeTakeFirst();
    if (!taken) return id;
  }
}
