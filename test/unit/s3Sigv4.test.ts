/**
 * S3's SigV4: requests signed by the AWS SDK's signer as its S3 client signs them (path as sent, declared payload
 * hash) verify, for every kind of key; tampered, stale, mis-scoped or half-signed ones are refused with S3's codes;
 * presigned URLs verify until they expire; and S3 requests are recognised by their credential scope alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { authenticateS3, isS3Request, type S3SignedRequest } from '../../src/server/s3/authenticate.ts';
import { presignS3, s3Signer } from '../helpers/s3Signer.ts';

const KEY = { accessKeyId: 'AKIAFERRYS3SIGV4TEST', secretAccessKey: 's3/unit/test/secret/0123456789abcdefghij' };
const lookup = async (id: string) => (id === KEY.accessKeyId ? { secretAccessKey: KEY.secretAccessKey, accountId: '123456789012' } : undefined);
const NOW = Date.UTC(2026, 11, 3, 15, 4, 5);
const HOST = '127.0.0.1:7676';

/** Percent-encodes a key as botocore puts it in the path (everything but unreserved characters and `/`). */
const encodeKey = (key: string) => encodeURIComponent(key).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).replace(/%2F/g, '/');

async function signed(options: {
  method?: string;
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Buffer;
  payloadHash?: string;
  region?: string;
  at?: number;
}): Promise<S3SignedRequest> {
  const body = options.body ?? Buffer.alloc(0);
  const headers: Record<string, string> = {
    host: HOST,
    'x-amz-content-sha256': options.payloadHash ?? createHash('sha256').update(body).digest('hex'),
    ...options.headers,
  };
  const request = await s3Signer(KEY, options.region).sign(
    { method: options.method ?? 'GET', protocol: 'http:', hostname: '127.0.0.1', port: 7676, path: options.path, query: options.query ?? {}, headers, body },
    { signingDate: new Date(options.at ?? NOW) },
  );
  const wire: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) wire[name.toLowerCase()] = String(value);
  const query = Object.entries(options.query ?? {})
    .map(([k, v]) => `${encodeKey(k)}=${encodeKey(v).replace(/\//g, '%2F')}`)
    .join('&');
  return { method: options.method ?? 'GET', url: options.path + (query ? `?${query}` : ''), headers: wire };
}

const rejectsWith = async (promise: Promise<unknown>, code: string) =>
  assert.rejects(promise, (e: unknown) => {
    assert.equal((e as { code?: string }).code, code, (e as Error).message);
    return true;
  });

test('requests for any key verify: the path is signed exactly as sent, never normalised or re-encoded', async () => {
  const keys = ['plain.txt', '../up/../../x', 'dir//double//slash', '/leading', 'sp ace+plus%percent', 'ünïcödé/😀', "quote'(paren)*star!", 'a;b=c&d?e#f', 'trailing/'];
  for (const key of keys) {
    const request = await signed({ method: 'PUT', path: `/bucket/${encodeKey(key)}`, body: Buffer.from('hello'), headers: { 'content-type': 'text/plain', 'x-amz-meta-owner': 'ops' } });
    const caller = await authenticateS3(request, lookup, NOW);
    assert.equal(caller.accountId, '123456789012', key);
    assert.equal(caller.payloadHash, createHash('sha256').update('hello').digest('hex'));
    await rejectsWith(authenticateS3({ ...request, url: request.url.replace('/bucket/', '/bucket2/') }, lookup, NOW), 'SignatureDoesNotMatch');
  }
});

test('query strings, repeated spaces in headers, UNSIGNED-PAYLOAD and other regions verify', async () => {
  const list = await signed({ path: '/bucket', query: { 'list-type': '2', prefix: 'a b/+c', delimiter: '/', 'continuation-token': 'x_y-z' }, region: 'eu-west-1' });
  assert.equal((await authenticateS3(list, lookup, NOW)).region, 'eu-west-1');
  const uploads = await signed({ method: 'POST', path: '/bucket/key', query: { uploads: '' }, headers: { 'x-amz-meta-note': '  spaced   out ' } });
  await authenticateS3(uploads, lookup, NOW);
  const unsigned = await signed({ method: 'PUT', path: '/bucket/key', body: Buffer.from('data'), payloadHash: 'UNSIGNED-PAYLOAD' });
  assert.equal((await authenticateS3(unsigned, lookup, NOW)).payloadHash, 'UNSIGNED-PAYLOAD');
  await rejectsWith(authenticateS3({ ...list, url: list.url.replace('delimiter=%2F', 'delimiter=-') }, lookup, NOW), 'SignatureDoesNotMatch');
});

test('tampering, wrong keys and stale requests are refused with S3 error codes', async () => {
  const request = await signed({ method: 'PUT', path: '/bucket/key', body: Buffer.from('data'), headers: { 'content-md5': 'jXd/OF09/siBXSD3SWAm3A==' } });
  await rejectsWith(authenticateS3({ ...request, headers: { ...request.headers, 'content-md5': 'AAAAAAAAAAAAAAAAAAAAAA==' } }, lookup, NOW), 'SignatureDoesNotMatch');
  await rejectsWith(authenticateS3({ ...request, method: 'DELETE' }, lookup, NOW), 'SignatureDoesNotMatch');
  await rejectsWith(authenticateS3(request, async () => ({ secretAccessKey: 'wrong', accountId: '1' }), NOW), 'SignatureDoesNotMatch');
  await rejectsWith(authenticateS3(request, async () => undefined, NOW), 'InvalidAccessKeyId');
  await rejectsWith(authenticateS3(request, lookup, NOW + 16 * 60_000), 'RequestTimeTooSkewed');
  await rejectsWith(authenticateS3(request, lookup, NOW - 16 * 60_000), 'RequestTimeTooSkewed');
  // A changed declared hash changes the signature (the body itself is checked as it streams, in the store).
  await rejectsWith(authenticateS3({ ...request, headers: { ...request.headers, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } }, lookup, NOW), 'SignatureDoesNotMatch');
  // An x-amz-* header the signature does not cover.
  await rejectsWith(authenticateS3({ ...request, headers: { ...request.headers, 'x-amz-meta-added': 'later' } }, lookup, NOW), 'AccessDenied');
});

test('malformed or unsupported authentication is refused before any secret is looked at', async () => {
  const request = await signed({ path: '/bucket/key' });
  const auth = request.headers.authorization as string;
  const never = async () => assert.fail('no secret lookup for a malformed request');
  const variants: [Record<string, string>, string][] = [
    [{ authorization: auth.replace('/s3/', '/sms/') }, 'AuthorizationHeaderMalformed'],
    [{ authorization: auth.replace('/us-east-1/', '/US-EAST-1/') }, 'AuthorizationHeaderMalformed'],
    [{ authorization: auth.replace('/us-east-1/', `/${'x'.repeat(100)}/`) }, 'AuthorizationHeaderMalformed'],
    [{ authorization: auth.replace(/Signature=\w+/, 'Signature=xyz') }, 'AuthorizationHeaderMalformed'],
    [{ authorization: auth.replace(/SignedHeaders=[^,]+/, 'SignedHeaders=x-amz-content-sha256;x-amz-date') }, 'AccessDenied'],
    [{ 'x-amz-date': '2026-12-03' }, 'AccessDenied'],
    [{ 'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' }, 'NotImplemented'],
    [{ 'x-amz-content-sha256': 'not-a-hash' }, 'InvalidArgument'],
    [{ 'x-amz-security-token': 'token' }, 'InvalidToken'],
  ];
  for (const [change, code] of variants) await rejectsWith(authenticateS3({ ...request, headers: { ...request.headers, ...change } }, never, NOW), code);
  const { 'x-amz-content-sha256': _declared, ...withoutHash } = request.headers;
  await rejectsWith(authenticateS3({ ...request, headers: withoutHash }, never, NOW), 'InvalidRequest');
});

test('presigned URLs verify until they expire, and only unchanged', async () => {
  const url = new URL(await presignS3('http://127.0.0.1:7676', KEY, '/bucket/dir//report%20v2.txt', 600, new Date(NOW)));
  const request = { method: 'GET', url: url.pathname + url.search, headers: { host: HOST } };
  assert.equal((await authenticateS3(request, lookup, NOW + 599_000)).payloadHash, 'UNSIGNED-PAYLOAD');
  await rejectsWith(authenticateS3(request, lookup, NOW + 601_000), 'AccessDenied');
  await rejectsWith(authenticateS3({ ...request, url: request.url.replace('X-Amz-Expires=600', 'X-Amz-Expires=6000') }, lookup, NOW), 'SignatureDoesNotMatch');
  await rejectsWith(authenticateS3({ ...request, method: 'DELETE' }, lookup, NOW), 'SignatureDoesNotMatch');
  await rejectsWith(authenticateS3({ ...request, url: request.url.replace('X-Amz-Expires=600', 'X-Amz-Expires=999999') }, lookup, NOW), 'AuthorizationQueryParametersError');
  await rejectsWith(authenticateS3({ ...request, url: request.url.replace(/&X-Amz-Signature=\w+/, '') }, lookup, NOW), 'AuthorizationQueryParametersError');
  await rejectsWith(authenticateS3({ ...request, headers: { ...request.headers, authorization: 'AWS4-HMAC-SHA256 x' } }, lookup, NOW), 'InvalidRequest');
});

test('S3 requests are recognised by the credential scope, whatever the path', async () => {
  const s3 = await signed({ path: '/console/index.html' });
  assert.equal(isS3Request(s3.headers.authorization, s3.url), true);
  assert.equal(isS3Request(String(s3.headers.authorization).replace('/s3/', '/sms/'), '/'), false);
  assert.equal(isS3Request(undefined, '/health'), false);
  const presigned = new URL(await presignS3('http://127.0.0.1:7676', KEY, '/health/x', 60, new Date(NOW)));
  assert.equal(isS3Request(undefined, presigned.pathname + presigned.search), true);
  assert.equal(isS3Request(undefined, '/x?X-Amz-Credential=AK%2F20261203%2Fus-east-1%2Fsms%2Faws4_request'), false);
  // Signature version 2 exists only in S3: recognised, so that it is refused with S3's own answer.
  assert.equal(isS3Request('AWS AKIAEXAMPLE:c2lnbmF0dXJl', '/bucket/key'), true);
  assert.equal(isS3Request(undefined, '/bucket/key?AWSAccessKeyId=AK&Signature=x%2Fy&Expires=1'), true);
  assert.equal(isS3Request(undefined, '/bucket/key?%zz'), false);
  await rejectsWith(authenticateS3({ method: 'GET', url: '/bucket/key?AWSAccessKeyId=AK&Signature=x&Expires=1', headers: { host: HOST } }, lookup, NOW), 'InvalidRequest');
  await rejectsWith(authenticateS3({ method: 'GET', url: '/bucket/key', headers: { host: HOST, authorization: 'AWS AK:sig' } }, lookup, NOW), 'InvalidRequest');
});
