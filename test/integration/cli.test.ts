import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GetConnectorsCommand, SMSClient } from '@aws-sdk/client-sms';

const run = promisify(execFile);
const FERRY = ['src/cli/main.ts'];
const NODE = process.execPath;

async function ferry(args: string[], env: NodeJS.ProcessEnv = {}) {
  return run(NODE, [...FERRY, ...args], { env: { ...process.env, ...env } });
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

test('accounts create and connectors register print ids and keys; credentials prints shell exports', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-cli-'));
  try {
    const created = JSON.parse((await ferry(['accounts', 'create', 'alice', '--data-dir', dataDir, '--json'])).stdout);
    assert.match(created.accountId, /^[1-9]\d{11}$/);
    assert.match(created.accessKeyId, /^AKIA[A-Z2-7]{16}$/);
    assert.equal(created.secretAccessKey.length, 40);
    await assert.rejects(ferry(['accounts', 'create', 'alice', '--data-dir', dataDir]), (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 1);
      assert.match(err.stderr, /already exists/);
      return true;
    });
    const issued = JSON.parse((await ferry(['connectors', 'register', '--account', 'alice', '--region', 'eu-west-1', '--data-dir', dataDir, '--json'])).stdout);
    assert.match(issued.connectorId, /^c-[0-9a-f]{17}$/);
    assert.equal(issued.accountId, created.accountId);
    assert.equal(issued.region, 'eu-west-1');
    assert.ok(issued.token.length > 20);
    // A connector of a region no credential can be scoped to would never be reached: refused, with the API's rule.
    for (const [region, env] of [['mars', {}], ['eu-west', {}], ['ap-south-1', { FERRY_REGIONS: 'us-east-1,eu-west-1' }]] as const) {
      await assert.rejects(ferry(['connectors', 'register', '--region', region, '--data-dir', dataDir], env), (err: { code: number; stderr: string }) => {
        assert.equal(err.code, 1);
        assert.match(err.stderr, /--region must look like us-east-1/);
        return true;
      });
    }
    const exports = (await ferry(['credentials', '--data-dir', dataDir], { FERRY_ROOT_ACCESS_KEY_ID: '', FERRY_ROOT_SECRET_ACCESS_KEY: '' })).stdout;
    assert.match(exports, /^export AWS_ACCESS_KEY_ID=AKIA\w+\nexport AWS_SECRET_ACCESS_KEY=\S+\nexport AWS_REGION=us-east-1\n$/);
    const file = join(dataDir, 'root-credentials.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.ok(exports.includes(JSON.parse(readFileSync(file, 'utf8')).secretAccessKey));
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('serve takes its settings from env, flags win over env, and /health answers when ready', async () => {
  const base = mkdtempSync(join(tmpdir(), 'ferry-serve-'));
  // A data dir that does not exist yet, as on a first `npm start`.
  const dataDir = join(base, 'ferry-data');
  const envPort = await freePort();
  const flagPort = await freePort();
  const child = spawn(NODE, [...FERRY, 'serve', '--port', String(flagPort)], {
    env: {
      ...process.env,
      FERRY_PORT: String(envPort),
      FERRY_DATA_DIR: dataDir,
      FERRY_HOST: '127.0.0.1',
      FERRY_LOG_LEVEL: 'info',
      FERRY_ROOT_ACCESS_KEY_ID: 'AKIAFERRYTESTROOT001',
      FERRY_ROOT_SECRET_ACCESS_KEY: 'ferry-test-root-secret-key-000000000000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  try {
    // The first start builds the sample datastore (about 12 s here, more under load) before it listens.
    const deadline = Date.now() + 60_000;
    let healthy = false;
    while (Date.now() < deadline && !healthy) {
      healthy = await fetch(`http://127.0.0.1:${flagPort}/health`).then((r) => r.ok, () => false);
      if (!healthy) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(healthy, `server did not become healthy: ${output}`);
    const sms = new SMSClient({
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${flagPort}`,
      credentials: { accessKeyId: 'AKIAFERRYTESTROOT001', secretAccessKey: 'ferry-test-root-secret-key-000000000000' },
      maxAttempts: 1,
    });
    // Without --datastore, serve generates a sample datastore and serves it with its embedded connector.
    const { connectorList } = await sms.send(new GetConnectorsCommand({}));
    assert.equal(connectorList?.length, 1);
    assert.equal(connectorList?.[0]?.status, 'HEALTHY');
    assert.ok(statSync(join(dataDir, 'sample-datastore', '.ferry-sample.json')).isFile(), 'the sample datastore is generated in the data dir');
    sms.destroy();
    assert.ok(statSync(join(dataDir, 'ferry.db')).isFile(), 'FERRY_DATA_DIR is used');
    const listening = output.split('\n').filter(Boolean).map((l) => { try { return JSON.parse(l); } catch { return {}; } });
    assert.ok(listening.some((l) => l.msg === 'ferry is listening' && l.url === `http://127.0.0.1:${flagPort}`));
    assert.ok(!output.includes('ferry-test-root-secret-key'), 'the root secret is not printed when it comes from the environment');
    // Defect: the sample datastore made the new data dir 0755, and the first start warned that it tightened it.
    assert.equal(statSync(dataDir).mode & 0o777, 0o700);
    assert.doesNotMatch(output, /readable or writable by other local users/);
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    rmSync(base, { recursive: true, force: true });
  }
});
