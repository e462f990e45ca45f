/**
 * Writes an initramfs: a gzip-compressed cpio archive in the `newc` format the kernel unpacks at boot
 * (Documentation/driver-api/early-userspace/buffer-format.rst). Written here rather than with `cpio -o` so nothing
 * has to be staged in a directory (file modes, owners and times come out exactly as listed, and the archive is the
 * same bytes on every build).
 */
import { gzip } from 'node:zlib';
import { promisify } from 'node:util';

const gzipAsync = promisify(gzip);

export type InitramfsEntry =
  | { path: string; type: 'dir'; mode?: number }
  | { path: string; type: 'file'; data: Buffer | string; mode?: number }
  | { path: string; type: 'symlink'; target: string };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

function header(fields: number[]): string {
  return `070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`;
}

const pad4 = (n: number) => (4 - (n % 4)) % 4;

/** The uncompressed archive. Parent directories must be listed before what they contain. */
export function cpioNewc(entries: readonly InitramfsEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const push = (name: string, mode: number, data: Buffer) => {
    const nameBytes = Buffer.from(`${name}\0`, 'utf8');
    // ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
    const head = Buffer.from(header([ino++, mode, 0, 0, mode & S_IFDIR ? 2 : 1, 0, data.length, 0, 0, 0, 0, nameBytes.length, 0]), 'latin1');
    parts.push(head, nameBytes, Buffer.alloc(pad4(head.length + nameBytes.length)), data, Buffer.alloc(pad4(data.length)));
  };
  for (const entry of entries) {
    const name = entry.path.replace(/^\/+/, '');
    if (name === '' || name.split('/').includes('..')) throw new Error(`bad initramfs path: ${entry.path}`);
    if (entry.type === 'dir') push(name, S_IFDIR | (entry.mode ?? 0o755), Buffer.alloc(0));
    else if (entry.type === 'symlink') push(name, S_IFLNK | 0o777, Buffer.from(entry.target, 'utf8'));
    else push(name, S_IFREG | (entry.mode ?? 0o644), Buffer.isBuffer(entry.data) ? entry.data : Buffer.from(entry.data, 'utf8'));
  }
  push('TRAILER!!!', 0, Buffer.alloc(0));
  return Buffer.concat(parts);
}

/**
 * The gzip'd archive. Level 1: a larger file decompresses as fast under emulation and builds much faster; on the
 * thread pool, so the other sample VMs keep building meanwhile.
 */
export function buildInitramfs(entries: readonly InitramfsEntry[]): Promise<Buffer> {
  return gzipAsync(cpioNewc(entries), { level: 1 });
}
