/**
 * Worker thread for the block engine: SHA-256 and the all-zero test of blocks that live in a SharedArrayBuffer,
 * so no block bytes are copied between threads.
 */
import { parentPort } from 'node:worker_threads';
import { createHash } from 'node:crypto';

export interface HashRequest {
  id: number;
  shared: SharedArrayBuffer;
  offset: number;
  length: number;
}

export interface HashResponse {
  id: number;
  sha256: Uint8Array;
  zero: boolean;
}

const ZERO_CHUNK = new Uint8Array(64 * 1024);

function isZero(view: Buffer): boolean {
  for (let at = 0; at < view.length; at += ZERO_CHUNK.length) {
    const end = Math.min(view.length, at + ZERO_CHUNK.length);
    if (!view.subarray(at, end).equals(ZERO_CHUNK.subarray(0, end - at))) return false;
  }
  return true;
}

parentPort!.on('message', (request: HashRequest) => {
  const view = Buffer.from(request.shared, request.offset, request.length);
  const zero = isZero(view);
  const sha256 = zero ? new Uint8Array(32) : new Uint8Array(createHash('sha256').update(view).digest());
  parentPort!.postMessage({ id: request.id, sha256, zero } satisfies HashResponse);
});
