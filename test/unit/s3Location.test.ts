/** S3 locations in launch and validation configurations (domain/s3Location.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketNameProblem, s3LocationProblem, s3Uri } from '../../src/domain/s3Location.ts';

test('bucket names follow S3 naming rules', () => {
  for (const ok of ['sms-app-123456789012', 'abc', 'a.b-c', 'x'.repeat(63), 'my.bucket.2']) assert.equal(bucketNameProblem(ok), null, ok);
  const bad: Record<string, RegExp> = {
    ab: /3 to 63/,
    ['x'.repeat(64)]: /3 to 63/,
    'Upper-Case': /lower-case/,
    '-start': /start and end/,
    'end-': /start and end/,
    'under_score': /lower-case/,
    'a..b': /two adjacent dots/,
    '192.168.1.10': /IP address/,
  };
  for (const [name, problem] of Object.entries(bad)) assert.match(bucketNameProblem(name) ?? '', problem, name);
});

test('keys are 1 to 1024 characters; both members are required', () => {
  assert.equal(s3LocationProblem({ bucket: 'scripts', key: 'a/b.sh' }, 'x'), null);
  assert.match(s3LocationProblem({ bucket: 'scripts', key: '' }, 'x')!, /x\.key must not be empty/);
  assert.match(s3LocationProblem({ bucket: 'scripts', key: 'k'.repeat(1025) }, 'x')!, /at most 1024/);
  assert.match(s3LocationProblem({ key: 'k' }, 'userData.s3Location')!, /userData\.s3Location\.bucket is required/);
  assert.match(s3LocationProblem({ bucket: 'scripts' }, 'x')!, /x\.key is required/);
  assert.equal(s3Uri({ bucket: 'b', key: 'k/1' }), 's3://b/k/1');
});
