/** How a run the connector executed ended, as it tells its host (logs, tests, metrics). */

/** What a run moved, for logs and tests: blocks are 512 KiB. */
export interface RunTotals {
  incremental: boolean;
  blocksConsidered: number;
  blocksSkippedAsCommitted: number;
  blocksRead: number;
  bytesRead: number;
  zeroBlocks: number;
  blocksSent: number;
  blocksDeduplicated: number;
}

export type RunOutcome =
  /** `phases`: milliseconds per step of the run (validation, planning, copy, finish…), for diagnosis. */
  | { kind: 'completed'; amiId: string; totals: RunTotals; phases?: Record<string, number> }
  | { kind: 'failed'; message: string }
  | { kind: 'lost' }
  | { kind: 'stopped' };
