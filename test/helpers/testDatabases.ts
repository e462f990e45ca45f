/**
 * The databases tests create on the shared PostgreSQL test server (FERRY_TEST_PG_URL), and their cleanup. Every one
 * is named `ferry_test_p<pid>_<random>`, after the test process that created it, so that:
 *
 * - a test process drops every database it created and still holds when its tests end (a root `after` hook under
 *   `node --test`, `beforeExit` otherwise), whether they passed or failed, and whatever the test did with its data
 *   dir (a server restarted on a caller-owned data dir keeps its database until then);
 * - the first database a process creates first sweeps those whose process is gone (a run killed with kill -9, a
 *   crashed file), so leftovers never accumulate on a server that several runs and sessions share. A database of a
 *   live process is never touched, whoever runs it.
 */
import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import pg from 'pg';

export interface TestDatabase {
  url: string;
  /** Drops the database (with force: a server that still holds connections loses them). Idempotent. */
  drop(): Promise<void>;
}

const NAME_PREFIX = 'ferry_test_p';
const OWNED_NAME = /^ferry_test_p(\d+)_[0-9a-f]+$/;

async function onServer<T>(adminUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

function dropDatabase(adminUrl: string, name: string): Promise<void> {
  return onServer(adminUrl, (client) => client.query(`drop database if exists ${name} with (force)`)).then(() => {});
}

/** Whether the process `pid` still runs (EPERM: it does, as another user). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Drops the test databases on the server whose creating process has exited; returns their names. Failures are
 * ignored: two processes sweeping at once race for the same database, and a sweep must never fail a test.
 */
export async function sweepOrphanedTestDatabases(adminUrl: string): Promise<string[]> {
  const names = await onServer(adminUrl, async (client) =>
    (await client.query<{ datname: string }>(`select datname from pg_database where datname like '${NAME_PREFIX}%'`)).rows.map((row) => row.datname),
  );
  const orphaned = names.filter((name) => {
    const owner = OWNED_NAME.exec(name)?.[1];
    return owner !== undefined && Number(owner) !== process.pid && !processAlive(Number(owner));
  });
  const dropped: string[] = [];
  for (const name of orphaned) {
    await dropDatabase(adminUrl, name).then(
      () => dropped.push(name),
      () => {},
    );
  }
  return dropped;
}

/** Databases this process created and has not dropped yet, by name. */
const live = new Map<string, () => Promise<void>>();
const swept = new Map<string, Promise<unknown>>();

/** Stops of what still uses this process's databases (in-process Ferry servers), run before they are dropped. */
const users = new Set<() => Promise<void>>();

/**
 * Registers `stop` for something that uses a test database until its test closes it (an in-process Ferry). The root
 * hook below is registered when this module loads, before any test file's own root `after` hooks, and root hooks run
 * in the order they were registered: without this, a file's database was dropped under its still running server, and
 * whatever that server was doing failed after the file's tests had ended. Returns the unregistration, for the test's
 * own close. `stop` must be idempotent (the test's own close runs it again later).
 */
export function stopBeforeDropping(stop: () => Promise<void>): () => void {
  users.add(stop);
  return () => void users.delete(stop);
}

/** Stops whatever still uses this process's databases, then drops every database it still holds (its tests are over). */
export async function dropLiveTestDatabases(): Promise<void> {
  const stops = [...users];
  users.clear();
  await Promise.allSettled(stops.map((stop) => stop()));
  await Promise.allSettled([...live.values()].map((drop) => drop()));
}

// Under `node --test` (a child per file, or the runner's own process), the file's root `after` hook: it runs once
// every test of the file has ended, passed or failed. Outside the test runner (a bench, a file run directly),
// `beforeExit`. Both find nothing left to drop when the tests cleaned up themselves.
if (process.env.NODE_TEST_CONTEXT !== undefined || process.execArgv.some((arg) => arg.startsWith('--test'))) {
  after(dropLiveTestDatabases);
}
process.once('beforeExit', () => void dropLiveTestDatabases());

/** A new, empty database on the test server, owned by this process until it is dropped. */
export async function createTestDatabase(adminUrl: string): Promise<TestDatabase> {
  let sweep = swept.get(adminUrl);
  if (!sweep) {
    sweep = sweepOrphanedTestDatabases(adminUrl).catch(() => []);
    swept.set(adminUrl, sweep);
  }
  await sweep;
  const name = `${NAME_PREFIX}${process.pid}_${randomBytes(5).toString('hex')}`;
  await onServer(adminUrl, (client) => client.query(`create database ${name}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let dropping: Promise<void> | undefined;
  const drop = () => {
    dropping ??= dropDatabase(adminUrl, name).then(
      () => void live.delete(name),
      (error: unknown) => {
        dropping = undefined;
        throw error;
      },
    );
    return dropping;
  };
  live.set(name, drop);
  return { url: url.toString(), drop };
}
