/**
 * Issue 8, defect 4 (pure parts): a sealed secret opens only under the master key and for the owner it was sealed
 * for; the data dir is created private and tightened when looser, touching only what Ferry keeps there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { secretSealer } from '../../src/kms/secretSeal.ts';
import { fingerprint, UnwrapError } from '../../src/kms/envelope.ts';
import { secureDataDir } from '../../src/store/dataDirPermissions.ts';

const master = (key = randomBytes(32)) => ({ key, fingerprint: fingerprint(key) });
const mode = (path: string) => statSync(path).mode & 0o777;

test('a sealed secret opens with the same master key, purpose and owner, and with nothing else', () => {
  const m = master();
  const sealer = secretSealer(m, 'access-key-secret');
  const sealed = sealer.seal('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', ['AKIAEXAMPLE', '123456789012']);
  assert.equal(sealer.fingerprint, m.fingerprint);
  assert.ok(!Buffer.from(sealed, 'base64').includes(Buffer.from('wJalrXUtnFEMI')), 'the stored form does not hold the secret');
  assert.notEqual(sealer.seal('same', ['a', 'b']), sealer.seal('same', ['a', 'b']), 'a fresh nonce each time');
  assert.equal(sealer.unseal(sealed, ['AKIAEXAMPLE', '123456789012']), 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY');
  assert.throws(() => sealer.unseal(sealed, ['AKIAEXAMPLE', '210987654321']), UnwrapError, 'moved to another account');
  assert.throws(() => sealer.unseal(sealed, ['AKIAOTHER', '123456789012']), UnwrapError, 'moved to another key');
  assert.throws(() => secretSealer(m, 'webhook-secret').unseal(sealed, ['AKIAEXAMPLE', '123456789012']), UnwrapError, 'another purpose');
  assert.throws(() => secretSealer(master(), 'access-key-secret').unseal(sealed, ['AKIAEXAMPLE', '123456789012']), UnwrapError, 'another master key');
  const altered = Buffer.from(sealed, 'base64');
  altered[altered.length - 1]! ^= 1;
  assert.throws(() => sealer.unseal(altered.toString('base64'), ['AKIAEXAMPLE', '123456789012']), UnwrapError, 'altered');
});

test('the data dir is created 0700 with the store file 0600, whatever the umask', () => {
  const parent = mkdtempSync(join(tmpdir(), 'ferry-perm-'));
  const old = process.umask(0o022);
  try {
    const dataDir = join(parent, 'nested', 'data');
    const warnings: string[] = [];
    secureDataDir(dataDir, (m) => warnings.push(m));
    assert.equal(mode(dataDir), 0o700);
    assert.equal(mode(join(dataDir, 'ferry.db')), 0o600);
    assert.deepEqual(warnings, [], 'nothing to fix in a new data dir');
  } finally {
    process.umask(old);
    rmSync(parent, { recursive: true, force: true });
  }
});

test('a looser data dir is tightened with a warning per entry; what Ferry does not own keeps its modes', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-perm-'));
  try {
    chmodSync(dataDir, 0o755);
    for (const name of ['ferry.db', 'ferry.db-wal', 'ferry.db-shm', 'root-credentials.json', 'webhook-secret', 'embedded-connector.json']) {
      writeFileSync(join(dataDir, name), 'x');
      chmodSync(join(dataDir, name), 0o644);
    }
    mkdirSync(join(dataDir, 'images'), { mode: 0o755 });
    chmodSync(join(dataDir, 'images'), 0o755);
    mkdirSync(join(dataDir, 'vms'), { mode: 0o755 });
    chmodSync(join(dataDir, 'vms'), 0o755);
    writeFileSync(join(dataDir, 'notes.txt'), 'mine');
    chmodSync(join(dataDir, 'notes.txt'), 0o644);
    writeFileSync(elsewhere(dataDir), '{}');
    chmodSync(elsewhere(dataDir), 0o644);
    rmSync(join(dataDir, 'embedded-connector.json'));
    symlinkSync(elsewhere(dataDir), join(dataDir, 'embedded-connector.json'));

    const warnings: string[] = [];
    secureDataDir(dataDir, (m) => warnings.push(m));
    assert.equal(mode(dataDir), 0o700);
    assert.equal(mode(join(dataDir, 'images')), 0o700);
    for (const name of ['ferry.db', 'ferry.db-wal', 'ferry.db-shm', 'root-credentials.json', 'webhook-secret']) assert.equal(mode(join(dataDir, name)), 0o600, name);
    assert.equal(warnings.length, 7, warnings.join('\n'));
    assert.match(warnings[0]!, new RegExp(`^${dataDir} was mode 0755, readable or writable by other local users; changed it to 0700\\.$`));
    assert.ok(warnings.some((w) => w.startsWith(`${join(dataDir, 'ferry.db')} was mode 0644`)));
    assert.equal(mode(join(dataDir, 'vms')), 0o755, 'a directory Ferry does not make is left alone');
    assert.equal(mode(join(dataDir, 'notes.txt')), 0o644, 'a file Ferry does not make is left alone');
    assert.equal(mode(elsewhere(dataDir)), 0o644, 'a link is not followed');

    const again: string[] = [];
    secureDataDir(dataDir, (m) => again.push(m));
    assert.deepEqual(again, [], 'once fixed, nothing more to say');
  } finally {
    rmSync(elsewhere(dataDir), { force: true });
    rmSync(dataDir, { recursive: true, force: true });
  }
});

/** A file beside the data dir, for the link test. */
function elsewhere(dataDir: string): string {
  return `${dataDir}-elsewhere.json`;
}
