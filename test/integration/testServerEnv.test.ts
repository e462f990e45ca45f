/**
 * A test server with its blocks in S3 leaves the test process's environment fit for a `ferry` CLI child: one that
 * inherits it (`{ ...process.env }`, as appsEndToEnd's `ferry apps watch` does) and names the data dir signs its API
 * calls with that dir's root credentials, not with moto's S3 test keys. Found by `npm run test:postgres`
 * (docs/store.md): the keys were AWS_ACCESS_KEY_ID, which the CLI prefers to the data dir.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FERRY_CLI, NODE, run } from '../helpers/process.ts';
import { startTestFerry } from '../helpers/ferry.ts';

test('a CLI child inheriting the environment of a test process with S3 blocks signs with the data dir root keys', async () => {
  const t = await startTestFerry({ blocks: 's3' });
  try {
    assert.equal(t.blocks, 's3');
    const status = await run(NODE, [FERRY_CLI, 'status', '--json', '--endpoint', t.ferry.url, '--data-dir', t.dataDir], {
      env: { ...process.env, FERRY_LOG_LEVEL: 'warn' },
    });
    assert.equal(status.code, 0, status.stderr);
    assert.equal(status.stderr, '');
    assert.ok(JSON.parse(status.stdout), 'status answered as the root account');
  } finally {
    await t.close();
  }
});
