/**
 * How a run finds a disk's changes (agent/changeTracking.ts): a dirty bitmap first; without one, a hash diff against
 * the parent image when the parent has the disk at the same size and the service offers the comparison; otherwise a
 * full image, with the reason the run logs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { changeTracking, type TrackedDisk } from '../../src/agent/changeTracking.ts';
import type { ParentImage } from '../../src/protocol/connector/messages.ts';

const MiB = 1024 * 1024;
const raw: TrackedDisk = { index: 0, format: 'raw', sizeBytes: 8 * MiB };
/** `compareBlocks` false: the answer of a service without the call (it leaves the field out). */
const parent = (sizeBytes: number, compareBlocks = true): ParentImage => ({ amiId: 'ami-00000000000000001', disks: [{ index: 0, sizeBytes }], ...(compareBlocks ? { compareBlocks } : {}) });

test('a raw disk with a parent disk of the same size is compared with it', () => {
  assert.deepEqual(changeTracking(raw, parent(8 * MiB)), { kind: 'hash-diff', why: 'raw disks have no change tracking' });
});

test('a grown or shrunk disk, a first run, a parent without the disk or an older service make a full image, saying why', () => {
  const why = (p: ParentImage, disk = raw) => {
    const tracking = changeTracking(disk, p);
    assert.equal(tracking.kind, 'none');
    return tracking.kind === 'none' ? tracking.why : '';
  };
  assert.match(why(parent(4 * MiB)), /disk 0 is 8388608 bytes, 4194304 in the parent image/);
  assert.match(why(parent(16 * MiB)), /disk 0 is 8388608 bytes, 16777216 in the parent image/);
  assert.match(why(null), /no parent image to compare with/);
  assert.match(why(parent(8 * MiB, false)), /the service cannot compare blocks/);
  assert.match(why(parent(8 * MiB), { ...raw, index: 1 }), /the parent image has no disk 1/);
});

test('a usable dirty bitmap wins; a bitmap that cannot be used falls back to the hash diff with its reason', () => {
  const incremental: TrackedDisk['bitmap'] = { mode: 'incremental', readBitmap: 'a', nextBitmap: 'b', before: [], afterSuccess: [] };
  assert.deepEqual(changeTracking({ ...raw, format: 'qcow2', bitmap: incremental }, null), { kind: 'bitmap' });
  const full = { mode: 'full', reason: 'the recorded bitmap is gone', nextBitmap: 'b', before: [], afterSuccess: [] } as unknown as TrackedDisk['bitmap'];
  assert.deepEqual(changeTracking({ ...raw, format: 'qcow2', bitmap: full }, parent(8 * MiB)), { kind: 'hash-diff', why: 'the recorded bitmap is gone' });
});
