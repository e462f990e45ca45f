import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { GetConnectorsCommand, ImportServerCatalogCommand, SMSClient } from '@aws-sdk/client-sms';
import { startFerry } from '../../src/main.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { issueConnector } from '../../src/core/connectors.ts';
import { TestConnector } from '../helpers/testConnector.ts';
import { testServerPlace } from '../helpers/ferry.ts';

test('logs are structured JSON lines, one per request, and never contain a secret or a token', async () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-log-'));
  // On the store and blocks FERRY_TEST_STORE / FERRY_TEST_BLOCKS ask for: PostgreSQL and S3 log lines of their own.
  const place = await testServerPlace(dataDir);
  const ferry = await startFerry({
    dataDir,
    ...(place.env.FERRY_STORE ? { store: place.env.FERRY_STORE } : {}),
    ...(place.env.FERRY_BLOCKS ? { blocks: place.env.FERRY_BLOCKS, s3Endpoint: place.env.FERRY_S3_ENDPOINT } : {}),
    log: createLogger('debug', sink),
    env: {},
  });
  try {
    const issued = await issueConnector(ferry.core, { accountId: ferry.root.accountId, region: 'us-east-1' }, null);
    const connector = new TestConnector(ferry.url, issued.token, issued.connectorId);
    await connector.register();
    const sms = new SMSClient({ region: 'us-east-1', endpoint: ferry.url, credentials: ferry.root, maxAttempts: 1 });
    await sms.send(new GetConnectorsCommand({}));
    await sms.send(new ImportServerCatalogCommand({}));
    const wrong = new SMSClient({
      region: 'us-east-1',
      endpoint: ferry.url,
      credentials: { accessKeyId: ferry.root.accessKeyId, secretAccessKey: 'not-the-secret' },
      maxAttempts: 1,
    });
    await assert.rejects(wrong.send(new GetConnectorsCommand({})), { name: 'InvalidSignatureException' });
    await fetch(`${ferry.url}/ferry/connector/v1/heartbeat`, { method: 'POST', headers: { authorization: 'Bearer fct_wrong-token' }, body: '{}' });
    sms.destroy();
    wrong.destroy();

    const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const requests = records.filter((r) => r.msg === 'request');
    assert.ok(requests.some((r) => r.op === 'GetConnectors' && r.status === 200 && r.account === ferry.root.accountId));
    assert.ok(requests.some((r) => r.op === 'GetConnectors' && r.status === 400));
    assert.ok(requests.every((r) => typeof r.reqId === 'string' && typeof r.ms === 'number'));
    const all = lines.join('\n');
    for (const secret of [ferry.root.secretAccessKey, issued.token, 'fct_wrong-token', 'not-the-secret']) {
      assert.ok(!all.includes(secret), `a log line contains a secret (${secret.slice(0, 6)}…)`);
    }
    assert.ok(!/AWS4-HMAC-SHA256/.test(all), 'Authorization headers are never logged');
  } finally {
    await ferry.close();
    rmSync(dataDir, { recursive: true, force: true });
    await place.dispose();
  }
});
