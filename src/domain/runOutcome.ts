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
  | { kind: 'completed'; amiId: string; totals: RunTotals }
  | { kind: 'failed'; message: string }
  | { kind: 'lost' }
  | { kind: 'stopped' };
