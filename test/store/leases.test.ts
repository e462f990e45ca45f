/**
 * The leases repository's contract and the node side of it (core/leadership.ts), held against every store dialect:
 * compare-and-set writes only over what was read, two nodes racing for a free lease yield one holder, a holder
 * renews, a killed holder is replaced once its lease has run out and a clean stop hands over at once.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { storeDialects, type StoreUnderTest } from '../helpers/stores.ts';
import type { Store } from '../../src/store/openStore.ts';
import * as leases from '../../src/store/leases/index.ts';
import { LeaseKeeper } from '../../src/core/leadership.ts';
import type { LeaseTiming } from '../../src/domain/leadership.ts';

const NOW = 1_800_000_000_000;
const TIMING: LeaseTiming = { ttlMs: 15_000, renewEveryMs: 5_000, marginMs: 3_000 };

for (const dialect of storeDialects) {
  describe(`leases repository (${dialect.name})`, () => {
    let sut: StoreUnderTest;
    let second: Store;
    before(async () => {
      sut = await dialect.open(NOW);
      // A second node: its own connection(s) to the same database.
      second = await sut.reopen(NOW);
    });
    after(async () => {
      await second.close();
      await sut.dispose();
    });

    test('compare-and-set: inserts a missing row once, updates only the row that was read', async () => {
      const db = sut.store.db;
      assert.equal(await leases.read(db, 'cas'), undefined);
      const first = { holder: 'a/1', expiresAt: NOW + 15_000, term: 1, acquiredAt: NOW };
      assert.equal(await leases.compareAndSet(db, 'cas', undefined, first), true);
      assert.equal(await leases.compareAndSet(db, 'cas', undefined, { ...first, holder: 'b/2' }), false, 'a second insert loses');
      assert.deepEqual(await leases.read(db, 'cas'), first);
      const renewed = { ...first, expiresAt: NOW + 20_000 };
      assert.equal(await leases.compareAndSet(db, 'cas', first, renewed), true);
      assert.equal(await leases.compareAndSet(db, 'cas', first, { ...first, holder: 'b/2', term: 2 }), false, 'stale: the row was renewed since');
      const released = { ...renewed, holder: null, expiresAt: NOW + 1 };
      assert.equal(await leases.compareAndSet(db, 'cas', renewed, released), true);
      assert.deepEqual(await leases.read(db, 'cas'), released);
      const taken = { holder: 'b/2', expiresAt: NOW + 30_000, term: 2, acquiredAt: NOW + 2 };
      assert.equal(await leases.compareAndSet(db, 'cas', released, taken), true, 'a null holder is compared as null');
      assert.deepEqual(await leases.read(second.db, 'cas'), taken, 'the other node reads the committed row');
    });

    test('nodes racing for a free lease, again and again: exactly one holder each time', async () => {
      for (let round = 0; round < 10; round++) {
        const name = `race-${round}`;
        const at = NOW + round * 100_000;
        const keepers = [
          new LeaseKeeper(sut.store.db, name, 'a/1', TIMING),
          new LeaseKeeper(second.db, name, 'b/2', TIMING),
          new LeaseKeeper(sut.store.db, name, 'c/3', TIMING),
          new LeaseKeeper(second.db, name, 'd/4', TIMING),
        ];
        const won = await Promise.all(keepers.map((k) => k.refresh(at)));
        assert.equal(won.filter(Boolean).length, 1, `round ${round}: ${won}`);
        const row = await leases.read(sut.store.db, name);
        assert.equal(row?.holder, keepers[won.indexOf(true)]!.holder);
        assert.equal(row?.term, 1);
        // Free again for everyone (the row expired): one winner again, in the next term.
        const later = at + TIMING.ttlMs;
        const again = await Promise.all(keepers.map((k) => k.refresh(later)));
        assert.equal(again.filter(Boolean).length, 1);
        assert.equal((await leases.read(sut.store.db, name))?.term, 2);
      }
    });

    test('the holder renews and leads; a killed holder is replaced only after its lease ends; a clean stop hands over at once', async () => {
      const a = new LeaseKeeper(sut.store.db, 'scheduler-test', 'a/1', TIMING);
      const b = new LeaseKeeper(second.db, 'scheduler-test', 'b/2', TIMING);
      assert.equal(await a.refresh(NOW), true);
      assert.equal(await b.refresh(NOW), false);
      assert.equal(b.lastSeen()?.holder, 'a/1');
      for (let t = NOW + 5_000; t <= NOW + 30_000; t += 5_000) {
        assert.equal(await a.refresh(t), true, `a renews at +${t - NOW}`);
        assert.equal(await b.refresh(t), false);
      }
      // a is killed after renewing at +30 s (no release): its lease ends at +45 s.
      assert.equal(a.leads(NOW + 41_999), true);
      assert.equal(a.leads(NOW + 42_000), false, 'a stops acting before its end');
      assert.equal(await b.refresh(NOW + 44_999), false);
      assert.equal(await b.refresh(NOW + 45_000), true);
      assert.equal(b.lastSeen()?.term, 2);
      // a's next life (or a stalled a waking up) does not lead beside b.
      assert.equal(await a.refresh(NOW + 46_000), false);
      assert.equal(a.leads(NOW + 46_000), false);
      // b stops cleanly: the lease is free at once.
      await b.release(NOW + 47_000);
      assert.equal(b.leads(NOW + 47_000), false);
      assert.equal(await a.refresh(NOW + 47_001), true);
      assert.equal(a.lastSeen()?.term, 3);
      // A release by a node whose lease was taken over meanwhile does not free the new holder's lease.
      await b.release(NOW + 48_000);
      assert.equal((await leases.read(sut.store.db, 'scheduler-test'))?.holder, 'a/1');
    });
  });
}
