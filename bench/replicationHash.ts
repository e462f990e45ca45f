/**
 * Baseline worker of the replication bench: reads the given 512 KiB blocks of a file with readSync and SHA-256s
 * each one, as the replication engine must. Started twice (one per core) by replication.bench.ts.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

const BLOCK = 512 * 1024;
const { path, blocks } = workerData as { path: string; blocks: number[] };
const buffer = Buffer.allocUnsafe(BLOCK);
const fd = openSync(path, 'r');
const start = performance.now();
const cpu0 = process.threadCpuUsage();
let check = 0;
for (const block of blocks) {
  let done = 0;
  while (done < BLOCK) {
    const n = readSync(fd, buffer, done, BLOCK - done, block * BLOCK + done);
    if (n === 0) break;
    done += n;
  }
  check ^= createHash('sha256').update(buffer.subarray(0, done)).digest()[0]!;
}
const ms = performance.now() - start;
const cpu = process.threadCpuUsage(cpu0);
closeSync(fd);
// This thread's CPU too: on a busy machine the wall time says how much of a core it got, the CPU what it cost.
parentPort!.postMessage({ ms, cpuMs: (cpu.user + cpu.system) / 1000, check });
