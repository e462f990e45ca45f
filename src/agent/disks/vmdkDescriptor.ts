/**
 * The one piece of VMDK Ferry parses itself: a text descriptor whose single extent is a flat file of raw bytes
 * (createType "monolithicFlat", or "vmfs" as ESXi writes it), so that extent can be read directly with fs
 * instead of through qemu-nbd. Anything else (sparse, split, delta/child disks) returns undefined and goes
 * through qemu.
 */
import { open } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';

export interface FlatVmdk {
  /** Absolute path of the flat extent. */
  extentPath: string;
  /** Byte offset of the disk's first sector inside the extent. */
  extentOffset: number;
  /** Virtual size in bytes (the extent's sector count × 512). */
  size: number;
  createType: string;
}

const MAX_DESCRIPTOR = 64 * 1024;
const EXTENT_LINE = /^(RW|RDONLY|NOACCESS)\s+(\d+)\s+(\w+)\s+"([^"]+)"(?:\s+(\d+))?\s*$/;

/** Parses descriptor text; undefined unless it describes exactly one FLAT/VMFS extent and no parent. */
export function parseFlatDescriptor(text: string, descriptorPath: string): FlatVmdk | undefined {
  if (!/^\s*# Disk DescriptorFile/.test(text)) return undefined;
  let createType: string | undefined;
  let parentCid: string | undefined;
  const extents: Array<{ access: string; sectors: number; type: string; file: string; offset: number }> = [];
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.replace(/\0/g, '').trim();
    if (line.length === 0 || line.startsWith('#')) continue;
    const extent = EXTENT_LINE.exec(line);
    if (extent) {
      extents.push({ access: extent[1]!, sectors: Number(extent[2]), type: extent[3]!.toUpperCase(), file: extent[4]!, offset: Number(extent[5] ?? 0) });
      continue;
    }
    const kv = /^([A-Za-z][\w.]*)\s*=\s*"?([^"]*)"?$/.exec(line);
    if (!kv) continue;
    if (kv[1] === 'createType') createType = kv[2];
    else if (kv[1] === 'parentCID') parentCid = kv[2]!.toLowerCase();
  }
  if (createType !== 'monolithicFlat' && createType !== 'vmfs') return undefined;
  if (parentCid !== undefined && parentCid !== 'ffffffff') return undefined;
  if (extents.length !== 1) return undefined;
  const only = extents[0]!;
  if ((only.type !== 'FLAT' && only.type !== 'VMFS') || only.access === 'NOACCESS') return undefined;
  return {
    extentPath: isAbsolute(only.file) ? only.file : join(dirname(descriptorPath), only.file),
    extentOffset: only.offset * 512,
    size: only.sectors * 512,
    createType,
  };
}

/** Reads the start of `path` and parses it as a flat descriptor (undefined for binary / other VMDKs). */
export async function readFlatDescriptor(path: string): Promise<FlatVmdk | undefined> {
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.alloc(MAX_DESCRIPTOR);
    const { bytesRead } = await handle.read(buf, 0, MAX_DESCRIPTOR, 0);
    const head = buf.subarray(0, bytesRead);
    if (head.subarray(0, 4).toString('latin1') === 'KDMV') return undefined; // sparse extent with embedded descriptor
    return parseFlatDescriptor(head.toString('utf8'), path);
  } finally {
    await handle.close();
  }
}
