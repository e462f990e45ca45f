/**
 * Every connector scenario over both transports: the HTTP transport a standalone `ferry connector` uses and the
 * in-process transport of the embedded connector. Both carry the one contract (src/protocol/connector) to the one
 * service endpoint, so each scenario below must give the same answers and the same refusals over either: the same
 * result values, RunLost for a run that is no longer the connector's, ConnectorError with the same status and code
 * for anything else refused.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  CreateReplicationJobCommand,
  DeleteReplicationJobCommand,
  GetReplicationRunsCommand,
  GetServersCommand,
  ImportServerCatalogCommand,
  StartOnDemandReplicationRunCommand,
} from '@aws-sdk/client-sms';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { issueConnector } from '../../src/core/connectors.ts';
import { HttpTransport } from '../../src/agent/httpTransport.ts';
import { LocalTransport } from '../../src/server/connector/localTransport.ts';
import { ConnectorError, RunLost, type ConnectorTransport, type InventoryVm, type Registration } from '../../src/protocol/connector/messages.ts';
import { BLOCK_SIZE } from '../../src/domain/blocks.ts';

const TRANSPORTS = {
  http: (t: TestFerry, token: string): ConnectorTransport => new HttpTransport(t.ferry.url, token),
  'in-process': (t: TestFerry, token: string): ConnectorTransport => new LocalTransport(t.ferry.core, t.ferry.plane, token),
} as const;

const REGISTRATION: Registration = {
  vmManagerType: 'VSPHERE',
  vmManagerName: 'vcenter.transports',
  vmManagerId: 'vcenter-transports',
  version: '1.0.0',
  capabilities: ['VSPHERE'],
};
const DISK_BYTES = 2 * BLOCK_SIZE;
const vm = (n: number): InventoryVm => ({
  vmId: `vm-${n}`,
  vmName: `vm${n}`,
  vmPath: `/dc/vm${n}`,
  replicable: true,
  details: { disks: [{ path: `/ds/vm${n}.vmdk`, format: 'vmdk', virtualSize: DISK_BYTES }] },
});

interface Harness {
  t: TestFerry;
  transport: ConnectorTransport;
  connectorId: string;
  serverIds: string[];
}

/** A Ferry with a registered connector on `kind` that reported two VMs, and their server ids. */
async function withConnector(kind: keyof typeof TRANSPORTS, work: (h: Harness) => Promise<void>, options: { register?: boolean } = {}): Promise<void> {
  const t = await startTestFerry();
  try {
    const issued = await issueConnector(t.ferry.core, { accountId: t.ferry.root.accountId, region: 'us-east-1' }, null);
    const transport = TRANSPORTS[kind](t, issued.token);
    let serverIds: string[] = [];
    if (options.register !== false) {
      await transport.register(REGISTRATION);
      await t.sms.send(new ImportServerCatalogCommand({}));
      await transport.inventory([vm(0), vm(1)]);
      serverIds = (await t.sms.send(new GetServersCommand({}))).serverList!.map((s) => s.serverId!);
    }
    await work({ t, transport, connectorId: issued.connectorId, serverIds });
  } finally {
    await t.close();
  }
}

/** Creates a job for the first server and claims its run. */
async function claimFirstRun(h: Harness) {
  const { replicationJobId } = await h.t.sms.send(new CreateReplicationJobCommand({ serverId: h.serverIds[0]!, seedReplicationTime: new Date(Date.now() - 1000), frequency: 12 }));
  const [run] = await h.transport.claim(5);
  assert.ok(run, 'a run is handed out');
  return { replicationJobId: replicationJobId!, run };
}

const block = (fill: number) => {
  const data = Buffer.alloc(BLOCK_SIZE, fill);
  return { sha256: createHash('sha256').update(data).digest(), data };
};

const refused = (status: number, code: string, message: RegExp) => (e: unknown) =>
  e instanceof ConnectorError && e.status === status && e.code === code && message.test(e.message);
const lost = (message: RegExp) => (e: unknown) => e instanceof RunLost && message.test(e.message);

async function runState(h: Harness, replicationJobId: string, replicationRunId: string) {
  const { replicationRunList } = await h.t.sms.send(new GetReplicationRunsCommand({ replicationJobId }));
  return replicationRunList!.find((r) => r.replicationRunId === replicationRunId)!;
}

for (const kind of Object.keys(TRANSPORTS) as (keyof typeof TRANSPORTS)[]) {
  describe(`connector protocol over the ${kind} transport`, () => {
    test('register, heartbeat and inventory: the catalog import is announced, answered and then done', async () => {
      await withConnector(kind, async ({ t, transport, connectorId }) => {
        const registered = await transport.register(REGISTRATION);
        const { policy } = t.ferry.core;
        assert.deepEqual(registered, {
          connectorId,
          accountId: t.ferry.root.accountId,
          region: 'us-east-1',
          heartbeatIntervalSeconds: policy.connectorHeartbeatIntervalMs / 1000,
          leaseSeconds: policy.runLeaseMs / 1000,
        });
        assert.deepEqual(await transport.heartbeat({ status: 'HEALTHY' }), { catalogImportRequested: false, runsWaiting: false });
        await assert.rejects(transport.inventory([vm(0)]), lost(/No catalog import is in progress/));
        await t.sms.send(new ImportServerCatalogCommand({}));
        assert.equal((await transport.heartbeat({})).catalogImportRequested, true);
        await assert.rejects(transport.inventory([{ ...vm(0), vmName: 'x'.repeat(1025) }]), refused(400, 'BadRequest', /vms\[0\]\.vmName must be at most 1024 characters/));
        assert.deepEqual(await transport.inventory([vm(0), vm(1), vm(2)]), { status: 'AVAILABLE', servers: 3 });
        assert.equal((await transport.heartbeat({})).catalogImportRequested, false);
        const { serverList } = await t.sms.send(new GetServersCommand({}));
        assert.deepEqual(serverList!.map((s) => s.vmServer!.vmServerAddress!.vmId).sort(), ['vm-0', 'vm-1', 'vm-2']);
      }, { register: false });
    });

    test('a connector that has not registered is refused every call but register', async () => {
      await withConnector(kind, async ({ transport }) => {
        await assert.rejects(transport.heartbeat({}), lost(/has not registered yet/));
        await assert.rejects(transport.claim(1), lost(/has not registered yet/));
        assert.equal((await transport.register(REGISTRATION)).connectorId.startsWith('c-'), true);
      }, { register: false });
    });

    test('claim, progress and a full image: blocks sent once, recorded, resumed, finished, completed', async () => {
      await withConnector(kind, async (h) => {
        const { transport } = h;
        assert.equal((await transport.heartbeat({})).runsWaiting, false);
        const { replicationJobId, run } = await claimFirstRun(h);
        assert.equal(run.replicationJobId, replicationJobId);
        assert.equal(run.serverId, h.serverIds[0]);
        assert.equal(run.type, 'AUTOMATIC');
        assert.equal(run.vmServer.vmServerAddress?.vmId, 'vm-0');
        assert.equal(run.stage, null);
        assert.ok(run.leaseExpiresAt > Date.now());
        assert.deepEqual((await transport.activeRuns()).map((r) => r.replicationRunId), [run.replicationRunId]);
        assert.deepEqual(await transport.claim(5), [], 'one run per job');

        const runId = run.replicationRunId;
        assert.ok((await transport.progress(runId, { stage: 'Validating', stageProgress: '0%' })).leaseExpiresAt >= run.leaseExpiresAt);
        await transport.progress(runId, { stage: 'Uploading', stageProgress: '10%', bytesDone: 1, bytesTotal: DISK_BYTES });
        await assert.rejects(transport.progress(runId, { stage: 'Validating', stageProgress: '1%' }), refused(400, 'InvalidParameterException', /move forward/));
        await assert.rejects(transport.progress(runId, { stage: 'Teleporting', stageProgress: '1%' }), refused(400, 'InvalidParameterException', /Unknown stage/));

        assert.equal(await transport.parentImage(runId), null);
        await assert.rejects(transport.beginImage(runId, [{ index: 3, sizeBytes: DISK_BYTES, mode: 'full' }]), refused(400, 'BadRequest', /not a disk of server/));
        await assert.rejects(transport.beginImage(runId, [{ index: 0, sizeBytes: DISK_BYTES, mode: 'incremental' }]), refused(400, 'BadRequest', /needs the job to have a parent/));
        const disks = [{ index: 0, sizeBytes: DISK_BYTES, mode: 'full' as const, meta: { bitmap: 'ferry-1' } }];
        const begun = await transport.beginImage(runId, disks);
        assert.match(begun.amiId, /^ami-[0-9a-f]{17}$/);
        assert.equal(begun.committed.get(0)!.count, 0);
        assert.equal(begun.parent, null);

        const one = block(1);
        assert.deepEqual(await transport.missingBlocks(runId, [one.sha256]), [true]);
        await transport.putBlocks(runId, [one]);
        assert.deepEqual(await transport.missingBlocks(runId, [one.sha256]), [false]);
        await transport.recordBlocks(runId, 0, [{ blockIndex: 0, sha256: one.sha256 }]);
        // Resuming: what the run committed comes back as ranges.
        const resumed = await transport.beginImage(runId, disks);
        assert.equal(resumed.amiId, begun.amiId);
        assert.deepEqual([resumed.committed.get(0)!.count, resumed.committed.get(0)!.has(0), resumed.committed.get(0)!.has(1)], [1, true, false]);
        await transport.recordBlocks(runId, 0, [{ blockIndex: 1, sha256: null }]);

        const finished = await transport.finishImage(runId);
        assert.equal(finished.amiId, begun.amiId);
        assert.equal(finished.snapshotIds.length, 1);
        await assert.rejects(transport.complete(runId, 'ami-1'), refused(400, 'BadRequest', /amiId must be ami- followed by 17/));
        await transport.complete(runId, finished.amiId);
        const completed = await runState(h, replicationJobId, runId);
        assert.deepEqual([completed.state, completed.amiId], ['COMPLETED', finished.amiId]);
        // The same completion asked again (its first answer lost to a dropped connection) is done, and changes nothing;
        // a completion with another image is not the same one.
        await transport.complete(runId, finished.amiId);
        assert.deepEqual(await runState(h, replicationJobId, runId), completed);
        await assert.rejects(transport.complete(runId, 'ami-00000000000000001'), lost(/is COMPLETED and no longer held by this connector/));
        await assert.rejects(transport.progress(runId, { stage: 'Uploading', stageProgress: '99%' }), lost(/is COMPLETED and no longer held by this connector/));
        assert.deepEqual(await transport.activeRuns(), []);

        // The next run builds on that image: its parent comes with the disk's metadata.
        await h.t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId }));
        assert.equal((await transport.heartbeat({})).runsWaiting, true);
        const [next] = await transport.claim(1);
        assert.equal(next!.type, 'ON_DEMAND');
        assert.equal(next!.parentAmiId, finished.amiId);
        assert.deepEqual(await transport.parentImage(next!.replicationRunId), { amiId: finished.amiId, disks: [{ index: 0, sizeBytes: DISK_BYTES, meta: { bitmap: 'ferry-1' } }], compareBlocks: true });
        const incremental = await transport.beginImage(next!.replicationRunId, [{ index: 0, sizeBytes: DISK_BYTES, mode: 'incremental' }]);
        assert.equal(incremental.parent?.amiId, finished.amiId);
        assert.deepEqual(await transport.missingBlocks(next!.replicationRunId, [one.sha256, block(2).sha256]), [false, true]);
      });
    });

    test('a connector restarted after finishImage but before complete: begin again has every block committed, finish gives the same image', async () => {
      // Found by test/cluster/clusterScale.test.ts: the resumed run was told nothing was committed, sent blocks into
      // the finished image and FAILED ("not being written here").
      await withConnector(kind, async (h) => {
        const { replicationJobId, run } = await claimFirstRun(h);
        const runId = run.replicationRunId;
        const disks = [{ index: 0, sizeBytes: DISK_BYTES, mode: 'full' as const }];
        const begun = await h.transport.beginImage(runId, disks);
        const one = block(11);
        await h.transport.putBlocks(runId, [one]);
        await h.transport.recordBlocks(runId, 0, [{ blockIndex: 0, sha256: one.sha256 }, { blockIndex: 1, sha256: null }]);
        const finished = await h.transport.finishImage(runId);
        // (killed here; the restarted connector resumes the run it still holds)
        assert.deepEqual((await h.transport.activeRuns()).map((r) => r.replicationRunId), [runId]);
        const again = await h.transport.beginImage(runId, disks);
        assert.equal(again.amiId, begun.amiId);
        assert.deepEqual([again.committed.get(0)!.count, again.committed.get(0)!.has(0), again.committed.get(0)!.has(1)], [2, true, true]);
        assert.deepEqual(await h.transport.finishImage(runId), finished);
        await h.transport.complete(runId, finished.amiId);
        const completed = await runState(h, replicationJobId, runId);
        assert.deepEqual([completed.state, completed.amiId], ['COMPLETED', finished.amiId]);
      });
    });

    test('fail ends the run with its message; the run is lost afterwards', async () => {
      await withConnector(kind, async (h) => {
        const { replicationJobId, run } = await claimFirstRun(h);
        await h.transport.fail(run.replicationRunId, 'disk unreadable');
        const failed = await runState(h, replicationJobId, run.replicationRunId);
        assert.deepEqual([failed.state, failed.statusMessage], ['FAILED', 'disk unreadable']);
        await assert.rejects(h.transport.fail(run.replicationRunId, 'again'), lost(/is FAILED and no longer held/));
        await assert.rejects(h.transport.complete(run.replicationRunId, 'ami-00000000000000001'), lost(/no longer held/));
      });
    });

    test('a deleted job takes its run away from the connector mid-image', async () => {
      await withConnector(kind, async (h) => {
        const { replicationJobId, run } = await claimFirstRun(h);
        await h.transport.beginImage(run.replicationRunId, [{ index: 0, sizeBytes: DISK_BYTES, mode: 'full' }]);
        await h.t.sms.send(new DeleteReplicationJobCommand({ replicationJobId }));
        await assert.rejects(h.transport.putBlocks(run.replicationRunId, [block(3)]), lost(/is DELETED and no longer held/));
        await assert.rejects(h.transport.recordBlocks(run.replicationRunId, 0, [{ blockIndex: 0, sha256: null }]), lost(/no longer held/));
        await assert.rejects(h.transport.finishImage(run.replicationRunId), lost(/no longer held/));
        await assert.rejects(h.transport.missingBlocks('sms-run-0000dead', [block(3).sha256]), lost(/sms-run-0000dead does not exist/));
      });
    });
  });
}
