/**
 * Webhooks end to end: a real receiver (node:http on 127.0.0.1) gets every state change of a job — the job's and
 * its runs' — exactly once, in order, signed; a failed delivery is retried (same event id) without duplicating
 * anything; events staged while the receiver is down survive a restart; an event whose every attempt fails is
 * dead-lettered with a log line; and a receiver that hangs does not slow the API.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import {
  CreateReplicationJobCommand,
  DeleteReplicationJobCommand,
  GetReplicationJobsCommand,
  GetServersCommand,
  ImportServerCatalogCommand,
  SMSClient,
} from '@aws-sdk/client-sms';
import { startFerry, type RunningFerry } from '../../src/main.ts';
import { testServerPlace } from '../helpers/ferry.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { issueConnector } from '../../src/core/connectors.ts';
import type { FerryEvent } from '../../src/core/events.ts';
import type { DeliveryOptions } from '../../src/observability/webhooks/dispatcher.ts';
import { verifySignature } from '../../src/observability/webhooks/sign.ts';
import { JOB_DETAIL_TYPE, RUN_DETAIL_TYPE } from '../../src/observability/webhooks/event.ts';
import { TestConnector, vms } from '../helpers/testConnector.ts';
import { waitFor } from '../helpers/replication.ts';

// ── A webhook receiver ─────────────────────────────────────────────────────────────────────────────────────────

interface Delivery {
  headers: IncomingHttpHeaders;
  raw: string;
  body: { id: string; 'detail-type': string; detail: Record<string, string | null>; [key: string]: unknown };
  status: number;
  at: number;
}

class Receiver {
  readonly deliveries: Delivery[] = [];
  /** Decides each answer: a status, after a delay, or held until release(). */
  answer: (attempt: number) => { status: number; delayMs?: number; hold?: boolean } = () => ({ status: 204 });
  readonly #held: (() => void)[] = [];
  inFlight = 0;
  maxInFlight = 0;
  readonly #server: Server;
  constructor() {
    this.#server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (c: Buffer) => chunks.push(c));
      request.on('end', () => {
        this.inFlight++;
        this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
        const raw = Buffer.concat(chunks).toString('utf8');
        const { status, delayMs, hold } = this.answer(this.deliveries.length + this.#held.length + 1);
        const reply = () => {
          this.inFlight--;
          this.deliveries.push({ headers: request.headers, raw, body: JSON.parse(raw) as Delivery['body'], status, at: Date.now() });
          response.writeHead(status).end();
        };
        if (hold) this.#held.push(reply);
        else if (delayMs) setTimeout(reply, delayMs);
        else reply();
      });
    });
  }
  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    const address = this.#server.address() as { port: number };
    return `http://127.0.0.1:${address.port}/hooks/ferry`;
  }
  /** Answers the held requests, and every later one at once. */
  release(status = 200): void {
    this.answer = () => ({ status });
    for (const reply of this.#held.splice(0)) reply();
  }
  accepted(): Delivery[] {
    return this.deliveries.filter((d) => d.status >= 200 && d.status < 300);
  }
  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

// ── A Ferry with webhooks ──────────────────────────────────────────────────────────────────────────────────────

interface Started {
  ferry: RunningFerry;
  sms: SMSClient;
  dataDir: string;
  /** Every job and run state event the service published, in order. */
  published: Extract<FerryEvent, { type: 'job.state' | 'run.state' }>[];
  logs: () => string;
  connector(): Promise<TestConnector>;
  close(): Promise<void>;
}

const FAST: Partial<DeliveryOptions> = { retryBaseMs: 50, retryMaxMs: 200, timeoutMs: 5000 };

async function start(options: { urls: string[]; dataDir?: string; delivery?: Partial<DeliveryOptions>; env?: NodeJS.ProcessEnv }): Promise<Started> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'ferry-webhooks-'));
  let logText = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logText += chunk.toString();
      done();
    },
  });
  // The store and blocks FERRY_TEST_STORE / FERRY_TEST_BLOCKS ask for: the outbox is the store's, so this suite runs
  // on PostgreSQL + S3 too. A restart on a caller's data dir finds the same database again.
  const place = await testServerPlace(dataDir);
  const ferry = await startFerry({
    dataDir,
    ...(place.env.FERRY_STORE ? { store: place.env.FERRY_STORE } : {}),
    ...(place.env.FERRY_BLOCKS ? { blocks: place.env.FERRY_BLOCKS, s3Endpoint: place.env.FERRY_S3_ENDPOINT } : {}),
    log: createLogger('info', sink),
    env: options.env ?? {},
    webhookUrls: options.urls,
    webhookDelivery: { ...FAST, ...options.delivery },
  });
  const published: Started['published'] = [];
  ferry.core.events.subscribe((event) => {
    if (event.type === 'job.state' || event.type === 'run.state') published.push(event);
  });
  const sms = new SMSClient({ region: 'us-east-1', endpoint: ferry.url, credentials: ferry.root, maxAttempts: 1 });
  return {
    ferry,
    sms,
    dataDir,
    published,
    logs: () => logText,
    async connector() {
      const issued = await issueConnector(ferry.core, { accountId: ferry.root.accountId, region: 'us-east-1' }, null);
      return new TestConnector(ferry.url, issued.token, issued.connectorId);
    },
    async close() {
      sms.destroy();
      await ferry.close();
      // A caller-owned data dir may be started again (a restart): its database and bucket stay with it.
      if (!options.dataDir) await place.dispose();
    },
  };
}

async function catalogWithServers(s: Started, n: number): Promise<{ connector: TestConnector; serverIds: string[] }> {
  const connector = await s.connector();
  await connector.register();
  await s.sms.send(new ImportServerCatalogCommand({}));
  await connector.heartbeat();
  await connector.inventory(vms(n));
  const servers = (await s.sms.send(new GetServersCommand({}))).serverList ?? [];
  return { connector, serverIds: servers.map((x) => x.serverId!) };
}

/** What a receiver should see for one published event: its kind, state and ids. */
function expected(event: Started['published'][number]): string {
  return event.type === 'job.state'
    ? `${JOB_DETAIL_TYPE}|${event.replicationJobId}|${event.previousState}->${event.state}`
    : `${RUN_DETAIL_TYPE}|${event.replicationJobId}|${event.replicationRunId}|${event.state}`;
}
function seen(delivery: Delivery): string {
  const d = delivery.body.detail;
  return delivery.body['detail-type'] === JOB_DETAIL_TYPE
    ? `${JOB_DETAIL_TYPE}|${d.replicationJobId}|${d.previousState}->${d.state}`
    : `${RUN_DETAIL_TYPE}|${d.replicationJobId}|${d.replicationRunId}|${d.state}`;
}

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe('webhooks', { concurrency: false }, () => {
  test('every state change of a job reaches the receiver exactly once, in order, signed — the first delivery failing', async () => {
    const receiver = new Receiver();
    const url = await receiver.listen();
    cleanups.push(() => receiver.close());
    receiver.answer = (n) => ({ status: n === 1 ? 500 : 200 });
    const s = await start({ urls: [url] });
    cleanups.push(async () => {
      await s.close();
      rmSync(s.dataDir, { recursive: true, force: true });
    });
    // No secret given: one was generated into the data dir, readable by its owner only.
    const secretFile = join(s.dataDir, 'webhook-secret');
    assert.equal(statSync(secretFile).mode & 0o777, 0o600);
    const secret = readFileSync(secretFile, 'utf8').trim();
    assert.match(secret, /^[0-9a-f]{64}$/);

    const { connector, serverIds } = await catalogWithServers(s, 1);
    const { replicationJobId } = await s.sms.send(new CreateReplicationJobCommand({ serverId: serverIds[0]!, seedReplicationTime: new Date(), frequency: 12 }));
    const jobId = replicationJobId!;
    const run = await connector.claimWhenDue();
    await connector.progress(run.replicationRunId, 'Uploading', '10%');
    const image = await connector.completeWithImage(run.replicationRunId);
    await s.sms.send(new DeleteReplicationJobCommand({ replicationJobId: jobId }));
    await waitFor('the scheduler to finish the deletion', async () => {
      const job = (await s.sms.send(new GetReplicationJobsCommand({ replicationJobId: jobId }))).replicationJobList?.[0];
      return job?.state === 'DELETED' ? job : undefined;
    });
    // A read sees the commit as soon as SQLite has it; the event is published once the commit is durable, a moment later.
    await waitFor('the DELETED event', () => (s.published.some((e) => e.replicationJobId === jobId && e.type === 'job.state' && e.state === 'DELETED') ? true : undefined));

    const want = s.published.filter((e) => e.replicationJobId === jobId).map(expected);
    // The lifecycle the issue names is all there: job PENDING → ACTIVE → DELETING → DELETED, run PENDING → ACTIVE → COMPLETED.
    for (const step of [
      `${JOB_DETAIL_TYPE}|${jobId}|null->PENDING`,
      `${JOB_DETAIL_TYPE}|${jobId}|PENDING->ACTIVE`,
      `${JOB_DETAIL_TYPE}|${jobId}|ACTIVE->DELETING`,
      `${JOB_DETAIL_TYPE}|${jobId}|DELETING->DELETED`,
      `${RUN_DETAIL_TYPE}|${jobId}|${run.replicationRunId}|PENDING`,
      `${RUN_DETAIL_TYPE}|${jobId}|${run.replicationRunId}|ACTIVE`,
      `${RUN_DETAIL_TYPE}|${jobId}|${run.replicationRunId}|COMPLETED`,
    ]) {
      assert.ok(want.includes(step), `the service published ${step}: ${want.join(', ')}`);
    }
    await waitFor('every event delivered', () => (receiver.accepted().length >= want.length ? true : undefined), { timeoutMs: 10_000 });
    // Longer than any retry delay: nothing else arrives.
    await new Promise((resolve) => setTimeout(resolve, 500));

    const accepted = receiver.accepted();
    assert.deepEqual(accepted.map(seen), want, 'each state change once, in the order it happened');
    assert.equal(new Set(accepted.map((d) => d.body.id)).size, accepted.length, 'no event accepted twice');
    // The one failed attempt was retried as the same event, and only that one.
    const failed = receiver.deliveries.filter((d) => d.status === 500);
    assert.equal(failed.length, 1);
    const retry = accepted.find((d) => d.body.id === failed[0]!.body.id)!;
    assert.equal(retry.raw, failed[0]!.raw, 'a retry sends the same bytes');
    assert.equal(failed[0]!.headers['x-ferry-delivery-attempt'], '1');
    assert.equal(retry.headers['x-ferry-delivery-attempt'], '2');
    assert.equal(receiver.deliveries.length, want.length + 1);

    for (const delivery of receiver.deliveries) {
      assert.ok(verifySignature(secret, delivery.raw, delivery.headers['x-ferry-signature']), 'signed with the secret');
      assert.match(String(delivery.headers['x-ferry-signature']), /^sha256=[0-9a-f]{64}$/);
      assert.equal(delivery.headers['x-ferry-event-id'], delivery.body.id);
      assert.match(String(delivery.headers['x-ferry-timestamp']), /^\d{10}$/);
      assert.equal(delivery.headers['content-type'], 'application/json');
      assert.ok(!verifySignature('another secret', delivery.raw, delivery.headers['x-ferry-signature']));
    }
    // The CloudWatch shape.
    const first = accepted[0]!.body;
    assert.deepEqual(Object.keys(first), ['version', 'id', 'detail-type', 'source', 'account', 'time', 'region', 'resources', 'detail']);
    assert.equal(first.version, '0');
    assert.equal(first.source, 'aws.sms');
    assert.equal(first.account, s.ferry.root.accountId);
    assert.equal(first.region, 'us-east-1');
    assert.match(String(first.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.match(first.id, /^[0-9a-f-]{36}$/);
    assert.deepEqual(first.resources, [`arn:aws:sms:us-east-1:${s.ferry.root.accountId}:replication-job/${jobId}`]);
    assert.deepEqual(first.detail, { replicationJobId: jobId, state: 'PENDING', previousState: null, statusMessage: null });
    const completed = accepted.find((d) => d.body['detail-type'] === RUN_DETAIL_TYPE && d.body.detail.state === 'COMPLETED')!.body;
    assert.deepEqual(completed.detail, {
      replicationJobId: jobId,
      replicationRunId: run.replicationRunId,
      runType: 'AUTOMATIC',
      state: 'COMPLETED',
      previousState: 'ACTIVE',
      statusMessage: 'Completed',
      amiId: image,
    });

    assert.deepEqual(await s.ferry.webhooks!.outboxCounts(), { pending: 0, dead: 0 }, 'delivered rows leave the outbox');
    const metrics = await (await fetch(`${s.ferry.url}/metrics`)).text();
    assert.match(metrics, /^ferry_webhook_deliveries_total\{outcome="failed"\} 1$/m);
    assert.match(metrics, new RegExp(`^ferry_webhook_deliveries_total\\{outcome="delivered"\\} ${accepted.length}$`, 'm'));
    assert.ok(!s.logs().includes(secret), 'the secret is never logged');
  });

  test('events staged while the receiver is down survive a restart and are delivered once', async () => {
    const receiver = new Receiver();
    const url = await receiver.listen();
    cleanups.push(() => receiver.close());
    receiver.answer = () => ({ status: 503 });
    const dataDir = mkdtempSync(join(tmpdir(), 'ferry-webhooks-restart-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    // After the second start closes (cleanups run last first): the database and bucket this data dir kept.
    cleanups.push(async () => (await testServerPlace(dataDir)).dispose());
    const env = { FERRY_WEBHOOK_SECRET: 'a secret from the environment' };
    const first = await start({ urls: [url], dataDir, env, delivery: { retryBaseMs: 60_000, retryMaxMs: 60_000 } });
    const { serverIds } = await catalogWithServers(first, 2);
    for (const serverId of serverIds) {
      await first.sms.send(new CreateReplicationJobCommand({ serverId, seedReplicationTime: new Date(Date.now() + 3_600_000), frequency: 12 }));
    }
    const want = first.published.map(expected);
    assert.equal(want.length, 4, 'two jobs PENDING and their seed runs PENDING');
    await waitFor('the first attempts to fail', () => (receiver.deliveries.length >= 2 ? true : undefined));
    await first.close();
    assert.ok(!first.logs().includes(env.FERRY_WEBHOOK_SECRET), 'the secret is never logged');

    receiver.answer = () => ({ status: 202 });
    const second = await start({ urls: [url], dataDir, env });
    cleanups.push(() => second.close());
    await waitFor('the backlog delivered', () => (receiver.accepted().length >= want.length ? true : undefined), { timeoutMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const accepted = receiver.accepted();
    assert.deepEqual(accepted.map(seen).sort(), [...want].sort());
    assert.equal(new Set(accepted.map((d) => d.body.id)).size, want.length, 'each once');
    for (const jobId of new Set(first.published.map((e) => e.replicationJobId))) {
      const order = (list: string[]) => list.filter((x) => x.includes(`|${jobId}|`));
      assert.deepEqual(order(accepted.map(seen)), order(want), `events of ${jobId} in order`);
    }
    for (const d of receiver.deliveries) assert.ok(verifySignature(env.FERRY_WEBHOOK_SECRET, d.raw, d.headers['x-ferry-signature']));
  });

  test('an event whose every attempt fails is dead-lettered with a log line, and later events still go out', async () => {
    const receiver = new Receiver();
    const url = await receiver.listen();
    cleanups.push(() => receiver.close());
    receiver.answer = () => ({ status: 500 });
    const s = await start({ urls: [url], delivery: { retryBaseMs: 10, retryMaxMs: 20, maxAttempts: 3 } });
    cleanups.push(async () => {
      await s.close();
      rmSync(s.dataDir, { recursive: true, force: true });
    });
    const { serverIds } = await catalogWithServers(s, 1);
    const { replicationJobId } = await s.sms.send(
      new CreateReplicationJobCommand({ serverId: serverIds[0]!, seedReplicationTime: new Date(Date.now() + 3_600_000), frequency: 12 }),
    );
    const deadLines = () =>
      s
        .logs()
        .split('\n')
        .filter((l) => l.includes('dead-lettered'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    // The dispatcher logs a dead letter once its row is marked dead: the outbox can show both before the second line.
    await waitFor('both events dead-lettered and logged', async () =>
      (await s.ferry.webhooks!.outboxCounts()).dead === 2 && deadLines().length === 2 ? true : undefined,
    );
    assert.equal(receiver.deliveries.length, 6, 'three attempts for each of the two events');
    const lines = deadLines();
    assert.equal(lines.length, 2);
    assert.equal(lines[0]!.level, 40);
    assert.equal(lines[0]!.replicationJobId, replicationJobId);
    assert.equal(lines[0]!.attempts, 3);
    assert.equal(lines[0]!.lastError, 'HTTP 500');
    assert.equal(lines[0]!.origin, new URL(url).origin);
    assert.ok(!String(lines[0]!.msg).includes('/hooks/ferry'), 'the log names the origin only');
    const metrics = await (await fetch(`${s.ferry.url}/metrics`)).text();
    assert.match(metrics, /^ferry_webhook_deliveries_total\{outcome="dead"\} 2$/m);
    assert.match(metrics, /^ferry_webhook_outbox_events\{status="dead"\} 2$/m);

    receiver.answer = () => ({ status: 200 });
    await s.sms.send(new DeleteReplicationJobCommand({ replicationJobId }));
    await waitFor('the deletion delivered', () =>
      receiver.accepted().some((d) => d.body.detail.state === 'DELETING') ? true : undefined,
    );
  });

  test('a receiver that hangs does not slow the API, and deliveries stay within the concurrency bound', async () => {
    const receiver = new Receiver();
    const url = await receiver.listen();
    cleanups.push(() => receiver.close());
    // Every delivery hangs until the test lets go: an API call that waited for one would never return.
    receiver.answer = () => ({ status: 200, hold: true });
    const s = await start({ urls: [url], delivery: { concurrency: 2, timeoutMs: 60_000 } });
    cleanups.push(async () => {
      receiver.release();
      await s.close();
      rmSync(s.dataDir, { recursive: true, force: true });
    });
    const { serverIds } = await catalogWithServers(s, 6);
    const jobIds: string[] = [];
    for (const serverId of serverIds) {
      const t0 = performance.now();
      const { replicationJobId } = await s.sms.send(
        new CreateReplicationJobCommand({ serverId, seedReplicationTime: new Date(Date.now() + 3_600_000), frequency: 12 }),
      );
      jobIds.push(replicationJobId!);
      await s.sms.send(new GetReplicationJobsCommand({ replicationJobId }));
      assert.ok(performance.now() - t0 < 2000, 'a create and a get answered promptly');
    }
    await waitFor('two deliveries hanging', () => (receiver.inFlight === 2 ? true : undefined));
    assert.equal(receiver.accepted().length, 0, 'every API call returned while no delivery had been answered');
    // The bound holds: nothing more than 2 at once, however long they hang.
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(receiver.inFlight, 2);

    receiver.release();
    const want = s.published.map(expected);
    assert.equal(want.length, 12);
    await waitFor('every event delivered', () => (receiver.accepted().length >= want.length ? true : undefined), { timeoutMs: 30_000 });
    assert.ok(receiver.maxInFlight <= 2, `at most 2 deliveries at once; saw ${receiver.maxInFlight}`);
    const accepted = receiver.accepted().map(seen);
    assert.deepEqual([...accepted].sort(), [...want].sort());
    assert.equal(accepted.length, want.length);
    for (const jobId of jobIds) {
      const of = (list: string[]) => list.filter((x) => x.includes(`|${jobId}|`));
      assert.deepEqual(of(accepted), of(want), 'the job event before its run event');
    }
  });
});
