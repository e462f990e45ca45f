/** The replication run's transitions, its ownership rule and "due for this connector", as pure functions. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  isRunDueFor,
  leaseExpired,
  notHeldReason,
  onRunCancelled,
  onRunClaimed,
  onRunCompleted,
  onRunFailed,
  onRunMissed,
  onRunProgress,
  requireHeld,
  RUN_STAGES,
  RunConflict,
  type DueRunCandidate,
  type RunFacts,
} from '../../src/domain/replicationRun.ts';
import { IllegalTransition } from '../../src/domain/jobLifecycle.ts';
import { ReplicationJobState, ReplicationRunState } from '../../src/domain/enums.ts';
import { defaultPolicy } from '../../src/domain/policy.ts';
import { ServiceError } from '../../src/lib/errors.ts';

const T0 = Date.UTC(2026, 0, 1, 6);
const policy = defaultPolicy;
const run = (overrides: Partial<RunFacts> = {}): RunFacts => ({ replicationRunId: 'sms-run-00000001', state: 'ACTIVE', connectorId: 'c-1', stage: null, ...overrides });
const invalid = (pattern: RegExp) => (e: unknown) => e instanceof ServiceError && e.code === 'InvalidParameterException' && pattern.test(e.message);

describe('transitions', () => {
  test('claim: PENDING → ACTIVE under a lease, held by the claiming connector', () => {
    assert.deepEqual(onRunClaimed(run({ state: 'PENDING', connectorId: null }), 'c-2', T0, policy), {
      state: 'ACTIVE',
      startedAt: T0,
      connectorId: 'c-2',
      leaseExpiresAt: T0 + policy.runLeaseMs,
      statusMessage: 'Starting',
    });
  });

  test('progress moves the stage forward and renews the lease; it never goes back', () => {
    const change = onRunProgress(run({ stage: 'Snapshotting' }), { stage: 'Uploading', stageProgress: '42%', bytesDone: 1, bytesTotal: 2 }, T0, policy);
    assert.equal(change.stage, 'Uploading');
    assert.equal(change.stageProgress, '42%');
    assert.equal(change.leaseExpiresAt, T0 + policy.runLeaseMs);
    assert.deepEqual(change.progress, { bytesDone: 1, bytesTotal: 2, bytesPerSecond: undefined, at: T0 });
    assert.equal(change.state, undefined, 'progress keeps the run ACTIVE');
    assert.equal(onRunProgress(run({ stage: 'Uploading' }), { stage: 'Uploading', stageProgress: '43%' }, T0, policy).stage, 'Uploading');
    assert.throws(() => onRunProgress(run({ stage: 'Converting' }), { stage: 'Uploading', stageProgress: '1%' }, T0, policy), invalid(/move forward/));
  });

  test('an impossible report is refused whole', () => {
    const report = (overrides: object) => ({ stage: 'Uploading', stageProgress: '1%', ...overrides });
    assert.throws(() => onRunProgress(run(), report({ stage: 'Teleporting' }), T0, policy), invalid(/Unknown stage/));
    assert.throws(() => onRunProgress(run(), report({ stageProgress: 'x'.repeat(65) }), T0, policy), invalid(/at most 64/));
    assert.throws(() => onRunProgress(run(), report({ bytesDone: -1 }), T0, policy), invalid(/bytesDone/));
    assert.throws(() => onRunProgress(run(), report({ bytesDone: 3, bytesTotal: 2 }), T0, policy), invalid(/cannot exceed/));
    assert.throws(() => onRunProgress(run(), report({ bytesPerSecond: Infinity }), T0, policy), invalid(/bytesPerSecond/));
    assert.deepEqual(RUN_STAGES, ['Validating', 'Snapshotting', 'Uploading', 'Converting', 'Creating AMI']);
  });

  test('complete and fail end an ACTIVE run, clearing its stage and lease', () => {
    assert.deepEqual(onRunCompleted(run({ stage: 'Creating AMI' }), 'ami-00000000000000001', T0), {
      state: 'COMPLETED',
      amiId: 'ami-00000000000000001',
      completedTime: T0,
      statusMessage: 'Completed',
      stage: null,
      stageProgress: null,
      leaseExpiresAt: null,
    });
    assert.deepEqual(onRunFailed(run(), 'disk gone', T0), { state: 'FAILED', statusMessage: 'disk gone', completedTime: T0, stage: null, stageProgress: null, leaseExpiresAt: null });
  });

  test('miss ends a PENDING run; cancel ends a PENDING or ACTIVE one', () => {
    assert.deepEqual(onRunMissed(run({ state: 'PENDING' }), 'Skipped'), { state: 'MISSED', statusMessage: 'Skipped' });
    for (const state of ['PENDING', 'ACTIVE'] as const) {
      assert.equal(onRunCancelled(run({ state }), T0).state, 'DELETED');
    }
  });

  test('every other move is illegal', () => {
    const moves: [string, (r: RunFacts) => unknown, readonly string[]][] = [
      ['claim', (r) => onRunClaimed(r, 'c-1', T0, policy), ['PENDING']],
      ['progress', (r) => onRunProgress(r, { stage: 'Validating', stageProgress: '0%' }, T0, policy), ['ACTIVE']],
      ['complete', (r) => onRunCompleted(r, 'ami-00000000000000001', T0), ['ACTIVE']],
      ['fail', (r) => onRunFailed(r, 'x', T0), ['ACTIVE']],
      ['miss', (r) => onRunMissed(r, 'x'), ['PENDING']],
      ['cancel', (r) => onRunCancelled(r, T0), ['PENDING', 'ACTIVE']],
    ];
    for (const [name, move, allowed] of moves) {
      for (const state of Object.values(ReplicationRunState)) {
        if (allowed.includes(state)) assert.doesNotThrow(() => move(run({ state })), `${name} from ${state}`);
        else assert.throws(() => move(run({ state })), IllegalTransition, `${name} from ${state}`);
      }
    }
  });

  test('a lease is expired strictly after its time, and only on an ACTIVE run', () => {
    assert.equal(leaseExpired({ state: 'ACTIVE', leaseExpiresAt: T0 }, T0), false);
    assert.equal(leaseExpired({ state: 'ACTIVE', leaseExpiresAt: T0 }, T0 + 1), true);
    assert.equal(leaseExpired({ state: 'COMPLETED', leaseExpiresAt: T0 }, T0 + 1), false);
    assert.equal(leaseExpired({ state: 'ACTIVE', leaseExpiresAt: null }, T0 + 1), false);
  });
});

describe('ownership: a connector holds the ACTIVE runs it claimed', () => {
  test('held, lost, someone else’s, unknown', () => {
    assert.equal(notHeldReason(run(), 'sms-run-00000001', 'c-1'), null);
    assert.match(notHeldReason(run({ state: 'COMPLETED' }), 'sms-run-00000001', 'c-1')!, /is COMPLETED and no longer held/);
    assert.match(notHeldReason(run({ connectorId: 'c-2' }), 'sms-run-00000001', 'c-1')!, /no longer held by this connector/);
    assert.match(notHeldReason(undefined, 'sms-run-00000009', 'c-1')!, /sms-run-00000009 does not exist/);
    assert.throws(() => requireHeld(run({ state: 'PENDING' }), 'sms-run-00000001', 'c-1'), RunConflict);
    assert.equal(requireHeld(run(), 'sms-run-00000001', 'c-1').connectorId, 'c-1');
  });
});

describe('isRunDueFor', () => {
  const connector = { connectorId: 'c-1', vmManagerId: 'vc-1' };
  const due: DueRunCandidate = { runState: 'PENDING', scheduledStartTime: T0, jobState: 'ACTIVE', serverConnectorId: 'c-1', jobVmManagerId: 'vc-1' };

  test('a pending run whose time came, of a job that can run, on a server the connector serves', () => {
    assert.equal(isRunDueFor(connector, due, T0), true);
    assert.equal(isRunDueFor(connector, due, T0 - 1), false, 'not yet');
    assert.equal(isRunDueFor(connector, { ...due, serverConnectorId: 'c-9' }, T0), true, 'same VM manager');
    assert.equal(isRunDueFor(connector, { ...due, jobVmManagerId: 'vc-9' }, T0), true, 'the connector reported the server');
    assert.equal(isRunDueFor(connector, { ...due, serverConnectorId: 'c-9', jobVmManagerId: 'vc-9' }, T0), false, 'neither');
    assert.equal(isRunDueFor({ connectorId: 'c-2', vmManagerId: null }, { ...due, jobVmManagerId: '' }, T0), true, 'an unregistered manager matches the empty one only');
  });

  test('only PENDING runs of PENDING or ACTIVE jobs', () => {
    for (const runState of Object.values(ReplicationRunState)) {
      for (const jobState of Object.values(ReplicationJobState)) {
        const expected = runState === 'PENDING' && (jobState === 'PENDING' || jobState === 'ACTIVE');
        assert.equal(isRunDueFor(connector, { ...due, runState, jobState }, T0), expected, `${runState} run of a ${jobState} job`);
      }
    }
  });
});
