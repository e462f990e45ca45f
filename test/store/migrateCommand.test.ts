/** `ferry migrate` on every dialect: the first run applies every migration, the second finds nothing to do. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { migrations } from '../../src/store/migrations/index.ts';
import { ferryCli, run, NODE, FERRY_CLI } from '../helpers/process.ts';
import { createTestDatabase, describeEachDialect, testPostgresUrl } from '../helpers/stores.ts';

const allVersions = migrations.map((m) => m.version);

describeEachDialect('ferry migrate', (dialect) => {
  let dataDir: string;
  let database: { url: string; drop(): Promise<void> } | undefined;
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'ferry-migrate-cli-'));
    if (dialect.name === 'postgres') database = await createTestDatabase(testPostgresUrl!);
  });
  after(async () => {
    rmSync(dataDir, { recursive: true, force: true });
    await database?.drop();
  });

  test('applies every migration once, then reports nothing to apply', async () => {
    // PostgreSQL through --store the first time and FERRY_STORE the second: both name the store.
    const flags = database ? ['--store', database.url] : [];
    const first = JSON.parse(await ferryCli(['migrate', '--data-dir', dataDir, '--json', ...flags], { FERRY_STORE: '' }));
    assert.deepEqual(first, { dialect: dialect.name, applied: allVersions, schemaVersion: allVersions.at(-1) });
    const second = await ferryCli(['migrate', '--data-dir', dataDir], { FERRY_STORE: database?.url ?? '' });
    assert.match(second, new RegExp(`The ${dialect.name} store is at schema version ${allVersions.at(-1)}; nothing to apply`));
  });
});

test('ferry migrate refuses a store that is not a postgres:// URL', async () => {
  const result = await run(NODE, [FERRY_CLI, 'migrate', '--store', 'mysql://nope'], { env: { ...process.env, FERRY_STORE: '' } });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /--store must be a postgres:\/\/ URL/);
});

test('an unreachable PostgreSQL store is named in one line, without its password', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-migrate-unreachable-'));
  try {
    // Port 1 on loopback: nothing listens there, so the first connection is refused at once.
    const result = await run(NODE, [FERRY_CLI, 'migrate', '--data-dir', dataDir, '--store', 'postgres://ferry:s3cret@127.0.0.1:1/ferry'], { env: { ...process.env, FERRY_STORE: '' } });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /cannot open the PostgreSQL store postgres:\/\/ferry:\*\*\*@127\.0\.0\.1:1\/ferry: connect ECONNREFUSED/);
    assert.doesNotMatch(result.stderr, /s3cret/);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('ferry serve refuses a malformed --blocks before it builds anything', async () => {
  const dataDir = join(mkdtempSync(join(tmpdir(), 'ferry-serve-blocks-')), 'data');
  try {
    const result = await run(NODE, [FERRY_CLI, 'serve', '--data-dir', dataDir, '--port', '0', '--blocks', 'ftp://bucket/x'], { env: { ...process.env, FERRY_BLOCKS: '' } });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /--blocks \(FERRY_BLOCKS\) must be "local" or s3:\/\/bucket\/prefix; got "ftp:\/\/bucket\/x"/);
    assert.equal(existsSync(dataDir), false, 'nothing was created for a refused start');
  } finally {
    rmSync(dirname(dataDir), { recursive: true, force: true });
  }
});
