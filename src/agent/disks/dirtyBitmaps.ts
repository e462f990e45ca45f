/**
 * Ferry-managed qcow2 persistent dirty bitmaps (real changed-block tracking for qcow2 sources).
 *
 * Names: `ferry-<label>-<n>`, n = 1, 2, 3, … per label (the label names the replication job / disk). Ferry
 * records, with each successful run, the name of the bitmap that started recording just before that run read
 * the disk ("the recorded bitmap"). Writes made by qemu to the image (a VM, qemu-io, a rw qemu-nbd) are
 * tracked; writes by non-qemu tools to the file are not.
 *
 * Protocol for one run (planBitmapRun computes it from the image's bitmaps and the recorded name):
 *
 *   1. before reading: add `ferry-<label>-<max n + 1>` (enabled). From here on every write lands in it, so
 *      nothing written during or after the read is lost; writes that land in both this and the old bitmap
 *      are simply read twice.
 *   2. incremental only: merge any newer Ferry bitmaps of the label left by failed runs ("strays") into the
 *      recorded bitmap, which then holds every write since the last successful run began reading. It is not
 *      disabled first: whatever it records from here on is also in the bitmap added in step 1, so it can only
 *      make the read a little larger, and it is removed after success anyway. (Disabling it was one more
 *      qemu-img process, about a quarter of a small incremental run's time.)
 *   3. read: incremental → openDisk(path, { dirtyBitmap: readBitmap }) and read changedExtents();
 *      full → read every allocated extent.
 *   4. after success: remove the recorded bitmap, the strays and any older leftovers of the label; record the
 *      bitmap added in step 1. After a failure do nothing: the next plan treats the bitmap added in step 1 as
 *      a stray and merges it, so a failed run never loses writes.
 *
 * Incremental is possible only when the recorded bitmap exists and every bitmap in the chain (recorded +
 * strays) is consistent — not `in-use`, which qemu sets while an image is open for writing and leaves behind
 * when it was not closed cleanly — and the newest one of the chain is still recording. Otherwise the plan is a
 * full run (the engine then reads every allocated block and compares hashes), still adding the next bitmap
 * first. Bitmap changes need the image closed (qemu-img takes the write lock), so apply the steps while no
 * DiskSource has it open.
 */
import { DiskError } from './diskSource.ts';
import type { DirtyBitmapInfo } from './probe.ts';
import { qemuMessage, runTool } from './qemuTools.ts';
import { qemuImageName, resolveConfined, type Confinement } from './confine.ts';

export const BITMAP_PREFIX = 'ferry-';

export function bitmapName(label: string, n: number): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,200}$/.test(label)) throw new RangeError(`invalid bitmap label "${label}"`);
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`invalid bitmap sequence number ${n}`);
  return `${BITMAP_PREFIX}${label}-${n}`;
}

/** `ferry-<label>-<n>` → { label, n }; undefined for other names. */
export function parseBitmapName(name: string): { label: string; n: number } | undefined {
  const match = /^ferry-(.+)-(\d+)$/.exec(name);
  if (!match) return undefined;
  const n = Number(match[2]);
  return Number.isSafeInteger(n) && n >= 1 ? { label: match[1]!, n } : undefined;
}

/**
 * Runs `qemu-img bitmap ARGS -f qcow2 IMAGE NAME…`. `image` is what qemu opens: the path itself, or for a confined
 * run the checked file as a qemu image name that opens no backing file (confine.ts); errors name `path`.
 */
async function bitmapOp(path: string, image: string, args: readonly string[], names: readonly string[], what: string): Promise<void> {
  const result = await runTool('qemu-img', ['bitmap', ...args, '-f', 'qcow2', image, ...names], path);
  if (result.code !== 0) throw new DiskError(path, `${what} failed: ${qemuMessage(result.stderr)}`);
}

/** Adds a persistent bitmap (enabled unless `disabled`; granularity in bytes, qemu's default 64 KiB). */
export function addBitmap(path: string, name: string, options: { granularity?: number; disabled?: boolean } = {}, image = path): Promise<void> {
  const args = ['--add', ...(options.granularity ? ['-g', String(options.granularity)] : []), ...(options.disabled ? ['--disable'] : [])];
  return bitmapOp(path, image, args, [name], `adding dirty bitmap ${name}`);
}

export function disableBitmap(path: string, name: string, image = path): Promise<void> {
  return bitmapOp(path, image, ['--disable'], [name], `disabling dirty bitmap ${name}`);
}

/** ORs `source` into `target` (both in the same image). */
export function mergeBitmap(path: string, source: string, target: string, image = path): Promise<void> {
  return bitmapOp(path, image, ['--merge', source], [target], `merging dirty bitmap ${source} into ${target}`);
}

export function removeBitmap(path: string, name: string, image = path): Promise<void> {
  return bitmapOp(path, image, ['--remove'], [name], `removing dirty bitmap ${name}`);
}

export type BitmapStep =
  | { op: 'add'; name: string }
  | { op: 'disable'; name: string }
  | { op: 'merge'; source: string; target: string }
  | { op: 'remove'; name: string };

export type BitmapPlan =
  | {
      mode: 'incremental';
      /** Open the disk with this bitmap and read its changedExtents(). */
      readBitmap: string;
      /** Record this name after the run succeeds. */
      nextBitmap: string;
      before: BitmapStep[];
      afterSuccess: BitmapStep[];
    }
  | {
      mode: 'full';
      nextBitmap: string;
      before: BitmapStep[];
      afterSuccess: BitmapStep[];
      /** Why not incremental. */
      reason: string;
    };

/**
 * Plans a run for the bitmaps of `label` given the image's bitmaps (probeDisk().dirtyBitmaps) and the bitmap
 * Ferry recorded after the last successful run (undefined before the first).
 */
export function planBitmapRun(bitmaps: readonly DirtyBitmapInfo[], label: string, lastRecorded: string | undefined): BitmapPlan {
  const mine = bitmaps
    .map((b) => ({ bitmap: b, parsed: parseBitmapName(b.name) }))
    .filter((x) => x.parsed?.label === label)
    .sort((a, b) => a.parsed!.n - b.parsed!.n);
  const nextN = mine.length > 0 ? mine[mine.length - 1]!.parsed!.n + 1 : 1;
  const nextBitmap = bitmapName(label, nextN);
  const before: BitmapStep[] = [{ op: 'add', name: nextBitmap }];
  const full = (reason: string): BitmapPlan => ({
    mode: 'full',
    nextBitmap,
    before,
    afterSuccess: bitmaps.filter((b) => b.name !== nextBitmap && (b.name === lastRecorded || parseBitmapName(b.name)?.label === label)).map((b) => ({ op: 'remove', name: b.name })),
    reason,
  });

  if (lastRecorded === undefined) return full('no bitmap recorded by a previous run');
  const recorded = bitmaps.find((b) => b.name === lastRecorded);
  if (!recorded) return full(`the recorded bitmap ${lastRecorded} is not in the image`);
  const recordedN = parseBitmapName(lastRecorded)?.label === label ? parseBitmapName(lastRecorded)!.n : undefined;
  const strays = recordedN === undefined ? [] : mine.filter((x) => x.parsed!.n > recordedN).map((x) => x.bitmap);
  const chain = [recorded, ...strays];
  const inUse = chain.find((b) => b.inUse);
  if (inUse) return full(`bitmap ${inUse.name} is in-use (the image was not closed cleanly), so it may have missed writes`);
  const newest = chain[chain.length - 1]!;
  if (!newest.recording) return full(`bitmap ${newest.name} is disabled, so writes since it stopped recording are untracked`);

  for (const b of strays) before.push({ op: 'merge', source: b.name, target: recorded.name });
  const older = recordedN === undefined ? [] : mine.filter((x) => x.parsed!.n < recordedN).map((x) => x.bitmap);
  return {
    mode: 'incremental',
    readBitmap: recorded.name,
    nextBitmap,
    before,
    afterSuccess: [...chain, ...older].map((b) => ({ op: 'remove', name: b.name })),
  };
}

/**
 * Applies plan steps in order with qemu-img bitmap (the image must not be open elsewhere). Confined (runs), the
 * path is resolved and checked against the datastore first, and qemu-img is given that file with no backing file.
 */
export async function applyBitmapSteps(path: string, steps: readonly BitmapStep[], confine?: Confinement): Promise<void> {
  const image = confine ? qemuImageName(await resolveConfined(confine, path), 'qcow2') : path;
  for (const step of steps) {
    switch (step.op) {
      case 'add':
        await addBitmap(path, step.name, {}, image);
        break;
      case 'disable':
        await disableBitmap(path, step.name, image);
        break;
      case 'merge':
        await mergeBitmap(path, step.source, step.target, image);
        break;
      case 'remove':
        await removeBitmap(path, step.name, image);
        break;
    }
  }
}
