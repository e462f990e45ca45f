/**
 * openDisk: probe a disk file, then read it the cheapest correct way —
 *   raw                                → fs directly (RawFileSource)
 *   VMDK monolithicFlat / vmfs, no parent → fs directly on the -flat.vmdk extent named by the descriptor
 *   qcow2 without a backing file        → fs directly (Qcow2FileSource), dirty bitmaps included, when that
 *                                          reader supports the image (see qcow2Source.ts for what it declines)
 *   everything else (sparse/streamOptimized VMDK, other qcow2, VHDX, VHD) → private qemu-nbd + Ferry's NBD client
 * A qcow2 the direct reader declines is read through qemu-nbd exactly as before, dirty bitmap included.
 */
import { DiskError, type DiskFormat, type DiskSource } from './diskSource.ts';
import { NbdDiskSource } from './nbdSource.ts';
import { probeDisk, type DiskProbe } from './probe.ts';
import { Qcow2FileSource, isUnsupported } from './qcow2Source.ts';
import { RawFileSource } from './rawSource.ts';
import { readFlatDescriptor } from './vmdkDescriptor.ts';
import type { Confinement } from './confine.ts';

export interface OpenDiskOptions {
  /** The format the caller expects; the detected format must match. Omit to accept whatever is detected. */
  format?: DiskFormat;
  /** qcow2 persistent dirty bitmap whose dirty ranges changedExtents() reports. */
  dirtyBitmap?: string;
  /** NBD pipeline depth (default 16). */
  queueDepth?: number;
  /** Per-request NBD timeout in ms (default 120 000). */
  requestTimeoutMs?: number;
  /** Truncation check while probing (default true; see probe.ts). */
  verify?: boolean;
  /** A probe the caller already made for this path (skips probing again). */
  probe?: DiskProbe;
  /**
   * The datastore every file read must stay in (a run's disks): the probe resolves and checks the path, direct
   * reads check the file they opened, qemu-nbd opens no backing file and what it opened is checked (confine.ts).
   */
  confine?: Confinement;
}

export async function openDisk(path: string, options: OpenDiskOptions = {}): Promise<DiskSource> {
  const confine = options.confine;
  const probe = options.probe ?? (await probeDisk(path, { ...(options.verify === undefined ? {} : { verify: options.verify }), confine }));
  const abs = probe.path;
  if (options.format !== undefined && options.format !== probe.format) {
    throw new DiskError(abs, `expected a ${options.format} disk but the file is ${probe.format}`);
  }
  const nbdOptions = {
    format: probe.format,
    size: probe.virtualSize,
    confine,
    ...(options.queueDepth === undefined ? {} : { queueDepth: options.queueDepth }),
    ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
  };

  if (options.dirtyBitmap !== undefined) {
    const name = options.dirtyBitmap;
    if (probe.format !== 'qcow2') throw new DiskError(abs, `dirty bitmaps need a qcow2 image; this is ${probe.format}`);
    const bitmap = probe.dirtyBitmaps.find((b) => b.name === name);
    if (!bitmap) throw new DiskError(abs, `has no dirty bitmap named "${name}"`);
    if (bitmap.inUse) throw new DiskError(abs, `dirty bitmap "${name}" is in-use (the image was not closed cleanly); its content cannot be trusted`);
    return (await openQcow2Direct(probe, name, confine)) ?? NbdDiskSource.open(abs, { ...nbdOptions, dirtyBitmap: name });
  }

  if (probe.format === 'raw') {
    return RawFileSource.open(abs, { dataPath: abs, dataOffset: 0, size: probe.virtualSize, format: 'raw', confine });
  }
  if (probe.format === 'vmdk' && (probe.vmdkCreateType === 'monolithicFlat' || probe.vmdkCreateType === 'vmfs') && !probe.backingFile) {
    const flat = await readFlatDescriptor(abs);
    if (flat && flat.size === probe.virtualSize) {
      return RawFileSource.open(abs, { dataPath: flat.extentPath, dataOffset: flat.extentOffset, size: flat.size, format: 'vmdk', confine });
    }
  }
  if (probe.format === 'qcow2') {
    const direct = await openQcow2Direct(probe, undefined, confine);
    if (direct) return direct;
  }
  return NbdDiskSource.open(abs, nbdOptions);
}

/** The direct qcow2 reader, or undefined when it declines the image (qemu-nbd reads it then). */
async function openQcow2Direct(probe: DiskProbe, dirtyBitmap: string | undefined, confine: Confinement | undefined): Promise<Qcow2FileSource | undefined> {
  if (probe.backingFile) return undefined;
  const direct = await Qcow2FileSource.open(probe.path, { size: probe.virtualSize, confine, ...(dirtyBitmap === undefined ? {} : { dirtyBitmap }) });
  return isUnsupported(direct) ? undefined : direct;
}
