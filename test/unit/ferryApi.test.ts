/**
 * The shared caller of Ferry's own operations (src/client/ferryApi.ts), which the Node client and the web console
 * both use: what it sends (target, content type, signed host, the injected signer's headers and date) and how it
 * reads errors — the `{"__type","message"}` envelope in its prefixed forms, the header fallback, and answers with no
 * JSON at all, which the Node client once failed on with a SyntaxError instead of the HTTP status.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FerryApi, FerryApiError, type RequestSigner, type SignableRequest } from '../../src/client/ferryApi.ts';
import { FerryClient } from '../../src/client/ferryClient.ts';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
  body: string;
}

let server: Server;
let endpoint = '';
const seen: Seen[] = [];
/** What the next request is answered with. */
let answer: { status: number; headers?: Record<string, string>; body: string } = { status: 200, body: '{}' };

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(answer.status, answer.headers ?? {});
      res.end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** A signer that records what it was asked to sign and adds a recognisable Authorization. */
function recordingSigner(signedRequests: { request: SignableRequest; date?: Date }[]): RequestSigner {
  return {
    async sign(request, options) {
      signedRequests.push({ request, date: options?.signingDate });
      return { headers: { ...request.headers, authorization: 'TEST-SIGNATURE', 'x-amz-date': '20261122T150405Z' } };
    },
  };
}

test('a typed call: POST / with the Ferry target, the signed headers, one Host, and the wire output', async () => {
  const signed: { request: SignableRequest; date?: Date }[] = [];
  const date = new Date(Date.UTC(2026, 10, 22, 15, 4, 5));
  // The console hands over the SMS client's signer through an async factory and corrects its clock skew.
  const api = new FerryApi({ endpoint: `${endpoint}/ignored/path`, signer: async () => recordingSigner(signed), signingDate: () => date });
  answer = { status: 200, body: JSON.stringify({ replicationRunId: 'sms-run-1', replicationJobId: 'sms-job-1', state: 'ACTIVE', updatedAt: 1795359845.5 }) };
  seen.length = 0;
  const progress = await api.getRunProgress('sms-run-1');
  assert.equal(progress.updatedAt, 1795359845.5, 'timestamps arrive as epoch seconds');
  assert.equal(signed.length, 1);
  assert.equal(signed[0]!.date, date);
  assert.deepEqual(signed[0]!.request.headers, {
    host: new URL(endpoint).host,
    'content-type': 'application/x-amz-json-1.1',
    'x-amz-target': 'Ferry_20261122.GetRunProgress',
  });
  const request = seen[0]!;
  assert.equal(request.method, 'POST');
  assert.equal(request.url, '/');
  assert.equal(request.body, '{"replicationRunId":"sms-run-1"}');
  assert.equal(request.body, signed[0]!.request.body, 'the body sent is the body signed');
  assert.equal(request.headers.authorization, 'TEST-SIGNATURE');
  assert.equal(request.headers['x-amz-target'], 'Ferry_20261122.GetRunProgress');
  assert.equal(request.headers.host, new URL(endpoint).host, 'the signed Host is the one sent');
  assert.equal(request.rawHeaders.filter((h) => h.toLowerCase() === 'host').length, 1, 'exactly one Host header');
});

test('errors: the bare name from a prefixed __type, the error-type header without a body, and the status without JSON', async () => {
  const api = new FerryApi({ endpoint, signer: recordingSigner([]) });
  answer = { status: 400, body: JSON.stringify({ __type: 'com.amazonaws.ferry#InvalidParameterException', message: 'Replication run sms-run-9 does not exist.' }) };
  await assert.rejects(api.getRunProgress('sms-run-9'), (error: unknown) => {
    assert.ok(error instanceof FerryApiError);
    assert.equal(error.code, 'InvalidParameterException');
    assert.equal(error.name, 'InvalidParameterException');
    assert.equal(error.message, 'Replication run sms-run-9 does not exist.');
    assert.equal(error.status, 400);
    return true;
  });
  answer = { status: 403, headers: { 'x-amzn-errortype': 'InvalidSignatureException:http://internal.amazon.com/' }, body: '' };
  await assert.rejects(api.listImages(), { name: 'InvalidSignatureException', status: 403 });
  answer = { status: 502, headers: { 'content-type': 'text/html' }, body: '<html>Bad Gateway</html>' };
  await assert.rejects(api.listInstances('app-0123456789abcdef0'), { name: '502', message: 'Bad Gateway', status: 502 });
});

test('the Node client reports an answer without JSON as a FerryApiError with its status (it threw a SyntaxError)', async () => {
  const client = new FerryClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'AKIAFERRYUNITTEST001', secretAccessKey: 'unit/test/secret' } });
  answer = { status: 503, body: '' };
  seen.length = 0;
  await assert.rejects(client.getOnDemandQuota('sms-job-1'), (error: unknown) => {
    assert.ok(error instanceof FerryApiError, `a FerryApiError, not ${String(error)}`);
    assert.equal(error.status, 503);
    assert.equal(error.code, '503');
    return true;
  });
  // Its SigV4 signer signs for service sms in the client's region.
  assert.match(String(seen[0]!.headers.authorization), /^AWS4-HMAC-SHA256 Credential=AKIAFERRYUNITTEST001\/\d{8}\/us-east-1\/sms\/aws4_request, SignedHeaders=[^,]*host[^,]*x-amz-target/);
});
