/**
 * The hash diff's service side (diffBlocks), over both transports: a run begun `incremental` over the job's latest
 * image asks which blocks of a span differ from that image's, records only those, and its image reads block for block
 * as the new disk (a changed block, a block that became zero, a hole where the parent had data, new data in a parent
 * hole). Bad spans are refused; a run begun full has nothing to compare with; a connector that does not hold the run,
 * of the same account or another, is told the run is not its own.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { CreateReplicationJobCommand, GetServersCommand, ImportServerCatalogCommand, StartOnDemandReplicationRunCommand } from '@aws-sdk/client-sms';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { issueConnector } from '../../src/core/connectors.ts';
import { HttpTransport } from '../../src/agent/httpTransport.ts';
import { LocalTransport } from '../../src/server/connector/localTransport.ts';
import { ConnectorError, RunLost, type ConnectorTransport, type Registration } from '../../src/protocol/connector/messages.ts';
import { BLOCK_SIZE } from '../../src/domain/blocks.ts';

const TRANSPORTS = {
  http: (t: TestFerry, token: string): ConnectorTransport => new HttpTransport(t.ferry.url, token),
  'in-process': (t: TestFerry, token: string): ConnectorTransport => new LocalTransport(t.ferry.core, t.ferry.plane, token),
} as const;

const REGISTRATION: Registration = { vmManagerType: 'VSPHERE', vmManagerName: 'vcenter.diff', vmManagerId: 'vcenter-diff', version: '1.0.0', capabilities: ['VSPHERE'] };
const BLOCKS = 6;
const DISK_BYTES = BLOCKS * BLOCK_SIZE;

const block = (fill: number) => {
  const data = Buffer.alloc(BLOCK_SIZE, fill);
  return { sha256: createHash('sha256').update(data).digest(), data };
};
const ZERO = Buffer.alloc(BLOCK_SIZE);

const refused = (message: RegExp) => (e: unknown) => e instanceof ConnectorError && e.status === 400 && message.test(e.message);
const lost = (message: RegExp) => (e: unknown) => e instanceof RunLost && message.test(e.message);

/** Records one disk's content as a connector would: the missing blocks put, every listed index recorded. */
async function write(transport: ConnectorTransport, runId: string, content: Map<number, Buffer | null>): Promise<void> {
  const blocks = [...content].map(([blockIndex, data]) => ({ blockIndex, data, sha256: data && createHash('sha256').update(data).digest() }));
  const data = blocks.filter((b) => b.data !== null);
  const missing = await transport.missingBlocks(runId, data.map((b) => b.sha256!));
  await transport.putBlocks(runId, data.filter((_, i) => missing[i]).map((b) => ({ sha256: b.sha256!, data: b.data! })));
  await transport.recordBlocks(runId, 0, blocks.map((b) => ({ blockIndex: b.blockIndex, sha256: b.sha256 })));
}

for (const kind of Object.keys(TRANSPORTS) as (keyof typeof TRANSPORTS)[]) {
  describe(`hash diff against the parent image over the ${kind} transport`, () => {
    test('only the differing blocks are named, recorded, and the image reads as the new disk', async () => {
      const t = await startTestFerry();
      try {
        const issued = await issueConnector(t.ferry.core, { accountId: t.ferry.root.accountId, region: 'us-east-1' }, null);
        const transport = TRANSPORTS[kind](t, issued.token);
        await transport.register(REGISTRATION);
        await t.sms.send(new ImportServerCatalogCommand({}));
        await transport.inventory([
          { vmId: 'vm-0', vmName: 'vm0', vmPath: '/dc/vm0', replicable: true, details: { disks: [{ path: '/ds/vm0.vmdk', format: 'vmdk', virtualSize: DISK_BYTES }] } },
        ]);
        const serverId = (await t.sms.send(new GetServersCommand({}))).serverList![0]!.serverId!;
        const { replicationJobId } = await t.sms.send(new CreateReplicationJobCommand({ serverId, seedReplicationTime: new Date(Date.now() - 1000), frequency: 12 }));

        // The parent: blocks 0, 1, 3, 4 hold data; 2 and 5 are holes.
        const [first] = await transport.claim(1);
        const firstId = first!.replicationRunId;
        await transport.beginImage(firstId, [{ index: 0, sizeBytes: DISK_BYTES, mode: 'full' }]);
        await assert.rejects(transport.diffBlocks(firstId, 0, { start: 0, end: BLOCKS, blocks: [] }), refused(/not begun as an incremental image/));
        await write(transport, firstId, new Map([[0, block(1).data], [1, block(2).data], [3, block(3).data], [4, block(4).data]]));
        const parent = await transport.finishImage(firstId);
        await transport.complete(firstId, parent.amiId);

        await t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId }));
        const [next] = await transport.claim(1);
        const runId = next!.replicationRunId;
        const parentImage = await transport.parentImage(runId);
        assert.equal(parentImage?.compareBlocks, true, 'the service offers the comparison');
        await transport.beginImage(runId, [{ index: 0, sizeBytes: DISK_BYTES, mode: 'incremental' }]);

        // The new disk: 0 unchanged, 1 changed, 2 new data in a parent hole, 3 now all zeros (read, hashed as zero),
        // 4 punched (a hole the connector does not list), 5 still a hole.
        const now = new Map<number, Buffer | null>([[0, block(1).data], [1, block(9).data], [2, block(7).data], [3, null]]);
        const listed = [...now].map(([blockIndex, data]) => ({ blockIndex, sha256: data && createHash('sha256').update(data).digest() }));
        assert.deepEqual(await transport.diffBlocks(runId, 0, { start: 0, end: BLOCKS, blocks: listed }), [1, 2, 3, 4]);
        // Split spans say the same; a span of unchanged blocks and parent holes names nothing.
        assert.deepEqual(await transport.diffBlocks(runId, 0, { start: 0, end: 2, blocks: listed.slice(0, 2) }), [1]);
        assert.deepEqual(await transport.diffBlocks(runId, 0, { start: 2, end: BLOCKS, blocks: listed.slice(2) }), [2, 3, 4]);
        assert.deepEqual(await transport.diffBlocks(runId, 0, { start: 0, end: 1, blocks: listed.slice(0, 1) }), []);
        assert.deepEqual(await transport.diffBlocks(runId, 0, { start: 5, end: 6, blocks: [] }), []);
        // An all-zero block sent with its real digest is a zero too.
        assert.deepEqual(await transport.diffBlocks(runId, 0, { start: 5, end: 6, blocks: [{ blockIndex: 5, sha256: createHash('sha256').update(ZERO).digest() }] }), []);

        await assert.rejects(transport.diffBlocks(runId, 0, { start: 0, end: BLOCKS + 1, blocks: [] }), refused(/not a span of disk 0/));
        await assert.rejects(transport.diffBlocks(runId, 0, { start: 3, end: 3, blocks: [] }), refused(/not a span of disk 0|end must be/));
        await assert.rejects(transport.diffBlocks(runId, 0, { start: 0, end: 4, blocks: [listed[1]!, listed[0]!] }), refused(/out of order/));
        await assert.rejects(transport.diffBlocks(runId, 0, { start: 2, end: 4, blocks: [listed[0]!] }), refused(/outside the span/));
        await assert.rejects(transport.diffBlocks(runId, 1, { start: 0, end: 1, blocks: [] }), refused(/has no disk 1/));
        const tooMany = Array.from({ length: 1025 }, (_, i) => ({ blockIndex: i, sha256: null }));
        await assert.rejects(transport.diffBlocks(runId, 0, { start: 0, end: BLOCKS, blocks: tooMany }), refused(/at most 1024/));

        // Another connector of this account, and one of another account: the run is not theirs.
        const colleague = TRANSPORTS[kind](t, (await issueConnector(t.ferry.core, { accountId: t.ferry.root.accountId, region: 'us-east-1' }, null)).token);
        await colleague.register({ ...REGISTRATION, vmManagerId: 'vcenter-colleague' });
        await assert.rejects(colleague.diffBlocks(runId, 0, { start: 0, end: BLOCKS, blocks: listed }), lost(/no longer held by this connector|not held/));
        const stranger = TRANSPORTS[kind](t, (await issueConnector(t.ferry.core, { accountId: '210987654321', region: 'us-east-1' }, null)).token);
        await stranger.register({ ...REGISTRATION, vmManagerId: 'vcenter-stranger' });
        await assert.rejects(stranger.diffBlocks(runId, 0, { start: 0, end: BLOCKS, blocks: listed }), lost(/does not exist/));

        // Only the differing blocks are recorded; the rest comes from the parent.
        await write(transport, runId, new Map([[1, block(9).data], [2, block(7).data], [3, null], [4, null]]));
        const image = await transport.finishImage(runId);
        const expected = [block(1).data, block(9).data, block(7).data, ZERO, ZERO, ZERO];
        for (const [index, data] of expected.entries()) {
          assert.ok((await t.ferry.plane.images.readBlock(image.amiId, 0, index)).equals(data), `block ${index} of the new image`);
        }
        const old = [block(1).data, block(2).data, ZERO, block(3).data, block(4).data, ZERO];
        for (const [index, data] of old.entries()) {
          assert.ok((await t.ferry.plane.images.readBlock(parent.amiId, 0, index)).equals(data), `block ${index} of the parent`);
        }
        // The run is over: nothing left to compare.
        await assert.rejects(transport.diffBlocks(runId, 0, { start: 0, end: 1, blocks: [] }));
      } finally {
        await t.close();
      }
    });
  });
}
