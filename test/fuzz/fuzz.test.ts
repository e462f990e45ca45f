/**
 * The fuzz suite: a few thousand generated requests against a real Ferry — every SMS operation (generated from the
 * SMS model in ../shared/spec/model), Ferry's own operations, protocol-level variations of signing, targets and
 * media types, and every route of the connector protocol. Nothing may answer 5xx; SMS errors must be AWS-shaped
 * (`__type` and `message`, the status that type has) and connector errors `{"error","message"}`; afterwards the
 * service must be healthy, still answer, and not have grown without bound.
 *
 * Seeded: FERRY_FUZZ_SEED=<n> replays a run; every failure message starts with the seed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';
import {
  CreateReplicationJobCommand,
  GetConnectorsCommand,
  GetReplicationJobsCommand,
  GetServersCommand,
  ImportServerCatalogCommand,
} from '@aws-sdk/client-sms';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { vms, type TestConnector } from '../helpers/testConnector.ts';
import { ERROR_STATUS } from '../../src/lib/errors.ts';
import { ferryOperations, FERRY_TARGET_PREFIX } from '../../src/operations/ferry/index.ts';
import { bodyText, modelValue, Random, shapeValue, type Context, type Model, type Pools } from './generate.ts';
import { connectorRequest } from './connectorRequests.ts';

const MODEL_PATH = fileURLToPath(new URL('../../../shared/spec/model/service-2.json', import.meta.url));
if (!existsSync(MODEL_PATH)) {
  throw new Error(`The fuzz suite generates SMS requests from the SMS model, and ${MODEL_PATH} is missing (see ../shared/spec/model/README.md).`);
}
const model = JSON.parse(readFileSync(MODEL_PATH, 'utf8')) as Model;

const SEED = process.env.FERRY_FUZZ_SEED ? Number(process.env.FERRY_FUZZ_SEED) : (Date.now() ^ (process.pid << 8)) >>> 0;
const PER_SMS_OPERATION = 40;
const PER_FERRY_OPERATION = 50;
const PROTOCOL_REQUESTS = 300;
const CONNECTOR_REQUESTS = 1100;
const IN_FLIGHT = 6;
/** Growth of this process's RSS over the whole run that counts as unbounded (the service runs in it). */
const MAX_RSS_GROWTH_MB = 300;
const CONTENT_TYPE = 'application/x-amz-json-1.1';

let t: TestFerry;
let connector: TestConnector;
let rssBefore = 0;
const pools: Record<string, string[]> = {};
let requestsSent = 0;

/** A full GC before each memory reading (node --test runs files without --expose-gc). */
v8.setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

const fail = (what: string, detail: string): never => assert.fail(`FERRY_FUZZ_SEED=${SEED}: ${what}: ${detail}`);

before(async () => {
  console.log(`fuzz seed ${SEED} (replay with FERRY_FUZZ_SEED=${SEED})`);
  t = await startTestFerry({ policy: { maxNonTerminalJobsPerAccount: 1000, onDemandRunsPerWindow: 1000 } });
  connector = await t.connector();
  await connector.register({ vmManagerId: 'vcenter-fuzz' });
  await t.sms.send(new ImportServerCatalogCommand({}));
  await connector.inventory(vms(12, 'fuzz'));
  const servers = (await t.sms.send(new GetServersCommand({}))).serverList!.map((s) => s.serverId!);
  for (const serverId of servers.slice(0, 6)) {
    await t.sms.send(new CreateReplicationJobCommand({ serverId, seedReplicationTime: new Date(), frequency: 12 }));
  }
  const runs = await connector.claim(3);
  pools.serverId = servers;
  pools.replicationJobId = (await t.sms.send(new GetReplicationJobsCommand({}))).replicationJobList!.map((j) => j.replicationJobId!);
  pools.replicationRunId = runs.map((r) => r.replicationRunId);
  pools.connectorId = [connector.connectorId];
  pools.nextToken = ['eyJhIjoxfQ', 'garbage-token', ''];
  pools.roleName = ['sms-role'];
  pools.kmsKeyId = ['alias/aws/ebs'];
  collectGarbage();
  rssBefore = process.memoryUsage().rss;
  const memory = process.memoryUsage();
  console.log(`before: threads ${readdirSync('/proc/self/task').length}, RSS ${Math.round(memory.rss / 1048576)} MB, heap ${Math.round(memory.heapUsed / 1048576)} MB, external ${Math.round(memory.external / 1048576)} MB`);
});

after(async () => {
  await t?.close();
});

function context(salt: number): Context {
  return { rnd: new Random(SEED ^ salt), pools: pools as Pools, now: Date.now() };
}

/** Signers per region (each caches its signing key). */
const signers = new Map<string, SignatureV4>();
function signer(region: string, keys = t.ferry.root): SignatureV4 {
  const key = `${region}\u0000${keys.accessKeyId}\u0000${keys.secretAccessKey}`;
  let s = signers.get(key);
  if (!s) {
    s = new SignatureV4({ credentials: keys, region, service: 'sms', sha256: Hash.bind(null, 'sha256') });
    signers.set(key, s);
  }
  return s;
}

async function signedHeaders(target: string, body: string, region = 'us-east-1', extra: Record<string, string> = {}): Promise<Record<string, string>> {
  const url = new URL(t.ferry.url);
  const headers = { host: url.host, 'content-type': CONTENT_TYPE, 'x-amz-target': target, ...extra };
  const signed = await signer(region).sign({ method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/', headers, body });
  const { host: _host, ...rest } = signed.headers as Record<string, string>;
  return rest;
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

async function send(method: string, path: string, headers: Record<string, string>, body: string | Buffer | undefined, what: string): Promise<Answer> {
  requestsSent++;
  let response: Response;
  const started = performance.now();
  try {
    response = await fetch(`${t.ferry.url}${path}`, { method, headers, body: method === 'GET' ? undefined : body, signal: AbortSignal.timeout(60_000) });
  } catch (error) {
    return fail(what, `no answer (${(error as Error).message})`);
  }
  const text = await response.text();
  if (process.env.FERRY_FUZZ_SLOW && performance.now() - started > Number(process.env.FERRY_FUZZ_SLOW)) console.log(`slow ${Math.round(performance.now() - started)} ms: ${what.slice(0, 200)}`);
  return { status: response.status, headers: response.headers, text };
}

/** What every SMS-endpoint answer must be: no 5xx, JSON 1.1, and an AWS error envelope with its type's status. */
function checkSmsAnswer(answer: Answer, what: string): void {
  if (answer.status >= 500) fail(what, `${answer.status} ${answer.text.slice(0, 300)}`);
  if (answer.headers.get('content-type') !== CONTENT_TYPE) fail(what, `content-type ${answer.headers.get('content-type')}`);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(answer.text) as Record<string, unknown>;
  } catch {
    return fail(what, `not JSON: ${answer.text.slice(0, 200)}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail(what, `not a JSON object: ${answer.text.slice(0, 200)}`);
  if (answer.status === 200) {
    if ('__type' in json) fail(what, `200 with an error type: ${answer.text.slice(0, 200)}`);
    return;
  }
  const type = json.__type;
  if (typeof type !== 'string' || !(type in ERROR_STATUS)) fail(what, `${answer.status} without a known __type: ${answer.text.slice(0, 300)}`);
  if (typeof json.message !== 'string' || (json.message as string).length < 5) fail(what, `no message: ${answer.text.slice(0, 300)}`);
  if (answer.status !== ERROR_STATUS[type as keyof typeof ERROR_STATUS]) fail(what, `${type} answered with status ${answer.status}`);
  if (answer.headers.get('x-amzn-errortype') !== type) fail(what, `X-Amzn-ErrorType ${answer.headers.get('x-amzn-errortype')} for ${type}`);
}

/** Runs `count` generated requests, IN_FLIGHT at a time. */
async function pool(count: number, one: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < count) await one(next++);
    }),
  );
}

test(`every SMS operation: ${PER_SMS_OPERATION} requests each, generated from the model`, async () => {
  const operations = Object.entries(model.operations);
  assert.equal(operations.length, 35, 'the model lists the 35 SMS operations');
  const requests = operations.flatMap(([name, op]) => Array.from({ length: PER_SMS_OPERATION }, (_, i) => ({ name, op, i })));
  await pool(requests.length, async (k) => {
    const { name, op, i } = requests[k]!;
    const ctx = context(k * 7919 + 1);
    const input = op.input ? modelValue(model, op.input.shape, name, ctx) : {};
    const body = bodyText(input, ctx.rnd);
    const what = `${name} #${i} ${body.slice(0, 160)}`;
    const headers = await signedHeaders(`${model.metadata.targetPrefix}.${name}`, body, ctx.rnd.chance(0.9) ? 'us-east-1' : 'eu-west-1');
    checkSmsAnswer(await send('POST', '/', headers, body, what), what);
  });
});

test(`Ferry's own operations (${FERRY_TARGET_PREFIX}.*): ${PER_FERRY_OPERATION} requests each`, async () => {
  const names = Object.keys(ferryOperations) as (keyof typeof ferryOperations)[];
  const requests = names.flatMap((name) => Array.from({ length: PER_FERRY_OPERATION }, (_, i) => ({ name, i })));
  await pool(requests.length, async (k) => {
    const { name, i } = requests[k]!;
    const ctx = context(k * 104729 + 2);
    const body = bodyText(shapeValue(ferryOperations[name].input, ctx), ctx.rnd);
    const what = `Ferry.${name} #${i} ${body.slice(0, 160)}`;
    checkSmsAnswer(await send('POST', '/', await signedHeaders(`${FERRY_TARGET_PREFIX}.${name}`, body), body, what), what);
  });
});

test(`the protocol around them: ${PROTOCOL_REQUESTS} requests with odd targets, media types, paths and signatures`, async () => {
  const ops = Object.keys(model.operations);
  await pool(PROTOCOL_REQUESTS, async (k) => {
    const { rnd } = context(k * 15485863 + 3);
    const op = rnd.pick(ops);
    const target = rnd.pick([
      `${model.metadata.targetPrefix}.${op}`,
      `${model.metadata.targetPrefix}.${op.toLowerCase()}`,
      `${FERRY_TARGET_PREFIX}.ListImages`,
      `${FERRY_TARGET_PREFIX}.${op}`,
      'DynamoDB_20120810.ListTables',
      `${model.metadata.targetPrefix}.`,
      '',
      '.'.repeat(500),
      `${model.metadata.targetPrefix}.__proto__`,
    ]);
    const body = bodyText({ maxResults: rnd.int(-5, 200) }, rnd);
    let headers = await signedHeaders(target, body, rnd.chance(0.9) ? 'us-east-1' : 'ap-southeast-2');
    const variant = rnd.int(0, 11);
    let sentBody: string = body;
    switch (variant) {
      case 0:
        delete headers.authorization;
        break;
      case 1:
        headers.authorization = rnd.pick(['AWS4-HMAC-SHA256', 'Bearer x', `AWS4-HMAC-SHA256 Credential=${'A'.repeat(3000)}`, '']);
        break;
      case 2:
        headers['content-type'] = rnd.pick(['', 'text/plain', 'application/json', 'application/x-amz-json-1.0', 'application/x-amz-json-1.1; charset=utf-8']);
        break;
      case 3:
        sentBody = `${body} `; // altered after signing
        break;
      case 4:
        headers['x-amz-meta-added'] = 'after signing';
        break;
      case 5:
        headers = await signedHeaders(target, body, rnd.pick(['US-EAST-1', '..', 'ünïcode-1', 'x'.repeat(2000), 'aws-global']));
        break;
      case 6:
        headers = await signedHeaders(target, body, 'us-east-1', { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' });
        break;
      case 7:
        headers['x-amz-date'] = rnd.pick(['20000101T000000Z', 'yesterday', '', '99991231T235959Z']);
        break;
      case 8:
        headers['x-amz-target'] = `${model.metadata.targetPrefix}.DeleteServerCatalog`;
        break;
      default:
        break;
    }
    const path = rnd.chance(0.85) ? '/' : rnd.pick(['/prefix/', '/a/b', '/?x=1', '/%2e%2e/']);
    const what = `protocol variant ${variant} target ${target.slice(0, 60)} path ${path}`;
    checkSmsAnswer(await send('POST', path, headers, sentBody, what), what);
  });
});

test(`the connector protocol: ${CONNECTOR_REQUESTS} requests over every route`, async () => {
  const allowed = new Set([200, 400, 401, 404, 409, 413, 415, 503]);
  await pool(CONNECTOR_REQUESTS, async (k) => {
    const ctx = context(k * 32452843 + 4);
    const request = connectorRequest(ctx, connector.token);
    const what = `${request.route} ${request.path.slice(0, 120)} ${String(request.body).slice(0, 120)}`;
    const answer = await send(request.method, request.path, request.headers, request.body, what);
    if (answer.status >= 500 && answer.status !== 503) fail(what, `${answer.status} ${answer.text.slice(0, 300)}`);
    if (!allowed.has(answer.status)) fail(what, `status ${answer.status}: ${answer.text.slice(0, 200)}`);
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(answer.text) as Record<string, unknown>;
    } catch {
      return fail(what, `not JSON (${answer.status}): ${answer.text.slice(0, 200)}`);
    }
    if (answer.status !== 200 && (typeof json.error !== 'string' || typeof json.message !== 'string')) {
      fail(what, `${answer.status} without {error, message}: ${answer.text.slice(0, 200)}`);
    }
    if (answer.status === 503 && json.error !== 'Busy') fail(what, `503 ${answer.text.slice(0, 200)}`);
  });
});

test('afterwards the service is healthy, answers, and its memory is bounded', async () => {
  const health = await fetch(`${t.ferry.url}/health`);
  assert.equal(health.status, 200, `FERRY_FUZZ_SEED=${SEED}: /health`);
  // The fuzzed calls may have disassociated the connector: the service must still take a new one.
  assert.ok(Array.isArray((await t.sms.send(new GetConnectorsCommand({}))).connectorList));
  const fresh = await t.connector();
  await fresh.register();
  assert.equal((await fresh.heartbeat()).catalogImportRequested !== undefined, true);
  collectGarbage();
  const grownMb = (process.memoryUsage().rss - rssBefore) / 1024 / 1024;
  const memory = process.memoryUsage();
  const mb = (n: number) => Math.round(n / 1024 / 1024);
  console.log(
    `fuzz seed ${SEED}: ${requestsSent} requests; RSS grew ${grownMb.toFixed(0)} MB (heap ${mb(memory.heapUsed)} MB, external ${mb(memory.external)} MB, array buffers ${mb(memory.arrayBuffers)} MB; threads ${readdirSync('/proc/self/task').length})`,
  );
  const planned = 35 * PER_SMS_OPERATION + Object.keys(ferryOperations).length * PER_FERRY_OPERATION + PROTOCOL_REQUESTS + CONNECTOR_REQUESTS;
  assert.equal(requestsSent, planned, 'every generated request was sent');
  assert.ok(grownMb < MAX_RSS_GROWTH_MB, `FERRY_FUZZ_SEED=${SEED}: RSS grew by ${grownMb.toFixed(0)} MB`);
});
