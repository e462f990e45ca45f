/**
 * One disk named by a VM definition: where its file really is, whether Ferry can replicate it, and what it is
 * (format, virtual size, VMDK extents). Every file — the disk and each VMDK extent — must resolve, symbolic links
 * and all, to a regular file inside the datastore (disks/confine.ts); otherwise the VM is listed with the reason.
 */
import { stat } from 'node:fs/promises';
import { posix, relative, resolve, sep, join } from 'node:path';
import type { DiskFormat } from '../disks/diskSource.ts';
import { isWithin, openChecked, outsideMessage, resolveInside, vmdkExtentPath, type Confinement } from '../disks/confine.ts';
import { qcow2InfoDirectly, qemuImgInfo, rawInfoDirectly, type QemuImgInfo } from './qemuImg.ts';
import { readVmdkDescriptor, vmdkUnsupportedReason } from './vmdk.ts';
import type { ConcurrencyLimit } from '../../lib/concurrency.ts';

export interface DiscoveredDiskExtent {
  /** Absolute path of the file holding the extent's data (symbolic links resolved). */
  path: string;
  /** Byte offset of the extent's data in that file. */
  offset: number;
  /** Bytes of the virtual disk the extent covers. */
  size: number;
  /** VMDK extent type: FLAT, VMFS, SPARSE, ZERO… */
  type: string;
}

export interface DiscoveredDisk {
  /** Absolute path of the disk as the VM definition names it (for a flat VMDK, its descriptor). */
  path: string;
  format: DiskFormat;
  /** Virtual size in bytes (qemu-img). */
  virtualSize: number;
  /** Where the VM attaches it: `scsi0:0` (VMware), `vda` (libvirt target dev). */
  controller?: string;
  /** VMDK only: the descriptor's createType (monolithicSparse, monolithicFlat, streamOptimized…). */
  createType?: string;
  /** VMDK only: the extents from the descriptor, with resolved absolute paths (flat extents can be read directly). */
  extents?: DiscoveredDiskExtent[];
  /** Bytes the image occupies on the host (qemu-img actual-size). */
  actualSize?: number;
}

/** What inspecting disks needs from the scan. */
export interface DiskContext {
  /** The datastore directory as given (resolved, links kept): paths are reported under it. */
  root: string;
  /** The datastore with every link resolved: the boundary files must stay inside. */
  confine: Confinement;
  qemuImg: string;
  timeoutMs: number;
  infoCache: Map<string, Promise<QemuImgInfo>>;
  /** qemu-img processes run through it, a few at once. */
  qemuImgSlots: ConcurrencyLimit;
}

function isInside(root: string, path: string): boolean {
  return path !== root && isWithin(root, path);
}

/**
 * Resolves a disk file name from a VM definition. Relative names resolve against the VM folder; absolute names
 * (including Windows `C:\…` ones) are used when they lie inside the datastore, and otherwise looked up by their file
 * name in the VM folder — a copied VM's definition still names the host it came from. Symbolic links are resolved
 * afterwards, by inspectDisk.
 */
function resolveDiskRef(ctx: DiskContext, folderAbs: string, ref: string): { path: string } | { problem: string } {
  const normalised = ref.replace(/\\/g, '/');
  const foreignAbsolute = /^[A-Za-z]:\//.test(normalised) || normalised.startsWith('//');
  if (foreignAbsolute || posix.isAbsolute(normalised)) {
    const candidate = resolve(normalised);
    if (!foreignAbsolute && isInside(ctx.root, candidate)) return { path: candidate };
    return { path: join(folderAbs, posix.basename(normalised)) };
  }
  const candidate = resolve(folderAbs, normalised.split('/').join(sep));
  if (!isInside(ctx.root, candidate)) return { problem: `refers to ${ref}, outside the datastore` };
  return { path: candidate };
}

function info(ctx: DiskContext, path: string, format: DiskFormat): Promise<QemuImgInfo> {
  const key = `${format}\0${path}`;
  let p = ctx.infoCache.get(key);
  if (!p) {
    p = (async () => {
      const direct = format === 'qcow2' ? await qcow2InfoDirectly(path) : format === 'raw' ? await rawInfoDirectly(path) : undefined;
      if (direct) return direct;
      return ctx.qemuImgSlots.run(() => qemuImgInfo(path, format, { qemuImg: ctx.qemuImg, timeoutMs: ctx.timeoutMs }));
    })();
    ctx.infoCache.set(key, p);
  }
  return p;
}

/** The disk `ref` of a VM in `folderAbs`, or the problem that keeps it from being replicated (`label`: "disk vda"). */
export async function inspectDisk(
  ctx: DiskContext,
  folderAbs: string,
  ref: string,
  format: DiskFormat,
  label: string,
  controller: string | undefined,
): Promise<{ disk: DiscoveredDisk } | { problem: string }> {
  const where = `${label} (${posix.basename(ref.replace(/\\/g, '/'))})`;
  const resolved = resolveDiskRef(ctx, folderAbs, ref);
  if ('problem' in resolved) return { problem: `${where} ${resolved.problem}` };
  const path = resolved.path;
  const problem = (text: string) => ({ problem: `${where}: ${text}` });
  let real: string;
  try {
    const found = await resolveInside(ctx.confine, path);
    if ('missing' in found) return problem(`file not found (${relative(ctx.root, path)})`);
    if ('outside' in found) return problem(outsideMessage(found.outside));
    real = found.real;
    if (!(await stat(real)).isFile()) return problem('not a regular file');
    await (await openChecked(ctx.confine, real)).close();
  } catch (e) {
    return problem(`cannot be read: ${(e as Error).message}`);
  }

  const disk: DiscoveredDisk = { path, format, virtualSize: 0, ...(controller ? { controller } : {}) };
  if (format === 'vmdk') {
    let descriptor;
    try {
      descriptor = await readVmdkDescriptor(real);
    } catch (e) {
      return problem((e as Error).message);
    }
    const unsupported = vmdkUnsupportedReason(descriptor);
    if (unsupported) return problem(unsupported);
    disk.createType = descriptor.createType;
    const extents: DiscoveredDiskExtent[] = [];
    for (const extent of descriptor.extents) {
      let extentPath = real;
      if (extent.file !== undefined && !descriptor.embedded) {
        // Where qemu will look: next to the descriptor, or the absolute name as written.
        const found = await resolveInside(ctx.confine, vmdkExtentPath(real, extent.file));
        if ('missing' in found) return problem(`extent file ${extent.file} not found`);
        if ('outside' in found) return problem(`extent ${extent.file} ${outsideMessage(found.outside)}`);
        extentPath = found.real;
      }
      extents.push({ path: extentPath, offset: extent.offsetSectors * 512, size: extent.sectors * 512, type: extent.type });
    }
    disk.extents = extents;
  }

  let qi: QemuImgInfo;
  try {
    qi = await info(ctx, real, format);
  } catch (e) {
    const message = (e as Error).message.split(`${ctx.confine.root}${sep}`).join('').split(`${ctx.root}${sep}`).join('');
    const hint = /log that needs to be replayed/.test(message) ? ' (repair it with qemu-img check -r all on a copy, or start and shut down the VM cleanly)' : '';
    return problem(`${format === 'vpc' ? 'VHD' : format} image cannot be opened: ${message}${hint}`);
  }
  if (qi.backingFilename !== undefined) {
    return problem(`has a backing file (${qi.backingFilename}); flatten it first (qemu-img convert) or merge the snapshot chain`);
  }
  if (qi.dataFile !== undefined) return problem(`uses an external data file (${qi.dataFile}), which is not supported`);
  if (qi.encrypted) return problem('is encrypted, which is not supported');
  if (!(qi.virtualSize > 0)) return problem('has a virtual size of 0');
  disk.virtualSize = qi.virtualSize;
  if (qi.actualSize !== undefined) disk.actualSize = qi.actualSize;
  return { disk };
}
