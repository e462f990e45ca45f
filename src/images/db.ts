/** The image store's view of the shared Kysely instance, and small helpers for the rows it reads back. */
import type { Kysely } from 'kysely';
import type { ImageTables } from './schema.ts';

export type ImageDb = Kysely<ImageTables>;

/** node:sqlite hands BLOBs back as Uint8Array, pg as Buffer: callers always get a Buffer (no copy). */
export function asBuffer(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/** Splits `items` into runs of at most `size`, for multi-row statements. */
export function* batches<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}
