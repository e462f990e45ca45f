/**
 * A PostgreSQL server may end a session at any moment (a failover, an operator's pg_terminate_backend, a restart):
 * the unit of work holding that session fails with an error, and the node goes on serving. Before the fix, the pg
 * client emitted 'error' with nobody listening while a unit of work held it between two statements, and the whole
 * node ended on an uncaught exception. PostgreSQL only: SQLite has no server to lose.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { sql } from 'kysely';
import { inUnitOfWork } from '../../src/store/unitOfWork.ts';
import { postgresSkipReason, storeDialects, testPostgresUrl, type StoreUnderTest } from '../helpers/stores.ts';

describe('PostgreSQL: a session ended by the server', { skip: postgresSkipReason }, () => {
  let opened: StoreUnderTest;
  let admin: pg.Client;
  const uncaught: Error[] = [];
  const recordUncaught = (error: Error) => uncaught.push(error);

  before(async () => {
    opened = await storeDialects.find((d) => d.name === 'postgres')!.open();
    admin = new pg.Client(testPostgresUrl);
    await admin.connect();
    process.on('uncaughtException', recordUncaught);
  });
  after(async () => {
    process.off('uncaughtException', recordUncaught);
    await admin.end();
    await opened.dispose();
  });

  test('fails the unit of work that held it, not the process; the next unit gets a new session', async () => {
    const { db } = opened.store;
    const ended = inUnitOfWork(db, 'strict', async (trx) => {
      const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
      await admin.query('select pg_terminate_backend($1)', [rows[0]!.pid]);
      // Between two statements, as a unit of work is while its JS decides the next one: the client hears of the
      // ended session now, with no query of its own to fail.
      await new Promise((resolve) => setTimeout(resolve, 200));
      await sql`select 1`.execute(trx);
    });
    await assert.rejects(ended, /not queryable|terminat/i);
    assert.deepEqual(uncaught.map((e) => e.message), []);

    const { rows } = await sql<{ answer: number }>`select 42 as answer`.execute(db);
    assert.equal(Number(rows[0]!.answer), 42);
  });
});
