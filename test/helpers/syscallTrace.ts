/**
 * Watches a running process's system calls with strace (attached by pid, every thread), to check the order in which
 * it really does things: here, that a response acknowledging a commit leaves only after an fdatasync of the SQLite
 * WAL that started once that commit's frames were written (test/integration/crash.test.ts).
 *
 * strace prints every buffer in hex (-xx) with entry timestamps (-ttt) and durations (-T), and each fd with its path
 * (-y), so the parser needs no knowledge of the process beyond the WAL's path and the text it looks for.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface SyscallTrace {
  /** Resolves once strace has exited (it does when the traced process dies) and returns the parsed trace. */
  finished(): Promise<TracedCalls>;
  /** Detaches (for a process that keeps running). */
  stop(): Promise<TracedCalls>;
}

export interface WalWrite {
  at: number;
  bytes: Buffer;
}

export interface Sync {
  start: number;
  end: number;
}

export interface SocketWrite {
  at: number;
  text: string;
}

export interface TracedCalls {
  walWrites: WalWrite[];
  walSyncs: Sync[];
  socketWrites: SocketWrite[];
}

/** Attaches strace to `pid`; resolves once every thread is attached. */
export async function traceSyscalls(pid: number, outFile: string, walPath: string): Promise<SyscallTrace> {
  const child: ChildProcess = spawn(
    'strace',
    ['-f', '-ttt', '-T', '-y', '-xx', '-s', '65536', '-e', 'trace=pwrite64,fdatasync,fsync,write,writev,sendmsg', '-o', outFile, '-p', String(pid)],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      if (/attached/.test(stderr)) resolve();
    });
    child.on('error', reject);
    child.on('exit', () => reject(new Error(`strace exited before it attached: ${stderr}`)));
  });
  const parse = () => parseTrace(readFileSync(outFile, 'utf8'), walPath);
  return {
    finished: async () => {
      await exited;
      return parse();
    },
    stop: async () => {
      child.kill('SIGINT');
      await exited;
      return parse();
    },
  };
}

const hexBytes = (escaped: string): Buffer => Buffer.from(escaped.replace(/\\x/g, ''), 'hex');

/** Parses strace's output (-f -ttt -T -y -xx) into the calls the checks need. */
export function parseTrace(text: string, walPath: string): TracedCalls {
  const walWrites: WalWrite[] = [];
  const walSyncs: Sync[] = [];
  const socketWrites: SocketWrite[] = [];
  const unfinished = new Map<string, { start: number; line: string }>();
  const wal = `<${walPath}>`;
  for (const raw of text.split('\n')) {
    const match = /^(\d+)\s+(\d+\.\d+)\s+(.*)$/.exec(raw);
    if (!match) continue;
    const [, tid, time, rest] = match as unknown as [string, string, string, string];
    let at = Number(time);
    // -xx escapes the fds' paths as well: decode them, so a file is recognised by its path.
    let line = rest.replace(/<((?:\\x[0-9a-f]{2})+)>/g, (_, path: string) => `<${hexBytes(path).toString('utf8')}>`);
    if (line.endsWith('<unfinished ...>')) {
      unfinished.set(tid, { start: at, line });
      continue;
    }
    const resumed = /^<\.\.\. (\w+) resumed>(.*)$/.exec(line);
    if (resumed) {
      const begun = unfinished.get(tid);
      unfinished.delete(tid);
      if (!begun) continue;
      at = begun.start;
      line = begun.line.replace(/\s*<unfinished \.\.\.>$/, '') + resumed[2];
    }
    const duration = Number(/<(\d+\.\d+)>$/.exec(line)?.[1] ?? 0);
    if (/^(fdatasync|fsync)\(/.test(line) && line.includes(wal) && / = 0 /.test(line)) {
      walSyncs.push({ start: at, end: at + duration });
    } else if (line.startsWith('pwrite64(') && line.includes(wal)) {
      const data = /^pwrite64\(\d+<[^>]*>, "((?:\\x[0-9a-f]{2})*)"/.exec(line);
      if (data) walWrites.push({ at, bytes: hexBytes(data[1]!) });
    } else if (/^(write|writev|sendmsg)\(\d+<(socket|TCP|UNIX)/.test(line)) {
      const chunks = [...line.matchAll(/"((?:\\x[0-9a-f]{2})*)"/g)].map((m) => hexBytes(m[1]!).toString('latin1'));
      socketWrites.push({ at, text: chunks.join('') });
    }
  }
  return { walWrites, walSyncs, socketWrites };
}

/**
 * When the commit that first wrote `marker` into the WAL ended: the first commit frame written at or after the first
 * WAL write containing it (a WAL frame is a 24-byte header, written on its own, then its page; a commit frame's
 * header holds the database size after the commit, bytes 4–7, non-zero) and that frame's page after it.
 */
export function commitEndOf(calls: TracedCalls, marker: string): number | undefined {
  const frame = commitFrameOf(calls, marker);
  if (frame === undefined) return undefined;
  return calls.walWrites[frame + 1]?.at ?? calls.walWrites[frame]!.at;
}

/** The index (in `walWrites`) of the commit frame's header that ended the commit that first wrote `marker`. */
export function commitFrameOf(calls: TracedCalls, marker: string): number | undefined {
  const needle = Buffer.from(marker, 'latin1');
  const first = calls.walWrites.findIndex((w) => w.bytes.includes(needle));
  if (first < 0) return undefined;
  for (let i = first; i < calls.walWrites.length; i++) {
    const w = calls.walWrites[i]!;
    if (w.bytes.length === 24 && w.bytes.readUInt32BE(4) !== 0) return i;
  }
  return undefined;
}
