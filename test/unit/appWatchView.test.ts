/**
 * `ferry apps watch`'s view (src/cli/appWatchView.ts): the lines it prints for a snapshot, when the app counts as
 * still under way, and the exit status once it rests; and the piped display printing each line once per change.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { exitStatus, underWay, viewLines, type AppView } from '../../src/cli/appWatchView.ts';
import { ChangedLines } from '../../src/cli/appsWatch.ts';

const base: AppView = {
  appId: 'app-0123456789abcdef0',
  name: 'shop',
  status: 'ACTIVE',
  replicationStatus: 'REPLICATED',
  launchStatus: 'LAUNCH_IN_PROGRESS',
  launchStatusMessage: '1 of 2 instances running.',
  servers: [
    { serverId: 's-00000001', vmName: 'db01', group: 'db', replicationJobId: 'sms-job-00000001', run: { replicationRunId: 'sms-run-00000001', state: 'COMPLETED' }, instance: { instanceId: 'i-00000000000000001', state: 'running', hydration: 'hydrating', bootSeconds: 7.25 } },
    { serverId: 's-00000002', group: 'web', replicationJobId: 'sms-job-00000002', run: { replicationRunId: 'sms-run-00000002', state: 'ACTIVE', stage: 'Uploading', percent: 47 } },
  ],
  validations: [{ validationId: 'val-1', name: 'http', status: 'PENDING', serverId: 's-00000001' }, { validationId: 'val-2', name: 'smoke', status: 'FAILED', message: 'Exited with status 7:\ncurl refused' }],
};

describe('apps watch view', () => {
  test('a line for the app, each server (run, instance, hydration) and each validation', () => {
    assert.deepEqual(viewLines(base).map((l) => l.text), [
      'app app-0123456789abcdef0 (shop) ACTIVE: replication REPLICATED; launch LAUNCH_IN_PROGRESS — 1 of 2 instances running.',
      's-00000001 db01 [db]: run sms-run-00000001 COMPLETED; instance i-00000000000000001 running (booted in 7.3 s), hydrating',
      's-00000002 [web]: run sms-run-00000002 Uploading 40%',
      'validation http on s-00000001: PENDING',
      'validation smoke (app): FAILED — Exited with status 7: curl refused',
    ]);
    const hydrated = { ...base, servers: [{ ...base.servers[0]!, instance: { ...base.servers[0]!.instance!, hydration: 'hydrated', hydratedSeconds: 9 } }] };
    assert.match(viewLines(hydrated)[1]!.text, /hydrated in 9\.0 s: independent of the image store$/);
    const failed = { ...base, servers: [{ ...base.servers[0]!, instance: { instanceId: 'i-1', state: 'failed', hydration: 'none', stateMessage: 'The guest did not boot\nwithin 60 s' } }] };
    assert.match(viewLines(failed)[1]!.text, /instance i-1 failed, The guest did not boot within 60 s$/);
  });

  test('under way while a run, launch, hydration or validation is; the exit status says whether it rests failed', () => {
    assert.equal(underWay(base), true);
    const rest: AppView = { ...base, launchStatus: 'LAUNCHED', servers: [{ ...base.servers[0]!, instance: { ...base.servers[0]!.instance!, hydration: 'hydrated' } }], validations: [{ validationId: 'v', name: 'v', status: 'SUCCEEDED' }] };
    assert.equal(underWay(rest), false);
    assert.equal(exitStatus(rest), 0);
    assert.equal(underWay({ ...rest, validations: [{ validationId: 'v', name: 'v', status: 'IN_PROGRESS' }] }), true, 'an SSM validation still running');
    assert.equal(underWay({ ...rest, servers: [{ ...rest.servers[0]!, instance: { ...rest.servers[0]!.instance!, hydration: 'hydrating' } }] }), true);
    assert.equal(underWay({ ...rest, replicationStatus: 'DELTA_REPLICATION_IN_PROGRESS' }), true);
    assert.equal(exitStatus({ ...rest, launchStatus: 'PARTIALLY_LAUNCHED' }), 1);
    assert.equal(exitStatus({ ...rest, launchStatus: 'READY_FOR_LAUNCH', replicationStatus: 'REPLICATION_FAILED' }), 1);
    assert.equal(underWay({ ...rest, launchStatus: 'READY_FOR_CONFIGURATION', replicationStatus: 'READY_FOR_REPLICATION', servers: [] }), false);
  });

  test('piped: each line once per change, with the time', () => {
    const out: string[] = [];
    const display = new ChangedLines((text) => out.push(text));
    display.show(base);
    display.show(base);
    assert.equal(out.length, 5);
    display.show({ ...base, launchStatus: 'LAUNCHED', launchStatusMessage: undefined });
    assert.equal(out.length, 6);
    assert.match(out[5]!, /^\d\d:\d\d:\d\d app app-0123456789abcdef0 \(shop\) ACTIVE: replication REPLICATED; launch LAUNCHED\n$/);
  });
});
