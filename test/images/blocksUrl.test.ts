/** `--blocks` / `--s3-endpoint` / FERRY_S3_PATH_STYLE / FERRY_S3_PAYLOAD_CHECK parsing (src/images/blocks/blocksUrl.ts). */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { parseBlocksSetting } from '../../src/images/blocks/blocksUrl.ts';
import { resolveServeConfig } from '../../src/config/config.ts';

it('reads local, s3 URLs with and without a prefix, and the endpoint and path style', () => {
  assert.equal(parseBlocksSetting(undefined, undefined, {}), undefined);
  assert.equal(parseBlocksSetting('local', undefined, {}), undefined);
  assert.deepEqual(parseBlocksSetting('s3://ferry-blocks/site-a/images/', 'http://rgw:7480', {}), { bucket: 'ferry-blocks', prefix: 'site-a/images', endpoint: 'http://rgw:7480', forcePathStyle: true, payloadCheck: 'crc32' });
  assert.deepEqual(parseBlocksSetting('s3://ferry-blocks', undefined, {}), { bucket: 'ferry-blocks', prefix: '', endpoint: undefined, forcePathStyle: false, payloadCheck: 'crc32' });
  assert.equal(parseBlocksSetting('s3://b1b/p', 'http://minio:9000', { FERRY_S3_PATH_STYLE: 'false' })!.forcePathStyle, false);
  assert.equal(parseBlocksSetting('s3://b1b/p', undefined, { FERRY_S3_PATH_STYLE: 'true' })!.forcePathStyle, true);
  // A store that refuses unsigned payloads or checksum headers gets the body's SHA-256 signed instead.
  assert.equal(parseBlocksSetting('s3://b1b/p', undefined, { FERRY_S3_PAYLOAD_CHECK: 'sigv4' })!.payloadCheck, 'sigv4');
});

it('refuses what it cannot use, naming the setting', () => {
  for (const bad of ['/var/blocks', 's3://', 's3://UPPER/x', 's3://b1b/../x', 'gs://b1b/x']) assert.throws(() => parseBlocksSetting(bad, undefined, {}), /--blocks/);
  assert.throws(() => parseBlocksSetting('s3://b1b/x', 'rgw:7480', {}), /--s3-endpoint/);
  assert.throws(() => parseBlocksSetting('s3://b1b/x', undefined, { FERRY_S3_PATH_STYLE: 'yes' }), /FERRY_S3_PATH_STYLE/);
  assert.throws(() => parseBlocksSetting('s3://b1b/x', undefined, { FERRY_S3_PAYLOAD_CHECK: 'md5' }), /FERRY_S3_PAYLOAD_CHECK must be crc32 or sigv4/);
});

it('takes flags over FERRY_BLOCKS and FERRY_S3_ENDPOINT', () => {
  const env = { FERRY_BLOCKS: 's3://env-bucket/p', FERRY_S3_ENDPOINT: 'http://env:1' };
  assert.deepEqual([resolveServeConfig({}, env).blocks, resolveServeConfig({}, env).s3Endpoint], ['s3://env-bucket/p', 'http://env:1']);
  const flagged = resolveServeConfig({ blocks: 's3://flag-bucket', s3Endpoint: 'http://flag:2' }, env);
  assert.deepEqual([flagged.blocks, flagged.s3Endpoint], ['s3://flag-bucket', 'http://flag:2']);
  assert.equal(resolveServeConfig({}, {}).blocks, undefined);
});
