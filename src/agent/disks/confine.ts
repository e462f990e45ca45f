/**
 * Datastore confinement: every file the connector reads for a VM — definition, disk, VMDK extent — must be inside
 * the datastore once every symbolic link is resolved. The inventory applies it when it lists VMs; a run applies it
 * again when it opens the disks, because the datastore may have changed since the scan:
 *
 * - Ferry's own reads (raw, flat VMDK extents, qcow2) open the file and then check the file they got, through
 *   /proc/self/fd: nothing swapped in between the check and the open can escape (the check is of the open file).
 * - qemu-nbd is given the resolved path, never opens a backing file (`backing: null`), and before a byte is read
 *   every image file it holds open is checked the same way, through /proc/<pid>/fd.
 * - qemu-img map of a file Ferry reads itself runs on the open file (handed over as /dev/fd/3); qemu-img info,
 *   bitmap and the probe's map get the path resolved and checked just before they run, never open a backing file,
 *   and read no disk data.
 *
 * Hard links cannot be told apart from the file they link to; Linux's fs.protected_hardlinks (on by default) keeps
 * users from linking files they do not own. A datastore writable by people who must not read the host's files
 * should be on a filesystem of its own.
 */
import { constants, realpathSync } from 'node:fs';
import { open, readlink, readdir, realpath, stat, type FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import { readVmdkDescriptor } from '../inventory/vmdk.ts';
import { DiskError, type DiskFormat } from './diskSource.ts';

/** The datastore a VM's files must stay in: its directory with every symbolic link resolved. */
export interface Confinement {
  readonly root: string;
}

export function confinementOf(datastore: string): Confinement {
  return { root: realpathSync(datastore) };
}

/** True when `path` (already resolved) is the root or below it. */
export function isWithin(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/** Where `path` really is, or why it is not usable: missing, or resolving outside the datastore. */
export async function resolveInside(confine: Confinement, path: string): Promise<{ real: string } | { missing: true } | { outside: string }> {
  let real: string;
  try {
    real = await realpath(path);
  } catch (thrown) {
    if ((thrown as NodeJS.ErrnoException).code === 'ENOENT') return { missing: true };
    throw thrown;
  }
  return isWithin(confine.root, real) ? { real } : { outside: real };
}

/** The message for a file that resolves outside the datastore (the same words in the inventory and in runs). */
export function outsideMessage(real: string): string {
  return `resolves to ${real}, outside the datastore (a symbolic link, or a path leaving it)`;
}

/** `path` resolved, or a DiskError when it does not exist or lies outside the datastore. */
export async function resolveConfined(confine: Confinement, path: string): Promise<string> {
  const resolved = await resolveInside(confine, path);
  if ('missing' in resolved) throw new DiskError(path, 'no such file');
  if ('outside' in resolved) throw new DiskError(path, outsideMessage(resolved.outside));
  return resolved.real;
}

/**
 * Checks the file an open handle refers to (race-free: it is the file that was opened, whatever the path now
 * names). Closes the handle and throws when it lies outside the datastore.
 */
export async function checkOpened(confine: Confinement | undefined, handle: FileHandle, path: string): Promise<void> {
  if (!confine) return;
  let real: string;
  try {
    real = await readlink(`/proc/self/fd/${handle.fd}`);
  } catch (thrown) {
    await handle.close();
    throw new DiskError(path, `cannot tell which file was opened (/proc/self/fd: ${(thrown as Error).message}); refusing to read it`);
  }
  if (!isWithin(confine.root, real)) {
    await handle.close();
    throw new DiskError(path, outsideMessage(real));
  }
}

/**
 * After qemu-nbd (`pid`) has opened its image, and before anything is read through it: every regular file or
 * block device it holds open must lie inside the datastore.
 */
export async function checkProcessFiles(confine: Confinement, pid: number, path: string): Promise<void> {
  const dir = `/proc/${pid}/fd`;
  let fds: string[];
  try {
    fds = await readdir(dir);
  } catch (thrown) {
    throw new DiskError(path, `cannot tell which files qemu-nbd opened (${dir}: ${(thrown as Error).message}); refusing to read through it`);
  }
  for (const fd of fds) {
    let target: string;
    let isImage: boolean;
    try {
      target = await readlink(join(dir, fd));
      const stats = await stat(join(dir, fd));
      isImage = stats.isFile() || stats.isBlockDevice();
    } catch {
      continue; // closed meanwhile
    }
    if (isImage && !isWithin(confine.root, target.replace(/ \(deleted\)$/, ''))) throw new DiskError(path, `qemu-nbd opened ${target}, outside the datastore; refusing to read through it`);
  }
}

/**
 * The file name to give qemu for an image: a `json:` description naming the resolved file and no backing file, so
 * qemu never follows a backing-file name written in the image (qemu-img info does not open backing files anyway).
 */
export function qemuImageName(path: string, format: DiskFormat): string {
  return `json:${JSON.stringify({ driver: format, file: { driver: 'file', filename: path }, backing: null })}`;
}

/** Where qemu looks for a VMDK extent named `file` in the descriptor at `descriptor`: relative to its directory. */
export function vmdkExtentPath(descriptor: string, file: string): string {
  return isAbsolute(file) ? file : join(dirname(descriptor), file);
}

/**
 * Opens `path` read-only and proves the file opened is inside the datastore (when confined). O_NONBLOCK, which
 * Linux ignores for regular files, keeps a FIFO planted in the datastore from blocking the open forever.
 */
export async function openChecked(confine: Confinement | undefined, path: string): Promise<FileHandle> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  await checkOpened(confine, handle, path);
  return handle;
}

/**
 * A VMDK text descriptor names its extents, and qemu opens them (even for `qemu-img info`): each one must resolve
 * inside the datastore before qemu sees the descriptor. A file qemu would not read as a text descriptor passes.
 */
export async function checkVmdkExtents(confine: Confinement, descriptor: string): Promise<void> {
  const handle = await openChecked(confine, descriptor);
  let head: Buffer;
  try {
    head = Buffer.alloc(2048);
    head = head.subarray(0, (await handle.read(head, 0, head.length, 0)).bytesRead);
  } finally {
    await handle.close();
  }
  if (!readAsVmdkText(head)) return;
  let parsed;
  try {
    parsed = await readVmdkDescriptor(descriptor);
  } catch (thrown) {
    throw new DiskError(descriptor, `VMDK descriptor cannot be read: ${(thrown as Error).message}`);
  }
  if (parsed.embedded) return;
  for (const extent of parsed.extents) {
    if (extent.file === undefined) continue;
    const resolved = await resolveInside(confine, vmdkExtentPath(descriptor, extent.file));
    if ('missing' in resolved) throw new DiskError(descriptor, `extent file ${extent.file} not found`);
    if ('outside' in resolved) throw new DiskError(descriptor, `extent ${extent.file} ${outsideMessage(resolved.outside)}`);
  }
}

/**
 * Whether qemu could take the file for a VMDK text descriptor: qemu's probe looks for a `version=N` line after the
 * comments (block/vmdk.c); this looks for one anywhere in the head of a file without a binary VMDK magic, which is
 * broader, so every descriptor qemu would read has its extents checked.
 */
function readAsVmdkText(head: Buffer): boolean {
  const magic = head.subarray(0, 4).toString('latin1');
  if (magic === 'KDMV' || magic === 'COWD') return false;
  return /(^|\n)[ \t]*version[ \t]*=/.test(head.toString('latin1'));
}
