/** Launch waves by launchOrder, and LaunchApp / TerminateApp decisions (domain/appLaunchPlan.ts). */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchStep, launchWaves, terminateStep, type PlannedInstance, type PlannedState } from '../../src/domain/appLaunchPlan.ts';

describe('launchWaves', () => {
  test('groups launch by ascending launchOrder; equal orders launch together', () => {
    const waves = launchWaves([
      { launchOrder: 3, serverIds: ['s-web1', 's-web2'] },
      { launchOrder: 1, serverIds: ['s-db'] },
      { launchOrder: 2, serverIds: ['s-app'] },
      { launchOrder: 1, serverIds: ['s-cache'] },
    ]);
    assert.deepEqual(waves, [['s-db', 's-cache'], ['s-app'], ['s-web1', 's-web2']]);
  });
  test('a group without launchOrder launches in the first wave (order 1); empty groups make no wave', () => {
    assert.deepEqual(launchWaves([{ launchOrder: 2, serverIds: ['s-b'] }, { launchOrder: null, serverIds: ['s-a'] }, { launchOrder: 5, serverIds: [] }]), [['s-a'], ['s-b']]);
  });
});

const row = (serverId: string, wave: number, state: PlannedState, hasInstance = !['planned', 'launching', 'skipped'].includes(state), message: string | null = null): PlannedInstance => ({
  serverId,
  wave,
  state,
  hasInstance,
  message,
});

describe('launchStep', () => {
  test('nothing launched yet: LAUNCH_PENDING, launch the first wave only', () => {
    const step = launchStep([row('s-db', 0, 'planned'), row('s-cache', 0, 'planned'), row('s-web', 1, 'planned')]);
    assert.deepEqual(step, { status: 'LAUNCH_PENDING', message: '0 of 3 instances running.', launch: ['s-db', 's-cache'], skip: [] });
  });
  test('asked for but no instance yet: still LAUNCH_PENDING, nothing more to launch', () => {
    const step = launchStep([row('s-db', 0, 'launching'), row('s-web', 1, 'planned')]);
    assert.equal(step.status, 'LAUNCH_PENDING');
    assert.deepEqual(step.launch, []);
  });
  test('wave 1 waits until every instance of wave 0 is running', () => {
    for (const state of ['pending', 'starting', 'booting'] as const) {
      const step = launchStep([row('s-db', 0, 'running'), row('s-cache', 0, state), row('s-web', 1, 'planned')]);
      assert.equal(step.status, 'LAUNCH_IN_PROGRESS', state);
      assert.deepEqual(step.launch, [], state);
    }
    const next = launchStep([row('s-db', 0, 'running'), row('s-cache', 0, 'running'), row('s-web', 1, 'planned'), row('s-api', 2, 'planned')]);
    assert.deepEqual(next.launch, ['s-web']);
    assert.equal(next.message, '2 of 4 instances running.');
  });
  test('every instance running: LAUNCHED', () => {
    assert.deepEqual(launchStep([row('s-db', 0, 'running'), row('s-web', 1, 'running')]), { status: 'LAUNCHED', message: null, launch: [], skip: [] });
  });
  test('a failure stops later waves: they are skipped; in-flight instances finish first', () => {
    const rows = [row('s-db', 0, 'failed', true, 'boot timed out after 300 s'), row('s-cache', 0, 'booting'), row('s-web', 1, 'planned')];
    const step = launchStep(rows);
    assert.equal(step.status, 'LAUNCH_IN_PROGRESS');
    assert.deepEqual(step.launch, []);
    assert.deepEqual(step.skip, ['s-web']);
    assert.match(step.message!, /s-db: boot timed out after 300 s/);
  });
  test('after a failure: PARTIALLY_LAUNCHED when some run, LAUNCH_FAILED when none', () => {
    const partial = launchStep([row('s-db', 0, 'running'), row('s-cache', 0, 'failed', true, 'no disk'), row('s-web', 1, 'skipped')]);
    assert.equal(partial.status, 'PARTIALLY_LAUNCHED');
    assert.match(partial.message!, /1 of 3 instances running; failed: s-cache: no disk/);
    const failed = launchStep([row('s-db', 0, 'failed', false, 'The instance could not be launched: libvirt is down'), row('s-web', 1, 'skipped')]);
    assert.equal(failed.status, 'LAUNCH_FAILED');
    assert.match(failed.message!, /libvirt is down/);
  });
  test('an instance terminated or lost during the launch counts as failed', () => {
    for (const state of ['terminating', 'terminated'] as const) {
      const step = launchStep([row('s-db', 0, state), row('s-web', 1, 'planned')]);
      assert.equal(step.status, 'LAUNCH_FAILED', state);
      assert.deepEqual(step.skip, ['s-web']);
    }
  });
});

describe('terminateStep', () => {
  test('instances asked to stop or stopping: TERMINATE_IN_PROGRESS', () => {
    for (const state of ['terminate', 'terminating', 'running', 'booting'] as const) {
      assert.equal(terminateStep([row('s-1', 0, state), row('s-2', 0, 'terminated')]).status, 'TERMINATE_IN_PROGRESS', state);
    }
  });
  test('every instance terminated, never launched or skipped: TERMINATED', () => {
    assert.deepEqual(terminateStep([row('s-1', 0, 'terminated'), row('s-2', 1, 'skipped'), row('s-3', 1, 'failed', false, 'could not launch')]), { status: 'TERMINATED', message: null });
  });
  test('a termination that failed (or an instance that ended failed): TERMINATE_FAILED once nothing else is on its way', () => {
    const inFlight = terminateStep([row('s-1', 0, 'terminate_failed', true, 'Termination failed: domain busy'), row('s-2', 0, 'terminating')]);
    assert.equal(inFlight.status, 'TERMINATE_IN_PROGRESS');
    const failed = terminateStep([row('s-1', 0, 'terminate_failed', true, 'Termination failed: domain busy'), row('s-2', 0, 'terminated')]);
    assert.equal(failed.status, 'TERMINATE_FAILED');
    assert.equal(failed.message, 's-1: Termination failed: domain busy');
    assert.equal(terminateStep([row('s-1', 0, 'failed', true)]).status, 'TERMINATE_FAILED');
  });
});
