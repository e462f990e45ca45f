/**
 * The hash diff's questions (agent/parentComparison.ts) against a real image store over a parent of 3,000 blocks
 * (four distinct contents, so the store holds four blocks): blocks queued in several spans of up to 1,024, answered
 * in order, sorted into blocks to send again and indexes to record as zeros; committed indexes are left alone; the
 * disk's tail of holes is compared too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ParentComparison } from '../../src/agent/parentComparison.ts';
import type { ConnectorTransport, DiffSpan } from '../../src/protocol/connector/messages.ts';
import { plainSealer } from '../../src/images/blockSealer.ts';
import { B, JOB, noise, openFixture, sha, tenant } from '../helpers/imageStoreFixture.ts';

const BLOCKS = 3000;
const contents = [0, 1, 2, 3].map((i) => noise(`content-${i}`));
const parentAt = (i: number) => (i % 10 === 9 ? null : contents[i % 4]!);

test('spans of 1,024 blocks, answered in order: the differing data to send, the new zeros and holes to record', async () => {
  const f = await openFixture();
  try {
    await f.images.beginImage('sms-run-000000c1', { tenant, replicationJobId: JOB, sealer: plainSealer, disks: [{ index: 0, sizeBytes: BLOCKS * B }] });
    await f.images.putBlocks('sms-run-000000c1', contents.map((data) => ({ sha256: sha(data), data })));
    const records = Array.from({ length: BLOCKS }, (_, i) => ({ blockIndex: i, sha256: parentAt(i) && sha(parentAt(i)!) }));
    await f.images.recordBlocks('sms-run-000000c1', 0, records);
    const { amiId } = await f.images.finishImage('sms-run-000000c1');

    await f.images.beginImage('sms-run-000000c2', { tenant, replicationJobId: JOB, sealer: plainSealer, disks: [{ index: 0, sizeBytes: BLOCKS * B }], mode: 'incremental', parentAmiId: amiId });
    const spans: DiffSpan[] = [];
    const transport = {
      diffBlocks: async (runId: string, disk: number, span: DiffSpan) => {
        spans.push(span);
        return f.images.diffBlocks(runId, disk, span);
      },
    } as unknown as ConnectorTransport;
    const zeros: number[] = [];
    const committed = new Set([1200]);
    const comparison = new ParentComparison({ runId: 'sms-run-000000c2', diskIndex: 0, blockCount: BLOCKS, committed }, transport, (z) => zeros.push(...z));
    // The new disk: data changes at 5, 1500 and 2000 (and at 1200, committed before); block 7 all zeros; 8 and
    // everything from 2990 on are holes; 19 (a parent hole) holds data now.
    const changedData = new Set([5, 1200, 1500, 2000]);
    const now = (i: number): Buffer | null | 'hole' => {
      if (i === 8 || i >= 2990) return 'hole';
      if (i === 7) return null;
      if (changedData.has(i) || i === 19) return contents[(i + 1) % 4]!;
      return parentAt(i);
    };
    for (let start = 0; start < BLOCKS; start += 32) {
      const batch = [];
      for (let i = start; i < Math.min(BLOCKS, start + 32); i++) {
        const block = now(i);
        if (block !== 'hole' && (block !== null || i === 7)) batch.push({ blockIndex: i, sha256: block && sha(block) });
      }
      await comparison.add(batch);
    }
    await comparison.finish();
    assert.deepEqual(comparison.changed, [5, 19, 1500, 2000], 'the data to send, in order; 1200 was committed before');
    assert.deepEqual(zeros.sort((a, b) => a - b), [7, 8, ...[2990, 2991, 2992, 2993, 2994, 2995, 2996, 2997, 2998]], 'zeros and holes where the parent had data');
    assert.ok(spans.length >= 3, `several spans (${spans.length})`);
    assert.ok(spans.every((s) => s.blocks.length <= 1024));
    assert.deepEqual([spans[0]!.start, spans.at(-1)!.end], [0, BLOCKS], 'the spans cover the disk');
    for (let i = 1; i < spans.length; i++) assert.equal(spans[i]!.start, spans[i - 1]!.end, 'each span starts where the last ended');
    // (1200 was listed here to check the filter; a copy never reads a committed block, and it counts as unchanged.)
    assert.equal(comparison.unchanged + comparison.changed.length + 1 /* 7, zeros now */, spans.reduce((n, s) => n + s.blocks.length, 0));
  } finally {
    await f.close();
  }
});
