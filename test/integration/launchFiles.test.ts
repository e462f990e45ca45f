/**
 * The instances dir as QEMU (libvirt-qemu under qemu:///system) needs it. Defect: a recursive mkdir of the default
 * /var/lib/ferry/instances made /var/lib/ferry 0710 root:root, which QEMU cannot pass through, so launching on the
 * default settings was refused forever after ("cannot pass through /var/lib/ferry"). Missing ancestors are now made
 * 0711 (passable, not listable). Defect (CI on a machine where the old code had run): the 0710 /var/lib/ferry it left
 * still blocked every launch; that parent — Ferry's own, holding nothing but the instances dir — is now repaired
 * (o+x). Any other ancestor that blocks QEMU is reported with the command that fixes it, and left alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InstanceFiles, qemuIdentity } from '../../src/launch/instanceFiles.ts';

const SKIP = process.getuid?.() !== 0 ? 'needs root (ownership changes)' : qemuIdentity() ? false : 'no libvirt-qemu or qemu user here';

test('missing ancestors of the instances dir are made passable for QEMU; a blocking one is named with its fix', { skip: SKIP }, async () => {
  const base = await mkdtemp('/tmp/ferry-instances-root-');
  try {
    await chmod(base, 0o711);
    const files = new InstanceFiles(join(base, 'var', 'lib', 'ferry', 'instances'), 'qemu:///system');
    assert.equal(await files.problem(), undefined, 'nothing exists yet: nothing blocks');
    await files.ensureRoot();
    for (const dir of ['var', 'var/lib', 'var/lib/ferry']) assert.equal((await stat(join(base, dir))).mode & 0o777, 0o711, dir);
    const root = await stat(files.root);
    assert.equal(root.mode & 0o777, 0o710);
    assert.equal(root.gid, qemuIdentity()!.gid);
    assert.equal(await files.problem(), undefined, 'QEMU can reach the instances dir it made');

    // What the old code left behind: a 0710 root:root parent holding only the instances dir. Ferry repairs it.
    const old = join(base, 'old', 'ferry');
    await mkdir(join(old, 'instances'), { recursive: true, mode: 0o710 });
    await chmod(join(base, 'old'), 0o711);
    await chmod(old, 0o710);
    const left = new InstanceFiles(join(old, 'instances'), 'qemu:///system');
    assert.equal(await left.problem(), undefined, "Ferry's own 0710 parent does not block: the launch repairs it");
    await left.ensureRoot();
    assert.equal((await stat(old)).mode & 0o777, 0o711, 'passable, still not listable');
    assert.equal(await left.problem(), undefined);

    // A parent that holds anything else is the operator's: named with its fix, left alone.
    const blocked = join(base, 'blocked');
    await mkdir(blocked, { mode: 0o710 });
    await chmod(blocked, 0o710);
    await writeFile(join(blocked, 'other'), '');
    const behind = new InstanceFiles(join(blocked, 'instances'), 'qemu:///system');
    assert.match((await behind.problem())!, new RegExp(`cannot pass through ${blocked} \\(mode 710\\).*chmod o\\+x ${blocked}`));
    await behind.ensureRoot();
    assert.equal((await stat(blocked)).mode & 0o777, 0o710, 'not changed');
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});
