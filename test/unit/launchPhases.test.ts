import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LAUNCH_PHASES, LaunchPhases } from '../../src/launch/launchPhases.ts';

test('launch phases reach every listener, stamped in order, until it unsubscribes', () => {
  const phases = new LaunchPhases();
  phases.report('i-00000000000000001', 'instance dir made'); // nobody listens: nothing to do, nothing thrown
  const seen: [string, string, number][] = [];
  const other: string[] = [];
  const off = phases.listen((id, phase, at) => seen.push([id, phase, at]));
  phases.listen((_id, phase) => other.push(phase));
  phases.report('i-00000000000000001', 'domain defined');
  phases.report('i-00000000000000002', 'boot marker seen');
  off();
  phases.report('i-00000000000000001', 'hydrated');
  assert.deepEqual(seen.map(([id, phase]) => [id, phase]), [['i-00000000000000001', 'domain defined'], ['i-00000000000000002', 'boot marker seen']]);
  assert.ok(seen[0]![2] <= seen[1]![2], 'stamps never go back');
  assert.deepEqual(other, ['domain defined', 'boot marker seen', 'hydrated']);
  assert.equal(new Set(LAUNCH_PHASES).size, LAUNCH_PHASES.length);
});
