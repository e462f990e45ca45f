/**
 * Worker thread for the block engine: SHA-256 and the all-zero test of blocks that live in a SharedArrayBuffer,
 * so no block bytes are copied between threads. One message carries several blocks: on a machine whose cores are
 * shared, every message is a thread wake-up that waits its turn for a core, so fewer, larger messages keep a run
 * fast when the machine is busy.
 */
import { parentPort } from 'node:worker_threads';
import { createHash } from 'node:crypto';

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
}

export interface HashResponse {
  id: number;
  /** 32 bytes per block, in the order of the request's offsets (zeros for a zero block). */
  sha256s: Uint8Array;
  /** 1 for an all-zero block, else 0, per block. */
  zero: Uint8Array;
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
