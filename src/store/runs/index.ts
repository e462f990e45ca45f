/** The runs repository: `import * as runs from '../store/runs/index.ts'`, then `runs.claimDue(tx, …)`. */
export * from './dueRuns.ts';
export * from './runs.ts';
export * from './imageDeletions.ts';
export * from './runDiskMeta.ts';
