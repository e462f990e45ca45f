/**
 * The rule of which unfinished pack uploads are leftovers (src/domain/unfinishedUploads.ts), on an injected clock:
 * sealed packs' at once, newer packs' never, deleted packs' after an hour of the store's clock, open packs' after an
 * hour (dead writer) or a day (live writer) counted from the later of the upload's start and the pack's creation.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DEAD_WRITER_GRACE_MS,
  GONE_PACK_GRACE_MS,
  LIVE_WRITER_GRACE_MS,
  packStateForUpload,
  unfinishedUploadIsLeftover,
} from '../../src/domain/unfinishedUploads.ts';

const NOW = Date.UTC(2026, 11, 4, 21, 0, 0);
const MOTO_DATE = Date.UTC(2010, 10, 10, 20, 48, 33); // what moto_server answers for every upload

test('a sealed pack’s upload is a leftover at any age; a newer pack’s never is', () => {
  assert.equal(unfinishedUploadIsLeftover({ state: 'sealed' }, NOW, NOW), true);
  assert.equal(unfinishedUploadIsLeftover({ state: 'newer' }, MOTO_DATE, NOW), false);
});

test('a deleted pack’s upload waits an hour of the store’s clock', () => {
  assert.equal(unfinishedUploadIsLeftover({ state: 'gone' }, NOW - GONE_PACK_GRACE_MS + 1, NOW), false);
  assert.equal(unfinishedUploadIsLeftover({ state: 'gone' }, NOW - GONE_PACK_GRACE_MS, NOW), true);
});

test('an open pack’s upload ages from the later of its start and the pack’s creation: an hour dead, a day alive', () => {
  const created = NOW - 2 * 60 * 60_000;
  const dead = { state: 'open' as const, writerAlive: false, createdAt: created };
  const alive = { state: 'open' as const, writerAlive: true, createdAt: created };
  assert.equal(unfinishedUploadIsLeftover(dead, MOTO_DATE, NOW), true, 'two hours since the pack was created');
  assert.equal(unfinishedUploadIsLeftover(dead, NOW - 30 * 60_000, NOW), false, 'its upload began half an hour ago');
  assert.equal(unfinishedUploadIsLeftover(alive, MOTO_DATE, NOW), false, 'a bogus store date does not age a live pack');
  assert.equal(unfinishedUploadIsLeftover(alive, MOTO_DATE, created + LIVE_WRITER_GRACE_MS), true);
  assert.equal(unfinishedUploadIsLeftover(dead, created, created + DEAD_WRITER_GRACE_MS - 1), false);
});

test('the pack state comes from the index read before the listing', () => {
  const index = { sealed: new Set([1, 2]), open: new Map([[4, { writerAlive: true, createdAt: NOW }]]), newestPackId: 4 };
  assert.deepEqual(packStateForUpload(2, index), { state: 'sealed' });
  assert.deepEqual(packStateForUpload(3, index), { state: 'gone' });
  assert.deepEqual(packStateForUpload(4, index), { state: 'open', writerAlive: true, createdAt: NOW });
  assert.deepEqual(packStateForUpload(5, index), { state: 'newer' });
  assert.deepEqual(packStateForUpload(undefined, index), { state: 'newer' });
});
