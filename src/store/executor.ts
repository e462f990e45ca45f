/**
 * What a repository query runs on: the database handle (autocommit, one statement) or the caller's transaction
 * (the unit of work, core/context.ts inTransaction). Repositories never open transactions themselves.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Database } from './schema.ts';

export type Executor = Kysely<Database> | Transaction<Database>;
