/**
 * What an image-index repository query runs on: the store's handle or the caller's transaction, seen through the
 * image tables only (the image store is handed the shared Kysely instance; it never opens a database itself).
 */
import type { Kysely, Transaction } from 'kysely';
import type { ImageTables } from './schema.ts';

export type ImageIndexDb = Kysely<ImageTables> | Transaction<ImageTables>;

/** Ids per `in (…)` list: far below SQLite's 32,766 bound parameters and PostgreSQL's 65,535. */
export const IDS_PER_STATEMENT = 500;

/** node:sqlite hands BLOBs back as Uint8Array, pg as Buffer: callers always get a Buffer (no copy). */
export function asBuffer(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

export function* idBatches<T>(items: readonly T[]): Generator<T[]> {
  for (let i = 0; i < items.length; i += IDS_PER_STATEMENT) yield items.slice(i, i + IDS_PER_STATEMENT);
}
