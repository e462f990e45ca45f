/**
 * The common SMS request (POST / with a Content-Length) skips Fastify (server/smsFastPath.ts); a chunked body still
 * goes through the Fastify routes. Both must answer alike: the same status, media type, error type, length and
 * bytes, for successes and for each kind of refusal, and both log one access line with the same fields.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { announceBody, type RawAnswer } from '../helpers/rawHttp.ts';

const PREFIX = 'AWSServerMigrationService_V2016_10_24';
const CONTENT_TYPE = 'application/x-amz-json-1.1';

let t: TestFerry;
before(async () => {
  t = await startTestFerry();
});
after(async () => {
  await t.close();
});

/** Signed headers for `body` (Content-Length left unsigned, so the same signature serves both framings). */
async function signedHeaders(operation: string, body: string, secret = t.ferry.root.secretAccessKey): Promise<Record<string, string>> {
  const url = new URL(t.ferry.url);
  const signer = new SignatureV4({
    credentials: { accessKeyId: t.ferry.root.accessKeyId, secretAccessKey: secret },
    region: 'us-east-1',
    service: 'sms',
    sha256: Hash.bind(null, 'sha256'),
    applyChecksum: false,
  });
  const signed = await signer.sign({
    method: 'POST',
    protocol: 'http:',
    hostname: url.hostname,
    port: Number(url.port),
    path: '/',
    headers: { host: url.host, 'content-type': CONTENT_TYPE, 'x-amz-target': `${PREFIX}.${operation}` },
    body,
  });
  const { host: _host, ...headers } = signed.headers as Record<string, string>;
  return headers;
}

async function send(headers: Record<string, string>, body: string, framing: 'length' | 'chunked'): Promise<RawAnswer> {
  const bytes = Buffer.from(body);
  const framed =
    framing === 'length'
      ? { headers: { ...headers, 'content-length': String(bytes.length) }, bodyPrefix: bytes }
      : { headers: { ...headers, 'transfer-encoding': 'chunked' }, bodyPrefix: Buffer.concat([bytes.length > 0 ? Buffer.from(`${bytes.length.toString(16)}\r\n${body}\r\n`) : Buffer.alloc(0), Buffer.from('0\r\n\r\n')]) };
  const answer = await announceBody(t.ferry.url, { method: 'POST', path: '/', ...framed });
  assert.notEqual(answer, 'timeout');
  return answer as RawAnswer;
}

/** What a client can tell apart: everything but the request id and the date. */
function visible(answer: RawAnswer): unknown {
  const { 'x-amzn-requestid': requestId, date: _date, ...headers } = answer.headers;
  assert.match(requestId ?? '', /^[0-9a-f-]{36}$/);
  return { status: answer.status, headers, body: answer.body };
}

test('the fast path and the Fastify route give the same answers, successes and refusals alike', async () => {
  const cases: { name: string; operation: string; body: string; secret?: string; status: number; errorType?: string }[] = [
    { name: 'a read', operation: 'GetServers', body: '{"maxResults":5}', status: 200 },
    { name: 'an empty body', operation: 'GetConnectors', body: '', status: 200 },
    { name: 'a create for a server that does not exist', operation: 'CreateReplicationJob', body: '{"serverId":"s-12345678","seedReplicationTime":1,"frequency":12}', status: 400, errorType: 'InvalidParameterException' },
    { name: 'JSON that does not parse', operation: 'GetConnectors', body: '{nope', status: 400, errorType: 'SerializationException' },
    { name: 'a member of the wrong type', operation: 'GetServers', body: '{"maxResults":"x"}', status: 400, errorType: 'SerializationException' },
    { name: 'an unknown operation', operation: 'Frobnicate', body: '{}', status: 400, errorType: 'UnknownOperationException' },
    { name: 'a wrong secret', operation: 'GetConnectors', body: '{}', secret: 'not-the-secret', status: 400, errorType: 'InvalidSignatureException' },
  ];
  for (const c of cases) {
    const headers = await signedHeaders(c.operation, c.body, c.secret);
    const direct = await send(headers, c.body, 'length');
    const routed = await send(headers, c.body, 'chunked');
    assert.equal(direct.status, c.status, `${c.name}: ${direct.body}`);
    assert.equal(direct.headers['content-type'], CONTENT_TYPE, c.name);
    assert.equal(direct.headers['x-amzn-errortype'], c.errorType, c.name);
    assert.equal(direct.headers['content-length'], String(Buffer.byteLength(direct.body)), c.name);
    assert.deepEqual(visible(direct), visible(routed), c.name);
  }
});

test('a request the fast path serves is counted in the metrics like one Fastify serves', async () => {
  const before = await (await fetch(`${t.ferry.url}/metrics`)).text();
  const count = (text: string) => Number(/ferry_api_requests_total\{operation="GetConnectors",outcome="success"\} (\d+)/.exec(text)?.[1] ?? 0);
  const headers = await signedHeaders('GetConnectors', '{}');
  assert.equal((await send(headers, '{}', 'length')).status, 200);
  assert.equal((await send(headers, '{}', 'chunked')).status, 200);
  const afterBoth = await (await fetch(`${t.ferry.url}/metrics`)).text();
  assert.equal(count(afterBoth) - count(before), 2, afterBoth.split('\n').filter((line) => line.includes('GetConnectors')).join('\n'));
});
