/**
 * The S3 endpoint on Ferry's one port: requests reach it by their credential scope, never by path (buckets named
 * console, health and metrics work, and everything else answers as before), and the wire details clients cannot
 * be made to send: tampered bodies, digests, chunked bodies, refused uploads answered before their body is sent,
 * conditional writes, HEAD lengths, metrics.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { GetConnectorsCommand } from '@aws-sdk/client-sms';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { errorCode, presignS3, s3Fetch, signS3 } from '../helpers/s3Signer.ts';

describe('S3 endpoint', () => {
  let t: TestFerry;
  const md5 = (data: string) => createHash('md5').update(data).digest('base64');

  before(async () => {
    t = await startTestFerry({ artifactLimits: { maxObjectBytes: 1024 * 1024 } });
  });
  after(async () => {
    await t?.close();
  });

  test('buckets named console, health and metrics are S3 buckets; the console, /health, /metrics and SMS answer as before', async () => {
    for (const bucket of ['console', 'health', 'metrics']) {
      assert.equal((await s3Fetch(t.ferry.url, t.ferry.root, { method: 'PUT', path: `/${bucket}` })).status, 200, bucket);
      const put = await s3Fetch(t.ferry.url, t.ferry.root, { method: 'PUT', path: `/${bucket}/index.html`, body: Buffer.from(`s3 object in ${bucket}`) });
      assert.equal(put.status, 200);
      const got = await s3Fetch(t.ferry.url, t.ferry.root, { method: 'GET', path: `/${bucket}/index.html` });
      assert.equal(got.text, `s3 object in ${bucket}`);
      const head = await s3Fetch(t.ferry.url, t.ferry.root, { method: 'HEAD', path: `/${bucket}/index.html` });
      assert.equal(head.headers.get('content-length'), String(`s3 object in ${bucket}`.length), 'HEAD keeps the object length even where a GET route exists');
    }
    const health = await fetch(`${t.ferry.url}/health`);
    assert.deepEqual([health.status, ((await health.json()) as { status: string }).status], [200, 'ok']);
    const consolePage = await fetch(`${t.ferry.url}/console/`, { redirect: 'manual' });
    assert.notEqual(consolePage.status, 500);
    assert.ok(!(await consolePage.text()).includes('s3 object in console'));
    assert.equal((await t.sms.send(new GetConnectorsCommand({}))).connectorList?.length, 0, 'SMS is unaffected');
    const metrics = await (await fetch(`${t.ferry.url}/metrics`)).text();
    assert.match(metrics, /ferry_api_requests_total\{operation="S3.PutObject",outcome="success"\} \d+/);
    assert.match(metrics, /ferry_api_requests_total\{operation="S3.CreateBucket",outcome="success"\} 3/);
    // A POST signed for s3 is S3's, wherever it goes; unsigned ones still reach the SMS endpoint.
    const s3Post = await s3Fetch(t.ferry.url, t.ferry.root, { method: 'POST', path: '/', body: Buffer.from('{}') });
    assert.deepEqual([s3Post.status, errorCode(s3Post.text)], [405, 'MethodNotAllowed']);
    const unsigned = await fetch(`${t.ferry.url}/`, { method: 'POST', headers: { 'content-type': 'application/x-amz-json-1.1' }, body: '{}' });
    assert.match(await unsigned.text(), /__type/);
  });

  test('bodies are checked against x-amz-content-sha256 and Content-MD5; a refused body is never visible', async () => {
    await s3Fetch(t.ferry.url, t.ferry.root, { method: 'PUT', path: '/checked' });
    const real = Buffer.from('the real body');
    const lie = await s3Fetch(t.ferry.url, t.ferry.root, { method: 'PUT', path: '/checked/k', body: real, payloadHash: createHash('sha256').update('another body').digest('hex') });
    assert.deepEqual([lie.status, errorCode(lie.text)], [400, 'XAmzContentSHA256Mismatch']);
    const badMd5 = await s3Fetch(t.ferry.url, t.ferry.root, { method: 'PUT', path: '/checked/k', body: real, headers: { 'content-md5': md5('another body') } });
    assert.deepEqual([badMd5.status, errorCode(badMd5.text)], [400, 'BadDigest']);
    const garbledMd5 = await s3Fetch(t.ferry.url, t.ferry.root, { method: 'PUT', path: '/checked/k', body: real, headers: { 'content-md5': 'not base64!' } });
    assert.deepEqual([garbledMd5.status, errorCode(garbledMd5.text)], [400, 'InvalidDigest']);
    const missing = await s3Fetch(t.ferry.url, t.ferry.root, { method: 'GET', path: '/checked/k' });
    assert.deepEqual([missing.status, errorCode(missing.text)], [404, 'NoSuchKey']);
    assert.match(missing.text, /<Key>k<\/Key>/);
    const good = await s3Fetch(t.ferry.url, t.ferry.root, { method: 'PUT', path: '/checked/k', body: real, headers: { 'content-md5': md5('the real body') } });
    assert.equal(good.status, 200);
    assert.equal(good.headers.get('etag'), `"${createHash('md5').update(real).digest('hex')}"`);
    const unsignedPayload = await s3Fetch(t.ferry.url, t.ferry.root, { method: 'PUT', path: '/checked/unsigned', body: real, payloadHash: 'UNSIGNED-PAYLOAD' });
    assert.equal(unsignedPayload.status, 200);
    const ifNoneMatch = await s3Fetch(t.ferry.url, t.ferry.root, { method: 'PUT', path: '/checked/k', body: Buffer.from('overwrite?'), headers: { 'if-none-match': '*' } });
    assert.deepEqual([ifNoneMatch.status, errorCode(ifNoneMatch.text)], [412, 'PreconditionFailed']);
    const chunkedEncoding = await s3Fetch(t.ferry.url, t.ferry.root, { method: 'PUT', path: '/checked/k', body: real, headers: { 'content-encoding': 'aws-chunked' } });
    assert.deepEqual([chunkedEncoding.status, errorCode(chunkedEncoding.text)], [501, 'NotImplemented']);
    const checksum = await s3Fetch(t.ferry.url, t.ferry.root, { method: 'PUT', path: '/checked/k', body: real, headers: { 'x-amz-checksum-crc32': 'AAAAAA==' } });
    assert.deepEqual([checksum.status, errorCode(checksum.text)], [501, 'NotImplemented']);
    assert.equal((await s3Fetch(t.ferry.url, t.ferry.root, { method: 'GET', path: '/checked/k' })).text, 'the real body');
  });

  test('uploads without Content-Length, too large, or to a bucket that is not there are refused before their body is sent', async () => {
    await s3Fetch(t.ferry.url, t.ferry.root, { method: 'PUT', path: '/uploads' });
    const chunked = await signS3(t.ferry.url, t.ferry.root, { method: 'PUT', path: '/uploads/chunked', payloadHash: 'UNSIGNED-PAYLOAD' });
    const stream = new ReadableStream({ start: (c) => (c.enqueue(new TextEncoder().encode('chunk')), c.close()) });
    const noLength = await fetch(chunked.url, { ...chunked.init, body: stream, duplex: 'half' } as RequestInit);
    assert.deepEqual([noLength.status, errorCode(await noLength.text())], [411, 'MissingContentLength']);

    // With Expect: 100-continue the answer comes before any body byte: this client never sends one.
    const answer = async (path: string, length: number) => {
      const signed = await signS3(t.ferry.url, t.ferry.root, { method: 'PUT', path, payloadHash: 'UNSIGNED-PAYLOAD', headers: { 'content-length': String(length) } });
      return new Promise<{ status: number; code: string | undefined; connection: string | undefined }>((resolve, reject) => {
        const req = httpRequest(signed.url, { method: 'PUT', headers: { ...(signed.init.headers as Record<string, string>), expect: '100-continue' } });
        req.on('continue', () => reject(new Error('the server asked for the body')));
        req.on('response', (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({ status: res.statusCode!, code: errorCode(body), connection: res.headers.connection }));
        });
        req.on('error', reject);
        req.flushHeaders();
      });
    };
    assert.deepEqual(await answer('/uploads/huge', 1024 * 1024 + 1), { status: 400, code: 'EntityTooLarge', connection: 'close' });
    assert.deepEqual(await answer('/not-a-bucket/k', 10), { status: 404, code: 'NoSuchBucket', connection: 'close' });
    assert.deepEqual(await answer(`/uploads/${'k'.repeat(1025)}`, 10), { status: 400, code: 'KeyTooLongError', connection: 'close' });
  });

  test('a client that goes away mid-body leaves nothing behind, and the endpoint carries on', async () => {
    await s3Fetch(t.ferry.url, t.ferry.root, { method: 'PUT', path: '/aborted' });
    const signed = await signS3(t.ferry.url, t.ferry.root, { method: 'PUT', path: '/aborted/k', payloadHash: 'UNSIGNED-PAYLOAD', headers: { 'content-length': String(512 * 1024) } });
    const incoming = join(t.dataDir, 'artifacts', 'incoming');
    await new Promise<void>((resolve) => {
      const req = httpRequest(signed.url, { method: 'PUT', headers: signed.init.headers as Record<string, string> });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(64 * 1024), () => {
        const poll = setInterval(() => {
          if (readdirSync(incoming).length > 0) {
            clearInterval(poll);
            req.destroy();
          }
        }, 5);
      });
    });
    for (let i = 0; i < 200 && readdirSync(incoming).length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(readdirSync(incoming), [], 'the partial body was removed');
    const after = await s3Fetch(t.ferry.url, t.ferry.root, { method: 'GET', path: '/aborted/k' });
    assert.deepEqual([after.status, errorCode(after.text)], [404, 'NoSuchKey']);
  });

  test('presigned URLs expire; clock skew is RequestTimeTooSkewed; XML bodies are bounded and must parse', async () => {
    await s3Fetch(t.ferry.url, t.ferry.root, { method: 'PUT', path: '/presign' });
    await s3Fetch(t.ferry.url, t.ferry.root, { method: 'PUT', path: '/presign/k', body: Buffer.from('v') });
    const fresh = await fetch(await presignS3(t.ferry.url, t.ferry.root, '/presign/k', 60));
    assert.deepEqual([fresh.status, await fresh.text()], [200, 'v']);
    const expired = await fetch(await presignS3(t.ferry.url, t.ferry.root, '/presign/k', 60, new Date(Date.now() - 120_000)));
    const expiredText = await expired.text();
    assert.deepEqual([expired.status, errorCode(expiredText)], [403, 'AccessDenied']);
    assert.match(expiredText, /Request has expired/);
    const skewed = await s3Fetch(t.ferry.url, t.ferry.root, { method: 'GET', path: '/presign/k', signingDate: new Date(Date.now() - 20 * 60_000) });
    assert.deepEqual([skewed.status, errorCode(skewed.text)], [403, 'RequestTimeTooSkewed']);
    const upload = await s3Fetch(t.ferry.url, t.ferry.root, { method: 'POST', path: '/presign/mp', query: { uploads: '' } });
    const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(upload.text)![1]!;
    const malformed = await s3Fetch(t.ferry.url, t.ferry.root, { method: 'POST', path: '/presign/mp', query: { uploadId }, body: Buffer.from('<CompleteMultipartUpload><Part>') });
    assert.deepEqual([malformed.status, errorCode(malformed.text)], [400, 'MalformedXML']);
    const entity = await s3Fetch(t.ferry.url, t.ferry.root, {
      method: 'POST',
      path: '/presign/mp',
      query: { uploadId },
      body: Buffer.from('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><CompleteMultipartUpload>&e;</CompleteMultipartUpload>'),
    });
    assert.deepEqual([entity.status, errorCode(entity.text)], [400, 'MalformedXML']);
    const huge = await s3Fetch(t.ferry.url, t.ferry.root, { method: 'POST', path: '/presign/mp', query: { uploadId }, body: Buffer.alloc(3 * 1024 * 1024, 0x20) });
    assert.deepEqual([huge.status, errorCode(huge.text)], [400, 'MaxMessageLengthExceeded']);
    const subresource = await s3Fetch(t.ferry.url, t.ferry.root, { method: 'GET', path: '/presign', query: { versioning: '' } });
    assert.deepEqual([subresource.status, errorCode(subresource.text)], [501, 'NotImplemented']);
    const notAllowed = await s3Fetch(t.ferry.url, t.ferry.root, { method: 'PATCH', path: '/presign/k' });
    assert.deepEqual([notAllowed.status, errorCode(notAllowed.text)], [405, 'MethodNotAllowed']);
  });
});

test('the S3 endpoint holds credential scopes to the region rule the SMS endpoint uses, FERRY_REGIONS included', async () => {
  const t = await startTestFerry({ regions: new Set(['us-east-1', 'eu-west-1']) });
  try {
    const allowed = await s3Fetch(t.ferry.url, t.ferry.root, { method: 'PUT', path: '/regional', region: 'eu-west-1' });
    assert.equal(allowed.status, 200);
    // A region-shaped scope outside the configured list would open a tenant partition the operator did not allow.
    const other = await s3Fetch(t.ferry.url, t.ferry.root, { method: 'PUT', path: '/elsewhere', region: 'ap-south-1' });
    assert.deepEqual([other.status, errorCode(other.text)], [400, 'AuthorizationHeaderMalformed']);
    const listed = await s3Fetch(t.ferry.url, t.ferry.root, { method: 'GET', path: '/', region: 'ap-south-1' });
    assert.equal(listed.status, 400);
  } finally {
    await t.close();
  }
});
