/**
 * A disk copy with nothing left to record — an incremental run whose disk did not change (an empty dirty bitmap),
 * or a resumed run whose blocks were all committed before — must finish. It used to spin forever in a promise loop
 * (`while (recording) await recording` on a flight that had ended before it was stored), starving the whole
 * process: the connector, the API, every timer. The copy runs in a child process so that the old behaviour fails
 * this test with a timeout instead of hanging the runner.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { NODE, REPO_ROOT } from '../helpers/process.ts';

const SCRIPT = `
import { copyDisk } from './src/agent/copyDisk.ts';
const transport = {
  async recordBlocks() {},
  async missingBlocks(_run, sha256s) { return sha256s.map(() => true); },
  async putBlocks() {},
};
const source = { size: 512 * 1024, async read() {}, async close() {} };
const base = { runId: 'sms-run-00000001', diskIndex: 0, source, mode: 'incremental' };
// An incremental run with no changed block, then a resumed run whose only block was committed already.
const empty = await copyDisk({ ...base, committed: new Set(), ranges: [] }, { transport, pool: {} });
const resumed = await copyDisk({ ...base, committed: new Set([0]), ranges: [{ start: 0, end: 1 }] }, { transport, pool: {} });
console.log(JSON.stringify({ empty, resumed }));
`;

test('a copy with nothing to record finishes', () => {
  const result = spawnSync(NODE, ['--input-type=module', '-e', SCRIPT], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 10_000 });
  assert.equal(result.error, undefined, `the copy did not finish: ${result.error?.message}`);
  assert.equal(result.status, 0, result.stderr);
  const { empty, resumed } = JSON.parse(result.stdout) as Record<string, { blocksConsidered: number; blocksSkippedAsCommitted: number; blocksSent: number }>;
  assert.deepEqual([empty!.blocksConsidered, empty!.blocksSent], [0, 0]);
  assert.deepEqual([resumed!.blocksConsidered, resumed!.blocksSkippedAsCommitted, resumed!.blocksSent], [1, 1, 0]);
});
