/** Issue 8, defect 3 (pure parts): the inside/outside rule, where qemu looks for VMDK extents, and the qemu image name. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isWithin, qemuImageName, vmdkExtentPath } from '../../src/agent/disks/confine.ts';

test('inside the datastore means the root itself or below it, never a sibling with the same prefix', () => {
  assert.equal(isWithin('/srv/ds', '/srv/ds'), true);
  assert.equal(isWithin('/srv/ds', '/srv/ds/vm/disk.qcow2'), true);
  assert.equal(isWithin('/srv/ds', '/srv/ds/..data/disk.raw'), true, 'a name starting with two dots is still inside');
  assert.equal(isWithin('/srv/ds', '/srv/ds-other/disk.raw'), false);
  assert.equal(isWithin('/srv/ds', '/srv/disk.raw'), false);
  assert.equal(isWithin('/srv/ds', '/etc/shadow'), false);
  assert.equal(isWithin('/', '/etc/shadow'), true);
});

test('VMDK extents are looked up where qemu looks: next to the descriptor, or the absolute path as written', () => {
  assert.equal(vmdkExtentPath('/srv/ds/web01/web01.vmdk', 'web01-flat.vmdk'), '/srv/ds/web01/web01-flat.vmdk');
  assert.equal(vmdkExtentPath('/srv/ds/web01/web01.vmdk', '../shared/x-flat.vmdk'), '/srv/ds/shared/x-flat.vmdk');
  assert.equal(vmdkExtentPath('/srv/ds/web01/web01.vmdk', '/vmfs/volumes/ds1/web01-flat.vmdk'), '/vmfs/volumes/ds1/web01-flat.vmdk');
});

test('qemu is handed the resolved file with no backing file, as a json: image name', () => {
  const name = qemuImageName('/srv/ds/vm/a "b".qcow2', 'qcow2');
  assert.ok(name.startsWith('json:'));
  assert.deepEqual(JSON.parse(name.slice(5)), { driver: 'qcow2', file: { driver: 'file', filename: '/srv/ds/vm/a "b".qcow2' }, backing: null });
});
