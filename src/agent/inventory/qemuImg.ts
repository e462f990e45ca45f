/** `qemu-img info --output=json`, run without a shell, with a timeout. */
import { launch } from '../../lib/launcher.ts';
import { isAbsolute } from 'node:path';
import type { DiskFormat } from '../disks/diskSource.ts';
import { requireTools } from '../../lib/tools.ts';
import { open } from 'node:fs/promises';
import { isUnsupported, readQcow2Header } from '../disks/qcow2Header.ts';

export interface QemuImgInfo {
  format: string;
  virtualSize: number;
  actualSize?: number;
  backingFilename?: string;
  /** qcow2 external data file, if any. */
  dataFile?: string;
  encrypted: boolean;
  /** vmdk create-type as qemu reports it. */
  createType?: string;
  dirty: boolean;
  bitmaps: { name: string; flags: string[] }[];
}

export class QemuImgError extends Error {}

export interface QemuImgOptions {
  timeoutMs?: number;
  qemuImg?: string;
}

/**
 * Runs `qemu-img info` on one image. `format` is passed with `-f` so qemu never probes (a raw disk whose guest wrote
 * a qcow2 header must stay raw); `-U` reads images a running VM holds locked. `path` must be absolute: qemu reads a
 * relative name with a colon as a protocol ("nbd:…").
 */
export function qemuImgInfo(path: string, format: DiskFormat, options: QemuImgOptions = {}): Promise<QemuImgInfo> {
  if (!isAbsolute(path)) return Promise.reject(new QemuImgError(`not an absolute path: ${path}`));
  const qemuImg = options.qemuImg ?? requireTools(['qemu-img'], 'Reading disk images')['qemu-img'];
  const timeout = options.timeoutMs ?? 15_000;
  return launch(qemuImg, ['info', '--output=json', '-U', '-f', format, path], { timeoutMs: timeout, maxBuffer: 4 * 1024 * 1024, env: { ...process.env, LC_ALL: 'C' } }).then(
    ({ code, stdout, stderr, startError, killed }) => {
      if (startError) throw new QemuImgError(startError.message);
      if (code !== 0) {
        throw new QemuImgError(killed ? `qemu-img info timed out after ${timeout} ms` : (stderr || `exit status ${String(code)}`).trim().replace(/^qemu-img: /, '').split('\n')[0]!);
      }
      try {
        const j = JSON.parse(stdout) as Record<string, unknown>;
        const specific = (j['format-specific'] as { type?: string; data?: Record<string, unknown> } | undefined)?.data ?? {};
        const bitmaps = Array.isArray(specific['bitmaps'])
          ? (specific['bitmaps'] as { name: string; flags?: string[] }[]).map((b) => ({ name: b.name, flags: b.flags ?? [] }))
          : [];
        return {
          format: String(j['format']),
          virtualSize: Number(j['virtual-size']),
          ...(typeof j['actual-size'] === 'number' ? { actualSize: j['actual-size'] } : {}),
          ...(typeof j['backing-filename'] === 'string' ? { backingFilename: j['backing-filename'] } : {}),
          ...(typeof specific['data-file'] === 'string' ? { dataFile: specific['data-file'] } : {}),
          encrypted: j['encrypted'] === true || specific['encrypt'] !== undefined,
          ...(typeof specific['create-type'] === 'string' ? { createType: specific['create-type'] } : {}),
          dirty: j['dirty-flag'] === true,
          bitmaps,
        };
      } catch (e) {
        throw new QemuImgError(`unexpected qemu-img output: ${(e as Error).message}`);
      }
    },
  );
}

/**
 * What `qemu-img info` says of a qcow2 that Ferry reads itself (no backing file, no external data file, not
 * encrypted), from its header: a scan of a datastore of qcow2 disks then starts no process per disk (each one is
 * 20–60 ms here, and a replication run rescans to find its VM). Undefined for anything else: ask qemu-img.
 */
export async function qcow2InfoDirectly(path: string): Promise<QemuImgInfo | undefined> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch {
    return undefined; // qemu-img reports why
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) return undefined;
    const header = await readQcow2Header(handle, path, stats.size);
    if (isUnsupported(header)) return undefined;
    return { format: 'qcow2', virtualSize: header.size, actualSize: stats.blocks * 512, encrypted: false, dirty: false, bitmaps: [] };
  } catch {
    return undefined; // a damaged header: let qemu-img say what is wrong with it
  } finally {
    await handle.close();
  }
}

/**
 * What `qemu-img info -f raw` says of a raw file, from its fstat: the scan names the format (`-f`), so qemu does
 * not probe the contents either, and reports the size rounded up to a 512-byte sector and the allocated bytes. A
 * replication run finds its VM by scanning again, so each raw disk's process (20–60 ms here) was in every run's
 * fixed cost. Undefined for anything but a regular file (qemu-img reports why).
 */
export async function rawInfoDirectly(path: string): Promise<QemuImgInfo | undefined> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) return undefined;
    return { format: 'raw', virtualSize: Math.ceil(stats.size / 512) * 512, actualSize: stats.blocks * 512, encrypted: false, dirty: false, bitmaps: [] };
  } finally {
    await handle.close();
  }
}
