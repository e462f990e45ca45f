/**
 * How a run finds what changed on a disk since the parent image: its dirty bitmap (only the changed extents are
 * read), a hash diff (every allocated block read, and the service says which differ from the parent's block at the
 * same index, so only those are sent and recorded), or neither, which makes the run's image a full one (every block
 * read and recorded, each compared with the whole store by hash). `why` says what ruled the cheaper ways out, for
 * the run's log line.
 */
import type { BitmapPlan } from './disks/dirtyBitmaps.ts';
import type { ParentImage } from '../protocol/connector/messages.ts';

export type ChangeTracking = { kind: 'bitmap' } | { kind: 'hash-diff'; why: string } | { kind: 'none'; why: string };

export interface TrackedDisk {
  index: number;
  format: string;
  sizeBytes: number;
  bitmap?: BitmapPlan;
}

export function changeTracking(disk: TrackedDisk, parent: ParentImage): ChangeTracking {
  if (disk.bitmap?.mode === 'incremental') return { kind: 'bitmap' };
  const noBitmap = disk.bitmap?.mode === 'full' ? disk.bitmap.reason : `${disk.format} disks have no change tracking`;
  if (parent === null) return { kind: 'none', why: `${noBitmap}; no parent image to compare with (a first run, or one under another key)` };
  if (parent.compareBlocks !== true) return { kind: 'none', why: `${noBitmap}; the service cannot compare blocks with the parent image (an older service)` };
  const parentDisk = parent.disks.find((d) => d.index === disk.index);
  if (!parentDisk) return { kind: 'none', why: `${noBitmap}; the parent image has no disk ${disk.index}` };
  // A resized disk's blocks do not line up with the parent's at its end (the last block's padding): read it all.
  if (parentDisk.sizeBytes !== disk.sizeBytes) {
    return { kind: 'none', why: `${noBitmap}; disk ${disk.index} is ${disk.sizeBytes} bytes, ${parentDisk.sizeBytes} in the parent image` };
  }
  return { kind: 'hash-diff', why: noBitmap };
}
