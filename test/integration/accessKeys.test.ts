/**
 * Issue 8, defect 6: access keys have a lifecycle. The root key from FERRY_ROOT_* replaces the previous one (the
 * old key stops working); commands run without those variables make no key; `ferry accounts keys list|create|
 * delete` rotate a key without downtime, and a key deleted by the CLI — another process — is refused by the
 * running service at the very next request; a deleted key never comes back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signInResult } from '../helpers/ferry.ts';
import { startFerry, type RunningFerry } from '../../src/main.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { listAccessKeys } from '../../src/core/accessKeys.ts';
import { ferryCli, FERRY_CLI, NODE, run } from '../helpers/process.ts';

const ROOT_A = { accessKeyId: 'AKIAFERRYROOTAAAAAAA1', secretAccessKey: 'root-secret-a-0000000000000000000000000' };
const ROOT_B = { accessKeyId: 'AKIAFERRYROOTBBBBBBB2', secretAccessKey: 'root-secret-b-0000000000000000000000000' };
const envOf = (keys: { accessKeyId: string; secretAccessKey: string }) => ({ FERRY_ROOT_ACCESS_KEY_ID: keys.accessKeyId, FERRY_ROOT_SECRET_ACCESS_KEY: keys.secretAccessKey });
/** CLI environment without the root variables (they may not leak in from the test's own environment). */
const NO_ROOT_ENV = { FERRY_ROOT_ACCESS_KEY_ID: '', FERRY_ROOT_SECRET_ACCESS_KEY: '', AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' };

async function start(dataDir: string, env: NodeJS.ProcessEnv = {}): Promise<{ ferry: RunningFerry; warnings: string[] }> {
  const warnings: string[] = [];
  const log = createLogger('warn', {
    write: (line: string) => {
      const parsed = JSON.parse(line) as { level: number; msg: string };
      if (parsed.level === 40) warnings.push(parsed.msg);
    },
  });
  return { ferry: await startFerry({ dataDir, env, log }), warnings };
}

const cli = (dataDir: string, ...args: string[]) => ferryCli([...args, '--data-dir', dataDir], NO_ROOT_ENV);
const cliFails = async (dataDir: string, ...args: string[]) => {
  const result = await run(NODE, [FERRY_CLI, ...args, '--data-dir', dataDir], { env: { ...process.env, ...NO_ROOT_ENV } });
  assert.equal(result.code, 1, `ferry ${args.join(' ')} fails: ${result.stdout}`);
  return result.stderr;
};

test('the root key from the environment replaces the previous one: the old key stops working', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-keys-env-'));
  try {
    // First start without the variables: a generated key in root-credentials.json.
    const first = await start(dataDir);
    const generated = first.ferry.root;
    assert.equal(generated.source, 'generated');
    await first.ferry.close();

    const withA = await start(dataDir, envOf(ROOT_A));
    assert.equal(await signInResult(withA.ferry.url, ROOT_A), 'ok');
    assert.equal(await signInResult(withA.ferry.url, generated), 'UnrecognizedClientException', 'the generated key was replaced');
    assert.ok(withA.warnings.includes(`root access key ${generated.accessKeyId} was replaced by FERRY_ROOT_ACCESS_KEY_ID ${ROOT_A.accessKeyId} and is deleted.`), withA.warnings.join('\n'));
    assert.equal(existsSync(join(dataDir, 'root-credentials.json')), false, 'the file holding the replaced key is removed');
    await withA.ferry.close();

    const withB = await start(dataDir, envOf(ROOT_B));
    assert.equal(await signInResult(withB.ferry.url, ROOT_B), 'ok');
    assert.equal(await signInResult(withB.ferry.url, ROOT_A), 'UnrecognizedClientException', 'the old environment key is revoked');
    assert.deepEqual((await listAccessKeys(withB.ferry.core, withB.ferry.root.accountId)).map((k) => [k.accessKeyId, k.origin]), [[ROOT_B.accessKeyId, 'environment']]);
    await withB.ferry.close();

    // A deleted key never comes back: starting with it again is refused, with what to do.
    await assert.rejects(start(dataDir, envOf(ROOT_A)), /FERRY_ROOT_ACCESS_KEY_ID AKIAFERRYROOTAAAAAAA1 was deleted; a deleted key never works again/);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('commands run without the root variables make no key', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-keys-cli-'));
  const { ferry } = await start(dataDir, envOf(ROOT_A));
  try {
    JSON.parse(await cli(dataDir, 'connectors', 'register', '--json'));
    JSON.parse(await cli(dataDir, 'kms', 'create-key', '--json'));
    await cli(dataDir, 'accounts', 'list');
    assert.match(await cliFails(dataDir, 'credentials'), /the root account's key is not at hand: .*root-credentials\.json does not exist/);
    await cli(dataDir, 'accounts', 'keys', 'list', 'root');
    assert.deepEqual((await listAccessKeys(ferry.core, ferry.root.accountId)).map((k) => k.accessKeyId), [ROOT_A.accessKeyId], 'still only the root key from the environment');
    assert.equal(existsSync(join(dataDir, 'root-credentials.json')), false);
    assert.equal(await signInResult(ferry.url, ROOT_A), 'ok');
  } finally {
    await ferry.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('rotation without downtime: a second key, then the first deleted by the CLI is refused at the next request', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-keys-rotate-'));
  const { ferry } = await start(dataDir, envOf(ROOT_A));
  try {
    const first = JSON.parse(await cli(dataDir, 'accounts', 'create', 'alice', '--json')) as { accessKeyId: string; secretAccessKey: string; accountId: string };
    assert.equal(await signInResult(ferry.url, first), 'ok');
    const second = JSON.parse(await cli(dataDir, 'accounts', 'keys', 'create', 'alice', '--json')) as { accessKeyId: string; secretAccessKey: string; accountId: string };
    assert.equal(second.accountId, first.accountId);
    assert.equal(await signInResult(ferry.url, first), 'ok', 'both keys work while clients move');
    assert.equal(await signInResult(ferry.url, second), 'ok');
    assert.match(await cliFails(dataDir, 'accounts', 'keys', 'create', 'alice'), /Account alice already has 2 access keys, the most an account may have: delete one first/);

    const listed = await cli(dataDir, 'accounts', 'keys', 'list', 'alice', '--json');
    assert.deepEqual((JSON.parse(listed) as { accessKeyId: string }[]).map((k) => k.accessKeyId).sort(), [first.accessKeyId, second.accessKeyId].sort());
    assert.ok(!listed.includes(first.secretAccessKey) && !listed.includes(second.secretAccessKey), 'listing never shows a secret');

    assert.equal(await cli(dataDir, 'accounts', 'keys', 'delete', 'alice', first.accessKeyId), `Deleted access key ${first.accessKeyId} of account alice; it no longer authenticates.\n`);
    assert.equal(await signInResult(ferry.url, first), 'UnrecognizedClientException', 'refused at once by the running service');
    assert.equal(await signInResult(ferry.url, second), 'ok');

    assert.match(await cliFails(dataDir, 'accounts', 'keys', 'delete', 'alice', second.accessKeyId), /the only access key of account alice; .* Add --force/);
    assert.equal(await signInResult(ferry.url, second), 'ok');
    await cli(dataDir, 'accounts', 'keys', 'delete', 'alice', second.accessKeyId, '--force');
    assert.equal(await signInResult(ferry.url, second), 'UnrecognizedClientException');
    assert.match(await cliFails(dataDir, 'accounts', 'keys', 'delete', 'alice', second.accessKeyId), /is already deleted/);
    assert.match(await cliFails(dataDir, 'accounts', 'keys', 'delete', 'root', first.accessKeyId), /Account root has no access key AKIA/);
    assert.match(await cliFails(dataDir, 'accounts', 'keys', 'delete', 'root', ROOT_A.accessKeyId, '--force'), /the root account's only access key\. Create its replacement first/);
    assert.equal(await signInResult(ferry.url, ROOT_A), 'ok');
  } finally {
    await ferry.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a generated root key deleted after a rotation is not brought back by root-credentials.json at the next start', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-keys-file-'));
  try {
    const first = await start(dataDir);
    const generated = first.ferry.root;
    const replacement = JSON.parse(await cli(dataDir, 'accounts', 'keys', 'create', 'root', '--json')) as { accessKeyId: string; secretAccessKey: string };
    assert.equal(
      await cli(dataDir, 'accounts', 'keys', 'delete', 'root', generated.accessKeyId),
      `Deleted access key ${generated.accessKeyId} of account root; it no longer authenticates.\nRemoved root-credentials.json, which held it.\n`,
    );
    assert.equal(await signInResult(first.ferry.url, generated), 'UnrecognizedClientException');
    await first.ferry.close();

    const again = await start(dataDir);
    assert.equal(again.ferry.root.source, 'store');
    assert.equal(again.ferry.root.accessKeyId, replacement.accessKeyId);
    assert.equal(await signInResult(again.ferry.url, generated), 'UnrecognizedClientException');
    assert.equal(await signInResult(again.ferry.url, replacement), 'ok');
    assert.equal(existsSync(join(dataDir, 'root-credentials.json')), false, 'no new key was generated');
    assert.equal((await listAccessKeys(again.ferry.core, again.ferry.root.accountId)).length, 1);
    await again.ferry.close();
    assert.ok(!readFileSync(join(dataDir, 'ferry.db')).includes(Buffer.from(replacement.secretAccessKey)));
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
