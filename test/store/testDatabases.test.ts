/**
 * The tests' PostgreSQL databases do not outlive their test process: a file whose test fails before it drops its
 * database still leaves none behind, and one killed with kill -9 leaves one that the next run's first database
 * sweeps away, while a live process's database is never touched.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { NODE, run } from '../helpers/process.ts';
import { postgresSkipReason, testPostgresUrl } from '../helpers/stores.ts';
import { createTestDatabase, sweepOrphanedTestDatabases } from '../helpers/testDatabases.ts';

const helper = pathToFileURL(join(import.meta.dirname, '../helpers/testDatabases.ts')).href;

async function databaseExists(name: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: testPostgresUrl });
  await client.connect();
  try {
    return (await client.query('select 1 from pg_database where datname = $1', [name])).rowCount === 1;
  } finally {
    await client.end();
  }
}

const nameOf = (url: string) => new URL(url).pathname.slice(1);

describe('test databases on the shared PostgreSQL server', { skip: postgresSkipReason }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-test-databases-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a test file whose test fails before dropping its database leaves none behind', async () => {
    const file = join(dir, 'failing.test.mjs');
    writeFileSync(
      file,
      `import { test } from 'node:test';
import { createTestDatabase } from ${JSON.stringify(helper)};
test('creates a database, then fails', async () => {
  const database = await createTestDatabase(${JSON.stringify(testPostgresUrl)});
  console.log('DATABASE ' + new URL(database.url).pathname.slice(1));
  throw new Error('failed before its cleanup');
});
`,
    );
    // A runner of its own: without this process's NODE_TEST_CONTEXT, which would make it report to us in v8 frames.
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const result = await run(NODE, ['--test', '--test-reporter=tap', file], { env, timeoutMs: 60_000 });
    assert.notEqual(result.code, 0, 'the child test failed, as written');
    const name = /DATABASE (ferry_test_p\d+_[0-9a-f]+)/.exec(result.stdout)?.[1];
    assert.ok(name, `the child named its database:\n${result.stdout}`);
    assert.equal(await databaseExists(name), false, `${name} was dropped when the child's tests ended`);
  });

  test("a killed process's database is swept; a live process's is not", async () => {
    const mine = await createTestDatabase(testPostgresUrl!);
    const file = join(dir, 'holder.mjs');
    writeFileSync(
      file,
      `import { createTestDatabase } from ${JSON.stringify(helper)};
const database = await createTestDatabase(${JSON.stringify(testPostgresUrl)});
console.log('DATABASE ' + new URL(database.url).pathname.slice(1));
setInterval(() => {}, 1000);
`,
    );
    const holder = spawn(NODE, [file], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => holder.on('exit', resolve));
    try {
      const name = await new Promise<string>((resolve, reject) => {
        let out = '';
        holder.stdout.setEncoding('utf8').on('data', (chunk: string) => {
          out += chunk;
          const found = /DATABASE (ferry_test_p\d+_[0-9a-f]+)/.exec(out)?.[1];
          if (found) resolve(found);
        });
        holder.on('exit', () => reject(new Error(`the holder exited before naming its database: ${out}`)));
      });
      assert.equal((await sweepOrphanedTestDatabases(testPostgresUrl!)).includes(name), false, 'a live holder keeps its database');
      assert.equal(await databaseExists(name), true);

      holder.kill('SIGKILL');
      await exited;
      assert.equal(await databaseExists(name), true, 'kill -9 left the database behind');
      assert.ok((await sweepOrphanedTestDatabases(testPostgresUrl!)).includes(name), 'the sweep dropped it');
      assert.equal(await databaseExists(name), false);
      assert.equal(await databaseExists(nameOf(mine.url)), true, "this process's own database stays");
    } finally {
      holder.kill('SIGKILL');
      await mine.drop();
    }
    assert.equal(await databaseExists(nameOf(mine.url)), false);
  });
});
