/**
 * /health and /metrics per node. On SQLite with local packs: the existing fields (status, version) plus the node, the
 * store and the block storage probed separately, and the scheduler's role (always the leader). On PostgreSQL with S3
 * blocks (moto_server): both reachable, the lease taken; with the object store gone, 503 naming the block storage
 * alone while the store still answers. /metrics names the node (ferry_node_info) and says whether it leads.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFerry, type RunningFerry } from '../../src/main.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { startTestFerry, unreachableLaunch } from '../helpers/ferry.ts';
import { startTestBucket } from '../helpers/s3.ts';
import { createTestDatabase, postgresSkipReason, testPostgresUrl } from '../helpers/stores.ts';
import { waitFor } from '../helpers/replication.ts';

async function health(url: string): Promise<{ status: number; body: Record<string, any> }> {
  const response = await fetch(`${url}/health`);
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

describe('/health and /metrics per node', { concurrency: false }, () => {
  test('SQLite and local packs: the old fields, plus node, store, blocks and the scheduler role', async () => {
    // The single-process default by name, whatever FERRY_TEST_STORE and FERRY_TEST_BLOCKS say.
    const t = await startTestFerry({ store: 'sqlite', blocks: 'local' });
    try {
      const { status, body } = await health(t.ferry.url);
      assert.equal(status, 200);
      assert.equal(body.status, 'ok');
      assert.equal(typeof body.version, 'string');
      assert.equal(body.node, t.ferry.nodeId);
      assert.equal(body.store.kind, 'sqlite');
      assert.equal(body.store.status, 'ok');
      assert.equal(body.blocks.kind, 'local');
      assert.equal(body.blocks.status, 'ok');
      assert.deepEqual(body.scheduler, { leader: true });
      const metrics = await (await fetch(`${t.ferry.url}/metrics`)).text();
      assert.match(metrics, new RegExp(`^ferry_scheduler_leader\\{node="${t.ferry.nodeId}"\\} 1$`, 'm'));
      assert.match(metrics, new RegExp(`^ferry_node_info\\{node="${t.ferry.nodeId}"\\} 1$`, 'm'));
    } finally {
      await t.close();
    }
  });

  test('PostgreSQL and S3: both probed; the object store gone answers 503 naming it, the store still ok', { skip: postgresSkipReason }, async () => {
    const bucket = await startTestBucket();
    const database = await createTestDatabase(testPostgresUrl!);
    const dataDir = mkdtempSync(join(tmpdir(), 'ferry-health-'));
    let ferry: RunningFerry | undefined;
    after(async () => {
      await ferry?.close();
      await bucket.stop();
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    });
    // The S3 client takes its credentials from the process environment, as `ferry serve` does.
    Object.assign(process.env, bucket.env);
    ferry = await startFerry({
      dataDir,
      store: database.url,
      blocks: `s3://${bucket.bucket}/health`,
      s3Endpoint: bucket.endpoint,
      env: { ...bucket.env },
      nodeId: 'node-h1',
      log: createLogger('silent'),
      launch: unreachableLaunch(dataDir),
    });
    const url = ferry.url;
    const ok = await waitFor('the node to take the scheduler lease', async () => {
      const answer = await health(url);
      return answer.body.scheduler?.leader === true ? answer : undefined;
    });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.node, 'node-h1');
    assert.deepEqual([ok.body.store.kind, ok.body.store.status], ['postgres', 'ok']);
    assert.deepEqual([ok.body.blocks.kind, ok.body.blocks.status], ['s3', 'ok']);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, /^ferry_scheduler_leader\{node="node-h1"\} 1$/m);
    await bucket.moto.stop();
    const started = Date.now();
    const down = await health(url);
    assert.ok(Date.now() - started < 5000, 'a dead object store does not make /health hang');
    assert.equal(down.status, 503);
    assert.equal(down.body.status, 'unavailable');
    assert.equal(down.body.store.status, 'ok');
    assert.equal(down.body.blocks.status, 'unreachable');
    assert.equal(typeof down.body.blocks.error, 'string');
    assert.doesNotMatch(JSON.stringify(down.body), /testing|postgres:\/\//, 'no credentials or URLs');
  });
});
