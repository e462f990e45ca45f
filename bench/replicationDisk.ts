/**
 * The replication bench's test disk: a sparse raw file, half data and half holes, written fast from a seed.
 *
 * Layout: runs of 1–16 MiB alternate between data and holes (a seeded PRNG picks the lengths) until each kind
 * has its share; every run starts on a MiB boundary, so data and holes are whole 512 KiB blocks. Data runs mix
 * content the way a used disk does, each run one kind:
 *   50 % random          (AES-128-CTR keystream: binaries, media, encrypted or compressed files; incompressible)
 *   25 % text-like       (the keystream masked to printable ASCII: about 6 bits of entropy per byte)
 *   25 % half-filled     (random 4 KiB pages whose second half is zeros: small files and slack in a filesystem)
 * Every block is distinct (no dedup inside the disk), and no data block is all zeros.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';

export const MiB = 1024 * 1024;

export interface DiskLayout {
  sizeBytes: number;
  /** Data runs, ascending, MiB-aligned. */
  data: { offset: number; length: number; kind: 'random' | 'text' | 'half' }[];
  dataBytes: number;
}

/** mulberry32: a small seeded PRNG, enough for picking lengths. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function diskLayout(sizeBytes: number, dataFraction: number, seed: number): DiskLayout {
  const totalMiB = Math.floor(sizeBytes / MiB);
  let dataLeft = Math.round(totalMiB * dataFraction);
  let holeLeft = totalMiB - dataLeft;
  const random = prng(seed);
  const data: DiskLayout['data'] = [];
  let at = 0;
  let hole = random() < 0.5;
  while (dataLeft + holeLeft > 0) {
    if (hole ? holeLeft === 0 : dataLeft === 0) hole = !hole;
    const length = Math.min(1 + Math.floor(random() * 16), hole ? holeLeft : dataLeft);
    if (hole) holeLeft -= length;
    else {
      dataLeft -= length;
      const pick = random();
      const kind = pick < 0.5 ? 'random' : pick < 0.75 ? 'text' : 'half';
      const last = data[data.length - 1];
      if (last && last.offset + last.length === at * MiB && last.kind === kind) last.length += length * MiB;
      else data.push({ offset: at * MiB, length: length * MiB, kind });
    }
    at += length;
    hole = !hole;
  }
  return { sizeBytes, data, dataBytes: data.reduce((n, r) => n + r.length, 0) };
}

const CHUNK = 8 * MiB;

/** Writes the layout's data into a new sparse raw file at `path` (the holes are never written). */
export function writeDisk(path: string, layout: DiskLayout, seed: number): void {
  const key = createHash('sha256').update(`ferry-replication-bench:${seed}`).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(CHUNK);
  const fd = openSync(path, 'w', 0o600);
  try {
    ftruncateSync(fd, layout.sizeBytes);
    for (const run of layout.data) {
      for (let done = 0; done < run.length; done += CHUNK) {
        const n = Math.min(CHUNK, run.length - done);
        const chunk = cipher.update(zeros.subarray(0, n));
        shape(chunk, run.kind);
        let written = 0;
        while (written < n) written += writeSync(fd, chunk, written, n - written, run.offset + done + written);
      }
    }
  } finally {
    closeSync(fd);
  }
}

function shape(chunk: Buffer, kind: DiskLayout['data'][number]['kind']): void {
  if (kind === 'random') return;
  if (kind === 'text') {
    // 0x20..0x5f and 0x60..0x7e: printable ASCII, 6 bits per byte (zstd -1 keeps about 80 %).
    if (chunk.byteOffset % 4 !== 0) throw new Error('unaligned chunk');
    const words = new Uint32Array(chunk.buffer, chunk.byteOffset, chunk.length / 4);
    for (let i = 0; i < words.length; i++) words[i] = (words[i]! & 0x3f3f3f3f) | 0x20202020;
    return;
  }
  for (let page = 0; page < chunk.length; page += 4096) chunk.fill(0, page + 2048, page + 4096);
}
