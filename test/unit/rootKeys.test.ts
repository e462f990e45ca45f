/** Issue 8, defect 6 (pure parts): the root key from the environment is validated before it replaces anything. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rootKeysFromEnv } from '../../src/core/rootCredentials.ts';

test('FERRY_ROOT_*: both or neither; an id like an AWS access key id, a secret of 16–128 printable characters', () => {
  assert.equal(rootKeysFromEnv({}), undefined);
  assert.equal(rootKeysFromEnv({ FERRY_ROOT_ACCESS_KEY_ID: '', FERRY_ROOT_SECRET_ACCESS_KEY: '' }), undefined);
  assert.deepEqual(rootKeysFromEnv({ FERRY_ROOT_ACCESS_KEY_ID: 'AKIAFERRYTESTROOT001', FERRY_ROOT_SECRET_ACCESS_KEY: 'ferry-test-root-secret-key-000000000000' }), {
    accessKeyId: 'AKIAFERRYTESTROOT001',
    secretAccessKey: 'ferry-test-root-secret-key-000000000000',
  });
  assert.throws(() => rootKeysFromEnv({ FERRY_ROOT_ACCESS_KEY_ID: 'AKIAFERRYTESTROOT001' }), /FERRY_ROOT_ACCESS_KEY_ID is set but FERRY_ROOT_SECRET_ACCESS_KEY is not; set both or neither/);
  assert.throws(() => rootKeysFromEnv({ FERRY_ROOT_SECRET_ACCESS_KEY: 'x'.repeat(40) }), /FERRY_ROOT_SECRET_ACCESS_KEY is set but FERRY_ROOT_ACCESS_KEY_ID is not/);
  for (const id of ['SHORT', 'AKIA/FERRY/TEST/ROOT', 'A'.repeat(129)]) {
    assert.throws(() => rootKeysFromEnv({ FERRY_ROOT_ACCESS_KEY_ID: id, FERRY_ROOT_SECRET_ACCESS_KEY: 'x'.repeat(40) }), /FERRY_ROOT_ACCESS_KEY_ID must be 16–128 letters/);
  }
  for (const secret of ['short', 'has a space in it 0000000', 'x'.repeat(129)]) {
    assert.throws(() => rootKeysFromEnv({ FERRY_ROOT_ACCESS_KEY_ID: 'AKIAFERRYTESTROOT001', FERRY_ROOT_SECRET_ACCESS_KEY: secret }), (err: Error) => {
      assert.match(err.message, /FERRY_ROOT_SECRET_ACCESS_KEY must be 16–128 printable characters without spaces/);
      assert.ok(!err.message.includes(secret), 'the message never echoes the secret');
      return true;
    });
  }
});
