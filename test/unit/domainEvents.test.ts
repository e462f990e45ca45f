/** parseEventLine: the lines of `virsh event --all --loop` the boot watcher follows (src/launch/domainEvents.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseEventLine } from '../../src/launch/domainEvents.ts';

test('lifecycle and agent-lifecycle lines give the event type, the domain and the detail', () => {
  assert.deepEqual(parseEventLine("event 'lifecycle' for domain 'ferry-i-0123456789abcdef0': Stopped Destroyed\n"), {
    type: 'lifecycle',
    domain: 'ferry-i-0123456789abcdef0',
    detail: 'Stopped Destroyed',
  });
  assert.deepEqual(parseEventLine("event 'agent-lifecycle' for domain 'ferry-i-0123456789abcdef0': state: 'connected' reason: 'channel event'"), {
    type: 'agent-lifecycle',
    domain: 'ferry-i-0123456789abcdef0',
    detail: "state: 'connected' reason: 'channel event'",
  });
});

test('anything else is not an event', () => {
  assert.equal(parseEventLine(''), undefined);
  assert.equal(parseEventLine('events received: 3'), undefined);
  assert.equal(parseEventLine("error: failed to connect to the hypervisor"), undefined);
});
