/**
 * The NoCloud seed Ferry writes itself (src/launch/isoImage.ts, noCloudSeed.ts), read back by the tools a guest and
 * an operator use: isoinfo (the descriptors, both directory trees, each file's bytes), blkid (the `cidata` label
 * that cloud-init and the sample guests look for). The guests' kernels reading it are the launch tests'.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { inTempDir } from '../helpers/tempDirs.ts';
import { isoImage } from '../../src/launch/isoImage.ts';
import { writeSeedIso } from '../../src/launch/noCloudSeed.ts';

const run = promisify(execFile);
const isoinfo = async (...args: string[]) => (await run('isoinfo', args, { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 })).stdout as Buffer;

test('the seed reads back whole: label cidata, Joliet names, 8.3 names, every byte of every file', async () => {
  await inTempDir('ferry-iso-', async (dir) => {
    const iso = join(dir, 'seed.iso');
    const large = Buffer.alloc(3 * 2048 + 17);
    for (let i = 0; i < large.length; i++) large[i] = (i * 7 + 3) & 0xff;
    const files = [
      { name: 'user-data', data: large },
      { name: 'meta-data', data: Buffer.from('{\n  "instance-id": "i-1"\n}\n') },
      { name: 'vendor-data', data: Buffer.alloc(0) },
      { name: 'network-config', data: Buffer.from('exactly 2048 bytes'.padEnd(2048, '.')) },
    ];
    await writeFile(iso, isoImage('cidata', files, new Date(Date.UTC(2026, 11, 5, 9, 30, 15))));

    const info = (await isoinfo('-d', '-i', iso)).toString();
    assert.match(info, /^Volume id: cidata$/m);
    assert.match(info, /Joliet with UCS level 3 found/);
    const sectors = Number(/Volume size is: (\d+)/.exec(info)![1]);
    assert.equal(sectors * 2048, (await stat(iso)).size);
    assert.deepEqual((await isoinfo('-J', '-f', '-i', iso)).toString().trim().split('\n'), ['/meta-data', '/network-config', '/user-data', '/vendor-data']);
    assert.deepEqual((await isoinfo('-f', '-i', iso)).toString().trim().split('\n'), ['/META_DAT.;1', '/NETWORK_.;1', '/USER_DAT.;1', '/VENDOR_D.;1']);
    for (const f of files) assert.ok((await isoinfo('-J', '-x', `/${f.name}`, '-i', iso)).equals(f.data), f.name);
    assert.ok((await isoinfo('-x', '/USER_DAT.;1', '-i', iso)).equals(large));
    const listing = (await isoinfo('-J', '-l', '-i', iso)).toString();
    assert.match(listing, /Dec +5 2026 .*user-data/);

    const blkid = (await run('blkid', ['-p', '-o', 'export', iso])).stdout;
    assert.match(blkid, /^TYPE=iso9660$/m);
    assert.match(blkid, /^LABEL=cidata$/m);
  });
});

test('writeSeedIso writes the seed with mode 0600, replacing one a crashed launch left', async () => {
  await inTempDir('ferry-iso-', async (dir) => {
    const iso = join(dir, 'seed.iso');
    await writeFile(iso, 'left behind', { mode: 0o644 });
    await writeSeedIso(iso, { instanceId: 'i-0123456789abcdef0', hostname: 'web', userData: Buffer.from('#!/bin/sh\necho hi\n'), sshPublicKey: null, vendorData: '#!/bin/sh\n' });
    assert.equal((await stat(iso)).mode & 0o777, 0o600);
    assert.equal((await isoinfo('-J', '-x', '/user-data', '-i', iso)).toString(), '#!/bin/sh\necho hi\n');
    assert.match((await isoinfo('-J', '-x', '/meta-data', '-i', iso)).toString(), /"local-hostname": "web"/);
    assert.equal((await isoinfo('-J', '-x', '/vendor-data', '-i', iso)).toString(), '#!/bin/sh\n');
  });
});

test('names and labels the image cannot hold are refused', () => {
  assert.throws(() => isoImage('ci data', []), /volume id/);
  assert.throws(() => isoImage('cidata', [{ name: '../x', data: Buffer.alloc(0) }]), /file name/);
  assert.throws(() => isoImage('cidata', [{ name: 'user-data-1', data: Buffer.alloc(0) }, { name: 'user-data-2', data: Buffer.alloc(0) }]), /8\.3 name/);
});
