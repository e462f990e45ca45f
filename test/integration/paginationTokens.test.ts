/**
 * Pagination (spec §3.2), its tokens and cost: tokens bound to their operation, garbled tokens and maxResults < 1 rejected,
 * later pages read through the seq keyset (limit + 1 rows), and listings unaffected by a clock that has moved on.
 * Shared world: test/helpers/paginationWorld.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GetConnectorsCommand, GetReplicationJobsCommand, GetReplicationRunsCommand, GetServersCommand } from '@aws-sdk/client-sms';
import { CompiledQuery } from 'kysely';
import type { TestFerry } from '../helpers/ferry.ts';
import { ManualClock, SECOND } from '../../src/lib/clock.ts';
import { QueryRecorder, seedPaginationWorld } from '../helpers/paginationWorld.ts';

describe('pagination over hundreds of items', () => {
  let clock: ManualClock;
  let t: TestFerry;
  let jobA: string;
  let connectorIdsInOrder: string[];

  before(async () => {
    ({ clock, t, jobA, connectorIdsInOrder } = await seedPaginationWorld());
  });

  after(async () => {
    await t?.close();
  });

  test('tokens are bound to their operation; garbled tokens and maxResults < 1 are InvalidParameterException', async () => {
    const tokens = {
      servers: (await t.sms.send(new GetServersCommand({ maxResults: 2 }))).nextToken!,
      jobs: (await t.sms.send(new GetReplicationJobsCommand({ maxResults: 2 }))).nextToken!,
      runs: (await t.sms.send(new GetReplicationRunsCommand({ replicationJobId: jobA, maxResults: 2 }))).nextToken!,
      connectors: (await t.sms.send(new GetConnectorsCommand({ maxResults: 2 }))).nextToken!,
    };
    for (const token of Object.values(tokens)) assert.ok(token);
    assert.equal(new Set(Object.values(tokens)).size, 4);
    const invalid = { name: 'InvalidParameterException' };
    const attempts: [string, (token: string) => Promise<unknown>][] = [
      ['GetServers', (nextToken) => t.sms.send(new GetServersCommand({ nextToken }))],
      ['GetReplicationJobs', (nextToken) => t.sms.send(new GetReplicationJobsCommand({ nextToken }))],
      ['GetReplicationRuns', (nextToken) => t.sms.send(new GetReplicationRunsCommand({ replicationJobId: jobA, nextToken }))],
      ['GetConnectors', (nextToken) => t.sms.send(new GetConnectorsCommand({ nextToken }))],
    ];
    const own: Record<string, string> = {
      GetServers: tokens.servers,
      GetReplicationJobs: tokens.jobs,
      GetReplicationRuns: tokens.runs,
      GetConnectors: tokens.connectors,
    };
    for (const [operation, call] of attempts) {
      for (const [from, token] of Object.entries(own)) {
        if (from === operation) continue;
        await assert.rejects(call(token), invalid, `${from}'s token on ${operation}`);
      }
      for (const garbled of ['x', 'not-a-token', Buffer.from('{"v":1,"s":"3","f":"x"}').toString('base64url'), own[operation]!.slice(0, -2)]) {
        await assert.rejects(call(garbled), invalid, `garbled token ${garbled} on ${operation}`);
      }
      // Its own token still works.
      await call(own[operation]!);
    }
    // A job filter binds GetReplicationJobs' token too.
    await assert.rejects(t.sms.send(new GetReplicationJobsCommand({ replicationJobId: jobA, nextToken: tokens.jobs })), invalid);

    for (const maxResults of [0, -1]) {
      await assert.rejects(t.sms.send(new GetServersCommand({ maxResults })), invalid);
      await assert.rejects(t.sms.send(new GetReplicationJobsCommand({ maxResults })), invalid);
      await assert.rejects(t.sms.send(new GetReplicationRunsCommand({ replicationJobId: jobA, maxResults })), invalid);
      await assert.rejects(t.sms.send(new GetConnectorsCommand({ maxResults })), invalid);
    }
  });

  test('a later page costs what the first does: an indexed seq keyset search reading limit + 1 rows', async (tt) => {
    // The check reads SQLite's query plans (PostgreSQL's planner picks by statistics; its keyset queries are the same text).
    if (t.ferry.core.capabilities.sharedByNodes) return tt.skip('reads SQLite query plans; this run\'s store is PostgreSQL');
    const core = t.ferry.core;
    const db = core.db;
    const recorder = new QueryRecorder((args) => db.getExecutor().compileQuery(args.node, args.queryId));
    core.db = db.withPlugin(recorder);
    // List pages read through core.readRows (a read-only connection): record those queries and their row counts too.
    const readRows = core.readRows;
    core.readRows = async (query) => {
      const rows = await readRows(query);
      recorder.queries.push({ sql: query.sql, parameters: query.parameters, rows: rows.length });
      return rows;
    };
    const readArrays = core.readArrays;
    core.readArrays = async (query) => {
      const rows = await readArrays(query);
      recorder.queries.push({ sql: query.sql, parameters: query.parameters, rows: rows.length });
      return rows;
    };
    try {
      const cases: { table: string; index: string; walk: () => Promise<void> }[] = [
        {
          table: 'servers',
          index: 'servers_tenant',
          walk: async () => {
            let nextToken: string | undefined;
            for (let page = 0; page < 5; page++) nextToken = (await t.sms.send(new GetServersCommand({ maxResults: 50, nextToken }))).nextToken;
          },
        },
        {
          table: 'jobs',
          index: 'jobs_tenant',
          walk: async () => {
            let nextToken: string | undefined;
            for (let page = 0; page < 5; page++) nextToken = (await t.sms.send(new GetReplicationJobsCommand({ maxResults: 50, nextToken }))).nextToken;
          },
        },
        {
          table: 'runs',
          index: 'runs_job',
          walk: async () => {
            let nextToken: string | undefined;
            for (let page = 0; page < 2; page++) {
              nextToken = (await t.sms.send(new GetReplicationRunsCommand({ replicationJobId: jobA, maxResults: 50, nextToken }))).nextToken;
            }
          },
        },
        {
          table: 'connectors',
          index: 'connectors_tenant',
          walk: async () => {
            let nextToken: string | undefined;
            for (let page = 0; page < 2; page++) nextToken = (await t.sms.send(new GetConnectorsCommand({ maxResults: 50, nextToken }))).nextToken;
          },
        },
      ];
      for (const { table, index, walk } of cases) {
        recorder.queries.length = 0;
        await walk();
        // (GetReplicationJobs joins each job's latest run and has SQLite write the JSON: a multi-line query.)
        const pageQueries = recorder.queries.filter((q) => new RegExp(`^select .* from "${table}"( left join .*)? where .*"seq" [<>] \\?`, 's').test(q.sql));
        assert.ok(pageQueries.length >= 1, `${table}: a later page selects with a seq keyset; saw ${recorder.queries.map((q) => q.sql).join('\n')}`);
        const last = pageQueries.at(-1)!;
        assert.doesNotMatch(last.sql, /\boffset\b/i, `${table}: no OFFSET`);
        assert.match(last.sql, /order by ("\w+"\.)?"seq" (asc|desc) limit \?$/);
        assert.equal(last.rows, 51, `${table}: a page reads limit + 1 rows, not the rows before it`);
        const plan = await db.executeQuery<{ detail: string }>(CompiledQuery.raw(`explain query plan ${last.sql}`, [...last.parameters]));
        const details = plan.rows.map((r) => r.detail).join(' | ');
        assert.match(details, new RegExp(`SEARCH ${table} USING (COVERING )?INDEX ${index} \\(.*seq[<>]\\?\\)`), `${table}: plan ${details}`);
        assert.doesNotMatch(details, /TEMP B-TREE/, `${table}: no sort step: ${details}`);
      }
    } finally {
      core.db = db;
      core.readRows = readRows;
      core.readArrays = readArrays;
    }
  });

  test('the listings are unaffected by a clock that has moved on', async () => {
    // Connectors go UNHEALTHY when their heartbeats stop, but they stay listed, in the same order.
    clock.advance(10 * 60 * SECOND);
    const out = await t.sms.send(new GetConnectorsCommand({ maxResults: 1000 }));
    assert.deepEqual(out.connectorList?.map((c) => c.connectorId), connectorIdsInOrder);
    assert.ok(out.connectorList?.every((c) => c.status === 'UNHEALTHY'));
  });
});
