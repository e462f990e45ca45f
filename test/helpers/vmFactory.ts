/**
 * Makes VMs of each kind in a temporary datastore for tests, with the same builders as the sample datastore.
 * Disks default to tiny (4 MiB) pattern disks whose bytes are known (patternBytes), so a test can compare an
 * export byte for byte; changeDiskBlocks then alters about 1% of a disk's blocks for incremental runs (through
 * qemu-io for image formats, so qcow2 persistent dirty bitmaps record the change; directly for raw).
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BLOCK_SIZE, type DiskFormat } from '../../src/agent/disks/diskSource.ts';
import { qemuImgInfo } from '../../src/agent/inventory/qemuImg.ts';
import { requireTools } from '../../src/lib/tools.ts';
import { MiB, patternBytes, runTool, type DiskContent, type DiskSpec } from '../../src/agent/sample/diskBuilder.ts';
import {
  buildHyperVVm,
  buildKvmVm,
  buildVmwareVm,
  type BuiltVm,
  type HyperVVmSpec,
  type KvmVmSpec,
  type VmwareVmSpec,
} from '../../src/agent/sample/vmBuilders.ts';

export { MiB, patternBytes };
export type { BuiltVm, DiskContent };

/** A temporary datastore directory; `cleanup` removes it. */
export async function makeTempDatastore(prefix = 'ferry-ds-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * A "mostly sparse" pattern disk: pattern data in the first 1 MiB, 512 KiB in the middle and the last 64 KiB; the
 * rest is a hole. Byte i of the disk is patternBytes(seed, i, 1) inside those regions and 0 elsewhere.
 */
export function sparsePattern(seed: string | number, sizeBytes: number): Extract<DiskContent, { type: 'pattern' }> {
  const regions = [{ offset: 0, length: Math.min(MiB, sizeBytes) }];
  const mid = Math.floor(sizeBytes / 2 / BLOCK_SIZE) * BLOCK_SIZE;
  if (mid >= MiB && mid + BLOCK_SIZE <= sizeBytes - 65536) regions.push({ offset: mid, length: BLOCK_SIZE });
  if (sizeBytes - 65536 >= MiB) regions.push({ offset: sizeBytes - 65536, length: 65536 });
  return { type: 'pattern', seed, regions };
}

/** The bytes a pattern disk was built with (holes as zeros). */
export function expectedContent(content: DiskContent, sizeBytes: number): Buffer {
  const out = Buffer.alloc(sizeBytes);
  if (content.type !== 'pattern') throw new Error('expectedContent only knows pattern disks; read the disk with readDiskAsRaw');
  for (const r of content.regions ?? [{ offset: 0, length: sizeBytes }]) patternBytes(content.seed, r.offset, r.length).copy(out, r.offset);
  return out;
}

export interface FactoryDisk {
  /** Default 4 MiB. */
  sizeBytes?: number;
  /** Default sparsePattern(<folder>:<index>, size). */
  content?: DiskContent;
  fileName?: string;
  vmdkSubformat?: DiskSpec['vmdkSubformat'];
  vpcSubformat?: DiskSpec['vpcSubformat'];
}

function diskSpecs<F extends DiskFormat>(folder: string, disks: (FactoryDisk & { format?: F })[] | undefined) {
  return (disks ?? [{}]).map((d, i) => {
    const sizeBytes = d.sizeBytes ?? 4 * MiB;
    return { ...d, sizeBytes, content: d.content ?? sparsePattern(`${folder}:${i}`, sizeBytes) };
  });
}

export interface MadeVm extends BuiltVm {
  /** The vmId the inventory should report, when the VM's files fix it. */
  expectedVmId?: string;
}

export type VmwareOptions = Partial<Omit<VmwareVmSpec, 'disks'>> & { disks?: FactoryDisk[] };

/** A VMware VM: FOLDER/NAME.vmx + VMDKs (monolithicSparse unless a disk says otherwise). Random uuid.bios by default. */
export async function makeVmwareVm(datastore: string, folder: string, options: VmwareOptions = {}): Promise<MadeVm> {
  const uuidBios = options.uuidBios === undefined ? randomUUID() : options.uuidBios;
  const vm = await buildVmwareVm(join(datastore, folder), {
    ...options,
    name: options.name ?? folder,
    uuidBios,
    disks: diskSpecs(folder, options.disks),
  });
  const expected = uuidBios ?? options.vcUuid;
  return { ...vm, ...(expected ? { expectedVmId: expected.toLowerCase() } : {}) };
}

export type KvmOptions = Partial<Omit<KvmVmSpec, 'disks'>> & { disks?: (FactoryDisk & { format?: 'qcow2' | 'raw' })[] };

/** A KVM VM: FOLDER/NAME.xml (libvirt domain) + qcow2 (default) or raw disks. Random <uuid> by default. */
export async function makeKvmVm(datastore: string, folder: string, options: KvmOptions = {}): Promise<MadeVm> {
  const uuid = options.uuid === undefined ? randomUUID() : options.uuid;
  const vm = await buildKvmVm(join(datastore, folder), {
    ...options,
    name: options.name ?? folder,
    uuid,
    disks: diskSpecs(folder, options.disks),
  });
  return { ...vm, ...(uuid ? { expectedVmId: uuid.toLowerCase() } : {}) };
}

export type HyperVOptions = Partial<Omit<HyperVVmSpec, 'disks' | 'guid'>> & {
  /** The .vmcx GUID; default random for the hyperv layout and none for flat; null for none. */
  guid?: string | null;
  disks?: (FactoryDisk & { format?: 'vhdx' | 'vpc' })[];
};

/** A Hyper-V VM: by default Hyper-V's layout with a random GUID (`Virtual Machines/<GUID>.vmcx`) and one VHDX. */
export async function makeHypervVm(datastore: string, folder: string, options: HyperVOptions = {}): Promise<MadeVm> {
  const layout = options.layout ?? 'hyperv';
  const guid = options.guid === undefined ? (layout === 'hyperv' ? randomUUID() : undefined) : (options.guid ?? undefined);
  const { guid: _ignored, ...rest } = options;
  const vm = await buildHyperVVm(join(datastore, folder), {
    ...rest,
    layout,
    ...(guid ? { guid } : {}),
    disks: diskSpecs(folder, options.disks),
  });
  const expected = options.ferryVm?.vmId ?? guid;
  return { ...vm, ...(expected ? { expectedVmId: expected.toLowerCase() } : {}) };
}

/** The whole virtual disk as raw bytes (qemu-img convert to a temporary file). For small test disks. */
export async function readDiskAsRaw(path: string, format: DiskFormat): Promise<Buffer> {
  const { 'qemu-img': qemuImg } = requireTools(['qemu-img'], 'Reading disk images');
  const dir = await mkdtemp(join(tmpdir(), 'ferry-raw-'));
  try {
    const out = join(dir, 'disk.raw');
    await runTool(qemuImg, ['convert', '-U', '-f', format, '-O', 'raw', path, out]);
    return await readFile(out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface ChangeOptions {
  /** Fraction of the disk's blocks to change; default 0.01 (at least one block). */
  fraction?: number;
  /** Block size the fraction counts in; default the data plane's BLOCK_SIZE (512 KiB). */
  blockSize?: number;
  /** Bytes written inside each chosen block, aligned to this size; default 64 KiB (qemu's bitmap granularity). */
  writeLength?: number;
  /** Chooses the blocks (deterministic); default 'change'. */
  seed?: string | number;
  /** The byte written; default 0xA5. */
  byte?: number;
}

export interface ChangedRange {
  offset: number;
  length: number;
  byte: number;
}

/**
 * Changes about `fraction` of a disk's blocks: in each chosen block, `writeLength` bytes of `byte`. Image formats are
 * written through `qemu-io -c 'write -P …'` so qemu's persistent dirty bitmaps (qcow2) record the writes; raw disks
 * are written directly. Returns the ranges written, by offset. (A streamOptimized VMDK cannot be rewritten.)
 */
export async function changeDiskBlocks(path: string, format: DiskFormat, options: ChangeOptions = {}): Promise<ChangedRange[]> {
  const blockSize = options.blockSize ?? BLOCK_SIZE;
  const writeLength = Math.min(options.writeLength ?? 65536, blockSize);
  const byte = options.byte ?? 0xa5;
  const { virtualSize } = await qemuImgInfo(path, format);
  const blocks = Math.ceil(virtualSize / blockSize);
  const count = Math.min(blocks, Math.max(1, Math.round(blocks * (options.fraction ?? 0.01))));
  const random = patternBytes(`change:${options.seed ?? 'change'}`, 0, 8 * (count * 4 + 16));
  let r = 0;
  const next = () => random.readUInt32LE((r++ * 4) % (random.length - 4));
  const chosen = new Set<number>();
  while (chosen.size < count) chosen.add(next() % blocks);
  const ranges: ChangedRange[] = [...chosen]
    .sort((a, b) => a - b)
    .map((block) => {
      const start = block * blockSize;
      const slots = Math.max(1, Math.floor(Math.min(blockSize, virtualSize - start) / writeLength));
      const offset = start + (next() % slots) * writeLength;
      return { offset, length: Math.min(writeLength, virtualSize - offset), byte };
    });
  if (format === 'raw') {
    const handle = await open(path, 'r+');
    try {
      for (const c of ranges) await handle.write(Buffer.alloc(c.length, byte), 0, c.length, c.offset);
    } finally {
      await handle.close();
    }
  } else {
    const { 'qemu-io': qemuIo } = requireTools(['qemu-io'], 'Changing disk images');
    const args = ['-f', format];
    for (const c of ranges) args.push('-c', `write -P 0x${byte.toString(16)} ${c.offset} ${c.length}`);
    await runTool(qemuIo, [...args, path]);
  }
  return ranges;
}

/** Adds a persistent, recording dirty bitmap to a qcow2 image (`qemu-img bitmap --add`). */
export async function addDirtyBitmap(path: string, name: string): Promise<void> {
  const { 'qemu-img': qemuImg } = requireTools(['qemu-img'], 'Managing dirty bitmaps');
  await runTool(qemuImg, ['bitmap', '--add', '-f', 'qcow2', path, name]);
}

/** Stops a qcow2 dirty bitmap from recording (`qemu-img bitmap --disable`). */
export async function disableDirtyBitmap(path: string, name: string): Promise<void> {
  const { 'qemu-img': qemuImg } = requireTools(['qemu-img'], 'Managing dirty bitmaps');
  await runTool(qemuImg, ['bitmap', '--disable', '-f', 'qcow2', path, name]);
}
