/**
 * Builds real disk images with the Debian tools: a sparse raw file, an MBR or GPT partition table (sfdisk), ext4
 * (mkfs.ext4 -d, written straight into the partition with -E offset=) or FAT (mkfs.vfat --offset + mcopy)
 * filesystems populated from a generated directory tree, then `qemu-img convert` to the target format. Nothing is
 * mounted and no loop device is used. Shared by the sample datastore and the tests' VM factory.
 */
import { spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { DiskFormat } from '../disks/diskSource.ts';
import { requireTools, type MissingToolError } from '../../lib/tools.ts';

export type { MissingToolError };

export const MiB = 1024 * 1024;

/** Tools the disk builder needs, each with its Debian package (see tools.ts). */
export const BUILDER_TOOLS = ['qemu-img', 'sfdisk', 'mkfs.ext4', 'mkfs.vfat', 'mcopy'] as const;
export type BuilderTools = Record<(typeof BUILDER_TOOLS)[number], string>;

let toolsCache: BuilderTools | undefined;
/** Resolves the builder's tools or throws MissingToolError naming the packages to install. */
export function builderTools(): BuilderTools {
  toolsCache ??= requireTools(BUILDER_TOOLS, 'Building disk images');
  return toolsCache;
}

// ---------------------------------------------------------------------------------------------------------------
// Deterministic content

function patternKey(seed: string | number): Buffer {
  return createHash('sha256').update(`ferry-pattern\u0000${seed}`).digest().subarray(0, 16);
}

/**
 * `length` pseudo-random bytes of the stream named `seed`, starting at `offset` of that stream. The stream is
 * AES-128-CTR keystream, so any range can be computed on its own: patternBytes(s, o, n) equals bytes o..o+n of
 * patternBytes(s, 0, o + n). Used for disk content that tests compare byte for byte.
 */
export function patternBytes(seed: string | number, offset: number, length: number): Buffer {
  const block = Math.floor(offset / 16);
  const skip = offset - block * 16;
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(BigInt(block), 8);
  const cipher = createCipheriv('aes-128-ctr', patternKey(seed), iv);
  const out = cipher.update(Buffer.alloc(skip + length));
  return out.subarray(skip, skip + length);
}

// ---------------------------------------------------------------------------------------------------------------
// Specs

/** A file's content in a generated filesystem: text, bytes, or `random` bytes from the named pattern stream. */
export type FileContent = string | Buffer | { random: number; seed?: string | number } | { zeros: number };

export interface PartitionSpec {
  fs: 'ext4' | 'vfat' | 'none';
  /** Bytes; rounded down to whole MiB. Default: the rest of the disk. */
  sizeBytes?: number;
  label?: string;
  /** sfdisk partition type; default by table and fs (Linux filesystem / Microsoft basic data / FAT32 LBA). */
  type?: string;
  /** Filesystem UUID (ext4) or volume id (vfat, 8 hex digits); default derived from the seed. */
  uuid?: string;
  /** Files to put in the filesystem, by '/'-separated path. */
  files?: Record<string, FileContent>;
  bootable?: boolean;
}

export type DiskContent =
  | { type: 'empty' }
  /** Pattern bytes (patternBytes(seed, offset, …)) in `regions` (default: the whole disk); the rest stays a hole. */
  | { type: 'pattern'; seed: string | number; regions?: { offset: number; length: number }[] }
  | {
      type: 'partitioned';
      table: 'mbr' | 'gpt';
      partitions: PartitionSpec[];
      seed?: string | number;
      /**
       * `syslinux`: make the disk bootable by BIOS — syslinux's MBR boot code, and syslinux installed into the
       * bootable FAT partition (which must hold syslinux.cfg and what it names). MBR tables only.
       */
      bootloader?: 'syslinux';
    };

export interface DiskSpec {
  sizeBytes: number;
  format: DiskFormat;
  /** VMDK: default monolithicSparse. */
  vmdkSubformat?: 'monolithicSparse' | 'monolithicFlat' | 'streamOptimized' | 'twoGbMaxExtentSparse' | 'twoGbMaxExtentFlat';
  /** VMDK: ddb.adapterType; default lsilogic. */
  vmdkAdapter?: 'ide' | 'lsilogic' | 'buslogic' | 'legacyESX';
  /** VHD: default dynamic. */
  vpcSubformat?: 'dynamic' | 'fixed';
  content: DiskContent;
}

export interface PartitionInfo {
  start: number;
  size: number;
  fs: PartitionSpec['fs'];
  type: string;
}

export interface BuiltDisk {
  /** The file to open (for a flat VMDK, the descriptor). */
  path: string;
  format: DiskFormat;
  sizeBytes: number;
  /** Every file making up the disk (descriptor + extents). */
  files: string[];
  /** Partitions as laid out (byte offsets), for tests. */
  partitions: PartitionInfo[];
}

// ---------------------------------------------------------------------------------------------------------------
// Running tools

export interface RunOutput {
  stdout: string;
  stderr: string;
}

/** Runs a tool without a shell; rejects with its stderr on a non-zero exit or after the timeout. */
export function runTool(
  command: string,
  args: readonly string[],
  options: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<RunOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C', ...options.env },
      ...(options.cwd ? { cwd: options.cwd } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timeout = options.timeoutMs ?? 60_000;
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ stdout, stderr });
      else {
        const what = signal ? `was killed (${signal}${signal === 'SIGKILL' ? `, timeout ${timeout} ms` : ''})` : `exited with ${code}`;
        reject(new Error(`${command} ${args.join(' ')} ${what}: ${stderr.trim() || stdout.trim()}`));
      }
    });
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Building

const GPT_TYPES = {
  ext4: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', // Linux filesystem
  vfat: 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7', // Microsoft basic data
  none: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
};
const MBR_TYPES = { ext4: '83', vfat: 'c', none: '83' };

/** Where syslinux-common puts the MBR boot code (the first 440 bytes of a disk). */
export const SYSLINUX_MBR = '/usr/lib/syslinux/mbr/mbr.bin';

/** The MBR disk signature sfdisk writes for a seed (`label-id`), as the four bytes at offset 440 in disk order. */
export function mbrSignatureBytes(seed: string | number): Buffer {
  const labelId = Number.parseInt(createHash('sha256').update(String(seed)).digest('hex').slice(0, 8), 16);
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32LE(labelId);
  return bytes;
}

function seededUuid(seed: string): string {
  const h = createHash('sha256').update(`ferry-uuid\u0000${seed}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Writes `data` at `offset` of a file, leaving all-zero 4 KiB pages as holes. */
async function writeSparse(path: string, offset: number, data: Buffer): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    const page = 4096;
    let runStart = -1;
    for (let i = 0; i <= data.length; i += page) {
      const chunk = data.subarray(i, Math.min(i + page, data.length));
      const zero = i === data.length || chunk.every((b) => b === 0);
      if (!zero && runStart === -1) runStart = i;
      if (zero && runStart !== -1) {
        await handle.write(data, runStart, i - runStart, offset + runStart);
        runStart = -1;
      }
    }
  } finally {
    await handle.close();
  }
}

async function createSparseFile(path: string, size: number): Promise<void> {
  const handle = await open(path, 'w');
  try {
    await handle.truncate(size);
  } finally {
    await handle.close();
  }
}

async function materialiseTree(dir: string, files: Record<string, FileContent>, seed: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    const rel = name.replace(/^\/+/, '');
    if (rel === '' || rel.split('/').includes('..')) throw new Error(`bad file name in a generated filesystem: ${name}`);
    const target = join(dir, ...rel.split('/'));
    await mkdir(dirname(target), { recursive: true });
    let data: string | Buffer;
    if (typeof content === 'string' || Buffer.isBuffer(content)) data = content;
    else if ('random' in content) data = patternBytes(content.seed ?? `${seed}:${rel}`, 0, content.random);
    else data = Buffer.alloc(content.zeros);
    await writeFile(target, data);
  }
}

async function partition(raw: string, spec: Extract<DiskContent, { type: 'partitioned' }>, sizeBytes: number, tools: BuilderTools) {
  const lines = [`label: ${spec.table === 'mbr' ? 'dos' : 'gpt'}`];
  const seed = String(spec.seed ?? raw);
  if (spec.table === 'gpt') lines.push(`label-id: ${seededUuid(`${seed}:disk`).toUpperCase()}`);
  else lines.push(`label-id: 0x${mbrSignatureBytes(seed).readUInt32LE().toString(16).padStart(8, '0')}`);
  let next = MiB;
  spec.partitions.forEach((p, i) => {
    const type = p.type ?? (spec.table === 'gpt' ? GPT_TYPES[p.fs] : MBR_TYPES[p.fs]);
    const fields = [`start=${next / 512}`];
    if (p.sizeBytes !== undefined) {
      const size = Math.floor(p.sizeBytes / MiB) * MiB;
      if (size <= 0) throw new Error(`partition ${i + 1} is smaller than 1 MiB`);
      fields.push(`size=${size / 512}`);
      next += size;
    } else if (i !== spec.partitions.length - 1) {
      throw new Error('only the last partition may take the rest of the disk');
    }
    fields.push(`type=${type}`);
    if (spec.table === 'gpt') fields.push(`name="${(p.label ?? `part${i + 1}`).replace(/"/g, '')}"`);
    if (p.bootable && spec.table === 'mbr') fields.push('bootable');
    lines.push(fields.join(', '));
  });
  if (next > sizeBytes) throw new Error(`partitions (${next} bytes) do not fit a ${sizeBytes}-byte disk`);
  await runTool(tools.sfdisk, ['-q', '--no-reread', '--no-tell-kernel', raw], { input: `${lines.join('\n')}\n` });
  const { stdout } = await runTool(tools.sfdisk, ['-J', raw]);
  const table = JSON.parse(stdout) as { partitiontable: { partitions: { start: number; size: number; type: string }[] } };
  return table.partitiontable.partitions.map((p, i) => ({
    start: p.start * 512,
    size: p.size * 512,
    fs: spec.partitions[i]!.fs,
    type: p.type,
  }));
}

let prezeroedSupported: boolean | undefined;

async function makeExt4(raw: string, part: PartitionInfo, p: PartitionSpec, tree: string | undefined, uuid: string, tools: BuilderTools) {
  const base = (extended: string) => [
    '-q',
    '-F',
    '-t',
    'ext4',
    '-E',
    `offset=${part.start},root_owner=0:0${extended}`,
    '-U',
    uuid,
    ...(p.label ? ['-L', p.label.slice(0, 16)] : []),
    ...(tree ? ['-d', tree] : []),
    raw,
    `${Math.floor(part.size / 1024)}k`,
  ];
  if (prezeroedSupported !== false) {
    try {
      // The raw file is sparse, so already zero: skip zeroing the journal and inode tables (keeps the image small).
      await runTool(tools['mkfs.ext4'], base(',assume_storage_prezeroed=1'));
      prezeroedSupported = true;
      return;
    } catch (e) {
      if (!/assume_storage_prezeroed|Bad option/i.test((e as Error).message)) throw e;
      prezeroedSupported = false;
    }
  }
  await runTool(tools['mkfs.ext4'], base(''));
}

async function makeVfat(raw: string, part: PartitionInfo, p: PartitionSpec, tree: string | undefined, volumeId: string, tools: BuilderTools) {
  const env = { MTOOLS_SKIP_CHECK: '1', MTOOLS_NO_VFAT: '0' };
  const label = (p.label ?? 'NO NAME').toUpperCase().replace(/[^A-Z0-9 _-]/g, '').slice(0, 11) || 'NO NAME';
  await runTool(
    tools['mkfs.vfat'],
    ['--offset', String(part.start / 512), '-n', label, '-i', volumeId, raw, String(Math.floor(part.size / 1024))],
    { env },
  );
  if (!tree) return;
  const entries = await readdir(tree);
  if (entries.length === 0) return;
  await runTool(tools.mcopy, ['-s', '-p', '-m', '-Q', '-i', `${raw}@@${part.start}`, ...entries.map((e) => join(tree, e)), '::/'], { env });
}

/** syslinux's MBR code in the first 440 bytes, and syslinux itself in the bootable FAT partition (no mount). */
async function installSyslinux(raw: string, content: Extract<DiskContent, { type: 'partitioned' }>, partitions: PartitionInfo[]): Promise<void> {
  const index = content.partitions.findIndex((p) => p.bootable && p.fs === 'vfat');
  if (content.table !== 'mbr' || index < 0) throw new Error('syslinux needs an MBR table with a bootable FAT partition');
  const { syslinux } = requireTools(['syslinux'], 'Building bootable disk images');
  let mbr: Buffer;
  try {
    mbr = await readFile(SYSLINUX_MBR);
  } catch {
    throw new Error(`Building bootable disk images needs ${SYSLINUX_MBR}. Install the Debian package: apt-get install syslinux-common`);
  }
  await runTool(syslinux, ['--install', '--offset', String(partitions[index]!.start), raw], { env: { MTOOLS_SKIP_CHECK: '1' } });
  const handle = await open(raw, 'r+');
  try {
    await handle.write(mbr, 0, 440, 0);
  } finally {
    await handle.close();
  }
}

/**
 * Builds one disk image at `outPath` (plus `-flat.vmdk` for a monolithicFlat VMDK). The intermediate raw file is
 * made next to it and removed.
 */
export async function buildDisk(outPath: string, spec: DiskSpec, options: { tools?: BuilderTools } = {}): Promise<BuiltDisk> {
  const tools = options.tools ?? builderTools();
  if (!(spec.sizeBytes > 0) || spec.sizeBytes % 512 !== 0) throw new Error(`disk size must be a positive multiple of 512: ${spec.sizeBytes}`);
  await mkdir(dirname(outPath), { recursive: true });
  const raw = spec.format === 'raw' ? outPath : `${outPath}.building.raw`;
  const work = await mkdtemp(join(dirname(outPath), '.build-'));
  let partitions: PartitionInfo[] = [];
  try {
    await createSparseFile(raw, spec.sizeBytes);
    const content = spec.content;
    if (content.type === 'pattern') {
      const regions = content.regions ?? [{ offset: 0, length: spec.sizeBytes }];
      for (const r of regions) {
        if (r.offset < 0 || r.offset + r.length > spec.sizeBytes) throw new Error('pattern region outside the disk');
        for (let o = r.offset; o < r.offset + r.length; o += 4 * MiB) {
          const n = Math.min(4 * MiB, r.offset + r.length - o);
          await writeSparse(raw, o, patternBytes(content.seed, o, n));
        }
      }
    } else if (content.type === 'partitioned') {
      partitions = await partition(raw, content, spec.sizeBytes, tools);
      const seed = String(content.seed ?? outPath);
      for (const [i, part] of partitions.entries()) {
        const p = content.partitions[i]!;
        if (p.fs === 'none') continue;
        const tree = p.files && Object.keys(p.files).length > 0 ? join(work, `p${i + 1}`) : undefined;
        if (tree) await materialiseTree(tree, p.files!, `${seed}:p${i + 1}`);
        if (p.fs === 'ext4') await makeExt4(raw, part, p, tree, p.uuid ?? seededUuid(`${seed}:p${i + 1}`), tools);
        else await makeVfat(raw, part, p, tree, p.uuid ?? seededUuid(`${seed}:p${i + 1}`).slice(0, 8), tools);
      }
      if (content.bootloader === 'syslinux') await installSyslinux(raw, content, partitions);
    }

    const files = [outPath];
    if (spec.format !== 'raw') {
      const opts: string[] = [];
      if (spec.format === 'vmdk') {
        const sub = spec.vmdkSubformat ?? 'monolithicSparse';
        opts.push(`subformat=${sub}`, `adapter_type=${spec.vmdkAdapter ?? 'lsilogic'}`);
        if (sub === 'monolithicFlat') files.push(outPath.replace(/\.vmdk$/i, '') + '-flat.vmdk');
      } else if (spec.format === 'vpc') {
        opts.push(`subformat=${spec.vpcSubformat ?? 'dynamic'}`, 'force_size=on');
      } else if (spec.format === 'vhdx') {
        opts.push('subformat=dynamic');
      }
      const tmpOut = `${outPath}.building`;
      const args = ['convert', '-q', '-f', 'raw', '-O', spec.format, ...(opts.length ? ['-o', opts.join(',')] : []), raw];
      if (spec.format === 'vmdk' && spec.vmdkSubformat === 'monolithicFlat') {
        // The descriptor names its extent after the output file, so convert straight to the final name.
        await runTool(tools['qemu-img'], [...args, outPath]);
      } else {
        await runTool(tools['qemu-img'], [...args, tmpOut]);
        await rename(tmpOut, outPath);
      }
    }
    return { path: outPath, format: spec.format, sizeBytes: spec.sizeBytes, files, partitions };
  } finally {
    if (raw !== outPath) await rm(raw, { force: true });
    await rm(work, { recursive: true, force: true });
  }
}
