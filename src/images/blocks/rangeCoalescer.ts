/**
 * Turns many small ranged reads of one object into few larger ones. Exports, NBD exports and hydration read an image
 * block by block, several at once (the block fetcher keeps a few in flight), and a pack stores a disk's blocks mostly
 * back to back: over S3 every block was one ranged GET, each with a request's fixed cost (and, on some stores, a cost
 * that grows with the object rather than the range). Here reads of one object wait while `inFlightPerObject` GETs of
 * it are under way (and for the rest of the current turn of the event loop); then the waiting ranges are merged where
 * they touch or nearly touch (`maxGapBytes`) up to `maxRangeBytes`, and each merged range is one read whose bytes are
 * handed back to every read it covers. A read never waits behind another object's reads, and never gets more or
 * other bytes than it asked for; a failure fails every read the merged range covered.
 */

export interface RangeCoalescerOptions {
  /** The longest merged read (a single read longer than this is still made, alone). */
  maxRangeBytes: number;
  /** Ranges this close are merged, the bytes between them read and dropped. */
  maxGapBytes: number;
  /** Reads of one object under way at once; more wait, and are merged. */
  inFlightPerObject: number;
}

// One GET per pack at a time: on moto_server (a 32 MiB export, load 19) 1 in flight took 15 GETs and 4.8 s, 2 took 25 GETs
// and 7.0 s, one GET per block 64 and 12.8 s (bench/clusterS3Reads.ts). Other packs are still read side by side.
export const DEFAULT_COALESCING: RangeCoalescerOptions = { maxRangeBytes: 8 * 1024 * 1024, maxGapBytes: 64 * 1024, inFlightPerObject: 1 };

interface Waiting {
  offset: number;
  length: number;
  resolve(bytes: Buffer): void;
  reject(error: unknown): void;
}

interface ObjectReads {
  waiting: Waiting[];
  inFlight: number;
  scheduled: boolean;
}

export class RangeCoalescer {
  readonly #read: (name: string, offset: number, length: number) => Promise<Buffer>;
  readonly #options: RangeCoalescerOptions;
  readonly #objects = new Map<string, ObjectReads>();

  /** `read`: `length` bytes at `offset` of `name`, fewer only past the object's end. */
  constructor(read: (name: string, offset: number, length: number) => Promise<Buffer>, options: RangeCoalescerOptions = DEFAULT_COALESCING) {
    this.#read = read;
    this.#options = options;
  }

  read(name: string, offset: number, length: number): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      let reads = this.#objects.get(name);
      if (reads === undefined) {
        reads = { waiting: [], inFlight: 0, scheduled: false };
        this.#objects.set(name, reads);
      }
      reads.waiting.push({ offset, length, resolve, reject });
      this.#schedule(name, reads);
    });
  }

  /** Dispatches at the end of this turn of the event loop, so reads asked for together are merged together. */
  #schedule(name: string, reads: ObjectReads): void {
    if (reads.scheduled || reads.inFlight >= this.#options.inFlightPerObject) return;
    reads.scheduled = true;
    setImmediate(() => {
      reads.scheduled = false;
      this.#dispatch(name, reads);
    });
  }

  #dispatch(name: string, reads: ObjectReads): void {
    if (reads.waiting.length === 0) {
      if (reads.inFlight === 0) this.#objects.delete(name);
      return;
    }
    const groups = mergeRanges(reads.waiting, this.#options);
    reads.waiting = [];
    // Only as many merged reads start as there is room for; the others wait again (and may merge with newcomers).
    const room = Math.max(0, this.#options.inFlightPerObject - reads.inFlight);
    for (const group of groups.slice(room)) reads.waiting.push(...group.members);
    for (const group of groups.slice(0, room)) {
      reads.inFlight++;
      this.#read(name, group.offset, group.length).then(
        (bytes) => {
          for (const member of group.members) {
            const from = member.offset - group.offset;
            member.resolve(bytes.subarray(Math.min(from, bytes.length), Math.min(from + member.length, bytes.length)));
          }
        },
        (error: unknown) => {
          for (const member of group.members) member.reject(error);
        },
      ).finally(() => {
        reads.inFlight--;
        if (reads.waiting.length > 0) this.#schedule(name, reads);
        else if (reads.inFlight === 0 && !reads.scheduled) this.#objects.delete(name);
      });
    }
  }
}

export interface MergedRange {
  offset: number;
  length: number;
  members: Waiting[];
}

/** Sorted by offset, runs of ranges at most `maxGapBytes` apart joined while the run stays within `maxRangeBytes`. */
export function mergeRanges(waiting: readonly Waiting[], options: Pick<RangeCoalescerOptions, 'maxRangeBytes' | 'maxGapBytes'>): MergedRange[] {
  const sorted = [...waiting].sort((a, b) => a.offset - b.offset);
  const groups: MergedRange[] = [];
  let current: MergedRange | undefined;
  for (const read of sorted) {
    const end = read.offset + read.length;
    if (current !== undefined) {
      const currentEnd = current.offset + current.length;
      const newEnd = Math.max(currentEnd, end);
      if (read.offset <= currentEnd + options.maxGapBytes && newEnd - current.offset <= options.maxRangeBytes) {
        current.length = newEnd - current.offset;
        current.members.push(read);
        continue;
      }
    }
    current = { offset: read.offset, length: read.length, members: [read] };
    groups.push(current);
  }
  return groups;
}
