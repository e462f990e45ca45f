/**
 * What the machine gives while `npm run bench` measures Ferry: the idle share of the CPUs, and how long an fdatasync
 * takes on the disk that holds the data dirs. Both are sampled during a timed step, so a reader can tell a busy
 * machine or a slow disk from a slow Ferry. A strict write is acknowledged only after a WAL sync: with C requests in
 * flight, no server can acknowledge more than C per sync latency, whatever it does in between.
 */
import { closeSync, fdatasync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** [busy, total] jiffies of all CPUs so far (/proc/stat's first line; idle = idle + iowait). */
function cpuJiffies(): [number, number] {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = fields[3]! + (fields[4] ?? 0);
  return [total - idle, total];
}

export interface Conditions {
  /** Share of CPU time idle during the step (0–1). */
  idle: number;
  /** fdatasync latency on the data dirs' disk during the step, ms (p50 and p90). */
  syncP50: number;
  syncP90: number;
}

/** Samples the machine from `start()` until the returned stop function is called. */
export function sampleConditions(dir: string): () => Promise<Conditions> {
  const [busy0, total0] = cpuJiffies();
  const file = join(dir, `sync-probe-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const fd = openSync(file, 'w', 0o600);
  const latencies: number[] = [];
  let running = true;
  const block = Buffer.alloc(4096, 1);
  // One 4 KiB append and fdatasync at a time, with a pause: a light probe, not a load of its own.
  const loop = (async () => {
    while (running) {
      writeSync(fd, block);
      const t = performance.now();
      await new Promise<void>((resolve, reject) => fdatasync(fd, (e) => (e ? reject(e) : resolve())));
      latencies.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return async () => {
    running = false;
    await loop;
    closeSync(fd);
    rmSync(file, { force: true });
    const [busy1, total1] = cpuJiffies();
    const sorted = latencies.sort((a, b) => a - b);
    const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
    return { idle: total1 > total0 ? 1 - (busy1 - busy0) / (total1 - total0) : NaN, syncP50: at(0.5), syncP90: at(0.9) };
  };
}

export const describeConditions = (c: Conditions): string =>
  `idle ${Math.round(c.idle * 100)} %, fdatasync p50 ${c.syncP50.toFixed(1)} ms / p90 ${c.syncP90.toFixed(1)} ms`;
