import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aad, fingerprint, subkey, unwrap, wrap, UnwrapError } from '../../src/kms/envelope.ts';
import { loadMasterKey, MasterKeyError, parseMasterKey } from '../../src/kms/masterKey.ts';
import { KeyedBlockSealer, SealError, SEAL_OVERHEAD } from '../../src/kms/sealer.ts';
import { parseKeyReference, validateAliasName } from '../../src/kms/keys.ts';
import { ServiceError } from '../../src/lib/errors.ts';

const tempDir = () => mkdtempSync(join(tmpdir(), 'ferry-kms-unit-'));
const sha = (data: Buffer) => createHash('sha256').update(data).digest();
const flip = (buf: Buffer, index: number) => {
  const copy = Buffer.from(buf);
  copy[index]! ^= 0x01;
  return copy;
};
const sealerOf = (material: Buffer, keyRef = 'arn:aws:kms:us-east-1:111111111111:key/test') =>
  new KeyedBlockSealer(keyRef, subkey(material, 'block-id'), randomBytes(32));

test('wrap/unwrap: round trip; a different kek, different AAD or any flipped bit fails', () => {
  const kek = randomBytes(32);
  const secret = randomBytes(32);
  const bound = aad('ferry-kms/key-material/v1', '111111111111', 'us-east-1', 'key-1');
  const wrapped = wrap(kek, secret, bound);
  assert.equal(wrapped.length, 1 + 12 + 16 + 32);
  assert.deepEqual(unwrap(kek, wrapped, bound), secret);
  assert.notDeepEqual(wrap(kek, secret, bound), wrapped, 'a fresh nonce each time');
  assert.throws(() => unwrap(randomBytes(32), wrapped, bound), UnwrapError);
  assert.throws(() => unwrap(kek, wrapped, aad('ferry-kms/key-material/v1', '222222222222', 'us-east-1', 'key-1')), UnwrapError);
  for (let i = 1; i < wrapped.length; i++) assert.throws(() => unwrap(kek, flip(wrapped, i), bound), UnwrapError, `bit flipped in byte ${i}`);
  assert.throws(() => unwrap(kek, flip(wrapped, 0), bound), /bad length or version/);
  assert.throws(() => unwrap(kek, wrapped.subarray(0, 20), bound), /bad length or version/);
});

test('subkeys differ per purpose and per material; fingerprints are stable and short', () => {
  const material = randomBytes(32);
  assert.notDeepEqual(subkey(material, 'block-id'), subkey(material, 'data-key-wrap'));
  assert.notDeepEqual(subkey(material, 'block-id'), subkey(randomBytes(32), 'block-id'));
  assert.deepEqual(subkey(material, 'block-id'), subkey(Buffer.from(material), 'block-id'));
  assert.equal(fingerprint(material), fingerprint(Buffer.from(material)));
  assert.match(fingerprint(material), /^[0-9a-f]{16}$/);
});

test('FERRY_MASTER_KEY format: 64 hex or base64/base64url of 32 bytes; anything else is a clear error that never echoes the value', () => {
  const key = randomBytes(32);
  assert.deepEqual(parseMasterKey(key.toString('hex'), 'X'), key);
  assert.deepEqual(parseMasterKey(key.toString('hex').toUpperCase(), 'X'), key);
  assert.deepEqual(parseMasterKey(`  ${key.toString('hex')}\n`, 'X'), key);
  assert.deepEqual(parseMasterKey(key.toString('base64'), 'X'), key);
  assert.deepEqual(parseMasterKey(key.toString('base64').replace(/=$/, ''), 'X'), key);
  assert.deepEqual(parseMasterKey(key.toString('base64url'), 'X'), key);
  const bad = [
    '',
    'secret',
    key.toString('hex').slice(1),
    key.toString('hex') + '0',
    'g'.repeat(64),
    randomBytes(31).toString('base64'),
    randomBytes(33).toString('base64'),
    'x'.repeat(32),
    // 43 base64 characters whose spare bits are not zero: not the encoding of any 32 bytes.
    key.toString('base64').slice(0, 42) + 'B',
  ];
  for (const value of bad) {
    assert.throws(
      () => parseMasterKey(value, 'FERRY_MASTER_KEY'),
      (err: Error) => {
        assert.ok(err instanceof MasterKeyError);
        assert.match(err.message, /^FERRY_MASTER_KEY must be 32 bytes written as 64 hex characters or as base64/);
        if (value.length > 3) assert.ok(!err.message.includes(value), 'the value is not echoed');
        return true;
      },
      JSON.stringify(value),
    );
  }
});

test('master key: FERRY_MASTER_KEY wins; otherwise <data-dir>/master.key is generated once with mode 0600 and reused', () => {
  const dir = tempDir();
  try {
    const envKey = randomBytes(32);
    const fromEnv = loadMasterKey(dir, { FERRY_MASTER_KEY: envKey.toString('hex') });
    assert.deepEqual([fromEnv.source, fromEnv.key], ['env', envKey]);
    assert.throws(() => statSync(join(dir, 'master.key')), /ENOENT/, 'env key: no file written');

    const generated = loadMasterKey(join(dir, 'nested'), { FERRY_MASTER_KEY: '' });
    assert.equal(generated.source, 'generated');
    assert.equal(generated.file, join(dir, 'nested', 'master.key'));
    assert.equal(statSync(generated.file!).mode & 0o777, 0o600);
    assert.equal(readFileSync(generated.file!, 'utf8'), generated.key.toString('hex') + '\n');
    const again = loadMasterKey(join(dir, 'nested'), {});
    assert.deepEqual([again.source, again.key, again.fingerprint], ['file', generated.key, generated.fingerprint]);

    // The env variable still wins over an existing file.
    assert.deepEqual(loadMasterKey(join(dir, 'nested'), { FERRY_MASTER_KEY: envKey.toString('base64') }).key, envKey);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('master key: a bad FERRY_MASTER_KEY, a malformed file or a file others can read is refused with a clear message', () => {
  const dir = tempDir();
  try {
    assert.throws(() => loadMasterKey(dir, { FERRY_MASTER_KEY: 'hunter2' }), /^MasterKeyError: FERRY_MASTER_KEY must be 32 bytes/);
    const file = join(dir, 'master.key');
    writeFileSync(file, 'not a key\n', { mode: 0o600 });
    assert.throws(() => loadMasterKey(dir, {}), new RegExp(`The master key file ${file} must be 32 bytes`));
    writeFileSync(file, randomBytes(32).toString('hex'));
    chmodSync(file, 0o644);
    assert.throws(() => loadMasterKey(dir, {}), (err: Error) => {
      assert.ok(err instanceof MasterKeyError);
      assert.match(err.message, /accessible to other users \(mode 0644\); restrict it with 'chmod 600/);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sealer: storage ids are HMACs that differ per key, are stable per key and are not the SHA-256', () => {
  const block = randomBytes(4096);
  const digest = sha(block);
  const a = sealerOf(randomBytes(32));
  const b = sealerOf(randomBytes(32));
  const idA = a.storageId(digest);
  assert.equal(idA.length, 32);
  assert.deepEqual(a.storageId(digest), idA);
  assert.notDeepEqual(b.storageId(digest), idA);
  assert.notDeepEqual(idA, digest);
  assert.notDeepEqual(a.storageId(sha(randomBytes(4096))), idA);
  assert.throws(() => a.storageId(digest.subarray(0, 16)), SealError);
});

test('sealer: round trip; nonce | tag | ciphertext; random nonces; every flipped bit, a moved block or another key fails', () => {
  const material = randomBytes(32);
  const sealer = sealerOf(material);
  const data = randomBytes(512 * 1024);
  const id = sealer.storageId(sha(data));
  const sealed = sealer.seal(id, data);
  assert.equal(sealed.length, data.length + SEAL_OVERHEAD);
  assert.deepEqual(sealer.open(id, sealed), data);
  assert.notDeepEqual(sealer.seal(id, data).subarray(0, 12), sealed.subarray(0, 12), 'fresh nonce per seal');
  assert.deepEqual(sealer.open(id, sealer.seal(id, Buffer.alloc(0))), Buffer.alloc(0));

  for (const index of [0, 11, 12, 27, 28, 1000, sealed.length - 1]) {
    assert.throws(() => sealer.open(id, flip(sealed, index)), (err: Error) => {
      assert.ok(err instanceof SealError);
      assert.match(err.message, new RegExp(`^Block ${id.toString('hex')} does not open under arn:aws:kms:.*: it was altered`));
      return true;
    });
  }
  assert.throws(() => sealer.open(flip(id, 5), sealed), SealError, 'sealed under another id (AAD)');
  assert.throws(() => sealer.open(id, sealed.subarray(0, sealed.length - 1)), SealError, 'truncated');
  assert.throws(() => sealer.open(id, sealed.subarray(0, 20)), /only 20 bytes/);
  // Same id key, different data key: another key's sealer cannot open it.
  const other = new KeyedBlockSealer(sealer.keyRef, subkey(material, 'block-id'), randomBytes(32));
  assert.throws(() => other.open(id, sealed), SealError);
});

test('sealed blocks hold no plaintext: a known pattern written through the sealer is absent from the pack file', () => {
  const dir = tempDir();
  try {
    const pattern = Buffer.from('FERRY-KNOWN-PLAINTEXT-PATTERN-0123456789');
    const block = Buffer.alloc(512 * 1024);
    for (let at = 0; at + pattern.length <= block.length; at += 4096) pattern.copy(block, at);
    const sealer = sealerOf(randomBytes(32));
    const pack = join(dir, 'pack-0001');
    const id = sealer.storageId(sha(block));
    writeFileSync(pack, Buffer.concat([id, sealer.seal(id, block), id, sealer.seal(id, block)]));
    const bytes = readFileSync(pack);
    assert.equal(bytes.indexOf(pattern), -1);
    assert.equal(bytes.indexOf(pattern.subarray(0, 12)), -1);
    assert.equal(bytes.indexOf(sha(block)), -1, 'nor the block SHA-256');
    // The plain layout would have it: the check itself works.
    assert.notEqual(Buffer.concat([sha(block), block]).indexOf(pattern), -1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kmsKeyId forms parse as key id, alias, key ARN and alias ARN', () => {
  assert.deepEqual(parseKeyReference('1234abcd-12ab-34cd-56ef-1234567890ab'), { kind: 'keyId', keyId: '1234abcd-12ab-34cd-56ef-1234567890ab' });
  assert.deepEqual(parseKeyReference('alias/ferry'), { kind: 'alias', alias: 'alias/ferry' });
  assert.deepEqual(parseKeyReference('arn:aws:kms:eu-west-1:111111111111:key/abc'), {
    kind: 'keyArn',
    partition: 'aws',
    region: 'eu-west-1',
    accountId: '111111111111',
    keyId: 'abc',
  });
  assert.deepEqual(parseKeyReference('arn:aws:kms:eu-west-1:111111111111:alias/a/b'), {
    kind: 'aliasArn',
    partition: 'aws',
    region: 'eu-west-1',
    accountId: '111111111111',
    alias: 'alias/a/b',
  });
});

test('alias names are validated like AWS KMS', () => {
  for (const ok of ['alias/ferry', 'alias/a_b-c/d', 'alias/X1']) validateAliasName(ok);
  for (const bad of ['ferry', 'alias/', 'alias/has space', 'alias/é', 'alias/a:b', `alias/${'a'.repeat(251)}`]) {
    assert.throws(() => validateAliasName(bad), (err: Error) => err instanceof ServiceError && err.code === 'InvalidParameterException' && /is not valid/.test(err.message), bad);
  }
  assert.throws(() => validateAliasName('alias/aws/ebs'), /reserved/);
});
