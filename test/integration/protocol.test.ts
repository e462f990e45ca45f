/**
 * The wire protocol (spec §1) and SigV4 authentication (spec §2), exercised with raw `fetch` requests signed the way
 * the AWS SDK signs them, so that malformed and hostile requests the SDK would never produce can be sent. Also checks
 * that the App operations answer bad requests with modelled 4xx errors (the operation table's coverage of the model:
 * test/unit/modelCoverage.test.ts).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';
import { CreateAppCommand, GetConnectorsCommand, ListAppsCommand, SMSClient } from '@aws-sdk/client-sms';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { vms, type TestConnector } from '../helpers/testConnector.ts';
import { announceBody, type RawAnswer } from '../helpers/rawHttp.ts';
import { NOT_IMPLEMENTED_OPERATIONS, operations } from '../../src/operations/index.ts';
import { startFerry } from '../../src/main.ts';
import { createLogger } from '../../src/lib/logger.ts';

const PREFIX = 'AWSServerMigrationService_V2016_10_24';
const CONTENT_TYPE = 'application/x-amz-json-1.1';
const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;

let t: TestFerry;
let connector: TestConnector;

before(async () => {
  t = await startTestFerry();
  connector = await t.connector();
  await connector.register();
});

after(async () => {
  await t.close();
});

interface RawRequest {
  /** Operation name (prefixed automatically), a full target string via `rawTarget`, or null for no header. */
  op?: string | null;
  rawTarget?: string;
  body?: string | Buffer;
  /** Sign this body instead of the one sent (to simulate tampering in transit). */
  signedBody?: string;
  keys?: { accessKeyId: string; secretAccessKey: string };
  signingDate?: Date;
  service?: string;
  region?: string;
  /** Path signed and requested (default `/`). */
  path?: string;
  /** Path requested, when it should differ from the signed one. */
  sendPath?: string;
  /** Send no Authorization header. */
  unsigned?: boolean;
  /** Leave x-amz-content-sha256 out of the signed request (botocore style). */
  noContentSha?: boolean;
  contentType?: string;
  /** Sign and send x-amz-content-sha256: UNSIGNED-PAYLOAD. */
  unsignedPayload?: boolean;
}

interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown>;
}

async function raw(req: RawRequest = {}): Promise<RawResponse> {
  const url = new URL(t.ferry.url);
  const body = req.body ?? '{}';
  const path = req.path ?? '/';
  const headers: Record<string, string> = { host: url.host, 'content-type': req.contentType ?? CONTENT_TYPE };
  const target = req.rawTarget ?? (req.op === null ? undefined : `${PREFIX}.${req.op ?? 'GetConnectors'}`);
  if (target !== undefined) headers['x-amz-target'] = target;
  if (req.unsignedPayload) headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
  let sent: Record<string, string> = headers;
  if (!req.unsigned) {
    const signer = new SignatureV4({
      credentials: req.keys ?? t.ferry.root,
      region: req.region ?? 'us-east-1',
      service: req.service ?? 'sms',
      sha256: Hash.bind(null, 'sha256'),
      applyChecksum: !req.noContentSha,
    });
    const signed = await signer.sign(
      { method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path, headers, body: req.signedBody ?? body },
      { signingDate: req.signingDate ?? new Date() },
    );
    sent = signed.headers as Record<string, string>;
  }
  const { host: _host, ...fetchHeaders } = sent; // fetch sets Host itself (to the same host:port that was signed)
  const response = await fetch(`${t.ferry.url}${req.sendPath ?? path}`, { method: 'POST', headers: fetchHeaders, body });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    assert.fail(`response body is not JSON (status ${response.status}): ${text.slice(0, 200)}`);
  }
  return { status: response.status, headers: response.headers, text, json };
}

const REQUEST_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** What every response carries (spec §1.4, §1.5). */
function assertCommonHeaders(res: RawResponse): void {
  assert.equal(res.headers.get('content-type'), CONTENT_TYPE);
  assert.match(res.headers.get('x-amzn-requestid') ?? '', REQUEST_ID);
  assert.equal(typeof res.json, 'object');
  assert.ok(!Array.isArray(res.json));
}

function assertOk(res: RawResponse): void {
  assert.equal(res.status, 200, `expected 200, got ${res.status}: ${res.text}`);
  assertCommonHeaders(res);
  assert.equal(res.json.__type, undefined);
}

/** The error envelope: status, `__type`, a real `message`, and an `X-Amzn-ErrorType` that agrees with the body. */
function assertError(res: RawResponse, status: number, type: string, message?: RegExp): void {
  assert.equal(res.status, status, `expected ${status} ${type}, got ${res.status}: ${res.text}`);
  assertCommonHeaders(res);
  assert.equal(res.json.__type, type, res.text);
  assert.equal(typeof res.json.message, 'string');
  assert.ok((res.json.message as string).length >= 10, `message too thin: ${res.text}`);
  if (message) assert.match(res.json.message as string, message);
  const errorType = res.headers.get('x-amzn-errortype');
  if (errorType !== null) assert.equal(errorType.split(':')[0], type);
}

// ---------------------------------------------------------------------------------------------------------------
// §1.7 routing and decoding
// ---------------------------------------------------------------------------------------------------------------

test('a well-formed signed request succeeds with the JSON 1.1 media type and a request id', async () => {
  const res = await raw({ op: 'GetConnectors' });
  assertOk(res);
  assert.equal((res.json.connectorList as unknown[]).length, 1);
  // Request ids are per request.
  const again = await raw({ op: 'GetConnectors' });
  assert.notEqual(again.headers.get('x-amzn-requestid'), res.headers.get('x-amzn-requestid'));
  // The SDK surfaces the same header as $metadata.requestId.
  const viaSdk = await t.sms.send(new GetConnectorsCommand({}));
  assert.match(viaSdk.$metadata.requestId ?? '', REQUEST_ID);
});

test('X-Amz-Target missing → 400 UnknownOperationException', async () => {
  assertError(await raw({ op: null }), 400, 'UnknownOperationException', /X-Amz-Target/i);
});

test('X-Amz-Target with a wrong prefix → 400 UnknownOperationException', async () => {
  for (const rawTarget of [
    'DynamoDB_20120810.ListTables',
    'AWSServerMigrationService_V2016_10_23.GetConnectors',
    'awsservermigrationservice_v2016_10_24.GetConnectors',
    'GetConnectors',
    `${PREFIX}GetConnectors`,
    '',
  ]) {
    assertError(await raw({ rawTarget }), 400, 'UnknownOperationException');
  }
});

test('X-Amz-Target naming an unknown operation → 400 UnknownOperationException naming it', async () => {
  for (const op of ['DescribeEverything', 'getConnectors', 'constructor', '__proto__', 'toString', 'hasOwnProperty', '']) {
    const res = await raw({ op });
    assertError(res, 400, 'UnknownOperationException');
    if (op !== '') assert.ok((res.json.message as string).includes(op), res.text);
  }
});

test('malformed JSON → 400 SerializationException', async () => {
  for (const body of ['{"maxResults":', '{maxResults: 1}', 'not json', '{"a":1}}', '\u0000']) {
    assertError(await raw({ op: 'GetReplicationJobs', body }), 400, 'SerializationException', /JSON/);
  }
});

test('a JSON body that is not an object (array, string, number, null) → 400 SerializationException', async () => {
  for (const body of ['[]', '[{"maxResults":1}]', '"GetConnectors"', '42', 'null', 'true']) {
    assertError(await raw({ op: 'GetReplicationJobs', body }), 400, 'SerializationException', /object/);
  }
});

test('a member of the wrong JSON type → 400 SerializationException naming the member', async () => {
  const cases: [string, unknown, RegExp][] = [
    ['GetReplicationJobs', { maxResults: '10' }, /maxResults/],
    ['GetReplicationJobs', { maxResults: 2.5 }, /maxResults/],
    ['GetReplicationJobs', { replicationJobId: 5 }, /replicationJobId/],
    ['GetReplicationJobs', { nextToken: ['a'] }, /nextToken/],
    ['CreateReplicationJob', { serverId: 's-12345678', seedReplicationTime: 'yesterday', frequency: 1 }, /seedReplicationTime/],
    ['CreateReplicationJob', { serverId: 's-12345678', seedReplicationTime: 1, frequency: 1, runOnce: 'true' }, /runOnce/],
    ['CreateReplicationJob', { serverId: { id: 's-1' }, seedReplicationTime: 1, frequency: 1 }, /serverId/],
    ['CreateReplicationJob', { serverId: 's-12345678', seedReplicationTime: 1, frequency: 1, licenseType: 1 }, /licenseType/],
    ['GetServers', { vmServerAddressList: { vmId: 'vm-1' } }, /vmServerAddressList/],
    ['GetServers', { vmServerAddressList: ['vm-1'] }, /vmServerAddressList\[0\]/],
    ['GetServers', { vmServerAddressList: [{ vmId: 7 }] }, /vmServerAddressList\[0\]\.vmId/],
  ];
  for (const [op, body, message] of cases) {
    assertError(await raw({ op, body: JSON.stringify(body) }), 400, 'SerializationException', message);
  }
});

test('unknown members are ignored; null members count as absent', async () => {
  const res = await raw({ op: 'GetConnectors', body: JSON.stringify({ futureMember: 1, nested: { x: [1, 2] }, maxResults: null }) });
  assertOk(res);
  assert.equal((res.json.connectorList as unknown[]).length, 1);
  const jobs = await raw({ op: 'GetReplicationJobs', body: JSON.stringify({ Filter: 'x', maxResults: 5, replicationJobId: null }) });
  assertOk(jobs);
  assert.ok(Array.isArray(jobs.json.replicationJobList));
});

test('a body over 1 MiB → 413 with a JSON error envelope', async () => {
  const body = JSON.stringify({ description: 'x'.repeat(1024 * 1024) });
  const res = await raw({ op: 'GetConnectors', body });
  assertError(res, 413, 'RequestEntityTooLargeException', /1048576 bytes/);
  // The server still answers normally afterwards.
  assertOk(await raw({ op: 'GetConnectors' }));
});

test('the endpoint answers on any path, verifying the signature against the path received', async () => {
  assertOk(await raw({ op: 'GetConnectors', path: '/prefix/' }));
  assertError(await raw({ op: 'GetConnectors', path: '/', sendPath: '/prefix/' }), 400, 'InvalidSignatureException');
});

// ---------------------------------------------------------------------------------------------------------------
// §2 authentication
// ---------------------------------------------------------------------------------------------------------------

test('no Authorization header → 400 MissingAuthenticationTokenException', async () => {
  assertError(await raw({ op: 'GetConnectors', unsigned: true }), 400, 'MissingAuthenticationTokenException', /Authentication Token/i);
  // Mutations are refused too, before anything is looked at.
  assertError(await raw({ op: 'ImportServerCatalog', unsigned: true }), 400, 'MissingAuthenticationTokenException');
});

test('an unknown access key → 400 UnrecognizedClientException', async () => {
  const res = await raw({ keys: { accessKeyId: 'AKIAFERRYUNKNOWN0000', secretAccessKey: t.ferry.root.secretAccessKey } });
  assertError(res, 400, 'UnrecognizedClientException', /security token|access key/i);
});

test('a wrong secret → 400 InvalidSignatureException', async () => {
  const res = await raw({ keys: { accessKeyId: t.ferry.root.accessKeyId, secretAccessKey: 'not-the-secret-0123456789abcdefghijklmn' } });
  assertError(res, 400, 'InvalidSignatureException', /signature/i);
});

test('a signature scoped to another service → 400 InvalidSignatureException', async () => {
  assertError(await raw({ service: 'ec2' }), 400, 'InvalidSignatureException', /sms/);
});

test('X-Amz-Date 20 minutes off (either way) → 400 InvalidSignatureException mentioning expiry', async () => {
  for (const offset of [-20 * MINUTE_MS, 20 * MINUTE_MS]) {
    const res = await raw({ signingDate: new Date(Date.now() + offset) });
    assertError(res, 400, 'InvalidSignatureException', /expired/i);
  }
  // Within the 15-minute window is fine.
  assertOk(await raw({ signingDate: new Date(Date.now() - 10 * MINUTE_MS) }));
});

test('a body altered after signing → 400 InvalidSignatureException, with or without x-amz-content-sha256', async () => {
  const signedBody = JSON.stringify({ maxResults: 1 });
  const body = JSON.stringify({ maxResults: 2 });
  // JS style: x-amz-content-sha256 (the hash of the signed body) left in place.
  const withHash = await raw({ op: 'GetReplicationJobs', signedBody, body });
  assertError(withHash, 400, 'InvalidSignatureException', /x-amz-content-sha256|signature/i);
  // botocore style: no content hash header; the recomputed signature no longer matches.
  const without = await raw({ op: 'GetReplicationJobs', signedBody, body, noContentSha: true });
  assertError(without, 400, 'InvalidSignatureException', /signature/i);
  // Both styles succeed when the body is untouched.
  assertOk(await raw({ op: 'GetReplicationJobs', body }));
  assertOk(await raw({ op: 'GetReplicationJobs', body, noContentSha: true }));
});

test('a tampered mutation commits nothing', async () => {
  const before = await raw({ op: 'GetServers' });
  const res = await raw({ op: 'ImportServerCatalog', signedBody: '{}', body: '{ }' });
  assertError(res, 400, 'InvalidSignatureException');
  const afterwards = await raw({ op: 'GetServers' });
  assert.equal(afterwards.json.serverCatalogStatus, before.json.serverCatalogStatus);
});

test('an empty Content-Type is 415 like any other unsupported one', async () => {
  for (const contentType of ['', 'text/plain', 'application/xml']) {
    assertError(await raw({ op: 'GetConnectors', contentType }), 415, 'UnsupportedMediaTypeException');
  }
});

test('the headers are authenticated before the body is read: a bad request never waits for its body', async () => {
  const url = new URL(t.ferry.url);
  const base = { 'x-amz-target': `${PREFIX}.ImportServerCatalog`, 'content-type': CONTENT_TYPE, 'content-length': String(900 * 1024) };
  const cases: [Record<string, string>, string][] = [
    [{}, 'MissingAuthenticationTokenException'],
    [{ authorization: 'AWS4-HMAC-SHA256 nonsense' }, 'IncompleteSignatureException'],
    [
      {
        authorization: `AWS4-HMAC-SHA256 Credential=AKIAFERRYUNKNOWN0000/${new Date().toISOString().slice(0, 10).replaceAll('-', '')}/us-east-1/sms/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=${'0'.repeat(64)}`,
        'x-amz-date': new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, ''),
      },
      'UnrecognizedClientException',
    ],
  ];
  for (const [headers, type] of cases) {
    const answer = await announceBody(t.ferry.url, { method: 'POST', path: '/', headers: { ...base, ...headers } }, 3000);
    assert.notEqual(answer, 'timeout', `${type}: no answer while the body was unsent (host ${url.host})`);
    const { status, body } = answer as RawAnswer;
    assert.equal(status, 400, body);
    assert.equal((JSON.parse(body) as { __type: string }).__type, type, body);
  }
});

test('SigV4 as AWS: host and every x-amz-* header must be signed, and the payload too', async () => {
  // A request signed over host and x-amz-date only, its target then changed to a mutation.
  const url = new URL(t.ferry.url);
  const signer = new SignatureV4({ credentials: t.ferry.root, region: 'us-east-1', service: 'sms', sha256: Hash.bind(null, 'sha256'), applyChecksum: false });
  const signed = await signer.sign(
    { method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/', headers: { host: url.host }, body: '{}' },
    { signingDate: new Date() },
  );
  const { host: _host, ...headers } = signed.headers as Record<string, string>;
  const swapped = await fetch(t.ferry.url, {
    method: 'POST',
    headers: { ...headers, 'content-type': CONTENT_TYPE, 'x-amz-target': `${PREFIX}.ImportServerCatalog` },
    body: '{}',
  });
  const json = (await swapped.json()) as { __type: string; message: string };
  assert.equal(swapped.status, 400);
  assert.equal(json.__type, 'IncompleteSignatureException');
  assert.match(json.message, /x-amz-target/);
  // UNSIGNED-PAYLOAD, signed as such: the body would not be bound to the signature.
  const unsigned = await raw({ op: 'GetConnectors', unsignedPayload: true });
  assertError(unsigned, 400, 'InvalidSignatureException', /UNSIGNED-PAYLOAD/);
});

test('a credential scoped to a region that is not one is refused, and stores nothing', async () => {
  const regionsBefore = (await t.ferry.core.db.selectFrom('catalogs').select('region').execute()).map((r) => r.region);
  for (const region of ['US-EAST-1', '..', 'ünïcode-1', 'x'.repeat(8000), 'us-east-1.evil', 'aws-global']) {
    const res = await raw({ op: 'DeleteServerCatalog', region });
    assertError(res, 400, 'InvalidSignatureException', /scoped to a valid region/);
    assert.ok(res.text.length < 400, 'the message does not echo a long region');
  }
  const regionsAfter = (await t.ferry.core.db.selectFrom('catalogs').select('region').execute()).map((r) => r.region);
  assert.deepEqual(regionsAfter.sort(), regionsBefore.sort());
  // Real regions of every partition work.
  for (const region of ['eu-west-1', 'us-gov-west-1', 'cn-north-1', 'ap-southeast-4']) assertOk(await raw({ op: 'GetConnectors', region }));
});

// ---------------------------------------------------------------------------------------------------------------
// §7 App operations: implemented; bad requests get a modelled 4xx, so that clients do not retry
// ---------------------------------------------------------------------------------------------------------------

const APP_OPERATIONS = Object.keys(operations).filter((op) => /App|Template|ChangeSet/.test(op));

test('each of the 24 App operations answers an empty request with a modelled 4xx error or success, never a 5xx', async () => {
  assert.equal(APP_OPERATIONS.length, 24);
  assert.deepEqual(NOT_IMPLEMENTED_OPERATIONS, []);
  const modelled = new Set(['MissingRequiredParameterException', 'InvalidParameterException', 'OperationNotPermittedException']);
  for (const op of APP_OPERATIONS) {
    const res = await raw({ op, body: '{}' });
    assertCommonHeaders(res);
    if (res.status === 200) {
      assert.ok(['ListApps'].includes(op), `${op} succeeded on an empty request: ${res.text}`);
      continue;
    }
    assert.equal(res.status, 400, `${op}: status ${res.status} (5xx would make clients retry): ${res.text}`);
    assert.ok(modelled.has(res.json.__type as string), `${op}: ${res.text}`);
    assert.ok((res.json.message as string).length > 10, `${op}: the message says what to do: ${res.text}`);
  }
});

test('App operations still require authentication', async () => {
  assertError(await raw({ op: 'ListApps', unsigned: true }), 400, 'MissingAuthenticationTokenException');
  assertError(
    await raw({ op: 'CreateApp', keys: { accessKeyId: 'AKIAFERRYUNKNOWN0000', secretAccessKey: 'x'.repeat(40) } }),
    400,
    'UnrecognizedClientException',
  );
});

test('ListApps and CreateApp through the SDK: a named 400 error is not retried even with retries on', async () => {
  const retrying = new SMSClient({ region: 'us-east-1', endpoint: t.ferry.url, credentials: t.ferry.root, maxAttempts: 3 });
  try {
    assert.deepEqual((await retrying.send(new ListAppsCommand({}))).apps, []);
    const err = (await retrying.send(new CreateAppCommand({ description: 'no name' })).then(
      () => assert.fail('CreateApp without a name succeeded'),
      (e: unknown) => e,
    )) as Error & { $metadata: { httpStatusCode?: number; attempts?: number }; $fault?: string };
    assert.equal(err.name, 'MissingRequiredParameterException');
    assert.match(err.message, /name/);
    assert.equal(err.$metadata.httpStatusCode, 400);
    assert.equal(err.$metadata.attempts, 1, 'CreateApp was retried');
    assert.equal(err.$fault, 'client');
  } finally {
    retrying.destroy();
  }
});

// ---------------------------------------------------------------------------------------------------------------
// §1.3 / §1.4 timestamps
// ---------------------------------------------------------------------------------------------------------------

/** `"member":<number>` occurrences in a raw JSON text. */
function numbersOf(text: string, member: string): string[] {
  return [...text.matchAll(new RegExp(`"${member}":([^,}\\]]*)`, 'g'))].map((m) => m[1]!);
}

function assertEpochSeconds(text: string, member: string, near: number): void {
  const values = numbersOf(text, member);
  assert.ok(values.length > 0, `${member} missing from ${text}`);
  for (const value of values) {
    assert.match(value, /^\d{10}(\.\d{1,3})?$/, `${member} must be a JSON number of epoch seconds with ≤ 3 decimals, got ${value}`);
    assert.ok(Math.abs(Number(value) * 1000 - near) < 2 * DAY_MS, `${member}=${value} is not near ${new Date(near).toISOString()}`);
  }
}

test('timestamps go out as JSON numbers in epoch seconds (≤ 3 decimals) and come in as fractional seconds', async () => {
  await raw({ op: 'ImportServerCatalog' }).then(assertOk);
  assert.equal((await connector.inventory(vms(2, 'ts'))).status, 'AVAILABLE');
  const servers = await raw({ op: 'GetServers' });
  assertOk(servers);
  assertEpochSeconds(servers.text, 'lastModifiedOn', Date.now());
  assertEpochSeconds((await raw({ op: 'GetConnectors' })).text, 'associatedOn', Date.now());

  const serverId = (servers.json.serverList as { serverId: string }[])[0]!.serverId;
  // Other SDK versions send fractional seconds: the value must survive to the millisecond.
  const seedMs = Math.floor((Date.now() + DAY_MS) / 1000) * 1000 + 250;
  const created = await raw({
    op: 'CreateReplicationJob',
    body: `{"serverId":"${serverId}","seedReplicationTime":${seedMs / 1000},"frequency":6}`,
  });
  assertOk(created);
  const replicationJobId = created.json.replicationJobId as string;

  const jobs = await raw({ op: 'GetReplicationJobs', body: JSON.stringify({ replicationJobId }) });
  assertOk(jobs);
  const job = (jobs.json.replicationJobList as Record<string, unknown>[])[0]!;
  assert.equal(job.seedReplicationTime, seedMs / 1000);
  assert.equal(job.nextReplicationRunStartTime, seedMs / 1000);
  assertEpochSeconds(jobs.text, 'seedReplicationTime', seedMs);
  assertEpochSeconds(jobs.text, 'nextReplicationRunStartTime', seedMs);
  assertEpochSeconds(jobs.text, 'scheduledStartTime', seedMs);
  // Integers are JSON integers and booleans JSON booleans (spec §1.4 rule).
  assert.equal(job.frequency, 6);
  assert.equal(job.encrypted, false);
  assert.equal(job.numberOfRecentAmisToKeep, 0);
  // Absent members are omitted, never null.
  assert.ok(!jobs.text.includes('null'), jobs.text);
});

test('FERRY_REGIONS: only the listed regions are served; a bad list stops the service from starting', async () => {
  const narrow = await startTestFerry({ regions: new Set(['eu-west-1']) });
  try {
    const ok = await narrow.client(narrow.ferry.root, 'eu-west-1').send(new GetConnectorsCommand({}));
    assert.deepEqual(ok.connectorList, []);
    await assert.rejects(narrow.client(narrow.ferry.root, 'us-east-1').send(new GetConnectorsCommand({})), (e: Error) => {
      assert.equal(e.name, 'InvalidSignatureException');
      assert.match(e.message, /valid region, not 'us-east-1'/);
      return true;
    });
  } finally {
    await narrow.close();
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-regions-'));
  try {
    await assert.rejects(startFerry({ dataDir, env: { FERRY_REGIONS: 'us-east-1,the-moon' }, log: createLogger('silent') }), /FERRY_REGIONS: "the-moon" is not a region name/);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
