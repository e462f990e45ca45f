/**
 * The leases repository: reads a role's lease and writes the next one only if the row is still what the caller
 * read (compare-and-set). The rules of who may write what are the domain's (domain/leadership.ts); this module only
 * makes the write atomic. One conditional statement either way: on PostgreSQL an UPDATE that waited for a
 * concurrent writer's row lock re-checks its WHERE against the committed row, and an INSERT of a missing row loses
 * to a concurrent one through the primary key (ON CONFLICT DO NOTHING); SQLite has one writer at a time.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../schema.ts';
import type { Lease } from '../../domain/leadership.ts';

export interface LeasesTable {
  name: string;
  holder: string | null;
  expires_at: number;
  term: number;
  acquired_at: number;
}

type LeaseDb = Database & { leases: LeasesTable };
type LeaseExecutor = Kysely<Database> | Transaction<Database>;

function on(db: LeaseExecutor): Kysely<LeaseDb> {
  return db as unknown as Kysely<LeaseDb>;
}

export async function read(db: LeaseExecutor, name: string): Promise<Lease | undefined> {
  const row = await on(db).selectFrom('leases').select(['holder', 'expires_at', 'term', 'acquired_at']).where('name', '=', name).executeTakeFirst();
  return row ? { holder: row.holder, expiresAt: Number(row.expires_at), term: Number(row.term), acquiredAt: Number(row.acquired_at) } : undefined;
}

/** Writes `next` if the lease is still `expected` (undefined: no row yet); true when this call wrote it. */
export async function compareAndSet(db: LeaseExecutor, name: string, expected: Lease | undefined, next: Lease): Promise<boolean> {
  const values = { holder: next.holder, expires_at: next.expiresAt, term: next.term, acquired_at: next.acquiredAt };
  if (!expected) {
    const inserted = await on(db)
      .insertInto('leases')
      .values({ name, ...values })
      .onConflict((oc) => oc.column('name').doNothing())
      .executeTakeFirst();
    return Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1;
  }
  const updated = await on(db)
    .updateTable('leases')
    .set(values)
    .where('name', '=', name)
    .where('term', '=', expected.term)
    .where('expires_at', '=', expected.expiresAt)
    .where((eb) => (expected.holder === null ? eb('holder', 'is', null) : eb('holder', '=', expected.holder)))
    .executeTakeFirst();
  return Number(updated.numUpdatedRows) === 1;
}
