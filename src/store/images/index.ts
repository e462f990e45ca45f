/** The image index repository: `import * as imageIndex from '../store/images/index.ts'`. */
export * from './indexDb.ts';
export * from './imageCatalog.ts';
export * from './blockTotals.ts';
export * from './runBlocks.ts';
export * from './imageRuns.ts';
export * from './packs.ts';
export * from './blockIndex.ts';
export * from './collector.ts';
