/**
 * A private qemu-nbd per opened disk:
 *
 *   qemu-nbd --read-only --persistent --shared=4 -f FORMAT -k DIR/nbd.sock --export-name=disk [-B BITMAP] FILE
 *
 * `--persistent` matters: without it qemu-nbd exits when its first client disconnects. The socket lives in a
 * fresh 0700 directory `$TMPDIR/ferry-nbd-<agent pid>-XXXXXX`, removed on stop.
 *
 * Cleanup when the agent itself dies: qemu-nbd is started through `setpriv --pdeathsig KILL` when util-linux's
 * setpriv is there, so the kernel kills it if the agent dies, even by SIGKILL. On a normal exit an 'exit' hook
 * kills the servers and removes their directories. Directories left by an agent that was SIGKILLed are swept
 * the next time a server starts (the pid in the name is no longer alive and the directory is over a minute old).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DiskError, type DiskFormat } from './diskSource.ts';
import { INSTALL_HINT, qemuMessage } from './qemuTools.ts';
import { checkVmdkExtents, qemuImageName, resolveConfined, type Confinement } from './confine.ts';

export const EXPORT_NAME = 'disk';
const DIR_PREFIX = 'ferry-nbd-';
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 3_000;

export interface QemuNbdOptions {
  format: DiskFormat;
  /** Dirty bitmaps to expose as qemu:dirty-bitmap:NAME contexts. */
  bitmaps?: readonly string[];
  /** Simultaneous clients qemu-nbd accepts (default 4). */
  shared?: number;
  /**
   * The datastore the image must be in: `path` is resolved and checked again, VMDK extents too, and qemu-nbd is
   * given that file with no backing file (confine.ts). What it then opened is checked by NbdDiskSource.
   */
  confine?: Confinement;
}

const live = new Set<QemuNbdServer>();
let hooked = false;
let swept = false;
const setprivPath = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const server of live) server.killNow();
  });
}

/** Removes socket dirs of agents that are gone (best effort). */
function sweepStale(): void {
  if (swept) return;
  swept = true;
  let names: string[];
  try {
    names = readdirSync(tmpdir());
  } catch {
    return;
  }
  for (const name of names) {
    const match = /^ferry-nbd-(\d+)-/.exec(name);
    if (!match) continue;
    const pid = Number(match[1]);
    if (pid === process.pid) continue;
    try {
      process.kill(pid, 0);
      continue; // still alive
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') continue;
    }
    try {
      const full = join(tmpdir(), name);
      // Young directories are left alone: their agent may live in another pid namespace sharing this /tmp.
      if (Date.now() - statSync(full).mtimeMs < 60_000) continue;
      rmSync(full, { recursive: true, force: true });
    } catch {
      // not ours to worry about
    }
  }
}

export class QemuNbdServer {
  readonly path: string;
  readonly dir: string;
  readonly socketPath: string;
  readonly exportName = EXPORT_NAME;
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  #stderr = '';
  #stopping: Promise<void> | undefined;

  private constructor(path: string, dir: string, child: ChildProcess) {
    this.path = path;
    this.dir = dir;
    this.socketPath = join(dir, 'nbd.sock');
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('close', () => resolve()));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      if (this.#stderr.length < 64 * 1024) this.#stderr += chunk;
    });
  }

  /** Starts qemu-nbd on `path` and resolves once its socket exists. */
  static async start(path: string, options: QemuNbdOptions): Promise<QemuNbdServer> {
    const abs = options.confine ? await resolveConfined(options.confine, path) : resolve(path);
    if (options.confine && options.format === 'vmdk') await checkVmdkExtents(options.confine, abs);
    sweepStale();
    hookExit();
    const dir = await mkdtemp(join(tmpdir(), `${DIR_PREFIX}${process.pid}-`));
    const args = [
      '--read-only',
      '--persistent',
      `--shared=${options.shared ?? 4}`,
      '-f',
      options.format,
      '-k',
      join(dir, 'nbd.sock'),
      `--export-name=${EXPORT_NAME}`,
      ...(options.bitmaps ?? []).flatMap((b) => ['-B', b]),
      options.confine ? qemuImageName(abs, options.format) : abs,
    ];
    const [command, argv] = setprivPath ? [setprivPath, ['--pdeathsig', 'KILL', 'qemu-nbd', ...args]] : ['qemu-nbd', args];
    const child = spawn(command, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    const server = new QemuNbdServer(abs, dir, child);
    live.add(server);
    let spawnError: NodeJS.ErrnoException | undefined;
    child.once('error', (error) => {
      spawnError = error;
    });
    try {
      const deadline = Date.now() + START_TIMEOUT_MS;
      for (;;) {
        if (spawnError) {
          throw new DiskError(abs, spawnError.code === 'ENOENT' ? `qemu-nbd is not installed: ${INSTALL_HINT}` : `cannot run qemu-nbd: ${spawnError.message}`, {
            cause: spawnError,
          });
        }
        if (child.exitCode !== null || child.signalCode !== null) {
          await server.#exited;
          const detail = server.#stderr.includes('setpriv') ? server.#stderr.trim() : qemuMessage(server.#stderr);
          // Same wording as when the exit is noticed during the handshake (nbdSource.ts), whichever comes first.
          throw new DiskError(abs, `qemu-nbd failed: ${detail} (exit ${child.exitCode ?? child.signalCode})`);
        }
        if (existsSync(server.socketPath)) return server;
        if (Date.now() > deadline) throw new DiskError(abs, `qemu-nbd did not open its socket within ${START_TIMEOUT_MS} ms`);
        await sleep(5);
      }
    } catch (error) {
      await server.stop();
      throw error;
    }
  }

  /** Resolves when qemu-nbd has exited (for whatever reason). */
  get exited(): Promise<void> {
    return this.#exited;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** qemu-nbd's stderr so far (for error messages when the connection breaks). */
  get stderr(): string {
    return this.#stderr;
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** SIGTERM, then SIGKILL after 3 s; removes the socket directory. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      if (this.running) {
        this.#child.kill('SIGTERM');
        const timer = setTimeout(() => this.#child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await this.#exited;
        clearTimeout(timer);
      }
      await rm(this.dir, { recursive: true, force: true });
      live.delete(this);
    })();
    return this.#stopping;
  }

  /** Synchronous teardown for the process 'exit' hook. */
  killNow(): void {
    if (this.running) this.#child.kill('SIGKILL');
    try {
      rmSync(this.dir, { recursive: true, force: true });
    } catch {
      // exiting anyway
    }
  }
}
