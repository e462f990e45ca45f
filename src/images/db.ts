/** The image store's view of the shared Kysely instance (its queries are src/store/images's). */
import type { Kysely } from 'kysely';
import type { ImageTables } from './schema.ts';

export type ImageDb = Kysely<ImageTables>;
