/**
 * Several webhook dispatchers (as on several nodes) sharing one outbox, on every store dialect: a real HTTP receiver
 * sees each event exactly once and each key's events in commit order, even when some deliveries fail and are
 * retried, and a dispatcher that stops hands its rows to the others.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { WebhookDispatcher } from '../../src/observability/webhooks/dispatcher.ts';
import { outboxDb } from '../../src/store/outbox/outboxTable.ts';
import { claimDueEvents, insertOutboxRows, outboxStatusCounts, type OutboxInsert } from '../../src/store/outbox/outboxRepository.ts';
import { storeDialects, type StoreUnderTest } from '../helpers/stores.ts';

interface Receiver {
  url: string;
  /** event id → deliveries accepted (2xx) */
  accepted: Map<string, number>;
  /** per ordering key, the event ids in the order they were accepted */
  order: Map<string, string[]>;
  server: Server;
}

/** Accepts every event but answers 503 to each one's first attempt when `failFirst` holds for it. */
async function startReceiver(failFirst: (id: string) => boolean): Promise<Receiver> {
  const accepted = new Map<string, number>();
  const order = new Map<string, string[]>();
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const { id, key } = JSON.parse(body) as { id: string; key: string };
      if (req.headers['x-ferry-attempt'] === '1' && failFirst(id)) {
        res.writeHead(503).end();
        return;
      }
      accepted.set(id, (accepted.get(id) ?? 0) + 1);
      order.set(key, [...(order.get(key) ?? []), id]);
      // A little latency, so deliveries of several dispatchers overlap.
      setTimeout(() => res.writeHead(204).end(), 2);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, accepted, order, server };
}

const EVENTS = 240;
const KEYS = 12;

for (const dialect of storeDialects) {
  describe(`webhook dispatchers sharing one outbox (${dialect.name})`, () => {
    let under: StoreUnderTest;
    let receiver: Receiver;
    before(async () => {
      under = await dialect.open();
      receiver = await startReceiver((id) => Number(id.slice(1)) % 10 === 3);
    });
    after(async () => {
      receiver.server.close();
      await under.dispose();
    });

    test('every event is delivered exactly once, in order per key, with three dispatchers claiming', async () => {
      const db = outboxDb(under.store.db);
      const rows: OutboxInsert[] = Array.from({ length: EVENTS }, (_, i) => {
        const id = `e${i}`;
        const key = `job-${i % KEYS}`;
        return { event_id: id, url: receiver.url, ordering_key: key, body: JSON.stringify({ id, key }), created_at: Date.now(), status: 'pending', attempts: 0, next_attempt_at: 0, last_error: null, dead_at: null };
      });
      await insertOutboxRows(db, rows);
      const log = pino({ level: 'silent' });
      const delivered = new Map<string, number>();
      const dispatchers = ['node-a', 'node-b', 'node-c'].map(
        (owner) =>
          new WebhookDispatcher({
            db,
            capabilities: under.store.capabilities,
            urls: [receiver.url],
            secret: 'test-secret',
            log,
            userAgent: 'ferry-test',
            owner,
            delivery: { concurrency: 4, retryBaseMs: 20, retryMaxMs: 50, pollMs: 20, timeoutMs: 5000 },
            observe: (outcome) => {
              if (outcome === 'delivered') delivered.set(owner, (delivered.get(owner) ?? 0) + 1);
            },
          }),
      );
      await Promise.all(dispatchers.map((d) => d.start()));
      // One dispatcher stops half-way: what it held goes back to the others.
      const deadline = Date.now() + 60_000;
      while (receiver.accepted.size < EVENTS / 2 && Date.now() < deadline) await sleep(10);
      await dispatchers[0]!.stop();
      while (receiver.accepted.size < EVENTS && Date.now() < deadline) await sleep(20);
      // A moment more, so a second delivery of anything would have arrived.
      await sleep(200);
      await Promise.all(dispatchers.slice(1).map((d) => d.stop()));

      assert.equal(receiver.accepted.size, EVENTS, 'every event arrived');
      const twice = [...receiver.accepted].filter(([, n]) => n !== 1);
      assert.deepEqual(twice, [], 'no event arrived twice');
      for (let k = 0; k < KEYS; k++) {
        const expected = rows.filter((r) => r.ordering_key === `job-${k}`).map((r) => r.event_id);
        assert.deepEqual(receiver.order.get(`job-${k}`), expected, `job-${k}'s events arrived in commit order`);
      }
      assert.ok([...delivered.values()].filter((n) => n > 0).length >= 2, `the dispatchers shared the work: ${JSON.stringify([...delivered])}`);
      assert.deepEqual(await outboxStatusCounts(db), { pending: 0, dead: 0, delivered: EVENTS });
      const held = await db.selectFrom('webhook_outbox').select('seq').where('claimed_by', 'is not', null).execute();
      assert.deepEqual(held, [], 'no claim outlives its delivery');
    });

    test('events claimed by a node that died go out once its leases lapse, through another node', async () => {
      const db = outboxDb(under.store.db);
      await db.deleteFrom('webhook_outbox').execute();
      const rows: OutboxInsert[] = ['d1', 'd2', 'd3'].map((id) => ({ event_id: id, url: receiver.url, ordering_key: `job-${id}`, body: JSON.stringify({ id, key: `job-${id}` }), created_at: Date.now(), status: 'pending', attempts: 0, next_attempt_at: 0, last_error: null, dead_at: null }));
      await insertOutboxRows(db, rows);
      // A node claims everything, then is never heard from again.
      const leaseMs = 400;
      const claimedAt = Date.now();
      const { claimed } = await claimDueEvents(db, under.store.capabilities, { owner: 'node-dead', urls: [receiver.url], now: claimedAt, leaseMs, limit: 10 });
      assert.equal(claimed.length, 3);
      const survivor = new WebhookDispatcher({
        db,
        capabilities: under.store.capabilities,
        urls: [receiver.url],
        secret: 'test-secret',
        log: pino({ level: 'silent' }),
        userAgent: 'ferry-test',
        owner: 'node-survivor',
        delivery: { pollMs: 50, timeoutMs: 5000 },
      });
      const arrivedAt = new Map<string, number>();
      await survivor.start();
      const deadline = Date.now() + 20_000;
      while (['d1', 'd2', 'd3'].some((id) => !receiver.accepted.has(id)) && Date.now() < deadline) {
        for (const id of ['d1', 'd2', 'd3']) if (receiver.accepted.has(id) && !arrivedAt.has(id)) arrivedAt.set(id, Date.now());
        await sleep(10);
      }
      await survivor.stop();
      for (const id of ['d1', 'd2', 'd3']) assert.equal(receiver.accepted.get(id), 1, `${id} delivered once`);
      for (const [id, at] of arrivedAt) assert.ok(at >= claimedAt + leaseMs, `${id} waited for the dead node's lease (${at - claimedAt} ms)`);
      assert.deepEqual(await outboxStatusCounts(db), { pending: 0, dead: 0, delivered: 3 });
    });
  });
}
