/**
 * Runs short-lived programs (qemu-img info, qemu-img bitmap…) through a small helper process instead of forking
 * the service itself. Forking copies the parent's page tables: from a Node process holding 300 MB, starting
 * `true` took 22 ms here, against 1.5 ms from a small one, and a dirty-bitmap incremental starts such a program
 * on its critical path. The helper (launcherChild.ts) is started on first use and reused; when it cannot be
 * started or dies, programs are run directly, as before.
 */
import { execFile, fork, type ChildProcess } from 'node:child_process';

export interface LaunchRequest {
  id: number;
  file: string;
  args: string[];
  timeoutMs: number;
  maxBuffer: number;
  env?: NodeJS.ProcessEnv;
  /** Written to the program's stdin, which is then closed. */
  stdin?: string;
  /** Run in one of the helper's programs started ahead (warmPrograms.ts); the program reads its work from stdin. */
  warm?: boolean;
  /** Only top up the helper's programs started ahead; nothing runs and no reply comes. */
  prewarm?: boolean;
}

export interface LaunchReply {
  id: number;
  /** Exit code; null when killed by a signal (the timeout) or when the program could not start. */
  code: number | null;
  stdout: string;
  stderr: string;
  /** The program could not be started (ENOENT when it is not installed). */
  startError?: { code: string; message: string };
  killed?: boolean;
}

export interface LaunchOptions {
  timeoutMs?: number;
  maxBuffer?: number;
  env?: NodeJS.ProcessEnv;
  /** Written to the program's stdin, which is then closed. */
  stdin?: string;
  /**
   * The program reads its work from `stdin` and may be started before it is asked for (see `prewarm`): the helper
   * hands it one already running. Run directly (no helper), it is simply started then.
   */
  warm?: boolean;
}

export type LaunchResult = Omit<LaunchReply, 'id'>;

let helper: ChildProcess | undefined;
let nextId = 0;
const waiting = new Map<number, { resolve: (reply: LaunchResult) => void; request: LaunchRequest }>();

function startHelper(): ChildProcess | undefined {
  if (helper?.connected) return helper;
  if (process.env.FERRY_LAUNCHER === 'off') return undefined;
  try {
    const child = fork(new URL('./launcherChild.ts', import.meta.url), [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: [], serialization: 'json' });
    child.on('message', (reply: LaunchReply) => {
      const entry = waiting.get(reply.id);
      if (!entry) return;
      waiting.delete(reply.id);
      if (waiting.size === 0) setRef(child, false);
      const { id: _id, ...result } = reply;
      entry.resolve(result);
    });
    child.on('exit', () => {
      if (helper === child) helper = undefined;
      // Whatever it was running is run again directly.
      const orphans = [...waiting.values()];
      waiting.clear();
      for (const { request, resolve } of orphans) void runDirectly(request).then(resolve);
    });
    child.on('error', () => {});
    setRef(child, false);
    helper = child;
    return child;
  } catch {
    return undefined;
  }
}

/** Starts the helper ahead of its first use (it takes a Node start-up, about 50 ms), e.g. when a connector starts. */
export function prepareLauncher(): void {
  startHelper();
}

/** An idle helper must not keep the service alive; one running a program for it must. */
function setRef(child: ChildProcess, busy: boolean): void {
  const channel = child.channel as { ref(): void; unref(): void } | undefined | null;
  if (busy) {
    child.ref();
    channel?.ref();
  } else {
    child.unref();
    channel?.unref();
  }
}

/** Runs one request in this process (the helper's own way of running it, and the fallback here). */
export function runDirectly(request: Omit<LaunchRequest, 'id'>): Promise<LaunchResult> {
  return new Promise((resolve) => {
    const child = execFile(
      request.file,
      request.args,
      { timeout: request.timeoutMs, killSignal: 'SIGKILL', maxBuffer: request.maxBuffer, encoding: 'utf8', ...(request.env ? { env: request.env } : {}) },
      (error, stdout, stderr) => {
        const failure = error as (NodeJS.ErrnoException & { killed?: boolean; code?: number | string }) | null;
        resolve({
          code: failure === null ? 0 : typeof failure.code === 'number' ? failure.code : null,
          stdout,
          stderr,
          ...(failure && typeof failure.code === 'string' ? { startError: { code: failure.code, message: failure.message } } : {}),
          ...(failure?.killed ? { killed: true } : {}),
        });
      },
    );
    if (request.stdin !== undefined) {
      child.stdin?.on('error', () => {}); // a program that ends without reading its input
      child.stdin?.end(request.stdin);
    }
  });
}

/** Runs `file` with `args` to completion and collects its output. Never rejects: see `startError` and `code`. */
export function launch(file: string, args: readonly string[], options: LaunchOptions = {}): Promise<LaunchResult> {
  const request: LaunchRequest = {
    id: nextId++,
    file,
    args: [...args],
    timeoutMs: options.timeoutMs ?? 120_000,
    maxBuffer: options.maxBuffer ?? 16 * 1024 * 1024,
    ...(options.env ? { env: options.env } : {}),
    ...(options.stdin !== undefined ? { stdin: options.stdin } : {}),
    ...(options.warm ? { warm: true } : {}),
  };
  const child = startHelper();
  if (!child) return runDirectly(request);
  return new Promise((resolve) => {
    waiting.set(request.id, { resolve, request });
    setRef(child, true);
    child.send(request, (error) => {
      if (error && waiting.delete(request.id)) void runDirectly(request).then(resolve);
    });
  });
}

/**
 * Has the helper start `file` with `args` ahead of the `warm` launches that will use it (up to two are kept, and
 * one is started again after each use): e.g. a `virsh -c URI` shell, connected by the time a command comes.
 * Nothing happens without the helper.
 */
export function prewarm(file: string, args: readonly string[], options: Pick<LaunchOptions, 'env'> = {}): void {
  const child = startHelper();
  if (!child) return;
  const request: LaunchRequest = { id: -1, file, args: [...args], timeoutMs: 0, maxBuffer: 0, prewarm: true, ...(options.env ? { env: options.env } : {}) };
  child.send(request, () => {});
}
