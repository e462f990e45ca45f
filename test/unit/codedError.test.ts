/** CodedError is the one base of Ferry's coded errors: each wire's error class must keep code, name and its extras. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CodedError, ServiceError } from '../../src/lib/errors.ts';
import { ArtifactError } from '../../src/artifacts/errors.ts';
import { S3Error } from '../../src/server/s3/s3Errors.ts';
import { FerryApiError } from '../../src/client/ferryApi.ts';

test('a coded error is named after its code, so logs and stack traces show it', () => {
  const error = new CodedError('SomethingOff', 'what went wrong');
  assert.ok(error instanceof Error);
  assert.equal(error.code, 'SomethingOff');
  assert.equal(error.name, 'SomethingOff');
  assert.equal(error.message, 'what went wrong');
  assert.match(String(error.stack), /^SomethingOff: what went wrong/);
});

test('each wire keeps its own extras on top of the shared code and name', () => {
  const service = new ServiceError('ReplicationJobNotFoundException', 'no such job');
  assert.deepEqual([service.code, service.name, service.status], ['ReplicationJobNotFoundException', 'ReplicationJobNotFoundException', 400]);

  const artifact = new ArtifactError('NoSuchKey', 'gone', { Key: 'a/b' });
  assert.deepEqual([artifact.code, artifact.name, artifact.details], ['NoSuchKey', 'NoSuchKey', { Key: 'a/b' }]);
  assert.deepEqual(new ArtifactError('NoSuchBucket', 'gone').details, {});

  const s3 = new S3Error('NotImplemented', 'no versioning', { Header: 'x-amz-version-id' });
  assert.deepEqual([s3.code, s3.name, s3.details], ['NotImplemented', 'NotImplemented', { Header: 'x-amz-version-id' }]);
  // The REST layer tells its own errors from the store's by class: the shared base must not blur that.
  assert.ok(!(s3 instanceof ArtifactError));
  assert.ok(!(artifact instanceof S3Error));

  const api = new FerryApiError('AccessDenied', 'not yours', 403);
  assert.deepEqual([api.code, api.name, api.status, api.message], ['AccessDenied', 'AccessDenied', 403, 'not yours']);
  for (const error of [service, artifact, s3, api]) assert.ok(error instanceof CodedError);
});
