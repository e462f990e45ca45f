/**
 * VMDK descriptors. A hosted sparse VMDK (monolithicSparse, streamOptimized, or one extent of twoGbMaxExtentSparse)
 * starts with a 512-byte "KDMV" header that points at a text descriptor embedded in the file; a flat VMDK
 * (monolithicFlat, vmfs, twoGbMaxExtentFlat) is a small text descriptor file naming its data extents.
 */
import { open } from 'node:fs/promises';

export class VmdkError extends Error {}

export interface VmdkExtent {
  access: 'RW' | 'RDONLY' | 'NOACCESS';
  /** Size of the extent in 512-byte sectors. */
  sectors: number;
  /** FLAT, SPARSE, ZERO, VMFS, VMFSSPARSE, VMFSRDM, VMFSRAW, SESPARSE… (upper case). */
  type: string;
  /** File name as written in the descriptor (relative to the descriptor's folder unless absolute); absent for ZERO. */
  file?: string;
  /** Offset into the extent file in sectors (FLAT/VMFS extents). */
  offsetSectors: number;
}

export interface VmdkDescriptor {
  createType: string;
  cid?: string;
  parentCid?: string;
  parentFileNameHint?: string;
  extents: VmdkExtent[];
  ddb: Record<string, string>;
  /** True when the descriptor was embedded in a sparse extent (the file itself holds the data). */
  embedded: boolean;
  /** Virtual size in bytes: the sum of the extents. */
  capacityBytes: number;
}

const SPARSE_MAGIC = 0x564d444b; // "KDMV" little-endian
const COWD_MAGIC = 0x44574f43; // "COWD": ESX vmfsSparse (legacy)
const MAX_DESCRIPTOR_BYTES = 1024 * 1024;

/** Parses descriptor text. */
export function parseVmdkDescriptor(text: string, embedded: boolean): VmdkDescriptor {
  const fields: Record<string, string> = {};
  const ddb: Record<string, string> = {};
  const extents: VmdkExtent[] = [];
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.replace(/\0+$/g, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const ext = /^(RW|RDONLY|NOACCESS)\s+(\d+)\s+([A-Za-z]+)(?:\s+"([^"]*)"(?:\s+(\d+))?)?\s*$/.exec(line);
    if (ext) {
      extents.push({
        access: ext[1] as VmdkExtent['access'],
        sectors: Number(ext[2]),
        type: ext[3]!.toUpperCase(),
        ...(ext[4] !== undefined ? { file: ext[4] } : {}),
        offsetSectors: ext[5] !== undefined ? Number(ext[5]) : 0,
      });
      continue;
    }
    const kv = /^([A-Za-z0-9_.]+)\s*=\s*"?([^"]*)"?\s*$/.exec(line);
    if (!kv) throw new VmdkError(`descriptor line not understood: ${JSON.stringify(line.slice(0, 80))}`);
    if (kv[1]!.startsWith('ddb.')) ddb[kv[1]!.slice(4)] = kv[2]!;
    else fields[kv[1]!.toLowerCase()] = kv[2]!;
  }
  const createType = fields['createtype'];
  if (!createType) throw new VmdkError('descriptor has no createType');
  return {
    createType,
    ...(fields['cid'] !== undefined ? { cid: fields['cid'].toLowerCase() } : {}),
    ...(fields['parentcid'] !== undefined ? { parentCid: fields['parentcid'].toLowerCase() } : {}),
    ...(fields['parentfilenamehint'] !== undefined ? { parentFileNameHint: fields['parentfilenamehint'] } : {}),
    extents,
    ddb,
    embedded,
    capacityBytes: extents.reduce((sum, e) => sum + e.sectors * 512, 0),
  };
}

/** Reads the descriptor of a .vmdk file, embedded or text. */
export async function readVmdkDescriptor(path: string): Promise<VmdkDescriptor> {
  const handle = await open(path, 'r');
  try {
    const header = Buffer.alloc(512);
    const { bytesRead } = await handle.read(header, 0, 512, 0);
    if (bytesRead >= 4 && header.readUInt32LE(0) === SPARSE_MAGIC) {
      if (bytesRead < 512) throw new VmdkError('truncated sparse header');
      const descriptorOffset = Number(header.readBigUInt64LE(28));
      const descriptorSize = Number(header.readBigUInt64LE(36));
      if (descriptorOffset === 0 || descriptorSize === 0) {
        throw new VmdkError('sparse extent without an embedded descriptor (open the descriptor .vmdk instead)');
      }
      const bytes = descriptorSize * 512;
      if (bytes > MAX_DESCRIPTOR_BYTES) throw new VmdkError(`embedded descriptor too large (${bytes} bytes)`);
      const buf = Buffer.alloc(bytes);
      const r = await handle.read(buf, 0, bytes, descriptorOffset * 512);
      const text = buf.subarray(0, r.bytesRead).toString('utf8');
      const end = text.indexOf('\0');
      return parseVmdkDescriptor(end === -1 ? text : text.slice(0, end), true);
    }
    if (bytesRead >= 4 && header.readUInt32LE(0) === COWD_MAGIC) {
      throw new VmdkError('ESX "COWD" sparse extent (vmfsSparse snapshot data); open the descriptor instead');
    }
    const { size } = await handle.stat();
    if (size > MAX_DESCRIPTOR_BYTES) throw new VmdkError('not a VMDK: no sparse header and too large for a text descriptor');
    const buf = Buffer.alloc(size);
    await handle.read(buf, 0, size, 0);
    // qemu pads text descriptors with NULs to a whole sector; NULs anywhere else mean binary data.
    let end = buf.length;
    while (end > 0 && buf[end - 1] === 0) end--;
    if (buf.subarray(0, end).includes(0)) throw new VmdkError('not a VMDK: binary data without a sparse header');
    const text = buf.subarray(0, end).toString('utf8');
    if (!/createType\s*=/i.test(text)) throw new VmdkError('not a VMDK: no sparse header and no descriptor text');
    return parseVmdkDescriptor(text, false);
  } finally {
    await handle.close();
  }
}

/** createTypes Ferry replicates (through qemu). Others (raw device mappings, seSparse, delta disks…) are refused. */
export const SUPPORTED_VMDK_CREATE_TYPES = new Set([
  'monolithicSparse',
  'monolithicFlat',
  'streamOptimized',
  'vmfs',
  'twoGbMaxExtentSparse',
  'twoGbMaxExtentFlat',
]);

/** Why a descriptor cannot be replicated, or undefined when it can. */
export function vmdkUnsupportedReason(d: VmdkDescriptor): string | undefined {
  if (d.parentCid !== undefined && d.parentCid !== 'ffffffff') {
    return `is a snapshot (delta) disk of ${d.parentFileNameHint ?? 'another disk'}; consolidate or delete the VM's snapshots first`;
  }
  if (!SUPPORTED_VMDK_CREATE_TYPES.has(d.createType)) {
    return `VMDK createType "${d.createType}" is not supported (supported: ${[...SUPPORTED_VMDK_CREATE_TYPES].join(', ')})`;
  }
  if (d.extents.length === 0) return 'VMDK descriptor lists no extents';
  if (d.extents.some((e) => e.access === 'NOACCESS')) return 'VMDK has a NOACCESS extent';
  return undefined;
}
