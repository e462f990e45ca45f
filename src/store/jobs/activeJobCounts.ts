/**
 * Each tenant's count of non-terminal jobs (the per-account limit of CreateReplicationJob), kept incrementally: a
 * new job adds one, a job moving between a non-terminal and a terminal state adds or takes one, inside the same
 * transaction. One row read per create, however many jobs the account holds.
 */
import type { Kysely, Transaction } from 'kysely';
import { NON_TERMINAL_JOB_STATES, type ReplicationJobState } from '../../domain/enums.ts';
import type { Tenant } from '../../domain/tenant.ts';
import type { Database } from '../schema.ts';
import { compiledOnce, rowsOf } from '../compiledOnce.ts';

type Db = Kysely<Database> | Transaction<Database>;
type TenantValues = { accountId: string; region: string };

const countOfTenant = compiledOnce('account_job_counts.get', (db, t: TenantValues) =>
  db.selectFrom('account_job_counts').select('active_jobs').where('account_id', '=', t.accountId).where('region', '=', t.region),
);

const addToCount = compiledOnce('account_job_counts.add', (db, p: TenantValues & { delta: number }) =>
  db
    .insertInto('account_job_counts')
    .values({ account_id: p.accountId, region: p.region, active_jobs: p.delta })
    .onConflict((oc) => oc.columns(['account_id', 'region']).doUpdateSet((eb) => ({ active_jobs: eb('account_job_counts.active_jobs', '+', p.delta) }))),
);

const isActive = (state: string): boolean => NON_TERMINAL_JOB_STATES.includes(state as ReplicationJobState);

export async function activeJobCount(db: Db, tenant: Tenant): Promise<number> {
  const [row] = await rowsOf(db, countOfTenant(db, { accountId: tenant.accountId, region: tenant.region }));
  return row?.active_jobs ?? 0;
}

/** Records a job entering `to` from `from` (null: a new job). */
export async function countJobTransition(db: Db, tenant: Tenant, from: string | null, to: string): Promise<void> {
  const delta = (isActive(to) ? 1 : 0) - (from !== null && isActive(from) ? 1 : 0);
  if (delta === 0) return;
  await db.executeQuery(addToCount(db, { accountId: tenant.accountId, region: tenant.region, delta }));
}

/**
 * Makes the tenant's creates take turns until this transaction ends, where transactions run side by side
 * (PostgreSQL, READ COMMITTED): it locks the tenant's count row (creating it at 0), so a create's checks, read
 * after this, see every create that committed before it. Without it two creates of one server both found it free
 * and an account went past its job limit. (SQLite needs none: its one writer already runs them one at a time.)
 */
export async function takeTurnForNewJob(db: Db, tenant: Tenant): Promise<void> {
  await db.executeQuery(addToCount(db, { accountId: tenant.accountId, region: tenant.region, delta: 0 }));
}
