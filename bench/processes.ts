/** Child-process helpers the benches share: free ports, stopping children, /proc readings, and a bench's own life. */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the child has exited. */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Peak (VmHWM) and current (VmRSS) resident memory of a process, in MB. */
export function procMemory(pid: number): { hwmMb: number; rssMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { hwmMb: kb('VmHWM') / 1024, rssMb: kb('VmRSS') / 1024 };
}

const CLOCK_TICKS = 100; // USER_HZ: 100 on every Linux build Node supports

/** CPU seconds (user + system, all threads) a process has used so far: /proc/PID/stat fields 14 and 15. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/**
 * Kills the bench's children (and runs `cleanup`) when the bench exits, however it ends; Ctrl-C or SIGTERM exit 130,
 * so an interrupted bench leaves no Ferry or connector running.
 */
export function killChildrenOnExit(children: ReadonlySet<ChildProcess>, cleanup: () => void = () => {}): void {
  process.on('exit', () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    cleanup();
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));
}

/** Runs a bench: it reports its figures, and a failure is reported on stdout too; the bench always exits 0. */
export async function runBench(main: () => Promise<void>): Promise<never> {
  try {
    await main();
  } catch (thrown) {
    process.stdout.write(`bench failed: ${(thrown as Error)?.stack ?? String(thrown)}\n`);
  }
  process.exit(0);
}
