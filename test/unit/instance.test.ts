/** The instance lifecycle, ids and device rules (src/domain/instance*.ts): pure, no libvirt. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  canMove,
  domainNameOf,
  IllegalInstanceTransition,
  INSTANCE_ID,
  INSTANCE_STATES,
  instanceIdOfDomain,
  newInstanceId,
  nextInstanceState,
} from '../../src/domain/instance.ts';
import { deviceLayout, nicModelFor, resolveDiskBus, MAX_DISKS_BY_BUS } from '../../src/domain/instanceDevices.ts';

describe('instance lifecycle', () => {
  test('the launch path, failure and termination move as documented', () => {
    assert.equal(nextInstanceState('pending', 'prepared'), 'starting');
    assert.equal(nextInstanceState('starting', 'defined'), 'booting');
    assert.equal(nextInstanceState('booting', 'booted'), 'running');
    for (const from of ['pending', 'starting', 'booting', 'running'] as const) assert.equal(nextInstanceState(from, 'fail'), 'failed');
    for (const from of ['pending', 'starting', 'booting', 'running', 'failed'] as const) assert.equal(nextInstanceState(from, 'terminate'), 'terminating');
    assert.equal(nextInstanceState('terminating', 'removed'), 'terminated');
  });

  test('nothing leaves terminated, and steps cannot be skipped or repeated', () => {
    for (const event of ['prepared', 'defined', 'booted', 'fail', 'terminate', 'removed'] as const) assert.equal(canMove('terminated', event), false);
    assert.throws(() => nextInstanceState('pending', 'booted'), IllegalInstanceTransition);
    assert.throws(() => nextInstanceState('running', 'prepared'), /cannot go from running on prepared/);
    assert.throws(() => nextInstanceState('terminating', 'fail'), IllegalInstanceTransition);
    assert.deepEqual(
      INSTANCE_STATES.filter((s) => canMove(s, 'terminate')),
      ['pending', 'starting', 'booting', 'running', 'failed'],
    );
  });

  test('EC2-style ids, carried in the domain name', () => {
    const ids = new Set(Array.from({ length: 200 }, newInstanceId));
    assert.equal(ids.size, 200);
    for (const id of ids) assert.match(id, INSTANCE_ID);
    const id = newInstanceId();
    assert.equal(domainNameOf(id), `ferry-${id}`);
    assert.equal(instanceIdOfDomain(domainNameOf(id)), id);
    assert.equal(instanceIdOfDomain('ferry-i-123'), undefined);
    assert.equal(instanceIdOfDomain('default'), undefined);
  });
});

describe('device models', () => {
  test("'auto' follows where the server came from", () => {
    assert.equal(resolveDiskBus('auto', { vmManagerType: 'VSPHERE', kind: 'kvm' }), 'virtio');
    assert.equal(resolveDiskBus('auto', { vmManagerType: 'VSPHERE', kind: 'vmware' }), 'sata');
    assert.equal(resolveDiskBus('auto', { vmManagerType: 'HYPERV-MANAGER', kind: 'hyperv' }), 'sata');
    assert.equal(resolveDiskBus('auto', { vmManagerType: 'SCVMM', kind: null }), 'sata');
    assert.equal(resolveDiskBus('scsi', { vmManagerType: 'VSPHERE', kind: 'kvm' }), 'scsi', 'an explicit model wins');
    assert.equal(nicModelFor('virtio'), 'virtio');
    assert.equal(nicModelFor('sata'), 'e1000');
    assert.equal(nicModelFor('ide'), 'e1000');
  });

  test('layouts: machine type, device names, and a CD-ROM the guest can read', () => {
    assert.deepEqual(deviceLayout('virtio', 2), {
      machine: 'q35',
      bus: 'virtio',
      nic: 'virtio',
      disks: ['vda', 'vdb'],
      cdrom: { bus: 'scsi', dev: 'sda' },
      scsiController: 'virtio-scsi',
    });
    assert.deepEqual(deviceLayout('sata', 2).disks, ['sda', 'sdb']);
    assert.deepEqual(deviceLayout('sata', 2).cdrom, { bus: 'sata', dev: 'sdc' });
    assert.equal(deviceLayout('scsi', 1).scsiController, 'lsilogic');
    assert.deepEqual(deviceLayout('ide', 3), { machine: 'pc', bus: 'ide', nic: 'e1000', disks: ['hda', 'hdb', 'hdd'], cdrom: { bus: 'ide', dev: 'hdc' } });
    assert.equal(deviceLayout('virtio', 22).disks.at(-1), 'vdv');
  });

  test('too many disks for the bus is refused with the limit', () => {
    assert.throws(() => deviceLayout('ide', 4), /A ide launch takes 1 to 3 disks; the image has 4/);
    assert.throws(() => deviceLayout('virtio', 0), RangeError);
    assert.equal(MAX_DISKS_BY_BUS.scsi, 6);
  });
});
