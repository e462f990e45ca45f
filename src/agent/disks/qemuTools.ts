/**
 * Running qemu-img (and checking that qemu-utils is installed). Tools are spawned without a shell; their
 * output is small metadata (JSON), so stdout pipes are fine here — disk data never goes through a pipe.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { DiskError, type DiskFormat } from './diskSource.ts';
import { launch } from '../../lib/launcher.ts';

export const INSTALL_HINT = 'install qemu-utils (apt-get install -y qemu-utils)';

/** A reason string when qemu-img / qemu-nbd are not runnable (tests skip with it), else undefined. */
export function qemuUtilsMissing(): string | undefined {
  for (const tool of ['qemu-img', 'qemu-nbd']) {
    const result = spawnSync(tool, ['--version'], { stdio: 'ignore' });
    if (result.error || result.status !== 0) return `${tool} is not available: ${INSTALL_HINT}`;
  }
  return undefined;
}

export interface ToolResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a qemu tool to completion (through the launcher: see lib/launcher.ts); a tool that cannot start becomes a
 * DiskError naming `path` (the disk concerned). A tool killed at the timeout has code null.
 */
export async function runTool(tool: string, args: readonly string[], path: string, timeoutMs = 120_000): Promise<ToolResult> {
  const result = await launch(tool, args, { timeoutMs });
  if (result.startError) {
    const { code, message } = result.startError;
    throw new DiskError(path, code === 'ENOENT' ? `${tool} is not installed: ${INSTALL_HINT}` : `cannot run ${tool}: ${message}`);
  }
  return { code: result.code, stdout: result.stdout, stderr: result.stderr };
}

/** qemu's message without the "qemu-img: " prefixes and repeated "Could not open 'x': " wrappers. */
export function qemuMessage(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .map((l) => l.replace(/^qemu-(img|nbd|io): /, '').replace(/^(Could not open '[^']*': )+/, ''));
  return lines.join('; ') || 'unknown error';
}

/** One line of `qemu-img map --output=json`. */
export interface QemuMapEntry {
  start: number;
  length: number;
  depth: number;
  present?: boolean;
  zero: boolean;
  data: boolean;
  offset?: number;
}

/**
 * Streams `qemu-img map --output=json -f FORMAT IMAGE` one extent at a time (qemu prints one JSON object per
 * line), so a fragmented multi-TB disk never needs its whole map in memory. Breaking out kills qemu-img. What qemu
 * opens: `path`, or `image` (a confined run passes the checked file without backing, see confine.ts), or with `fd`
 * the file open on that descriptor, handed to qemu-img as /dev/fd/3 — exactly the file the caller reads.
 */
export async function* qemuImgMap(path: string, format: DiskFormat, source: { image?: string; fd?: number } = {}): AsyncGenerator<QemuMapEntry> {
  const image = source.fd !== undefined ? '/dev/fd/3' : (source.image ?? path);
  const child = spawn('qemu-img', ['map', '--output=json', '-f', format, image], { stdio: ['ignore', 'pipe', 'pipe', source.fd ?? 'ignore'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(new DiskError(path, error.code === 'ENOENT' ? `qemu-img is not installed: ${INSTALL_HINT}` : `cannot run qemu-img: ${error.message}`, { cause: error })),
    );
    child.on('close', (code) => resolve(code));
  });
  exited.catch(() => undefined);
  let finished = false;
  try {
    const lines = createInterface({ input: child.stdout!, crlfDelay: Infinity });
    for await (const raw of lines) {
      let line = raw.trim();
      if (line.startsWith('[')) line = line.slice(1);
      if (line.endsWith(',') || line.endsWith(']')) line = line.slice(0, -1);
      if (line.length === 0) continue;
      let entry: QemuMapEntry;
      try {
        entry = JSON.parse(line) as QemuMapEntry;
      } catch {
        throw new DiskError(path, `unexpected qemu-img map output: ${line.slice(0, 200)}`);
      }
      yield entry;
    }
    const code = await exited;
    if (code !== 0) throw new DiskError(path, `qemu-img map failed: ${qemuMessage(stderr)}`);
    finished = true;
  } finally {
    if (!finished && child.exitCode === null) child.kill('SIGKILL');
  }
}
