/**
 * SigV4 verification: requests signed by the AWS SDK's own signer (@smithy/signature-v4) are accepted, tampered
 * ones refused, for every request shape and every rule (signed host and x-amz-* headers, payload policy, region).
 * Ferry computes the canonical request itself (src/protocol/sigv4/canonical.ts); the SDK's signer is the reference
 * it is held to, for the root path every SMS client uses and for other paths and query strings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hash, randomBytes } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';
import { verifySigV4, type SignedRequest, type VerifyOptions } from '../../src/protocol/sigv4.ts';
import { ServiceError } from '../../src/lib/errors.ts';

const KEY = { accessKeyId: 'AKIAFERRYSIGV4TEST01', secretAccessKey: 'sigv4/unit/test/secret/0123456789abcdefghij' };
const lookup = async (id: string) => (id === KEY.accessKeyId ? { secretAccessKey: KEY.secretAccessKey, accountId: '123456789012' } : undefined);
const NOW = Date.UTC(2026, 10, 22, 15, 4, 5);

async function signed(variant: number): Promise<SignedRequest> {
  const signer = new SignatureV4({ credentials: KEY, region: variant % 2 ? 'eu-west-1' : 'us-east-1', service: 'sms', sha256: Hash.bind(null, 'sha256') });
  const body = variant % 3 === 0 ? Buffer.alloc(0) : Buffer.from(JSON.stringify({ maxResults: variant, nextToken: randomBytes(8).toString('hex') }));
  const headers: Record<string, string> = {
    host: '127.0.0.1:7676',
    'content-type': 'application/x-amz-json-1.1',
    'x-amz-target': 'AWSServerMigrationService_V2016_10_24.GetReplicationJobs',
  };
  if (variant % 4 === 1) headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
  if (variant % 5 === 2) headers['x-ferry-odd'] = '  spaced   out\tvalue ';
  if (variant % 7 === 3) headers['user-agent'] = 'aws-cli/2.15 botocore/1.34';
  const request = await signer.sign(
    { method: 'POST', protocol: 'http:', hostname: '127.0.0.1', port: 7676, path: '/', query: {}, headers, body },
    { signingDate: new Date(NOW - variant * 1000) },
  );
  const wire: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) wire[name.toLowerCase()] = String(value);
  return { method: 'POST', url: '/', headers: wire, body };
}

{
  test('SDK-signed requests verify; a changed body or header does not', async () => {
    const verify = (request: SignedRequest, secrets: typeof lookup, options: VerifyOptions = {}) => verifySigV4(request, secrets, NOW, 'sms', options);
    for (let variant = 0; variant < 24; variant++) {
      const request = await signed(variant);
      if (request.headers['x-amz-content-sha256'] === 'UNSIGNED-PAYLOAD') {
        // SMS signs its payloads: UNSIGNED-PAYLOAD passes only under the S3-style policy, and then binds no body.
        await assert.rejects(verify(request, lookup), (e: unknown) => e instanceof ServiceError && e.code === 'InvalidSignatureException' && /UNSIGNED-PAYLOAD/.test(e.message));
        const unsigned = { payload: 'signed-or-unsigned' } as const;
        assert.equal((await verify(request, lookup, unsigned)).accountId, '123456789012');
        assert.equal((await verify({ ...request, body: Buffer.from('{"other":"body"}') }, lookup, unsigned)).accountId, '123456789012');
        continue;
      }
      const caller = await verify(request, lookup);
      assert.equal(caller.accountId, '123456789012');
      assert.equal(caller.region, variant % 2 ? 'eu-west-1' : 'us-east-1');
      const changedTarget = { ...request, headers: { ...request.headers, 'x-amz-target': 'AWSServerMigrationService_V2016_10_24.DeleteReplicationJob' } };
      await assert.rejects(verify(changedTarget, lookup), (e: unknown) => e instanceof ServiceError && e.code === 'InvalidSignatureException');
      const changedBody = { ...request, body: Buffer.concat([request.body, Buffer.from(' ')]) };
      await assert.rejects(verify(changedBody, lookup), (e: unknown) => e instanceof ServiceError && e.code === 'InvalidSignatureException');
      // The S3-style policy changes nothing for a request that signs its payload.
      await assert.rejects(verify(changedBody, lookup, { payload: 'signed-or-unsigned' }), (e: unknown) => e instanceof ServiceError && e.code === 'InvalidSignatureException');
    }
    const wrongSecret = async (id: string) => ({ ...(await lookup(id))!, secretAccessKey: 'not-the-secret' });
    await assert.rejects(verify(await signed(5), wrongSecret), (e: unknown) => e instanceof ServiceError && e.code === 'InvalidSignatureException');
  });
}

/** A request signed over everything except `unsigned`, then given `after` (headers added or changed in transit). */
async function signedExcept(
  options: { unsigned?: string[]; after?: Record<string, string>; region?: string; contentSha?: string } = {},
): Promise<SignedRequest> {
  const signer = new SignatureV4({ credentials: KEY, region: options.region ?? 'us-east-1', service: 'sms', sha256: Hash.bind(null, 'sha256'), applyChecksum: false });
  const body = Buffer.from('{"maxResults":5}');
  const headers: Record<string, string> = {
    host: '127.0.0.1:7676',
    'content-type': 'application/x-amz-json-1.1',
    'x-amz-target': 'AWSServerMigrationService_V2016_10_24.GetReplicationJobs',
  };
  if (options.contentSha) headers['x-amz-content-sha256'] = options.contentSha;
  const request = await signer.sign(
    { method: 'POST', protocol: 'http:', hostname: '127.0.0.1', port: 7676, path: '/', query: {}, headers, body },
    { signingDate: new Date(NOW), unsignableHeaders: new Set(options.unsigned ?? []) },
  );
  const wire: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) wire[name.toLowerCase()] = String(value);
  return { method: 'POST', url: '/', headers: { ...wire, ...options.after }, body };
}

const signedHeadersOf = (request: SignedRequest) => /SignedHeaders=([^,]+)/.exec(String(request.headers['authorization']))![1]!.split(';');

function refusedAs(code: string, message: RegExp) {
  return (e: unknown) => e instanceof ServiceError && e.code === code && message.test(e.message);
}

{
  const verify = (request: SignedRequest, options: VerifyOptions = {}) => verifySigV4(request, lookup, NOW, 'sms', options);
  const path = 'SMS rules';

  test(`host must be a signed header (${path})`, async () => {
    const request = await signedExcept({ unsigned: ['host'] });
    assert.ok(!signedHeadersOf(request).includes('host'));
    await assert.rejects(verify(request), refusedAs('IncompleteSignatureException', /'Host' must be a 'SignedHeader'/));
  });

  test(`every x-amz-* header sent must be signed: a target swapped outside the signature is refused (${path})`, async () => {
    // Signed over host and x-amz-date alone, then pointed at another operation.
    const swapped = await signedExcept({
      unsigned: ['content-type', 'x-amz-target'],
      after: { 'x-amz-target': 'AWSServerMigrationService_V2016_10_24.DeleteReplicationJob' },
    });
    assert.deepEqual(signedHeadersOf(swapped), ['host', 'x-amz-date']);
    await assert.rejects(verify(swapped), refusedAs('IncompleteSignatureException', /x-amz-target.*not signed/));
    const unsignedHash = await signedExcept({ unsigned: ['x-amz-content-sha256'], after: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } });
    await assert.rejects(verify(unsignedHash, { payload: 'signed-or-unsigned' }), refusedAs('IncompleteSignatureException', /x-amz-content-sha256.*not signed/));
    const extra = await signedExcept({ after: { 'x-amz-meta-anything': 'added in transit' } });
    await assert.rejects(verify(extra), refusedAs('IncompleteSignatureException', /x-amz-meta-anything/));
    // Headers outside x-amz-* may stay unsigned (user-agent, x-amzn-trace-id), as the SDKs leave them.
    const unsignedOthers = await signedExcept({ after: { 'user-agent': 'aws-cli/2.9.19', 'x-amzn-trace-id': 'Root=1-abc' } });
    assert.equal((await verify(unsignedOthers)).accountId, '123456789012');
  });

  test(`the payload hash must be the body's SHA-256; other payload modes are refused (${path})`, async () => {
    const body = Buffer.from('{"maxResults":5}');
    const withHash = await signedExcept({ contentSha: hash('sha256', body) });
    assert.equal((await verify(withHash)).accountId, '123456789012');
    await assert.rejects(verify({ ...withHash, body: Buffer.from('{"maxResults":6}') }), refusedAs('InvalidSignatureException', /does not match the request body/));
    for (const contentSha of ['STREAMING-AWS4-HMAC-SHA256-PAYLOAD', hash('sha256', body).toUpperCase(), 'unsigned-payload']) {
      const odd = await signedExcept({ contentSha });
      for (const payload of ['signed', 'signed-or-unsigned'] as const) {
        await assert.rejects(verify(odd, { payload }), refusedAs('InvalidSignatureException', /x-amz-content-sha256/), `${contentSha} under ${payload}`);
      }
    }
  });

  test(`the credential scope must name a valid region (${path})`, async () => {
    for (const region of ['US-EAST-1', '..', 'us-east-1\u0301', 'ünïcode-1', 'x'.repeat(8000), 'us-east', 'useast1', '-us-east-1', 'us--east-1', 'aws-global', 'us-east-1-']) {
      const request = await signedExcept({ region });
      await assert.rejects(verify(request), refusedAs('InvalidSignatureException', /scoped to a valid region/), region.slice(0, 20));
    }
    for (const region of ['us-east-1', 'eu-west-1', 'us-gov-west-1', 'cn-north-1', 'ap-southeast-4', 'eu-isoe-west-1', 'us-isob-east-1', 'il-central-1']) {
      assert.equal((await verify(await signedExcept({ region }))).region, region);
    }
    // A configured list narrows it further.
    const regions = new Set(['eu-west-1']);
    assert.equal((await verify(await signedExcept({ region: 'eu-west-1' }), { regions })).region, 'eu-west-1');
    await assert.rejects(verify(await signedExcept({ region: 'us-east-1' }), { regions }), refusedAs('InvalidSignatureException', /valid region, not 'us-east-1'/));
  });
}

test('the canonical request is the SDK signer\'s for other paths and query strings too (its URI normalisation and encoding)', async () => {
  const signer = new SignatureV4({ credentials: KEY, region: 'us-east-1', service: 'sms', sha256: Hash.bind(null, 'sha256'), applyChecksum: false });
  const shapes: { path: string; query: Record<string, string> }[] = [
    { path: '/', query: { a: 'b' } },
    { path: '/v1/jobs', query: {} },
    { path: '/a/./b/../c/', query: {} },
    { path: '//double//slashes', query: { 'x y': 'z/w', empty: '' } },
    { path: '/space%20and%2Fslash', query: { 'ünï': 'cödé', star: '*!()\'' } },
    { path: '/..', query: { b: '2', a: '1', c: '~-._' } },
  ];
  for (const { path, query } of shapes) {
    const body = Buffer.from('{}');
    const headers = { host: '127.0.0.1:7676', 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AWSServerMigrationService_V2016_10_24.GetConnectors' };
    const request = await signer.sign({ method: 'POST', protocol: 'http:', hostname: '127.0.0.1', port: 7676, path, query, headers, body }, { signingDate: new Date(NOW) });
    const wire: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) wire[name.toLowerCase()] = String(value);
    // As a client sends it: the path as signed, the query percent-encoded.
    const rawQuery = Object.entries(query).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
    const url = rawQuery ? `${path}?${rawQuery}` : path;
    assert.equal((await verifySigV4({ method: 'POST', url, headers: wire, body }, lookup, NOW)).accountId, '123456789012', url);
    await assert.rejects(verifySigV4({ method: 'POST', url: `${url}${rawQuery ? '&' : '?'}extra=1`, headers: wire, body }, lookup, NOW), refusedAs('InvalidSignatureException', /does not match/), url);
  }
});
