import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copiesFirst, DEFAULT_COPY_FIRST_MAX_MIB, MAX_COPIED_DISK_BYTES } from '../../src/domain/copyFirst.ts';
import { parseCopyFirstMaxMiB, resolveLaunchConfig } from '../../src/config/config.ts';

const MiB = 1024 * 1024;

test('copy-first: by the image data against the line, 0 = never', () => {
  assert.equal(DEFAULT_COPY_FIRST_MAX_MIB, 64);
  const GiB = 1024 * MiB;
  assert.equal(copiesFirst(20 * MiB, 32 * MiB, 64), true);
  assert.equal(copiesFirst(20 * MiB, 4 * GiB, 64), true, 'the data counts, not the virtual size');
  assert.equal(copiesFirst(64 * MiB, 64 * MiB, 64), true, 'the line itself is copied');
  assert.equal(copiesFirst(64 * MiB + 1, 4 * GiB, 64), false);
  assert.equal(copiesFirst(3 * GiB, 4 * GiB, 64), false, 'the 4 GiB bench image (3 GiB of data) boots from the export');
  assert.equal(copiesFirst(20 * MiB, MAX_COPIED_DISK_BYTES, 64), true);
  assert.equal(copiesFirst(20 * MiB, 20 * 1024 * GiB, 64), false, 'a 20 TiB disk cannot be a raw file on ext4');
  assert.equal(copiesFirst(0, 0, 0), false, 'off even for an empty image');
  assert.equal(copiesFirst(1, MiB, 0), false);
});

test('FERRY_LAUNCH_COPY_FIRST_MAX_MIB: a whole number of MiB, 0 allowed; anything else is a clear error', () => {
  assert.equal(parseCopyFirstMaxMiB(undefined), undefined);
  assert.equal(parseCopyFirstMaxMiB(''), undefined);
  assert.equal(parseCopyFirstMaxMiB('0'), 0);
  assert.equal(parseCopyFirstMaxMiB('256'), 256);
  for (const bad of ['-1', '1.5', '64M', ' 64', '007', 'x']) assert.throws(() => parseCopyFirstMaxMiB(bad), /FERRY_LAUNCH_COPY_FIRST_MAX_MIB must be a whole number of MiB/, bad);
  assert.equal(resolveLaunchConfig({}, { FERRY_LAUNCH_COPY_FIRST_MAX_MIB: '0' }).copyFirstMaxMiB, 0);
  assert.equal(resolveLaunchConfig({}, { FERRY_LAUNCH_COPY_FIRST_MAX_MIB: '128' }).copyFirstMaxMiB, 128);
  assert.equal('copyFirstMaxMiB' in resolveLaunchConfig({}, {}), false, 'unset: the service default');
  assert.throws(() => resolveLaunchConfig({}, { FERRY_LAUNCH_COPY_FIRST_MAX_MIB: 'lots' }), /whole number of MiB/);
});
