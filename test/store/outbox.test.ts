/**
 * The webhook outbox repository on every store dialect: claims take only the head of each (URL, ordering key),
 * exclude other claimers until the lease lapses, and only the holder of a live claim can mark, retry or dead-letter
 * a row; delivered rows are marked, then purged.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { outboxDb, type OutboxDb } from '../../src/store/outbox/outboxTable.ts';
import {
  claimDueEvents,
  insertOutboxRows,
  makePendingDue,
  markDead,
  markDelivered,
  outboxStatusCounts,
  pendingCountsByUrl,
  purgeDelivered,
  recordRetry,
  releaseClaims,
  type OutboxInsert,
} from '../../src/store/outbox/outboxRepository.ts';
import { storeDialects, type StoreUnderTest } from '../helpers/stores.ts';
import type { Kysely } from 'kysely';

const A = 'http://127.0.0.1:1/a';
const B = 'http://127.0.0.1:1/b';
const NOW = 1_800_000_000_000;
const LEASE = 30_000;

function row(url: string, key: string, id: string, extra: Partial<OutboxInsert> = {}): OutboxInsert {
  return { event_id: id, url, ordering_key: key, body: `{"id":"${id}"}`, created_at: NOW, status: 'pending', attempts: 0, next_attempt_at: 0, last_error: null, dead_at: null, ...extra };
}

for (const dialect of storeDialects) {
  describe(`webhook outbox repository (${dialect.name})`, () => {
    let under: StoreUnderTest;
    let db: Kysely<OutboxDb>;
    const caps = () => under.store.capabilities;
    before(async () => {
      under = await dialect.open();
      db = outboxDb(under.store.db);
    });
    after(() => under.dispose());
    beforeEach(async () => {
      await db.deleteFrom('webhook_outbox').execute();
    });

    const claim = (owner: string, now = NOW, limit = 100, urls = [A, B]) => claimDueEvents(db, caps(), { owner, urls, now, leaseMs: LEASE, limit });
    const ids = (rows: { event_id: string }[]) => rows.map((r) => r.event_id);

    test('a claim takes the oldest pending event of each key and URL, and nothing behind it', async () => {
      await insertOutboxRows(db, [row(A, 'job-1', 'e1'), row(A, 'job-1', 'e2'), row(A, 'job-2', 'e3'), row(B, 'job-1', 'e4')]);
      const first = await claim('node-1');
      assert.deepEqual(ids(first.claimed), ['e1', 'e3', 'e4']);
      assert.equal(first.wakeAt, Infinity, 'nothing waits');
      const second = await claim('node-2');
      assert.deepEqual(ids(second.claimed), [], 'held heads keep their keys for their holder; e2 waits behind e1');
      assert.equal(second.wakeAt, NOW + LEASE, 'heads held elsewhere are looked at again when their leases lapse');
      const e1 = first.claimed.find((r) => r.event_id === 'e1')!;
      assert.deepEqual(await markDelivered(db, 'node-1', [e1.seq], NOW), [e1.seq]);
      assert.deepEqual(ids((await claim('node-2')).claimed), ['e2'], 'once e1 is delivered, e2 is the head of job-1 at A');
    });

    test('the limit bounds a claim', async () => {
      await insertOutboxRows(db, [row(A, 'k1', 'e1'), row(A, 'k2', 'e2'), row(A, 'k3', 'e3')]);
      assert.deepEqual(ids((await claim('node-1', NOW, 2)).claimed), ['e1', 'e2']);
      assert.deepEqual(ids((await claim('node-2', NOW, 2)).claimed), ['e3']);
    });

    test('a lapsed lease makes the row claimable again, and its first holder can no longer mark it', async () => {
      await insertOutboxRows(db, [row(A, 'job-1', 'e1')]);
      const [held] = (await claim('node-1')).claimed;
      assert.ok(held);
      assert.deepEqual((await claim('node-2', NOW + LEASE - 1)).claimed, [], 'still leased one ms before its end');
      const [taken] = (await claim('node-2', NOW + LEASE)).claimed;
      assert.equal(taken?.seq, held.seq);
      assert.deepEqual(await markDelivered(db, 'node-1', [held.seq], NOW + LEASE + 1), [], 'the lapsed holder marks nothing');
      assert.equal(await recordRetry(db, 'node-1', held.seq, { attempts: 1, nextAttemptAt: 0, error: 'x' }), false);
      assert.equal(await markDead(db, 'node-1', held.seq, { attempts: 1, error: 'x', now: NOW }), false);
      assert.deepEqual(await markDelivered(db, 'node-2', [held.seq], NOW + LEASE + 1), [held.seq]);
      assert.deepEqual(await outboxStatusCounts(db), { pending: 0, dead: 0, delivered: 1 });
    });

    test('a retry releases the claim until its time; a restart makes it due at once', async () => {
      await insertOutboxRows(db, [row(A, 'job-1', 'e1'), row(A, 'job-1', 'e2')]);
      const [held] = (await claim('node-1')).claimed;
      assert.ok(await recordRetry(db, 'node-1', held!.seq, { attempts: 1, nextAttemptAt: NOW + 5000, error: 'HTTP 503' }));
      const waiting = await claim('node-2');
      assert.deepEqual(waiting.claimed, [], 'the head waits for its retry and holds back e2');
      assert.equal(waiting.wakeAt, NOW + 5000);
      const [again] = (await claim('node-2', NOW + 5000)).claimed;
      assert.equal(again?.event_id, 'e1');
      assert.equal(again?.attempts, 1);
      assert.ok(await recordRetry(db, 'node-2', again!.seq, { attempts: 2, nextAttemptAt: NOW + 60_000, error: 'HTTP 503' }));
      await makePendingDue(db);
      assert.deepEqual(ids((await claim('node-3')).claimed), ['e1']);
    });

    test('a dead-lettered head is kept and no longer holds back its key', async () => {
      await insertOutboxRows(db, [row(A, 'job-1', 'e1'), row(A, 'job-1', 'e2')]);
      const [held] = (await claim('node-1')).claimed;
      assert.ok(await markDead(db, 'node-1', held!.seq, { attempts: 20, error: 'HTTP 500', now: NOW }));
      assert.deepEqual(ids((await claim('node-1')).claimed), ['e2']);
      const dead = await db.selectFrom('webhook_outbox').select(['status', 'attempts', 'last_error', 'dead_at']).where('event_id', '=', 'e1').executeTakeFirstOrThrow();
      assert.deepEqual({ ...dead, dead_at: Number(dead.dead_at) }, { status: 'dead', attempts: 20, last_error: 'HTTP 500', dead_at: NOW });
    });

    test('released claims are claimable at once; URLs not asked for are left alone and counted', async () => {
      await insertOutboxRows(db, [row(A, 'job-1', 'e1'), row(B, 'job-1', 'e2'), row(B, 'job-2', 'e3')]);
      assert.deepEqual(ids((await claim('node-1', NOW, 100, [A])).claimed), ['e1']);
      assert.equal(await releaseClaims(db, 'node-1'), 1);
      assert.deepEqual(ids((await claim('node-2', NOW, 100, [A])).claimed), ['e1']);
      assert.deepEqual(Object.fromEntries(await pendingCountsByUrl(db)), { [A]: 1, [B]: 2 });
    });

    test('delivered rows are purged once older than the cut-off, a batch at a time', async () => {
      await insertOutboxRows(db, [row(A, 'k1', 'e1'), row(A, 'k2', 'e2'), row(A, 'k3', 'e3')]);
      const claimed = (await claim('node-1')).claimed;
      await markDelivered(db, 'node-1', [claimed[0]!.seq, claimed[1]!.seq], NOW);
      await markDelivered(db, 'node-1', [claimed[2]!.seq], NOW + 10);
      assert.equal(await purgeDelivered(db, NOW + 5, 100), 2);
      assert.equal(await purgeDelivered(db, NOW + 5, 100), 0);
      assert.deepEqual(await outboxStatusCounts(db), { pending: 0, dead: 0, delivered: 1 });
    });

    test('claims racing on one store never hand a row to two claimers', async () => {
      const rows = Array.from({ length: 300 }, (_, i) => row(i % 2 ? A : B, `key-${i % 37}`, `e${i}`));
      await insertOutboxRows(db, rows);
      const seen = new Map<string, string>();
      // Eight claimers loop until nothing is left, each marking what it took.
      await Promise.all(
        Array.from({ length: 8 }, async (_, n) => {
          const owner = `node-${n}`;
          for (;;) {
            const { claimed } = await claim(owner, NOW, 5);
            if (claimed.length === 0) {
              if ((await outboxStatusCounts(db)).pending === 0) return;
              await new Promise((resolve) => setImmediate(resolve));
              continue;
            }
            for (const r of claimed) {
              assert.equal(seen.get(r.event_id), undefined, `${r.event_id} claimed by ${seen.get(r.event_id)} and ${owner}`);
              seen.set(r.event_id, owner);
            }
            assert.equal((await markDelivered(db, owner, claimed.map((r) => r.seq), NOW)).length, claimed.length);
          }
        }),
      );
      assert.equal(seen.size, 300);
      assert.ok(new Set(seen.values()).size > 1, 'the work was shared');
    });
  });
}
