/**
 * The hash diff's questions to the service, off the copy's path: the digests of the blocks a copy has read are
 * queued and sent in spans of up to MAX_DIFF_BLOCKS (one diffBlocks in flight at a time, in block order), and the
 * answers sorted into the blocks to send again (their data differs from the parent's) and the indexes to record as
 * zeros (a zero block or a hole where the parent had data). The copy's batch memory is free as soon as a batch is
 * hashed: holding it until the answer would have meant one question per 32-block batch, and each call costs the
 * service's main thread its authentication and the run's check whatever its size (bench/README.md, eighth pass).
 */
import type { BlockRecord, ConnectorTransport } from '../protocol/connector/messages.ts';
import { MAX_DIFF_BLOCKS, MAX_DIFF_SPAN } from '../protocol/connector/routes.ts';

/** Digests waiting for their question at most (about 800 kB): the copy waits beyond it. */
const MAX_QUEUED = 8 * MAX_DIFF_BLOCKS;

export interface ComparisonJob {
  runId: string;
  diskIndex: number;
  /** The disk's block count (the last span reaches it: its tail of holes is compared too). */
  blockCount: number;
  /** Blocks an earlier attempt of the run committed: recorded then, never again. */
  committed: { has(blockIndex: number): boolean };
}

export class ParentComparison {
  readonly #job: ComparisonJob;
  readonly #transport: ConnectorTransport;
  readonly #recordZeros: (blockIndexes: number[]) => void;
  #queued: BlockRecord[] = [];
  /** Where the next span starts: every index before it has been compared. */
  #comparedUpTo = 0;
  #flight: Promise<void> | undefined;
  #failure: { error: unknown } | undefined;
  /** Data blocks that differ from the parent's, ascending: to be read again, sent and recorded. */
  readonly changed: number[] = [];
  /** Blocks read that hold the parent's block at the same index. */
  unchanged = 0;

  constructor(job: ComparisonJob, transport: ConnectorTransport, recordZeros: (blockIndexes: number[]) => void) {
    this.#job = job;
    this.#transport = transport;
    this.#recordZeros = recordZeros;
  }

  /**
   * Queues blocks read (ascending, after every block queued before); a full span goes out at once. Resolves at once
   * unless the service answers slower than the disk is read: then once the queue is back under its bound.
   */
  async add(blocks: readonly BlockRecord[]): Promise<void> {
    this.throwIfFailed();
    for (const block of blocks) this.#queued.push(block);
    if (this.#queued.length >= MAX_DIFF_BLOCKS) this.#send(false);
    while (this.#queued.length >= MAX_QUEUED && this.#flight) await this.#flight;
    this.throwIfFailed();
  }

  /** Compares everything queued and the rest of the disk after it; resolves once every answer is in. */
  async finish(): Promise<void> {
    for (;;) {
      this.throwIfFailed();
      if (this.#flight) await this.#flight;
      else if (this.#queued.length > 0 || this.#comparedUpTo < this.#job.blockCount) this.#send(true);
      else return;
    }
  }

  /** Waits for the question in flight (after a failure: nothing of the copy may outlive it). */
  async settle(): Promise<void> {
    while (this.#flight) await this.#flight.catch(() => {});
  }

  throwIfFailed(): void {
    if (this.#failure) throw this.#failure.error;
  }

  #send(toTheEnd: boolean): void {
    if (this.#flight) return; // the flight in the air takes what is queued when it lands
    const more = (): boolean => this.#queued.length >= MAX_DIFF_BLOCKS || (toTheEnd && (this.#queued.length > 0 || this.#comparedUpTo < this.#job.blockCount));
    // Cleared in finally() of the outer promise, which always runs after this assignment (never synchronously).
    this.#flight = (async () => {
      try {
        while (!this.#failure && more()) {
          const blocks = this.#queued.slice(0, MAX_DIFF_BLOCKS);
          this.#queued = this.#queued.slice(blocks.length);
          // A span ends after its last block; the last one reaches the disk's end.
          const end = toTheEnd && this.#queued.length === 0 ? this.#job.blockCount : blocks.at(-1)!.blockIndex + 1;
          await this.#compare(blocks, end);
        }
      } catch (error) {
        this.#failure = { error };
      }
    })().finally(() => {
      this.#flight = undefined;
    });
  }

  async #compare(blocks: BlockRecord[], end: number): Promise<void> {
    const differ = new Set<number>();
    let at = 0;
    for (let start = this.#comparedUpTo; start < end; start += MAX_DIFF_SPAN) {
      const stop = Math.min(end, start + MAX_DIFF_SPAN);
      const inSpan: BlockRecord[] = [];
      while (at < blocks.length && blocks[at]!.blockIndex < stop) inSpan.push(blocks[at++]!);
      const answer = await this.#transport.diffBlocks(this.#job.runId, this.#job.diskIndex, { start, end: stop, blocks: inSpan });
      for (const blockIndex of answer) if (!this.#job.committed.has(blockIndex)) differ.add(blockIndex);
    }
    this.#comparedUpTo = end;
    for (const block of blocks) {
      if (!differ.has(block.blockIndex)) this.unchanged++;
      else if (block.sha256 !== null) {
        this.changed.push(block.blockIndex);
        differ.delete(block.blockIndex);
      }
    }
    // What is left differs and holds zeros now: a zero block read, or a hole where the parent had data.
    if (differ.size > 0) this.#recordZeros([...differ].sort((a, b) => a - b));
  }
}
