/** `ferry migrate` on every dialect: the first run applies every migration, the second finds nothing to do. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
