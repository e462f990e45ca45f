import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { nameBasedUuid, normaliseUuid } from '../../src/agent/inventory/identity.ts';
import { osFamilyFromOsinfo, parseDomainXml } from '../../src/agent/inventory/libvirt.ts';
import { parseVmdkDescriptor, vmdkUnsupportedReason } from '../../src/agent/inventory/vmdk.ts';
import { decodeVmxValue, osFamilyFromGuestOs, parseVmx, VmxError, vmxDisks } from '../../src/agent/inventory/vmx.ts';
import { MissingToolError, requireTools } from '../../src/lib/tools.ts';
import { parseXml, XmlError } from '../../src/agent/inventory/xml.ts';
import { patternBytes } from '../../src/agent/sample/diskBuilder.ts';
import { controllerSlot, domainXml, encodeVmxValue, uuidToVmx, vmxText } from '../../src/agent/sample/vmBuilders.ts';

describe('normaliseUuid', () => {
  test('accepts the spellings found in VM files', () => {
    const want = '564d9a7b-1c2e-3f40-5162-738495a6b7c8';
    assert.equal(normaliseUuid('56 4d 9a 7b 1c 2e 3f 40-51 62 73 84 95 a6 b7 c8'), want);
    assert.equal(normaliseUuid('564D9A7B-1C2E-3F40-5162-738495A6B7C8'), want);
    assert.equal(normaliseUuid('{564d9a7b-1c2e-3f40-5162-738495a6b7c8}'), want);
    assert.equal(normaliseUuid('564d9a7b1c2e3f405162738495a6b7c8'), want);
  });
  test('rejects non-UUIDs and the nil UUID', () => {
    assert.equal(normaliseUuid(undefined), undefined);
    assert.equal(normaliseUuid(''), undefined);
    assert.equal(normaliseUuid('vm-123'), undefined);
    assert.equal(normaliseUuid('56 4d 9a 7b'), undefined);
    assert.equal(normaliseUuid('00000000-0000-0000-0000-000000000000'), undefined);
  });
  test('name-based ids are stable, distinct and version-5 shaped', () => {
    assert.equal(nameBasedUuid('group/web01'), nameBasedUuid('group/web01'));
    assert.notEqual(nameBasedUuid('group/web01'), nameBasedUuid('group/web02'));
    assert.match(nameBasedUuid('x'), /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('parseVmx', () => {
  test('keys are case-insensitive, comments and blank lines are skipped, |XX escapes decode', () => {
    const vmx = parseVmx(
      [
        '.encoding = "UTF-8"',
        '# a comment',
        '',
        'displayName = "web |22prod|22 |7C 01"',
        'UUID.BIOS = "56 4d 9a 7b 1c 2e 3f 40-51 62 73 84 95 a6 b7 c8"',
        'memsize = 2048',
        'guestOS = "ubuntu-64" # trailing comment',
        'displayName = "web |22prod|22 |7C 01"',
      ].join('\r\n'),
    );
    assert.equal(vmx.get('displayname'), 'web "prod" | 01');
    assert.equal(vmx.get('uuid.bios'), '56 4d 9a 7b 1c 2e 3f 40-51 62 73 84 95 a6 b7 c8');
    assert.equal(vmx.get('memsize'), '2048');
    assert.equal(vmx.get('guestos'), 'ubuntu-64');
  });
  test('UTF-8 split over several escapes', () => {
    assert.equal(decodeVmxValue('caf|C3|A9'), 'café');
  });
  test('malformed files are errors with a line number', () => {
    assert.throws(() => parseVmx('displayName = "ok"\nthis is not a vmx line\n'), (e: Error) => e instanceof VmxError && /line 2/.test(e.message));
    assert.throws(() => parseVmx('displayName = "unterminated\n'), VmxError);
    assert.throws(() => parseVmx('\u0000\u0001binary'), VmxError);
  });
  test('what Ferry writes, Ferry reads back', () => {
    const name = 'a "quoted" | #name';
    const text = vmxText({ displayName: name, uuidBios: '564d9a7b-1c2e-3f40-5162-738495a6b7c8', disks: [{ controller: 'scsi0:0', fileName: 'a.vmdk' }] });
    const vmx = parseVmx(text);
    assert.equal(vmx.get('displayname'), name);
    assert.equal(normaliseUuid(vmx.get('uuid.bios')), '564d9a7b-1c2e-3f40-5162-738495a6b7c8');
    assert.equal(encodeVmxValue('a|b'), 'a|7Cb');
    assert.equal(uuidToVmx('564d9a7b-1c2e-3f40-5162-738495a6b7c8'), '56 4d 9a 7b 1c 2e 3f 40-51 62 73 84 95 a6 b7 c8');
  });
});

describe('vmxDisks', () => {
  test('present disks only, CD-ROMs skipped, ordered by controller type, bus and unit, boot disk first', () => {
    const vmx = parseVmx(
      [
        'scsi0.present = "TRUE"',
        'scsi0:1.present = "TRUE"',
        'scsi0:1.fileName = "b.vmdk"',
        'scsi0:0.present = "TRUE"',
        'scsi0:0.fileName = "a.vmdk"',
        'scsi0:2.present = "FALSE"',
        'scsi0:2.fileName = "absent.vmdk"',
        'scsi1.present = "FALSE"',
        'scsi1:0.present = "TRUE"',
        'scsi1:0.fileName = "disabled-controller.vmdk"',
        'ide1:0.present = "TRUE"',
        'ide1:0.deviceType = "cdrom-image"',
        'ide1:0.fileName = "install.iso"',
        'ide0:0.present = "TRUE"',
        'ide0:0.fileName = "ide.vmdk"',
        'sata0:0.present = "TRUE"',
        'sata0:0.fileName = "sata.vmdk"',
        'sata0:1.present = "TRUE"',
        'sata0:1.deviceType = "atapi-cdrom"',
        'sata0:1.fileName = "/dev/cdrom"',
        'nvme0:0.present = "TRUE"',
        'nvme0:0.fileName = "nvme.vmdk"',
      ].join('\n'),
    );
    assert.deepEqual(
      vmxDisks(vmx).map((d) => `${d.controller}=${d.fileName}`),
      ['scsi0:0=a.vmdk', 'scsi0:1=b.vmdk', 'sata0:0=sata.vmdk', 'nvme0:0=nvme.vmdk', 'ide0:0=ide.vmdk'],
    );
    vmx.set('bios.hddorder', 'ide0:0');
    assert.equal(vmxDisks(vmx)[0]!.controller, 'ide0:0');
  });
  test('controller slots skip SCSI unit 7', () => {
    assert.deepEqual([6, 7, 14, 15].map((i) => controllerSlot('scsi', i)), ['scsi0:6', 'scsi0:8', 'scsi0:15', 'scsi1:0']);
    assert.deepEqual([0, 1, 2, 3].map((i) => controllerSlot('ide', i)), ['ide0:0', 'ide0:1', 'ide1:0', 'ide1:1']);
  });
});

describe('guest OS families', () => {
  test('VMware guestOS', () => {
    for (const g of ['windows2019srv-64', 'windows9-64', 'winNetEnterprise', 'win2000Pro', 'longhorn-64']) assert.equal(osFamilyFromGuestOs(g), 'windows', g);
    for (const g of ['ubuntu-64', 'rhel8-64', 'centos7-64', 'debian12-64', 'other5xLinux-64', 'sles15-64', 'oracleLinux8-64', 'amazonlinux2-64']) {
      assert.equal(osFamilyFromGuestOs(g), 'linux', g);
    }
    for (const g of [undefined, 'other-64', 'freebsd13-64', 'darwin21-64', 'solaris11-64']) assert.equal(osFamilyFromGuestOs(g), 'unknown', String(g));
  });
  test('libosinfo ids', () => {
    assert.equal(osFamilyFromOsinfo('http://microsoft.com/win/2k19'), 'windows');
    assert.equal(osFamilyFromOsinfo('http://ubuntu.com/ubuntu/22.04'), 'linux');
    assert.equal(osFamilyFromOsinfo('http://fedoraproject.org/fedora/39'), 'linux');
    assert.equal(osFamilyFromOsinfo('http://freebsd.org/freebsd/13.2'), 'unknown');
  });
});

describe('parseXml', () => {
  test('elements, attributes, text, entities, CDATA, comments, declarations', () => {
    const root = parseXml(
      `<?xml version="1.0"?>\n<!-- c -->\n<a x='1' y="&lt;&amp;&#x41;&#66;">t&amp;u<b/><c k="v">in<![CDATA[<raw>]]></c></a>\n`,
    );
    assert.equal(root.name, 'a');
    assert.deepEqual(root.attributes, { x: '1', y: '<&AB' });
    assert.equal(root.text.trim(), 't&u');
    assert.deepEqual(root.children.map((c) => c.name), ['b', 'c']);
    assert.equal(root.children[1]!.text, 'in<raw>');
  });
  test('rejects DOCTYPE (no entity expansion), mismatched tags, bare ampersands, unknown entities, two roots', () => {
    assert.throws(() => parseXml('<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'), XmlError);
    assert.throws(() => parseXml('<a><b></a></b>'), XmlError);
    assert.throws(() => parseXml('<a>x & y</a>'), XmlError);
    assert.throws(() => parseXml('<a>&nope;</a>'), XmlError);
    assert.throws(() => parseXml('<a/><b/>'), XmlError);
    assert.throws(() => parseXml('<a>'), XmlError);
    assert.throws(() => parseXml('<a b=c/>'), XmlError);
    assert.throws(() => parseXml('<a b="1" b="2"/>'), XmlError);
    assert.throws(() => parseXml(''), XmlError);
  });
});

describe('parseDomainXml', () => {
  test('identity, OS and file disks in boot order; CD-ROMs skipped; other disk types kept for the reason', () => {
    const xml = domainXml({
      name: 'app & db',
      uuid: '3B7E9F2A-6C1D-4E8B-A5F0-2D9C7B1E4A01',
      osinfoId: 'http://debian.org/debian/12',
      disks: [
        { file: '/var/lib/libvirt/images/a.qcow2', format: 'qcow2', dev: 'vda' },
        { file: 'b.img', format: 'raw', dev: 'vdb' },
      ],
      extraDevicesXml: `<disk type='block' device='disk'><source dev='/dev/sdb'/><target dev='vdc' bus='virtio'/><boot order='1'/></disk>`,
    });
    const d = parseDomainXml(xml);
    assert.equal(d.name, 'app & db');
    assert.equal(d.uuid, '3B7E9F2A-6C1D-4E8B-A5F0-2D9C7B1E4A01');
    assert.equal(d.osFamily, 'linux');
    assert.deepEqual(
      d.disks.map((x) => [x.type, x.file, x.driverType, x.targetDev]),
      [
        ['block', undefined, 'raw', 'vdc'],
        ['file', '/var/lib/libvirt/images/a.qcow2', 'qcow2', 'vda'],
        ['file', 'b.img', 'raw', 'vdb'],
      ],
    );
  });
  test('a document that is not a domain is refused', () => {
    assert.throws(() => parseDomainXml('<configuration/>'), /not <domain>/);
  });
});

describe('VMDK descriptors', () => {
  const flat = `# Disk DescriptorFile\nversion=1\nCID=8b52396e\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\n# Extent description\nRW 131072 FLAT "d-flat.vmdk" 0\n\nddb.adapterType = "lsilogic"\n`;
  test('monolithicFlat: createType, extents, capacity, ddb', () => {
    const d = parseVmdkDescriptor(flat, false);
    assert.equal(d.createType, 'monolithicFlat');
    assert.deepEqual(d.extents, [{ access: 'RW', sectors: 131072, type: 'FLAT', file: 'd-flat.vmdk', offsetSectors: 0 }]);
    assert.equal(d.capacityBytes, 64 * 1024 * 1024);
    assert.equal(d.ddb['adapterType'], 'lsilogic');
    assert.equal(vmdkUnsupportedReason(d), undefined);
  });
  test('snapshot deltas and unsupported createTypes are refused with a reason', () => {
    const delta = parseVmdkDescriptor(flat.replace('parentCID=ffffffff', 'parentCID=1234abcd\nparentFileNameHint="base.vmdk"'), false);
    assert.match(vmdkUnsupportedReason(delta)!, /snapshot.*base\.vmdk/);
    const rdm = parseVmdkDescriptor(flat.replace('monolithicFlat', 'vmfsPassthroughRawDeviceMap'), false);
    assert.match(vmdkUnsupportedReason(rdm)!, /vmfsPassthroughRawDeviceMap/);
    assert.throws(() => parseVmdkDescriptor('version=1\n', false), /createType/);
  });
});

describe('patternBytes', () => {
  test('any range equals the same range of the whole stream', () => {
    const whole = patternBytes('seed', 0, 5000);
    for (const [o, n] of [
      [0, 1],
      [1, 15],
      [15, 2],
      [16, 16],
      [1000, 3000],
      [4999, 1],
    ] as const) {
      assert.deepEqual(patternBytes('seed', o, n), whole.subarray(o, o + n));
    }
    assert.notDeepEqual(patternBytes('other', 0, 64), whole.subarray(0, 64));
  });
});

describe('missing tools', () => {
  test('the error names the Debian packages to install', () => {
    const e = new MissingToolError(['mkfs.vfat', 'mcopy', 'mdir'], 'Building the sample datastore');
    assert.match(e.message, /^Building the sample datastore needs mkfs\.vfat, mcopy, mdir/);
    assert.match(e.message, /apt-get install dosfstools mtools$/);
    assert.throws(() => requireTools(['qemu-img', 'no-such-tool-ferry'], 'X'), (err: Error) => err instanceof MissingToolError && /needs no-such-tool-ferry, which is not installed/.test(err.message));
  });
});
