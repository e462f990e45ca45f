/** Leadership leases (migration 13): one row per role, written only by compare-and-set. */
export { read, compareAndSet } from './leases.ts';
export type { LeasesTable } from './leases.ts';
