/**
 * What a disk file is: its format (detected by qemu-img, never trusted from the name), virtual size and qcow2
 * persistent dirty bitmaps, with a DiskError naming the path for anything Ferry cannot read correctly.
 *
 * Checks, in order: the path exists, is a regular file or block device, can be opened for reading and is not
 * empty; `qemu-img info --output=json` can open it; the format is one Ferry reads (raw, vmdk, qcow2, vhdx, vpc);
 * a file that qemu sees as raw does not carry a container-format name (.vmdk, .qcow2, .vhdx, .vhd — a damaged
 * header would otherwise be copied as raw bytes); a qcow2 is not marked corrupt. With `verify` (the default) a
 * qcow2 or monolithicSparse VMDK is also checked for truncation: qemu opens such files happily and reads the
 * missing clusters as zeros, so the host offsets from `qemu-img map` are compared with the file size. (vhdx, vpc
 * and streamOptimized VMDK already fail to open when truncated.) A qcow2 Ferry reads itself and a file no format
 * could claim (plain raw) are answered without the qemu-img process, with the answers qemu-img would give.
 */
import { constants, type Stats } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { DiskError, type DiskFormat } from './diskSource.ts';
import { qemuImgMap, qemuMessage, runTool } from './qemuTools.ts';
import { Qcow2FileSource, isUnsupported } from './qcow2Source.ts';
import { readQcow2Header } from './qcow2Header.ts';
import { listDirtyBitmaps } from './qcow2Bitmaps.ts';
import { mayBeContainer, PROBE_HEAD_BYTES } from './containerMagic.ts';
import { checkVmdkExtents, openChecked, qemuImageName, resolveConfined, type Confinement } from './confine.ts';

export interface DirtyBitmapInfo {
  name: string;
  /** Enabled: qemu records writes into it ("auto" flag). */
  recording: boolean;
  /** "in-use" flag: the image was not closed cleanly since the bitmap was loaded, so its content is unreliable. */
  inUse: boolean;
  granularity: number;
}

export interface DiskProbe {
  /** Absolute path. */
  path: string;
  format: DiskFormat;
  virtualSize: number;
  /** Size of the file itself (for a block device, its size). */
  fileSize: number;
  dirtyBitmaps: DirtyBitmapInfo[];
  /** VMDK createType (monolithicSparse, streamOptimized, monolithicFlat, vmfs, …). */
  vmdkCreateType?: string;
  /** Set when the image has a backing file / parent (qemu reads through the chain). */
  backingFile?: string;
}

export interface ProbeOptions {
  /** Check qcow2 / monolithicSparse VMDK for truncation with `qemu-img map` (default true). */
  verify?: boolean;
  /**
   * The datastore every file must stay in (a run's disks, see confine.ts): the path is resolved and checked, only
   * regular files pass, VMDK extents are checked before qemu opens them, and backing or external data files are
   * refused, as the inventory refuses them. `path` in the result is then the resolved path.
   */
  confine?: Confinement;
}

const SUPPORTED: ReadonlySet<string> = new Set(['raw', 'vmdk', 'qcow2', 'vhdx', 'vpc']);

/** Names that promise a container format; if qemu sees such a file as raw its header is missing or damaged. */
const CONTAINER_SUFFIXES: ReadonlyArray<[RegExp, string]> = [
  [/\.vmdk$/i, 'VMDK'],
  [/\.qcow2?$/i, 'qcow2'],
  [/\.a?vhdx$/i, 'VHDX'],
  [/\.a?vhd$/i, 'VHD'],
];
/** VMDK data extents that legitimately hold raw bytes. */
const RAW_VMDK_EXTENT = /-(flat|f\d{3})\.vmdk$/i;

interface QemuInfo {
  'virtual-size': number;
  format: string;
  'cluster-size'?: number;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
  'format-specific'?: {
    type: string;
    data?: {
      corrupt?: boolean;
      'data-file'?: string;
      'create-type'?: string;
      bitmaps?: Array<{ name: string; flags: string[]; granularity: number }>;
    };
  };
}

export async function probeDisk(path: string, options: ProbeOptions = {}): Promise<DiskProbe> {
  const confine = options.confine;
  let abs: string;
  let info: Stats;
  try {
    abs = confine ? await resolveConfined(confine, path) : resolve(path);
    info = await stat(abs);
  } catch (error) {
    if (error instanceof DiskError) throw error;
    throw fsError(resolve(path), error);
  }
  if (!info.isFile() && (confine || !info.isBlockDevice())) throw new DiskError(abs, confine ? 'not a regular file' : 'not a regular file or block device');
  try {
    const handle = await openChecked(confine, abs);
    await handle.close();
  } catch (error) {
    if (error instanceof DiskError) throw error;
    throw fsError(abs, error);
  }
  if (info.isFile() && info.size === 0) throw new DiskError(abs, 'the file is empty (0 bytes)');
  if (info.isFile()) {
    const direct = (await probeQcow2Directly(abs, info.size, options.verify ?? true, confine)) ?? (await probeRawDirectly(abs, info.size, confine));
    if (direct) return direct;
  }
  if (confine) await checkVmdkExtents(confine, abs);

  const result = await runTool('qemu-img', ['info', '--output=json', abs], abs);
  if (result.code !== 0) {
    const looks = await sniffFormat(abs, info.isFile() ? info.size : 0);
    const hint = looks ? `looks like a ${looks} image but qemu cannot open it (truncated or corrupt?): ` : '';
    throw new DiskError(abs, `not a readable disk image: ${hint}${qemuMessage(result.stderr)}`);
  }
  let parsed: QemuInfo;
  try {
    parsed = JSON.parse(result.stdout) as QemuInfo;
  } catch {
    throw new DiskError(abs, 'qemu-img info printed something that is not JSON');
  }
  const format = parsed.format;
  if (!SUPPORTED.has(format)) throw new DiskError(abs, `unsupported disk format "${format}" (Ferry reads raw, vmdk, qcow2, vhdx and vpc)`);
  if (format === 'raw') {
    const name = basename(abs);
    for (const [suffix, container] of CONTAINER_SUFFIXES) {
      if (suffix.test(name) && !RAW_VMDK_EXTENT.test(name)) {
        throw new DiskError(abs, `named like a ${container} image but has no ${container} header (truncated or corrupt?); refusing to read it as raw`);
      }
    }
  }
  const data = parsed['format-specific']?.data;
  if (data?.corrupt === true) throw new DiskError(abs, 'qcow2 image is marked corrupt (qemu-img check -r all on a copy may repair it)');
  const fileSize = info.isFile() ? info.size : (parsed['virtual-size'] ?? 0);
  const probe: DiskProbe = {
    path: abs,
    format: format as DiskFormat,
    virtualSize: parsed['virtual-size'],
    fileSize,
    dirtyBitmaps: (data?.bitmaps ?? []).map((b) => ({
      name: b.name,
      recording: b.flags.includes('auto'),
      inUse: b.flags.includes('in-use'),
      granularity: b.granularity,
    })),
  };
  if (format === 'vmdk' && data?.['create-type']) probe.vmdkCreateType = data['create-type'];
  const backing = parsed['full-backing-filename'] ?? parsed['backing-filename'];
  if (backing) probe.backingFile = backing;
  if (confine && backing) {
    throw new DiskError(abs, `has a backing file (${parsed['backing-filename'] ?? backing}); flatten it first (qemu-img convert) or merge the snapshot chain`);
  }
  if (confine && data?.['data-file']) throw new DiskError(abs, `uses an external data file (${data['data-file']}), which is not supported`);

  const checkable = (format === 'qcow2' && !data?.['data-file']) || (format === 'vmdk' && probe.vmdkCreateType === 'monolithicSparse');
  if ((options.verify ?? true) && checkable && info.isFile()) {
    await checkTruncation(abs, probe.format, fileSize, parsed['cluster-size'] ?? 65536, confine ? qemuImageName(abs, probe.format) : abs);
  }
  return probe;
}

/** Opens the disk inside its confinement; a failure is a DiskError naming it. */
async function openForProbe(confine: Confinement | undefined, path: string): ReturnType<typeof openChecked> {
  try {
    return await openChecked(confine, path);
  } catch (error) {
    if (error instanceof DiskError) throw error;
    throw fsError(path, error);
  }
}

/**
 * A regular file that no format qemu probes for could claim (containerMagic.ts) is what `qemu-img info` would call
 * raw, with the virtual size its size rounded up to a sector: answered without the process (20–40 ms of every raw
 * run's fixed cost). Anything that might be a container, or is named like one, goes to qemu-img as before, which
 * reads it or refuses it with the reason.
 */
async function probeRawDirectly(path: string, fileSize: number, confine: Confinement | undefined): Promise<DiskProbe | undefined> {
  const name = basename(path);
  if (CONTAINER_SUFFIXES.some(([suffix]) => suffix.test(name)) && !RAW_VMDK_EXTENT.test(name)) return undefined;
  const handle = await openForProbe(confine, path);
  try {
    const head = Buffer.alloc(PROBE_HEAD_BYTES);
    const headBytes = (await handle.read(head, 0, head.length, 0)).bytesRead;
    const tail = Buffer.alloc(512);
    const tailBytes = fileSize >= 512 ? (await handle.read(tail, 0, 512, fileSize - 512)).bytesRead : 0;
    if (mayBeContainer(head.subarray(0, headBytes), tail.subarray(0, tailBytes), name)) return undefined;
  } finally {
    await handle.close();
  }
  return { path, format: 'raw', virtualSize: Math.ceil(fileSize / 512) * 512, fileSize, dirtyBitmaps: [] };
}

/**
 * A qcow2 that Ferry reads itself (qcow2Source.ts) is probed from its own header: the format from its magic,
 * the virtual size, the persistent bitmaps, and (with verify) every mapped cluster checked against the file.
 * That saves a `qemu-img info` process per disk, about 40–60 ms of every run's fixed cost. Anything the direct
 * reader declines (backing file, external data file, unusual metadata) is probed by qemu-img as before.
 * Image locks are not checked here: a VM running on the image makes the run's first bitmap step fail instead
 * (`qemu-img bitmap` takes the write lock), before anything is read.
 */
async function probeQcow2Directly(path: string, fileSize: number, verify: boolean, confine: Confinement | undefined): Promise<DiskProbe | undefined> {
  const handle = await openForProbe(confine, path);
  let header;
  let dirtyBitmaps;
  try {
    header = await readQcow2Header(handle, path, fileSize);
    if (isUnsupported(header)) return undefined;
    dirtyBitmaps = await listDirtyBitmaps(handle, path, header, fileSize);
    if (isUnsupported(dirtyBitmaps)) return undefined;
  } finally {
    await handle.close();
  }
  if (verify && !(await verifiedDirectly(path, header.size, confine))) return undefined;
  return { path, format: 'qcow2', virtualSize: header.size, fileSize, dirtyBitmaps };
}

/**
 * A qcow2 the direct reader supports is checked by walking its own L2 tables (a few ms in process, where
 * `qemu-img map` took tens of ms and a process); false when the reader declines the image.
 */
async function verifiedDirectly(path: string, size: number, confine: Confinement | undefined): Promise<boolean> {
  const source = await Qcow2FileSource.open(path, { size, confine });
  if (isUnsupported(source)) return false;
  try {
    await source.verifyMapping();
    return true;
  } finally {
    await source.close();
  }
}

/** Every data cluster qemu maps must lie inside the file (qemu would silently read zeros past its end). */
async function checkTruncation(path: string, format: DiskFormat, fileSize: number, clusterSize: number, image: string): Promise<void> {
  const limit = Math.ceil(fileSize / clusterSize) * clusterSize;
  for await (const entry of qemuImgMap(path, format, { image })) {
    if (entry.depth !== 0 || entry.offset === undefined || !entry.data) continue;
    if (entry.offset + entry.length > limit) {
      throw new DiskError(
        path,
        `truncated: data for virtual offset ${entry.start} is stored at ${entry.offset}+${entry.length}, past the end of the ${fileSize}-byte file`,
      );
    }
  }
}

/** The container format a file's magic bytes claim, for error messages when qemu cannot open it. */
async function sniffFormat(path: string, size: number): Promise<string | undefined> {
  try {
    const handle = await open(path, constants.O_RDONLY);
    try {
      const head = Buffer.alloc(64);
      await handle.read(head, 0, 64, 0);
      const tail = Buffer.alloc(8);
      if (size >= 512) await handle.read(tail, 0, 8, size - 512);
      const latin = head.toString('latin1');
      if (latin.startsWith('vhdxfile')) return 'VHDX';
      if (latin.startsWith('QFI\xfb')) return 'qcow2';
      if (latin.startsWith('KDMV') || latin.startsWith('COWD') || latin.startsWith('# Disk DescriptorFile')) return 'VMDK';
      if (latin.startsWith('conectix') || tail.toString('latin1') === 'conectix') return 'VHD';
      return undefined;
    } finally {
      await handle.close();
    }
  } catch {
    return undefined;
  }
}

function fsError(path: string, error: unknown): DiskError {
  const code = (error as NodeJS.ErrnoException).code;
  const message =
    code === 'ENOENT'
      ? 'no such file'
      : code === 'EACCES' || code === 'EPERM'
        ? 'permission denied (not readable by this agent)'
        : code === 'EISDIR'
          ? 'is a directory'
          : code === 'ENOTDIR'
            ? 'a parent of this path is not a directory'
            : `cannot open: ${(error as Error).message}`;
  return new DiskError(path, message, { cause: error });
}
