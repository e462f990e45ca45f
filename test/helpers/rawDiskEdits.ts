/**
 * Sparse raw test disks and the edits the hash-diff tests make to them, block by block (`blockSize` bytes): random
 * data everywhere except the holes, a write at an offset, one byte complemented, a hole punched.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';

export const hasFallocate = spawnSync('fallocate', ['--version']).status === 0;

export function makeSparseDisk(path: string, size: number, blockSize: number, holes: readonly number[]): void {
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, size);
    for (let block = 0; block * blockSize < size; block++) {
      if (holes.includes(block)) continue;
      const bytes = randomBytes(Math.min(blockSize, size - block * blockSize));
      writeSync(fd, bytes, 0, bytes.length, block * blockSize);
    }
  } finally {
    closeSync(fd);
  }
}

export function writeAt(path: string, offset: number, bytes: Buffer): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

/**
 * Changes the byte at `offset` to its complement: a fixed new value would be the old one for 1 in 256 random bytes,
 * and that block would not have changed at all.
 */
export function flipByte(path: string, offset: number): void {
  const fd = openSync(path, 'r+');
  try {
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, offset);
    byte[0] = byte[0]! ^ 0xff;
    writeSync(fd, byte, 0, 1, offset);
  } finally {
    closeSync(fd);
  }
}

export function punchHole(path: string, offset: number, length: number): void {
  execFileSync('fallocate', ['--punch-hole', '--offset', String(offset), '--length', String(length), path]);
}
