/**
 * Programs started ahead of their use, kept by the launcher's helper (launcherChild.ts). A `warm` request names a
 * program that reads its work from stdin — virsh's shell mode: `virsh -c URI` connects to libvirt at once, then
 * waits for a command — and is given one already started (and connected), so its time is the work alone, not a
 * program start and a connection: a `virsh net-info` took 85 ms as its own process against 8 ms in a running virsh
 * here (load 7), and `virsh define` / `virsh start` are on the way to every boot.
 *
 * Up to POOL_SIZE are kept per program, arguments and environment; each one used is replaced once it has finished
 * (not while it works: starting one takes CPU from the work), and one left unused for IDLE_MS is ended.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { LaunchRequest, LaunchResult } from './launcher.ts';

const POOL_SIZE = 2;
const IDLE_MS = 5 * 60_000;

interface Warm {
  child: ChildProcess;
  stdout: Buffer[];
  stderr: Buffer[];
  bytes: number;
  /** The output limit of the request it runs (none while it waits): past it, it is killed. */
  maxBuffer?: number;
  overflowed: boolean;
  /** Set once it ended or could not start: such a one is never handed out. */
  gone: boolean;
  startError?: NodeJS.ErrnoException;
  idle?: NodeJS.Timeout;
}

type Program = Pick<LaunchRequest, 'file' | 'args' | 'env'>;

const pools = new Map<string, Warm[]>();

function keyOf(program: Program): string {
  return JSON.stringify([program.file, program.args, program.env ?? null]);
}

function drop(key: string, warm: Warm): void {
  const pool = pools.get(key);
  const at = pool?.indexOf(warm) ?? -1;
  if (at >= 0) pool!.splice(at, 1);
}

function startOne(program: Program, key: string): Warm {
  const child = spawn(program.file, program.args, { stdio: ['pipe', 'pipe', 'pipe'], ...(program.env ? { env: program.env } : {}) });
  const warm: Warm = { child, stdout: [], stderr: [], bytes: 0, overflowed: false, gone: false };
  const collect = (into: Buffer[]) => (chunk: Buffer) => {
    into.push(chunk);
    warm.bytes += chunk.length;
    if (warm.maxBuffer !== undefined && warm.bytes > warm.maxBuffer && !warm.overflowed) {
      warm.overflowed = true;
      child.kill('SIGKILL');
    }
  };
  child.stdout!.on('data', collect(warm.stdout));
  child.stderr!.on('data', collect(warm.stderr));
  // A program that ended before its input was written (EPIPE) is reported by its exit, not by the write.
  child.stdin!.on('error', () => {});
  child.on('error', (error: NodeJS.ErrnoException) => {
    warm.gone = true;
    warm.startError ??= error;
    drop(key, warm);
  });
  child.on('exit', () => {
    warm.gone = true;
    drop(key, warm);
  });
  return warm;
}

/** Tops the program's pool up to POOL_SIZE (each one ends after IDLE_MS unused). */
export function prewarm(program: Program): void {
  const key = keyOf(program);
  let pool = pools.get(key);
  if (!pool) pools.set(key, (pool = []));
  while (pool.length < POOL_SIZE) {
    const warm = startOne(program, key);
    warm.idle = setTimeout(() => {
      drop(key, warm);
      warm.child.stdin!.end();
    }, IDLE_MS);
    warm.idle.unref();
    pool.push(warm);
  }
}

/**
 * Runs `request` (its `stdin` written, then closed) in a program of the pool, or in one started now when the pool
 * has none; then refills the pool. The result is what runDirectly reports for the same program and input.
 */
export function runWarm(request: LaunchRequest): Promise<LaunchResult> {
  const key = keyOf(request);
  const pool = pools.get(key) ?? [];
  let warm = pool.shift();
  while (warm?.gone) warm = pool.shift();
  warm ??= startOne(request, key);
  clearTimeout(warm.idle);
  const taken = warm;
  return new Promise((resolve) => {
    let killed = false;
    let done = false;
    const timer = setTimeout(() => {
      killed = true;
      taken.child.kill('SIGKILL');
    }, request.timeoutMs);
    const finish = (code: number | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const error = taken.startError;
      resolve({
        code: error ? null : code,
        stdout: Buffer.concat(taken.stdout).toString('utf8'),
        stderr: Buffer.concat(taken.stderr).toString('utf8'),
        ...(error ? { startError: { code: error.code ?? 'ERROR', message: error.message } } : {}),
        ...(killed || taken.overflowed ? { killed: true } : {}),
      });
      prewarm(request);
    };
    // A program that never started emits no `close` of its own on every Node version: its error ends the run.
    if (taken.startError && taken.child.pid === undefined) return finish(null);
    taken.child.on('error', () => {
      if (taken.child.pid === undefined) finish(null);
    });
    taken.child.on('close', (code) => finish(code));
    taken.maxBuffer = request.maxBuffer;
    taken.child.stdin!.end(request.stdin ?? '');
  });
}
