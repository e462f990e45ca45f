/** An app's replicationStatus from its servers' jobs and runs (domain/appReplicationStatus.ts, spec §7 flows). */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  appReplicationStatus,
  reachedFirstReplication,
  type ServerJobFacts,
  type ServerReplicationFacts,
} from '../../src/domain/appReplicationStatus.ts';
import type { ReplicationPhase } from '../../src/domain/appEnums.ts';

const T0 = Date.UTC(2026, 0, 1);

let n = 0;
function job(overrides: Partial<ServerJobFacts> = {}): ServerJobFacts {
  return {
    replicationJobId: `sms-job-${(n++).toString(16).padStart(8, '0')}`,
    state: 'PENDING',
    statusMessage: null,
    completedRuns: 0,
    activeRun: false,
    queuedRun: false,
    lastFinished: null,
    lastFinishedMessage: null,
    latestCompletedAt: null,
    ...overrides,
  };
}
const server = (id: string, j: ServerJobFacts | null, configured = true): ServerReplicationFacts => ({ serverId: id, configured, job: j });
const status = (phase: ReplicationPhase, ...servers: ServerReplicationFacts[]) => appReplicationStatus({ phase, servers });

/** Jobs by what their runs did. */
const waiting = () => job();
const active = (completedRuns = 0) => job({ state: 'ACTIVE', activeRun: true, completedRuns, lastFinished: completedRuns ? 'COMPLETED' : null });
const replicated = (completedRuns = 1, at = T0) => job({ state: 'ACTIVE', completedRuns, lastFinished: 'COMPLETED', latestCompletedAt: at });
const failedFirst = (message = 'disk unreadable') => job({ state: 'ACTIVE', lastFinished: 'FAILED', lastFinishedMessage: message, statusMessage: '2 re-try run(s) remaining' });
const failedDelta = () => job({ state: 'ACTIVE', completedRuns: 1, lastFinished: 'FAILED', lastFinishedMessage: 'upload failed', latestCompletedAt: T0 });

describe('before StartAppReplication (phase NONE)', () => {
  test('no servers: READY_FOR_CONFIGURATION, saying so', () => {
    const view = status('NONE');
    assert.equal(view.status, 'READY_FOR_CONFIGURATION');
    assert.match(view.message!, /no servers/);
  });
  test('some servers without parameters: READY_FOR_CONFIGURATION with a count', () => {
    const view = status('NONE', server('s-1', null, true), server('s-2', null, false));
    assert.equal(view.status, 'READY_FOR_CONFIGURATION');
    assert.match(view.message!, /1 of 2 servers/);
  });
  test('no server configured: READY_FOR_CONFIGURATION without a message', () => {
    assert.deepEqual(status('NONE', server('s-1', null, false)).message, null);
  });
  test('every server configured: READY_FOR_REPLICATION', () => {
    assert.equal(status('NONE', server('s-1', null), server('s-2', null)).status, 'READY_FOR_REPLICATION');
  });
});

describe('first replication (phase STARTED)', () => {
  test('jobs created, no run started: REPLICATION_PENDING', () => {
    const view = status('STARTED', server('s-1', waiting()), server('s-2', waiting()));
    assert.equal(view.status, 'REPLICATION_PENDING');
    assert.equal(view.phase, 'STARTED');
    assert.equal(view.latestReplicationTime, null);
  });
  test('a run active: REPLICATION_IN_PROGRESS', () => {
    const view = status('STARTED', server('s-1', active()), server('s-2', waiting()));
    assert.equal(view.status, 'REPLICATION_IN_PROGRESS');
    assert.match(view.message!, /0 of 2 servers replicated; 1 replicating now or about to/);
  });
  test('one replicated, one still waiting for its run: REPLICATION_IN_PROGRESS', () => {
    assert.equal(status('STARTED', server('s-1', replicated()), server('s-2', waiting())).status, 'REPLICATION_IN_PROGRESS');
  });
  test('one failed while another waits: REPLICATION_IN_PROGRESS naming the failure', () => {
    const view = status('STARTED', server('s-1', failedFirst('disk gone')), server('s-2', waiting()));
    assert.equal(view.status, 'REPLICATION_IN_PROGRESS');
    assert.match(view.message!, /s-1: disk gone/);
  });
  test('every server has an image: REPLICATED, latestReplicationTime the newest image', () => {
    const view = status('STARTED', server('s-1', replicated(1, T0)), server('s-2', replicated(1, T0 + 5000)));
    assert.equal(view.status, 'REPLICATED');
    assert.equal(view.latestReplicationTime, T0 + 5000);
    assert.equal(view.message, null);
  });
  test('some replicated, the rest failed: PARTIALLY_REPLICATED naming the failed servers', () => {
    const view = status('STARTED', server('s-1', replicated()), server('s-2', failedFirst('disk 1 unreadable')));
    assert.equal(view.status, 'PARTIALLY_REPLICATED');
    assert.match(view.message!, /1 of 2 servers replicated\. s-2: disk 1 unreadable/);
    assert.equal(view.latestReplicationTime, null);
  });
  test('all failed: REPLICATION_FAILED with each message', () => {
    const view = status('STARTED', server('s-1', failedFirst('a')), server('s-2', failedFirst('b')));
    assert.equal(view.status, 'REPLICATION_FAILED');
    assert.equal(view.message, 's-1: a; s-2: b');
  });
  test('a job FAILED or PAUSED_ON_FAILURE counts as failed, with its message when no run says more', () => {
    for (const state of ['FAILED', 'PAUSED_ON_FAILURE']) {
      const view = status('STARTED', server('s-1', job({ state, statusMessage: `job is ${state}` })));
      assert.equal(view.status, 'REPLICATION_FAILED', state);
      assert.match(view.message!, new RegExp(`job is ${state}`));
    }
  });
  test('a job deleted outside the app (DeleteReplicationJob) fails its server', () => {
    const view = status('STARTED', server('s-1', replicated()), server('s-2', job({ state: 'DELETED', replicationJobId: 'sms-job-deadbeef' })));
    assert.equal(view.status, 'PARTIALLY_REPLICATED');
    assert.match(view.message!, /s-2: its replication job sms-job-deadbeef was deleted/);
  });
  test('a retry run active after a failure: back to REPLICATION_IN_PROGRESS', () => {
    const retrying = job({ state: 'ACTIVE', activeRun: true, lastFinished: 'FAILED', lastFinishedMessage: 'x' });
    assert.equal(status('STARTED', server('s-1', retrying)).status, 'REPLICATION_IN_PROGRESS');
  });
  test('a one-time (runOnce) job COMPLETED with its image: REPLICATED', () => {
    assert.equal(status('STARTED', server('s-1', job({ state: 'COMPLETED', completedRuns: 1, lastFinished: 'COMPLETED', latestCompletedAt: T0 }))).status, 'REPLICATED');
  });
});

describe('later runs (DELTA_*)', () => {
  test('a later run active: DELTA_REPLICATION_IN_PROGRESS', () => {
    assert.equal(status('STARTED', server('s-1', active(1)), server('s-2', replicated())).status, 'DELTA_REPLICATION_IN_PROGRESS');
  });
  test('an on-demand run waiting to start counts as replicating (one server done with its run, another still queued)', () => {
    const queued = job({ state: 'ACTIVE', completedRuns: 1, lastFinished: 'COMPLETED', latestCompletedAt: T0, queuedRun: true });
    assert.equal(status('STARTED', server('s-1', replicated(2)), server('s-2', queued)).status, 'DELTA_REPLICATION_IN_PROGRESS');
    assert.equal(status('STARTED', server('s-1', failedFirst()), server('s-2', { ...failedFirst(), queuedRun: true })).status, 'REPLICATION_IN_PROGRESS');
  });
  test('a later run done: DELTA_REPLICATED', () => {
    const view = status('STARTED', server('s-1', replicated(2, T0 + 9000)), server('s-2', replicated(1, T0)));
    assert.equal(view.status, 'DELTA_REPLICATED');
    assert.equal(view.latestReplicationTime, T0 + 9000);
  });
  test('a later run failed: DELTA_REPLICATION_FAILED; the images from before still count', () => {
    const view = status('STARTED', server('s-1', failedDelta()), server('s-2', replicated(2)));
    assert.equal(view.status, 'DELTA_REPLICATION_FAILED');
    assert.match(view.message!, /s-1: upload failed/);
    assert.equal(view.latestReplicationTime, T0);
  });
  test('a job paused after its image: DELTA_REPLICATION_FAILED', () => {
    assert.equal(status('STARTED', server('s-1', job({ state: 'PAUSED_ON_FAILURE', completedRuns: 2, lastFinished: 'FAILED', latestCompletedAt: T0 }))).status, 'DELTA_REPLICATION_FAILED');
  });
  test('a job deleted after its image: DELTA_REPLICATION_FAILED', () => {
    assert.equal(status('STARTED', server('s-1', job({ state: 'DELETING', completedRuns: 1, lastFinished: 'COMPLETED', latestCompletedAt: T0 }))).status, 'DELTA_REPLICATION_FAILED');
  });
});

describe('StopAppReplication (phase STOPPING → STOPPED)', () => {
  test('jobs still deleting: REPLICATION_STOPPING', () => {
    const view = status('STOPPING', server('s-1', job({ state: 'DELETING' })), server('s-2', job({ state: 'DELETED' })));
    assert.equal(view.status, 'REPLICATION_STOPPING');
    assert.equal(view.phase, 'STOPPING');
    assert.match(view.message!, /1 server/);
  });
  test('every job ended (DELETED, COMPLETED, FAILED, or none): REPLICATION_STOPPED, phase STOPPED', () => {
    const view = status('STOPPING', server('s-1', job({ state: 'DELETED' })), server('s-2', job({ state: 'COMPLETED' })), server('s-3', job({ state: 'FAILED' })), server('s-4', null));
    assert.equal(view.status, 'REPLICATION_STOPPED');
    assert.equal(view.phase, 'STOPPED');
    assert.match(view.message!, /images are kept/);
  });
  test('phase STOPPED stays REPLICATION_STOPPED', () => {
    assert.equal(status('STOPPED', server('s-1', job({ state: 'DELETED' }))).status, 'REPLICATION_STOPPED');
  });
});

describe('autoLaunch trigger', () => {
  const view = (s: string) => ({ status: s as never, message: null, phase: 'STARTED' as const, latestReplicationTime: T0 });
  test('fires once, when the app first has every image', () => {
    assert.equal(reachedFirstReplication({ firstReplicatedAt: null }, view('REPLICATED')), true);
    assert.equal(reachedFirstReplication({ firstReplicatedAt: null }, view('DELTA_REPLICATED')), true);
    assert.equal(reachedFirstReplication({ firstReplicatedAt: T0 }, view('REPLICATED')), false);
  });
  test('not on partial, failed or in-progress states', () => {
    for (const s of ['PARTIALLY_REPLICATED', 'REPLICATION_FAILED', 'REPLICATION_IN_PROGRESS', 'DELTA_REPLICATION_FAILED', 'DELTA_REPLICATION_IN_PROGRESS']) {
      assert.equal(reachedFirstReplication({ firstReplicatedAt: null }, view(s)), false, s);
    }
  });
});
