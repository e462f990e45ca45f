/** Unencrypted blocks are stored under per-account ids: the same content names different blocks in different accounts. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../../src/store/openStore.ts';
import { Keyring, KmsError } from '../../src/kms/keyring.ts';
import { fingerprint } from '../../src/kms/envelope.ts';
import type { MasterKey } from '../../src/kms/masterKey.ts';
import { isEncryptedKeyRef, parseAccountKeyRef, plainSealer } from '../../src/images/blockSealer.ts';

const masterOf = (key = randomBytes(32)): MasterKey => ({ key, fingerprint: fingerprint(key), source: 'env' });
const sha = (data: Buffer) => createHash('sha256').update(data).digest();

test('account sealers: ids per account and master key, stable across processes, bytes untouched', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-account-sealer-'));
  const store = await openSqliteStore(dir, Date.now());
  try {
    const master = masterOf();
    const keyring = new Keyring(store.db, master);
    const alice = keyring.accountSealer('111111111111');
    const bob = keyring.accountSealer('222222222222');
    const digest = sha(randomBytes(4096));

    assert.equal(alice.keyRef, `plain:111111111111:${master.fingerprint}`);
    assert.deepEqual(parseAccountKeyRef(alice.keyRef), { accountId: '111111111111', masterFingerprint: master.fingerprint });
    assert.equal(isEncryptedKeyRef(alice.keyRef), false);
    assert.equal(isEncryptedKeyRef(plainSealer.keyRef), false);
    assert.equal(isEncryptedKeyRef('arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab'), true);

    const id = alice.storageId(digest);
    assert.equal(id.length, 32);
    assert.notDeepEqual(id, digest, 'not the bare SHA-256: a digest alone finds nothing');
    assert.notDeepEqual(bob.storageId(digest), id, 'another account: another block');
    assert.notDeepEqual(new Keyring(store.db, masterOf()).accountSealer('111111111111').storageId(digest), id, 'another master key: other ids');
    assert.deepEqual(new Keyring(store.db, master).accountSealer('111111111111').storageId(digest), id, 'same master key: same ids');
    const data = randomBytes(100);
    assert.equal(alice.seal(id, data), data);
    assert.equal(alice.open(id, data), data);
    assert.throws(() => alice.storageId(Buffer.alloc(31)), /32-byte SHA-256/);

    // Readers resolve the reference; one written under another master key is reported as such.
    assert.deepEqual((await keyring.sealerForKeyRef(alice.keyRef)).storageId(digest), id);
    await assert.rejects(new Keyring(store.db, masterOf()).sealerForKeyRef(alice.keyRef), (e: unknown) => {
      assert.ok(e instanceof KmsError);
      assert.match(e.message, new RegExp(`keyed with another master key \\(fingerprint ${master.fingerprint};`));
      return true;
    });
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
