/**
 * The cluster tests' check of webhook repeats (test/helpers/clusterHarness.ts eachEventOnce): it lets through only
 * the repeat the webhook contract allows, a killed node's in-flight event sent again once its claim lapsed, and
 * fails on every other; what it returns is one event per id, as a deduplicating receiver keeps them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eachEventOnce, type WebhookEvent } from '../helpers/clusterHarness.ts';

const T = 1_800_000_000_000;
const event = (id: string, receivedAt: number, attempt = 1): WebhookEvent => ({ id, type: 'Server Migration Run State Change', detail: { state: 'COMPLETED' }, attempt, receivedAt });

test('events without repeats come back as they are', () => {
  const events = [event('a', T), event('b', T + 1)];
  assert.deepEqual(eachEventOnce(events, []), events);
});

test('a killed node\'s in-flight event, sent again after its claim lapsed with the same attempt, is kept once', () => {
  const kept = eachEventOnce([event('a', T), event('b', T + 10), event('a', T + 25_000)], [T + 5]);
  assert.deepEqual(kept.map((e) => [e.id, e.receivedAt]), [['a', T], ['b', T + 10]]);
});

test('every other repeat fails the check', () => {
  const fails = (events: WebhookEvent[], kills: number[]) => assert.throws(() => eachEventOnce(events, kills), /events delivered twice/);
  fails([event('a', T), event('a', T + 25_000)], []); // no node was killed
  fails([event('a', T), event('a', T + 25_000)], [T - 1]); // the kill came before the first copy
  fails([event('a', T), event('a', T + 1_000)], [T + 5]); // sooner than a claim can lapse
  fails([event('a', T), event('a', T + 25_000, 2)], [T + 5]); // a retry: the first delivery was seen to fail
  fails([event('a', T), event('a', T + 25_000), event('a', T + 50_000)], [T + 5, T + 30_000]); // three copies
});
