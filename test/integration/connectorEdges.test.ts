/**
 * The connector protocol's edges (issue 8, defects 7 and 11): a request is authenticated before its body is read,
 * every route has a body limit sized to what it needs, path parameters have one spelling, a connector path never
 * falls through to the SMS endpoint, and progress reports say only possible things.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateReplicationJobCommand, GetReplicationRunsCommand, GetServersCommand, ImportServerCatalogCommand } from '@aws-sdk/client-sms';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { vms, type ClaimedRun, type TestConnector } from '../helpers/testConnector.ts';
import { announceBody, openRequest, type RawAnswer } from '../helpers/rawHttp.ts';

const PREFIX = '/ferry/connector/v1';
const MiB = 1024 * 1024;
const HASH = 'ab'.repeat(32);

let t: TestFerry;
let connector: TestConnector;
let run: ClaimedRun;

before(async () => {
  t = await startTestFerry();
  connector = await t.connector();
  await connector.register();
  await t.sms.send(new ImportServerCatalogCommand({}));
  await connector.inventory(vms(1, 'edge'));
  const [server] = (await t.sms.send(new GetServersCommand({}))).serverList!;
  await t.sms.send(new CreateReplicationJobCommand({ serverId: server!.serverId, seedReplicationTime: new Date(), frequency: 12 }));
  run = await connector.claimWhenDue();
});

after(async () => {
  await t.close();
});

/** POST/PUT with the connector's token (or `token`), a body and a media type. */
async function call(path: string, body: string | Buffer, options: { token?: string | null; method?: string; contentType?: string | null } = {}) {
  const headers: Record<string, string> = {};
  const token = options.token === undefined ? connector.token : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (options.contentType !== null) headers['content-type'] = options.contentType ?? 'application/json';
  const response = await fetch(`${t.ferry.url}${PREFIX}${path}`, { method: options.method ?? 'POST', headers, body });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    assert.fail(`not JSON (${response.status}): ${text.slice(0, 200)}`);
  }
  return { status: response.status, json };
}

function answered(answer: RawAnswer | 'timeout', status: number, error: string, what: string): Record<string, unknown> {
  assert.notEqual(answer, 'timeout', `${what}: no answer while the body was still unsent`);
  const { status: got, body } = answer as RawAnswer;
  assert.equal(got, status, `${what}: ${body}`);
  const json = JSON.parse(body) as Record<string, unknown>;
  assert.equal(json.error, error, `${what}: ${body}`);
  assert.equal(typeof json.message, 'string');
  return json;
}

describe('defect 7: authenticate before reading a body; limits per route', () => {
  test('a request without a valid token is answered 401 before any of its (30 MB) body is sent', async () => {
    const routes: [string, string][] = [
      ['POST', '/inventory'],
      ['POST', '/heartbeat'],
      ['POST', `/runs/${run.replicationRunId}/progress`],
      ['PUT', `/runs/${run.replicationRunId}/image/blocks/${HASH}`],
      ['POST', '/no/such/route'],
    ];
    for (const [method, path] of routes) {
      for (const authorization of [undefined, 'Bearer fct_bogus', 'Basic abc']) {
        const headers: Record<string, string> = { 'content-type': 'application/json', 'content-length': String(30 * 1000 * 1000) };
        if (authorization) headers.authorization = authorization;
        const answer = await announceBody(t.ferry.url, { method, path: `${PREFIX}${path}`, headers, bodyPrefix: '{"vms":[' }, 3000);
        answered(answer, 401, 'Unauthorized', `${method} ${path} with ${authorization ?? 'no token'}`);
      }
    }
  });

  test('concurrent 30 MB uploads with a bogus token cost no memory', async () => {
    // Raw sockets, so that the client side holds one 30 MB buffer however many uploads share it.
    const body = Buffer.alloc(30 * 1000 * 1000, 0x20);
    const headers = { authorization: 'Bearer fct_bogus', 'content-type': 'application/json', 'content-length': String(body.length) };
    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
    const uploads = Array.from({ length: 12 }, () => openRequest(t.ferry.url, { method: 'POST', path: `${PREFIX}/inventory`, headers, bodyPrefix: body }, 30_000));
    try {
      for (const upload of uploads) answered(await upload.answer, 401, 'Unauthorized', 'a bogus-token upload');
    } finally {
      clearInterval(sampler);
      for (const upload of uploads) upload.socket.destroy();
    }
    const grownMb = (peak - rssBefore) / MiB;
    // Buffered, the 12 bodies alone would be 360 MB.
    assert.ok(grownMb < 150, `RSS grew by ${grownMb.toFixed(0)} MB during 12 unauthenticated 30 MB uploads`);
  });

  test("a body over its route's limit is refused from its declared length, before it is sent", async () => {
    const cases: [string, string, number][] = [
      ['POST', `/runs/${run.replicationRunId}/progress`, 16 * 1024 + 1],
      ['POST', '/heartbeat', 16 * 1024 + 1],
      ['PUT', `/runs/${run.replicationRunId}/image/blocks/${HASH}`, 512 * 1024 + 1],
      ['POST', `/runs/${run.replicationRunId}/image/missing`, 512 * 1024 + 1],
      ['POST', `/runs/${run.replicationRunId}/image/begin`, 64 * 1024 + 1],
      ['POST', '/inventory', 32 * MiB + 1],
    ];
    for (const [method, path, length] of cases) {
      const contentType = method === 'PUT' ? 'application/octet-stream' : 'application/json';
      const headers = { authorization: `Bearer ${connector.token}`, 'content-type': contentType, 'content-length': String(length) };
      const answer = await announceBody(t.ferry.url, { method, path: `${PREFIX}${path}`, headers }, 3000);
      const json = answered(answer, 413, 'PayloadTooLarge', `${method} ${path}`);
      assert.match(json.message as string, new RegExp(`limit of ${length - 1} bytes`));
    }
    // A body actually sent over the limit (no length announced up front is the same).
    const res = await call(`/runs/${run.replicationRunId}/progress`, JSON.stringify({ stage: 'Validating', stageProgress: 'x'.repeat(100_000) }));
    assert.equal(res.status, 413);
    assert.equal(res.json.error, 'PayloadTooLarge');
  });

  test('one connector holds at most 64 MiB of request bodies in flight; more waits with a 503', async () => {
    const path = `${PREFIX}/runs/${run.replicationRunId}/image/blocks/${HASH}`;
    const headers = { authorization: `Bearer ${connector.token}`, 'content-type': 'application/octet-stream', 'content-length': String(512 * 1024) };
    const held = Array.from({ length: 128 }, () => openRequest(t.ferry.url, { method: 'PUT', path, headers }, 10_000));
    try {
      // Every held request must have passed the gate (the server waits for their bodies) before the next one tries.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const answer = await announceBody(t.ferry.url, { method: 'PUT', path, headers }, 3000);
      const json = answered(answer, 503, 'Busy', 'the 129th block upload');
      assert.match(json.message as string, /in flight/);
    } finally {
      for (const request of held) request.socket.destroy();
    }
    // Closed connections give their share back.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const block = await call(`/runs/${run.replicationRunId}/image/blocks/${HASH}`, Buffer.alloc(1024, 1), { method: 'PUT', contentType: 'application/octet-stream' });
    assert.notEqual(block.status, 503, JSON.stringify(block.json));
  });
});

describe('defect 11: smaller protocol edges', () => {
  test('a long run id gets a connector answer, never the SMS endpoint', async () => {
    const long = `sms-run-${'a'.repeat(112)}`;
    const res = await call(`/runs/${long}/progress`, JSON.stringify({ stage: 'Validating', stageProgress: '0%' }));
    assert.equal(res.status, 400, JSON.stringify(res.json));
    assert.equal(res.json.error, 'BadRequest');
    assert.match(res.json.message as string, /not a replication run id/);
    for (const runId of ['sms-run-0123456789abcdef0123', 'x', 'SMS-RUN-01234567', `r${'-'.repeat(300)}`]) {
      const other = await call(`/runs/${runId}/complete`, JSON.stringify({ amiId: 'ami-00000000000000001' }));
      assert.ok(other.status === 400 || other.status === 404, `${runId}: ${other.status} ${JSON.stringify(other.json)}`);
      assert.equal(typeof other.json.error, 'string', `${runId}: ${JSON.stringify(other.json)}`);
      assert.equal(other.json.__type, undefined);
    }
    for (const path of ['/runs/claim/everything', '', '/']) {
      const unknown = await call(path, '{}');
      assert.equal(unknown.status, 404, `${path}: ${JSON.stringify(unknown.json)}`);
      assert.equal(unknown.json.error, 'NotFound');
    }
  });

  test('a Content-Type that is not the route\'s, the empty one included, is 415', async () => {
    for (const contentType of ['', 'text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream']) {
      const res = await call('/heartbeat', '{}', { contentType });
      assert.equal(res.status, 415, `${JSON.stringify(contentType)}: ${JSON.stringify(res.json)}`);
      assert.equal(res.json.error, 'UnsupportedMediaType');
    }
    const block = await call(`/runs/${run.replicationRunId}/image/blocks/${HASH}`, Buffer.alloc(16), { method: 'PUT', contentType: 'application/json' });
    assert.equal(block.status, 415);
    // The route's own type, with parameters, or none at all, is fine.
    assert.equal((await call('/heartbeat', '{}', { contentType: 'application/json; charset=utf-8' })).status, 200);
    assert.equal((await call('/heartbeat', Buffer.from('{}'), { contentType: null })).status, 200);
  });

  test('progress: a bounded stageProgress, bytesDone ≤ bytesTotal, whole bytes; a malformed report is 400, not 409', async () => {
    const refused: [Record<string, unknown>, RegExp][] = [
      [{ stage: 'Uploading', stageProgress: 'x'.repeat(65) }, /stageProgress must be at most 64/],
      [{ stage: 'Uploading', stageProgress: '50%', bytesDone: 2048, bytesTotal: 1024 }, /bytesDone \(2048\) cannot exceed bytesTotal \(1024\)/],
      [{ stage: 'Uploading', stageProgress: '50%', bytesDone: 1.5, bytesTotal: 1024 }, /bytesDone must be a non-negative integer/],
      [{ stage: 'Uploading', stageProgress: '50%', bytesDone: 1, bytesTotal: 2 ** 60 }, /bytesTotal must be a non-negative integer/],
      [{ stage: 'Teleporting', stageProgress: '50%' }, /Unknown stage/],
    ];
    for (const [report, message] of refused) {
      const res = await call(`/runs/${run.replicationRunId}/progress`, JSON.stringify(report));
      assert.equal(res.status, 400, `${JSON.stringify(report).slice(0, 80)}: ${JSON.stringify(res.json)}`);
      assert.match(res.json.message as string, message);
    }
    const ok = await call(`/runs/${run.replicationRunId}/progress`, JSON.stringify({ stage: 'Uploading', stageProgress: '50%', bytesDone: 512, bytesTotal: 1024, bytesPerSecond: 10.5 }));
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    const runs = (await t.sms.send(new GetReplicationRunsCommand({ replicationJobId: run.replicationJobId }))).replicationRunList!;
    const shown = runs.find((r) => r.replicationRunId === run.replicationRunId);
    assert.deepEqual(shown!.stageDetails, { stage: 'Uploading', stageProgress: '50%' });
  });

  test('a disk index has one spelling: 0x1, 1.0, %201, 01, 1e0 are not disk 1', async () => {
    const records = JSON.stringify({ records: [[0, null]] });
    for (const disk of ['0x1', '1.0', '%201', '01', '1e0', '+1', '-1', '1%00', 'Infinity', '9'.repeat(30)]) {
      const res = await call(`/runs/${run.replicationRunId}/image/disks/${disk}/records`, records);
      assert.equal(res.status, 400, `${disk}: ${JSON.stringify(res.json)}`);
      assert.match(res.json.message as string, /disk index must be a non-negative integer in decimal/, disk);
    }
    // `1` passes the path check (and meets whatever the run's image says).
    const one = await call(`/runs/${run.replicationRunId}/image/disks/1/records`, records);
    assert.doesNotMatch(String(one.json.message ?? ''), /disk index/);
  });
});

test('still so: two connectors racing for 40 due runs never claim one twice', async () => {
  const race = await startTestFerry();
  try {
    const [a, b] = [await race.connector(), await race.connector()];
    await a.register();
    await b.register();
    await race.sms.send(new ImportServerCatalogCommand({}));
    await a.inventory(vms(40, 'race'));
    await b.inventory(vms(40, 'race'));
    const servers = (await race.sms.send(new GetServersCommand({ maxResults: 100 }))).serverList!;
    assert.equal(servers.length, 40);
    // A second back: the SDK sends whole seconds, so "now" may arrive as a moment ahead, after the claimers gave up.
    const now = new Date(Date.now() - 1000);
    for (const server of servers) await race.sms.send(new CreateReplicationJobCommand({ serverId: server.serverId, seedReplicationTime: now, frequency: 12 }));
    const claimed = new Map<string, string>();
    const claimer = async (connector: TestConnector, name: string) => {
      for (let empty = 0; empty < 5; ) {
        const runs = await connector.claim(1 + Math.floor(Math.random() * 4));
        if (runs.length === 0) {
          empty++;
          await new Promise((resolve) => setTimeout(resolve, 20));
          continue;
        }
        for (const run of runs) {
          assert.ok(!claimed.has(run.replicationRunId), `${run.replicationRunId} claimed by ${claimed.get(run.replicationRunId)} and ${name}`);
          claimed.set(run.replicationRunId, name);
        }
      }
    };
    await Promise.all([claimer(a, 'a'), claimer(b, 'b'), claimer(a, 'a2'), claimer(b, 'b2')]);
    assert.equal(claimed.size, 40, 'every due run was claimed, once');
  } finally {
    await race.close();
  }
});
