/**
 * `virsh define` and `virsh start` run in a virsh shell started and connected before they were asked for
 * (src/launch/virsh.ts #runConnected, src/lib/warmPrograms.ts). In its shell mode virsh exits 0 whatever happened,
 * so these check on real libvirt that a failure is still a VirshError with libvirt's message, and a success a
 * success.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Virsh, VirshError, quoteForShell } from '../../src/launch/virsh.ts';
import { LAUNCH_URI, launchSkipReason } from '../helpers/launch.ts';

const skip = launchSkipReason();

test('define and start through a connected virsh: errors are VirshErrors, a start of a running domain is not one', { skip }, async () => {
  const virsh = new Virsh(LAUNCH_URI);
  const dir = await mkdtemp(join(tmpdir(), "ferry virsh's test-"));
  const name = `ferry-test-connected-${process.pid}`;
  try {
    virsh.prewarm();
    await sleep(500);
    // A start of a domain that does not exist: libvirt's "failed to get domain" (notFound), as from `virsh start`.
    await assert.rejects(virsh.start(`${name}-missing`), (error: unknown) => error instanceof VirshError && error.notFound && /failed to get domain/.test(error.message));
    // An XML libvirt refuses, from a path with a space and a quote in it.
    const bad = join(dir, 'bad domain.xml');
    await writeFile(bad, '<domain><name>x</name></domain>');
    // libvirt read the file (the path reached it whole) and refused its content.
    await assert.rejects(virsh.define(bad), (error: unknown) => error instanceof VirshError && /missing domain type attribute/.test(error.message));
    await assert.rejects(virsh.define(join(dir, 'missing.xml')), (error: unknown) => error instanceof VirshError && /missing\.xml': No such file/.test(error.message));

    const good = join(dir, 'domain.xml');
    await writeFile(good, `<domain type='qemu'><name>${name}</name><memory unit='MiB'>32</memory><vcpu>1</vcpu><os><type arch='x86_64' machine='q35'>hvm</type></os><devices><controller type='usb' model='none'/><memballoon model='none'/></devices></domain>`);
    await virsh.define(good);
    assert.deepEqual(await virsh.domainState(name), { state: 'shut off', reason: 'unknown' });
    await virsh.start(name);
    assert.equal((await virsh.domainState(name))?.state, 'running');
    await virsh.start(name); // already running: done, not an error
  } finally {
    await virsh.destroy(name).catch(() => undefined);
    await virsh.undefine(name).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
  assert.equal(await virsh.domainState(name), undefined);
});

test('a virsh shell argument is single-quoted, a quote in it escaped; a line break is refused', () => {
  assert.equal(quoteForShell("it's a path/with spaces"), "'it'\\''s a path/with spaces'");
  assert.throws(() => quoteForShell('two\nlines'), /line break/);
});
