/** The image index repository: `import * as imageIndex from '../store/images/index.ts'`. */
export * from './indexDb.ts';
export * from './imageCatalog.ts';
export * from './blockTotals.ts';
export * from './runBlocks.ts';
