/**
 * SigV4 verification: requests signed by the AWS SDK's own signer (@smithy/signature-v4) are accepted, tampered
 * ones refused, and the root-path computation gives the same answer as the full signer for every request shape.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';
import { verifySigV4, type SignedRequest } from '../../src/protocol/sigv4.ts';
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

for (const force of [false, true]) {
  test(`SDK-signed requests verify; a changed body or header does not (${force ? 'full signer' : 'root-path computation'})`, async () => {
    const verify = (request: SignedRequest, secrets: typeof lookup) => verifySigV4(request, secrets, NOW, 'sms', { fullSigner: force });
    for (let variant = 0; variant < 24; variant++) {
      const request = await signed(variant);
      const caller = await verify(request, lookup);
      assert.equal(caller.accountId, '123456789012');
      assert.equal(caller.region, variant % 2 ? 'eu-west-1' : 'us-east-1');
      const changedTarget = { ...request, headers: { ...request.headers, 'x-amz-target': 'AWSServerMigrationService_V2016_10_24.DeleteReplicationJob' } };
      await assert.rejects(verify(changedTarget, lookup), (e: unknown) => e instanceof ServiceError && e.code === 'InvalidSignatureException');
      if (request.headers['x-amz-content-sha256'] !== 'UNSIGNED-PAYLOAD') {
        const changedBody = { ...request, body: Buffer.concat([request.body, Buffer.from(' ')]) };
        await assert.rejects(verify(changedBody, lookup), (e: unknown) => e instanceof ServiceError && e.code === 'InvalidSignatureException');
      }
    }
    const wrongSecret = async (id: string) => ({ ...(await lookup(id))!, secretAccessKey: 'not-the-secret' });
    await assert.rejects(verify(await signed(5), wrongSecret), (e: unknown) => e instanceof ServiceError && e.code === 'InvalidSignatureException');
  });
}
