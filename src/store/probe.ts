/** A query that reads nothing: whether the store answers (the health check runs it on the committed-data reader). */
import { sql, type CompiledQuery, type Kysely } from 'kysely';
import type { Database } from './schema.ts';

export const probeQuery = (db: Kysely<Database>): CompiledQuery<{ one: number }> => sql<{ one: number }>`select 1 as one`.compile(db);
