/**
 * SMS ids carry only 8 random hex digits (`s-`, `sms-job-`, `sms-run-`), so collisions are real at scale (a
 * 100k-server inventory would hit one more often than not). New ids are drawn until one is free, inside the
 * caller's transaction.
 */
import type { Tx } from './context.ts';
import { idTaken, type IdColumn } from '../store/idTaken.ts';

export async function freshId<T extends keyof IdColumn>(tx: Tx, table: T, column: IdColumn[T], generate: () => string): Promise<string> {
  for (;;) {
    const id = generate();
    if (!(await idTaken(tx, table, column, id))) return id;
  }
}
