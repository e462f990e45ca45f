/** The jobs repository: `import * as jobs from '../store/jobs/index.ts'`. */
export * from './jobs.ts';
export * from './activeJobCounts.ts';
export * from './newJobFacts.ts';
