/** The image store's table shapes live with the store's schema (src/store/images/schema.ts); re-exported for src/images. */
export * from '../store/images/schema.ts';
