/** How a run the connector executed ended, as it tells its host (logs, tests, metrics). */

/** What a run moved, for logs and tests: blocks are 512 KiB. */
export interface RunTotals {
  /** Every disk read through its dirty bitmap: only the changed extents were read. */
  incremental: boolean;
  /** Some disk was read whole and compared with the parent image by hash (only what differs is sent and recorded). */
  hashDiff: boolean;
  /** Blocks read whose content is the parent's block at the same index (hash diff): neither sent nor recorded. */
  blocksUnchanged: number;
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
