/**
 * Worker thread for the block engine: SHA-256 and the all-zero test of blocks that live in a SharedArrayBuffer,
 * so no block bytes are copied between threads. One message carries several blocks: on a machine whose cores are
 * shared, every message is a thread wake-up that waits its turn for a core, so fewer, larger messages keep a run
 * fast when the machine is busy.
 *
 * A request may also ask the worker to read its blocks first (`read`: a pread of a page-cached source file into the
 * shared memory). Read by the thread pool instead, each piece cost two more hand-offs (a pool thread woken, then
 * the main thread to pass the piece on), and on two cores those threads ran between the hashing threads.
 */
import { parentPort } from 'node:worker_threads';
import { createHash } from 'node:crypto';
import { readSync } from 'node:fs';

export interface HashRequest {
  id: number;
  /** Which memory the blocks are in: one this worker was given before, or `shared`, given with this request. */
  memory: number;
  /** Sent once per memory and worker: passing a SharedArrayBuffer in every message cost as much as the rest of it. */
  shared?: SharedArrayBuffer;
  /** Memories the pool will not name again (it keeps a few per worker). */
  forget?: number[];
  /** Byte offsets of the blocks in the memory, each `length` bytes. */
  offsets: number[];
  length: number;
  /** Read the blocks first (see WorkerRead). */
  read?: WorkerRead;
}

/**
 * `bytes` bytes of file descriptor `fd` (of this process) at `position`, read into the memory at byte `at`; the
 * rest of `span` bytes from there is zero-filled (a disk's last, partial block).
 */
export interface WorkerRead {
  fd: number;
  position: number;
  at: number;
  bytes: number;
  span: number;
}

export interface HashResponse {
  id: number;
  /** 32 bytes per block, in the order of the request's offsets (zeros for a zero block). */
  sha256s: Uint8Array;
  /** 1 for an all-zero block, else 0, per block. */
  zero: Uint8Array;
  /** The read failed (nothing hashed). */
  readError?: string;
}

const ZERO_CHUNK = new Uint8Array(64 * 1024);

function isZero(view: Buffer): boolean {
  for (let at = 0; at < view.length; at += ZERO_CHUNK.length) {
    const end = Math.min(view.length, at + ZERO_CHUNK.length);
    if (!view.subarray(at, end).equals(ZERO_CHUNK.subarray(0, end - at))) return false;
  }
  return true;
}

/** Sent when the pool's caller drops a memory: the worker lets go of it too, so it can be freed. */
export interface ForgetRequest {
  forget: number[];
}

const memories = new Map<number, SharedArrayBuffer>();

parentPort!.on('message', (request: HashRequest | ForgetRequest) => {
  for (const key of request.forget ?? []) memories.delete(key);
  if (!('offsets' in request)) return;
  if (request.shared) memories.set(request.memory, request.shared);
  const shared = memories.get(request.memory)!;
  if (request.read) {
    const readError = readInto(shared, request.read);
    if (readError) {
      parentPort!.postMessage({ id: request.id, sha256s: new Uint8Array(0), zero: new Uint8Array(0), readError } satisfies HashResponse);
      return;
    }
  }
  const count = request.offsets.length;
  const sha256s = new Uint8Array(32 * count);
  const zero = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const view = Buffer.from(shared, request.offsets[i]!, request.length);
    if (isZero(view)) {
      zero[i] = 1;
      continue;
    }
    sha256s.set(createHash('sha256').update(view).digest(), 32 * i);
  }
  parentPort!.postMessage({ id: request.id, sha256s, zero } satisfies HashResponse, [sha256s.buffer, zero.buffer]);
});

/** Reads as WorkerRead says; a message on failure. */
function readInto(shared: SharedArrayBuffer, read: WorkerRead): string | undefined {
  const target = Buffer.from(shared, read.at, read.span);
  try {
    for (let done = 0; done < read.bytes; ) {
      const n = readSync(read.fd, target, done, read.bytes - done, read.position + done);
      if (n === 0) return 'unexpected end of file (file truncated?)';
      done += n;
    }
  } catch (error) {
    return (error as Error).message;
  }
  if (read.bytes < read.span) target.fill(0, read.bytes);
  return undefined;
}
