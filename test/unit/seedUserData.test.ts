/**
 * The seed's user-data (src/launch/seedUserData.ts): the user's bytes as they are when Ferry adds nothing; otherwise a
 * MIME multipart that Python's email parser (what cloud-init uses) reads back part for part, with the configure
 * script and the validations after the user data; and the sample guests' /init (SEED_SCRIPTS, run here by busybox)
 * running the parts in that order.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { CONFIGURE_PART, seedUserData, userDataContentType, VALIDATION_PART } from '../../src/launch/seedUserData.ts';
import { configureScriptPart } from '../../src/launch/configureScript.ts';
import { validationWrapper } from '../../src/launch/validationWrapper.ts';
import { readConsole } from '../../src/domain/instanceConsole.ts';
import { SEED_SCRIPTS } from '../../src/agent/sample/guestInit.ts';
import { findTool } from '../../src/lib/tools.ts';

const nonce = '0123456789abcdef0123456789abcdef';
const boundary = '==FERRY-test==';

/** Parses with Python's email package, as cloud-init does: [filename, content type, payload] per leaf part. */
function pythonParts(message: Buffer): [string | null, string, string][] | undefined {
  const python = findTool('python3');
  if (!python) return undefined;
  const code = `import email, json, sys
msg = email.message_from_bytes(sys.stdin.buffer.read())
print(json.dumps([[p.get_filename(), p.get_content_type(), p.get_payload(decode=True).decode('latin1')] for p in msg.walk() if not p.is_multipart()]))`;
  const out = spawnSync(python, ['-c', code], { input: message, encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  return JSON.parse(out.stdout) as [string | null, string, string][];
}

describe('the seed user-data', () => {
  test('the user data byte for byte when Ferry adds nothing', () => {
    const bytes = Buffer.from([0x23, 0x21, 0xff, 0x00, 0x0a]);
    assert.deepEqual(seedUserData(bytes, []), bytes);
    assert.deepEqual(seedUserData(null, []), Buffer.alloc(0));
  });

  test('one script to add and no user data: the script itself (no multipart for the guest to split)', () => {
    const script = { filename: VALIDATION_PART, contentType: 'text/x-shellscript', body: Buffer.from('#!/bin/sh\necho validate\n') };
    assert.deepEqual(seedUserData(null, [script]), script.body);
    assert.deepEqual(seedUserData(Buffer.alloc(0), [script]), script.body);
    // With user data of the launch's own, or two scripts, it stays a multipart.
    assert.match(seedUserData(Buffer.from('#!/bin/sh\n'), [script]).toString('latin1'), /^Content-Type: multipart\/mixed/);
    assert.match(seedUserData(null, [script, { ...script, filename: CONFIGURE_PART }]).toString('latin1'), /^Content-Type: multipart\/mixed/);
  });

  test('content types as cloud-init detects them', () => {
    assert.equal(userDataContentType(Buffer.from('#!/bin/sh\n')), 'text/x-shellscript');
    assert.equal(userDataContentType(Buffer.from('#cloud-config\nusers: []\n')), 'text/cloud-config');
    assert.equal(userDataContentType(Buffer.from('#cloud-config-archive\n')), 'text/cloud-config-archive');
    assert.equal(userDataContentType(Buffer.from('#include\nhttp://x\n')), 'text/x-include-url');
    assert.equal(userDataContentType(gzipSync('#!/bin/sh\n')), 'application/x-gzip');
    assert.equal(userDataContentType(Buffer.from('hello')), 'text/plain');
  });

  test('a multipart: the user data first, then the configure script, then the validations; every byte survives', (t) => {
    const user = Buffer.concat([Buffer.from('#!/bin/sh\necho "user data"\n# '), Buffer.from([0xff, 0xfe, 0x00])]);
    const message = seedUserData(user, [
      { filename: CONFIGURE_PART, contentType: 'text/x-shellscript', body: Buffer.from('#!/bin/sh\necho configure\n') },
      { filename: VALIDATION_PART, contentType: 'text/x-shellscript', body: Buffer.from('#!/bin/sh\necho validate\n') },
    ], boundary);
    assert.match(message.toString('latin1'), /^Content-Type: multipart\/mixed; boundary="==FERRY-test=="\nMIME-Version: 1.0\n/);
    const parts = pythonParts(message);
    if (!parts) return t.skip('python3 is not installed');
    assert.deepEqual(parts, [
      ['part-001', 'text/x-shellscript', user.toString('latin1')],
      [CONFIGURE_PART, 'text/x-shellscript', '#!/bin/sh\necho configure\n'],
      [VALIDATION_PART, 'text/x-shellscript', '#!/bin/sh\necho validate\n'],
    ]);
    // cloud-init runs shell parts in the byte order of their names: the user's (part-NNN, or their own) first.
    assert.deepEqual(['part-001', 'web-setup.sh', CONFIGURE_PART, VALIDATION_PART].sort(), ['part-001', 'web-setup.sh', CONFIGURE_PART, VALIDATION_PART]);
  });

  test("a MIME message of the user's own is nested as it is; cloud-config stays cloud-config", (t) => {
    const own = Buffer.from('Content-Type: multipart/mixed; boundary="u"\nMIME-Version: 1.0\n\n--u\nContent-Type: text/cloud-config\n\n#cloud-config\nhostname: web\n--u\nContent-Type: text/x-shellscript\n\n#!/bin/sh\necho own\n--u--\n');
    const added = [{ filename: CONFIGURE_PART, contentType: 'text/x-shellscript', body: Buffer.from('#!/bin/sh\necho configure\n') }];
    const parts = pythonParts(seedUserData(own, added, boundary));
    if (!parts) return t.skip('python3 is not installed');
    assert.deepEqual(parts.map(([, type, payload]) => [type, payload.trim()]), [
      ['text/cloud-config', '#cloud-config\nhostname: web'],
      ['text/x-shellscript', '#!/bin/sh\necho own'],
      ['text/x-shellscript', '#!/bin/sh\necho configure'],
    ]);
    const config = pythonParts(seedUserData(Buffer.from('#cloud-config\npackages: [nginx]\n'), added, boundary))!;
    assert.deepEqual(config[0], ['part-001', 'text/cloud-config', '#cloud-config\npackages: [nginx]\n']);
    assert.throws(() => seedUserData(Buffer.from(`Content-Type: text/plain\n\n--${boundary}\n`), added, boundary), /contains the MIME boundary/);
  });
});

describe("the sample guests' seed scripts, run by busybox sh", () => {
  test('run the parts in order: user data, configure script (with its exit line), validations', (t) => {
    const busybox = findTool('busybox');
    if (!busybox) return t.skip('busybox is not installed (apt-get install busybox-static)');
    const dir = mkdtempSync(join(tmpdir(), 'ferry-seed-scripts-'));
    try {
      const bin = join(dir, 'bin');
      mkdirSync(bin);
      for (const applet of ['sh', 'awk', 'head', 'grep', 'dirname', 'basename', 'base64', 'cp', 'chmod', 'mkdir', 'mktemp', 'rm', 'cat', 'echo', 'printf', 'sha256sum', 'cut', 'tr', 'tail', 'timeout']) {
        spawnSync(busybox, ['ln', '-s', busybox, join(bin, applet)]);
      }
      const seed = join(dir, 'seed');
      const work = join(dir, 'work');
      mkdirSync(seed);
      mkdirSync(work);
      const consoleFile = join(dir, 'console');
      const order = join(dir, 'order');
      writeFileSync(consoleFile, '');
      const userData = Buffer.from(`#!/bin/sh\necho "user data" >> ${order}\n`);
      const configure = configureScriptPart(Buffer.from(`echo configure >> ${order}\nexit 3\n`), 'SHELL_SCRIPT');
      const validations = validationWrapper(nonce, [{ validationId: 'val-order', scriptType: 'SHELL_SCRIPT', script: Buffer.from(`#!/bin/sh\necho validation >> ${order}\ncat ${order}\n`) }]);
      writeFileSync(
        join(seed, 'user-data'),
        seedUserData(userData, [
          { filename: CONFIGURE_PART, contentType: 'text/x-shellscript', body: Buffer.from(configure) },
          { filename: VALIDATION_PART, contentType: 'text/x-shellscript', body: Buffer.from(validations) },
        ]),
      );
      writeFileSync(join(dir, 'run.sh'), `${SEED_SCRIPTS}\nrun_seed_scripts "${seed}" "${work}"\n`);
      const run = spawnSync(join(bin, 'sh'), [join(dir, 'run.sh')], { env: { PATH: bin, FERRY_CONSOLE: consoleFile }, encoding: 'utf8', timeout: 60_000 });
      assert.equal(run.status, 0, run.stderr);
      assert.equal(readFileSync(order, 'utf8'), 'user data\nconfigure\nvalidation\n');
      const console = readFileSync(consoleFile, 'utf8');
      assert.match(console, /^FERRY-CONFIGURE-SCRIPT exit 3$/m);
      assert.deepEqual(readConsole(console, nonce).results.get('val-order'), { validationId: 'val-order', status: 'SUCCEEDED', message: 'user data\nconfigure\nvalidation\n' });

      // Validations alone: the wrapper is the whole user-data, and runs as a plain `#!` user-data.
      const alone = validationWrapper(nonce, [{ validationId: 'val-alone', scriptType: 'SHELL_SCRIPT', script: Buffer.from('#!/bin/sh\necho alone\n') }]);
      writeFileSync(join(seed, 'user-data'), seedUserData(null, [{ filename: VALIDATION_PART, contentType: 'text/x-shellscript', body: Buffer.from(alone) }]));
      writeFileSync(consoleFile, '');
      const aloneRun = spawnSync(join(bin, 'sh'), [join(dir, 'run.sh')], { env: { PATH: bin, FERRY_CONSOLE: consoleFile }, encoding: 'utf8', timeout: 60_000 });
      assert.equal(aloneRun.status, 0, aloneRun.stderr);
      assert.deepEqual(readConsole(readFileSync(consoleFile, 'utf8'), nonce).results.get('val-alone'), { validationId: 'val-alone', status: 'SUCCEEDED', message: 'alone\n' });

      // A plain `#!` user-data still runs as before; cloud-config does not.
      writeFileSync(join(seed, 'user-data'), `#!/bin/sh\necho plain >> ${order}\n`);
      writeFileSync(join(seed, 'vendor-data'), '#cloud-config\nruncmd: [reboot]\n');
      spawnSync(join(bin, 'sh'), [join(dir, 'run.sh')], { env: { PATH: bin, FERRY_CONSOLE: consoleFile }, encoding: 'utf8', timeout: 60_000 });
      assert.equal(readFileSync(order, 'utf8'), 'user data\nconfigure\nvalidation\nplain\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
