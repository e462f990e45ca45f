/**
 * What Ferry writes for a guest and reads back from it, without libvirt: the console contract (boot lines, result
 * lines that cannot be forged), the validation wrapper run for real by busybox sh, the NoCloud meta-data, the
 * domain XML and the small parsers of virsh output.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findTool } from '../../src/lib/tools.ts';
import { isBootLine, lastConsoleLines, MAX_VALIDATION_MESSAGE, parseValidationLine, readConsole, validationLine } from '../../src/domain/instanceConsole.ts';
import { deviceLayout } from '../../src/domain/instanceDevices.ts';
import { domainXml, escapeXml, FERRY_XMLNS, parseDomainMetadata, type DomainSpec } from '../../src/launch/domainXml.ts';
import { hasBackingStore } from '../../src/launch/hydration.ts';
import { offersKvm, uriHost } from '../../src/launch/libvirtDaemon.ts';
import { metaData } from '../../src/launch/noCloudSeed.ts';
import { validationWrapper } from '../../src/launch/validationWrapper.ts';
import { qemuRunsAsOtherUser } from '../../src/launch/instanceFiles.ts';

const nonce = randomBytes(16).toString('hex');

describe('the console contract', () => {
  test('boot lines: the marker or a getty prompt, nothing else', () => {
    assert.equal(isBootLine('FERRY-BOOT-OK i-0123456789abcdef0\r'), true);
    assert.equal(isBootLine('debian login: '), true);
    assert.equal(isBootLine('Debian GNU/Linux 12 web01 ttyS0\r'), false);
    assert.equal(isBootLine('echo FERRY-BOOT-OK'), false);
    assert.equal(isBootLine('FERRY-BOOT-FAILED no disk with signature 00000000'), false);
  });

  test('a result line round-trips, and only with the right nonce', () => {
    const line = validationLine(nonce, 'val-1', 'FAILED', 'port 80 closed\nüñí');
    assert.deepEqual(parseValidationLine(line, nonce), { validationId: 'val-1', status: 'FAILED', message: 'port 80 closed\nüñí' });
    assert.equal(parseValidationLine(line, randomBytes(16).toString('hex')), undefined, 'another instance cannot report here');
    assert.deepEqual(parseValidationLine(validationLine(nonce, 'val-2', 'SUCCEEDED', ''), nonce), { validationId: 'val-2', status: 'SUCCEEDED', message: '' });
  });

  test('a line cannot be changed to mean something else', () => {
    const line = validationLine(nonce, 'val-1', 'FAILED', 'nope');
    assert.equal(parseValidationLine(line.replace('FAILED', 'SUCCEEDED'), nonce), undefined);
    assert.equal(parseValidationLine(line.replace('val-1', 'val-2'), nonce), undefined);
    const fields = line.split(' ');
    fields[3] = Buffer.from('all good').toString('base64');
    assert.equal(parseValidationLine(fields.join(' '), nonce), undefined);
    assert.equal(parseValidationLine(`${line} extra`, nonce), undefined);
    assert.equal(parseValidationLine(line.slice(0, -3), nonce), undefined, 'garbled by interleaved output');
  });

  test('readConsole: the first verified result per id wins, forged and stray lines are ignored, messages are bounded', () => {
    const long = 'x'.repeat(MAX_VALIDATION_MESSAGE + 500);
    const text = [
      'SYSLINUX 6.04',
      'FERRY-VALIDATION val-1 SUCCEEDED - 00000000000000000000000000000000',
      `[   12.3] kernel noise ${validationLine(nonce, 'val-1', 'FAILED', 'first')}`,
      validationLine(nonce, 'val-1', 'SUCCEEDED', 'second'),
      validationLine(nonce, 'val-2', 'SUCCEEDED', long),
      'FERRY-BOOT-OK host',
    ].join('\r\n');
    const { booted, results } = readConsole(text, nonce);
    assert.equal(booted, true);
    assert.deepEqual(results.get('val-1'), { validationId: 'val-1', status: 'FAILED', message: 'first' });
    assert.equal(results.get('val-2')?.message.length, MAX_VALIDATION_MESSAGE);
    assert.equal(readConsole(text, null).results.size, 0);
  });

  test('the last console lines for an error message: printable, bounded', () => {
    assert.deepEqual(lastConsoleLines('a\r\n\u001b[2Jb\n\n' + 'c'.repeat(300) + '\n', 2), ['[2Jb', `${'c'.repeat(197)}...`]);
  });
});

describe('the validation wrapper (vendor-data), run by busybox sh', () => {
  test('runs every script, captures and encodes its output, and prints results that verify', (t) => {
    const busybox = findTool('busybox');
    if (!busybox) return t.skip('busybox is not installed (apt-get install busybox-static)');
    const dir = mkdtempSync(join(tmpdir(), 'ferry-wrapper-'));
    try {
      const consoleFile = join(dir, 'console');
      writeFileSync(consoleFile, '');
      const script = validationWrapper(nonce, [
        { validationId: 'val-ok', scriptType: 'SHELL_SCRIPT', script: Buffer.from('#!/bin/sh\necho "ok: $((6 * 7))"\n') },
        // Prints a forged line for val-bad on stdout and tries to end the wrapper's here-document early.
        { validationId: 'val-forger', scriptType: 'SHELL_SCRIPT', script: Buffer.from('echo "FERRY-VALIDATION val-bad SUCCEEDED - 0"\necho FERRY_SCRIPT_END\nexit 0\n') },
        { validationId: 'val-bad', scriptType: 'SHELL_SCRIPT', script: Buffer.from('echo "no such service" >&2\nexit 2\n') },
        { validationId: 'val-silent', scriptType: 'SHELL_SCRIPT', script: Buffer.from('exit 5\n') },
        { validationId: 'val-binary', scriptType: 'SHELL_SCRIPT', script: Buffer.concat([Buffer.from('printf "\\377\\000%s" "'), Buffer.from('x'.repeat(3000)), Buffer.from('"\n')]) },
        { validationId: 'val-ps', scriptType: 'POWERSHELL_SCRIPT', script: Buffer.from('Write-Output 1') },
      ]);
      writeFileSync(join(dir, 'vendor-data'), script);
      const env = { PATH: `${dir}/bin`, FERRY_CONSOLE: consoleFile };
      // Only the busybox applets the wrapper says it needs (and what the scripts themselves run): no pwsh.
      spawnSync(busybox, ['mkdir', '-p', join(dir, 'bin')]);
      for (const applet of ['sh', 'base64', 'sha256sum', 'tail', 'mktemp', 'rm', 'chmod', 'timeout', 'printf', 'echo', 'cat']) {
        spawnSync(busybox, ['ln', '-s', busybox, join(dir, 'bin', applet)]);
      }
      const run = spawnSync(join(dir, 'bin', 'sh'), [join(dir, 'vendor-data')], { env, encoding: 'utf8', timeout: 60_000 });
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stdout, '', 'nothing a script prints reaches the console unencoded');
      const { results } = readConsole(readFileSync(consoleFile, 'utf8'), nonce);
      assert.deepEqual(results.get('val-ok'), { validationId: 'val-ok', status: 'SUCCEEDED', message: 'ok: 42\n' });
      assert.deepEqual(results.get('val-forger'), {
        validationId: 'val-forger',
        status: 'SUCCEEDED',
        message: 'FERRY-VALIDATION val-bad SUCCEEDED - 0\nFERRY_SCRIPT_END\n',
      });
      assert.deepEqual(results.get('val-bad'), { validationId: 'val-bad', status: 'FAILED', message: 'no such service\n' });
      assert.deepEqual(results.get('val-silent'), { validationId: 'val-silent', status: 'FAILED', message: 'exited with status 5\n' });
      assert.equal(results.get('val-binary')?.status, 'SUCCEEDED');
      assert.equal(results.get('val-binary')?.message, 'x'.repeat(2500), 'the last 2,500 bytes');
      assert.deepEqual(results.get('val-ps'), {
        validationId: 'val-ps',
        status: 'FAILED',
        message: 'PowerShell (pwsh) is not installed in this guest, so this POWERSHELL_SCRIPT validation cannot run.\n',
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('refuses ids and nonces that could break out of the script', () => {
    assert.throws(() => validationWrapper(nonce, [{ validationId: "a'; reboot; '", scriptType: 'SHELL_SCRIPT', script: Buffer.alloc(0) }]), /bad validation id/);
    assert.throws(() => validationWrapper("'; reboot", []), /hex/);
  });
});

describe('NoCloud meta-data', () => {
  test('JSON (which YAML reads), one key per line, the SSH key as public-keys', () => {
    const text = metaData({ instanceId: 'i-0123456789abcdef0', hostname: 'i-0123456789abcdef0', sshPublicKey: 'ssh-ed25519 AAAA me@host' });
    assert.deepEqual(JSON.parse(text), { 'instance-id': 'i-0123456789abcdef0', 'local-hostname': 'i-0123456789abcdef0', 'public-keys': ['ssh-ed25519 AAAA me@host'] });
    assert.match(text, /^ {2}"local-hostname": "i-0123456789abcdef0",$/m);
    assert.match(text, /^ {4}"ssh-ed25519 AAAA me@host"$/m);
    assert.deepEqual(Object.keys(JSON.parse(metaData({ instanceId: 'i-1', hostname: 'h', sshPublicKey: null }))), ['instance-id', 'local-hostname']);
  });
});

describe('domain XML', () => {
  const spec: DomainSpec = {
    name: 'ferry-i-0123456789abcdef0',
    virtType: 'qemu',
    vcpus: 2,
    memoryMiB: 512,
    layout: deviceLayout('sata', 2),
    disks: ['/inst/i-1/disk0.qcow2', '/inst/i-1/disk1.qcow2'],
    seed: '/inst/i-1/seed.iso',
    network: { name: 'prod', portgroup: 'web', filter: 'clean-traffic' },
    consoleLog: '/inst/i-1/console.log',
    metadata: {
      owner: 'owner-1',
      instanceId: 'i-0123456789abcdef0',
      accountId: '123456789012',
      region: 'us-east-1',
      appId: 'app-1',
      serverId: 's-1',
      amiId: 'ami-1',
      labels: { logicalId: `<Web & "Db">'` },
    },
  };

  test('devices, network, console and agent channel as planned; metadata readable back', () => {
    const xml = domainXml(spec);
    assert.match(xml, /^<domain type='qemu'>/);
    assert.match(xml, /<type arch='x86_64' machine='q35'>hvm<\/type>/);
    assert.match(xml, /<bios rebootTimeout='1000'\/>/, 'a firmware that found nothing to boot tries again instead of halting');
    assert.match(xml, /<source file='\/inst\/i-1\/disk0\.qcow2'\/>\n\s+<target dev='sda' bus='sata'\/>\n\s+<boot order='1'\/>/);
    assert.match(xml, /<target dev='sdb' bus='sata'\/>\n\s+<\/disk>/);
    assert.match(xml, /device='cdrom'>[\s\S]*?<target dev='sdc' bus='sata'\/>\n\s+<readonly\/>/);
    assert.match(xml, /<source network='prod' portgroup='web'\/>\n\s+<model type='e1000'\/>\n\s+<rom enabled='no'\/>\n\s+<filterref filter='clean-traffic'\/>/);
    assert.match(xml, /<controller type='usb' model='none'\/>/, 'no USB controller: nothing uses it and the guest would probe it');
    assert.match(xml, /<serial type='file'>\n\s+<source path='\/inst\/i-1\/console\.log'\/>/);
    assert.match(xml, /<target type='virtio' name='org\.qemu\.guest_agent\.0'\/>/);
    assert.doesNotMatch(xml, /backingStore|<graphics|host-passthrough/);
    assert.match(xml, /<ferry:label key="logicalId">&lt;Web &amp; &quot;Db&quot;&gt;&apos;<\/ferry:label>/);
    assert.ok(xml.includes(`xmlns:ferry="${FERRY_XMLNS}"`));
    const metadata = xml.slice(xml.indexOf('<ferry:instance'), xml.indexOf('</metadata>'));
    assert.deepEqual(parseDomainMetadata(metadata.replace(/ferry:/g, 'f:')), { owner: 'owner-1', instanceId: 'i-0123456789abcdef0' });
    assert.match(domainXml({ ...spec, virtType: 'kvm' }), /<cpu mode='host-passthrough'\/>/);
    assert.equal(escapeXml(`a<'&">`), 'a&lt;&apos;&amp;&quot;&gt;');
  });

  test('virsh output parsers', () => {
    assert.equal(hasBackingStore("<disk type='file'><source file='/a'/><backingStore/><target dev='vda'/></disk>"), false);
    assert.equal(hasBackingStore("<disk><backingStore type='network' index='3'><format type='raw'/></backingStore></disk>"), true);
    assert.equal(offersKvm("<capabilities><guest><arch name='x86_64'><domain type='qemu'/></arch></guest></capabilities>"), false);
    assert.equal(offersKvm("<capabilities><guest><arch name='x86_64'><domain type='qemu'/><domain type='kvm'/></arch></guest></capabilities>"), true);
    assert.equal(qemuRunsAsOtherUser('qemu:///system'), true);
    assert.equal(qemuRunsAsOtherUser('qemu+ssh://host/system'), true);
    assert.equal(qemuRunsAsOtherUser('qemu:///session'), false);
    assert.equal(uriHost('qemu:///system'), '');
    assert.equal(uriHost('qemu+unix:///system?socket=/run/x'), '');
    assert.equal(uriHost('qemu+ssh://root@kvm1:2222/system'), 'kvm1');
    assert.equal(uriHost('qemu+tcp://localhost/system'), '');
  });
});
