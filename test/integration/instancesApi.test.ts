/**
 * Ferry's own instance operations and the launch subsystem's answers where launching is impossible — these need no
 * libvirt: a Ferry whose launch URI points at no daemon says so in one line, refuses to launch with that line, and
 * still lists (no) instances per tenant.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestFerry } from '../helpers/ferry.ts';
import { FerryClient } from '../../src/client/ferryClient.ts';
import { resolveLaunchConfig } from '../../src/config/config.ts';

test('instance operations without a reachable libvirt: one clear reason, launch refused, lists per tenant', async () => {
  const instancesDir = await mkdtemp(join(tmpdir(), 'ferry-noinstances-'));
  // A daemon socket that does not exist: what a host without libvirtd running looks like to virsh.
  const t = await startTestFerry({ launch: { uri: 'qemu+unix:///system?socket=/nonexistent/libvirt-sock', instancesDir } });
  try {
    const service = t.ferry.instances;
    const availability = await service.availability();
    assert.equal(availability.available, false);
    if (!availability.available) {
      assert.match(availability.reason, /^(libvirt is not installed|libvirt at qemu\+unix:\/\/\/system\?socket=\/nonexistent\/libvirt-sock does not answer: .+)/);
      assert.doesNotMatch(availability.reason, /\n/, 'one line');
    }
    const tenant = { accountId: t.ferry.root.accountId, region: 'us-east-1' };
    await assert.rejects(
      service.launch({ tenant, appId: null, serverId: 's-00000000', amiId: 'ami-00000000000000000', vcpus: 1, memoryMiB: 256, deviceModel: 'auto' }),
      { name: 'OperationNotPermittedException', message: /^Launching is unavailable on this Ferry: / },
    );
    await assert.rejects(service.validateNetwork({ vpc: 'x' }), { name: 'OperationNotPermittedException' });
    await assert.rejects(service.terminate(tenant, 'i-0123456789abcdef0'), { name: 'InvalidParameterException', message: /does not exist/ });

    const ferry = new FerryClient({ endpoint: t.ferry.url, region: 'us-east-1', credentials: t.ferry.root });
    assert.deepEqual(await ferry.listInstances(), { instances: [] });
    assert.deepEqual(await ferry.listInstances('app-1'), { instances: [] });
    await assert.rejects(ferry.getInstanceConsoleOutput('i-0123456789abcdef0'), { name: 'InvalidParameterException', message: /Instance i-0123456789abcdef0 does not exist/ });
    await assert.rejects(ferry.call('GetInstanceConsoleOutput', {}), { name: 'MissingRequiredParameterException' });
    await assert.rejects(ferry.getInstanceConsoleOutput('i-0123456789abcdef0', 2 * 1024 * 1024), { name: 'InvalidParameterException' });
    await assert.rejects(ferry.call('ListInstances', { appId: 7 }), { name: 'SerializationException' });
  } finally {
    await t.close();
    await rm(instancesDir, { recursive: true, force: true });
  }
});

test('a remote libvirt URI is refused with the reason, not half-supported', async () => {
  const instancesDir = await mkdtemp(join(tmpdir(), 'ferry-noinstances-'));
  const t = await startTestFerry({ launch: { uri: 'qemu+ssh://kvm1.example/system', instancesDir } });
  try {
    const availability = await t.ferry.instances.availability();
    assert.deepEqual(availability.available, false);
    if (!availability.available) assert.match(availability.reason, /remote libvirt \(qemu\+ssh:\/\/kvm1\.example\/system\) is not supported yet/);
  } finally {
    await t.close();
    await rm(instancesDir, { recursive: true, force: true });
  }
});

test('launch settings: flags win over the environment; a URI must look like one', () => {
  assert.deepEqual(resolveLaunchConfig({}, { FERRY_LAUNCH_URI: 'qemu+ssh://kvm1/system', FERRY_INSTANCES_DIR: '/srv/ferry/instances' }), {
    uri: 'qemu+ssh://kvm1/system',
    instancesDir: '/srv/ferry/instances',
  });
  assert.equal(resolveLaunchConfig({ launchUri: 'qemu:///session' }, { FERRY_LAUNCH_URI: 'qemu+ssh://kvm1/system' }).uri, 'qemu:///session');
  assert.equal(resolveLaunchConfig({}, {}).uri, 'qemu:///system');
  assert.equal(resolveLaunchConfig({}, { FERRY_HYDRATION_MIBPS: '50' }).hydrationBandwidthMiB, 50);
  assert.throws(() => resolveLaunchConfig({ launchUri: 'not a uri' }, {}), /--launch-uri must be a libvirt URI/);
  assert.throws(() => resolveLaunchConfig({}, { FERRY_HYDRATION_MIBPS: 'fast' }), /FERRY_HYDRATION_MIBPS/);
});
