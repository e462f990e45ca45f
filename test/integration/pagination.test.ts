/**
 * Pagination of the four paginated operations (spec §3.2) over hundreds of items: every item exactly once, in a
 * stable order, default page size 50, no nextToken on the last page, tokens that never repeat and are bound to
 * their operation and filter, and later pages read through the seq keyset instead of skipping rows.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateReplicationJobCommand,
  GetConnectorsCommand,
  GetReplicationJobsCommand,
  GetReplicationRunsCommand,
  GetServersCommand,
  ImportServerCatalogCommand,
  StartOnDemandReplicationRunCommand,
  paginateGetConnectors,
  paginateGetReplicationJobs,
  paginateGetReplicationRuns,
  paginateGetServers,
  type GetServersCommandOutput,
  type Server,
} from '@aws-sdk/client-sms';
import { CompiledQuery, type KyselyPlugin, type PluginTransformQueryArgs, type PluginTransformResultArgs, type QueryResult, type UnknownRow } from 'kysely';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { vms, type TestConnector } from '../helpers/testConnector.ts';
import { DAY, ManualClock, SECOND } from '../../src/lib/clock.ts';

const SERVERS_ON_VCENTER_1 = 300;
const SERVERS_ON_VCENTER_2 = 20;
const JOBS_ON_VCENTER_1 = 260;
const ON_DEMAND_RUNS = 125;
const EXTRA_CONNECTORS = 118;

interface Page<T> {
  items: T[];
  nextToken?: string;
}

/**
 * Follows nextToken to the end and checks the invariants every listing must keep: tokens never repeat, only the
 * last page lacks a token, no page is empty unless the whole list is, and no page is larger than asked.
 */
async function collect<T>(fetchPage: (token: string | undefined) => Promise<Page<T>>, pageSize: number): Promise<{ items: T[]; pages: Page<T>[] }> {
  const pages: Page<T>[] = [];
  const tokens = new Set<string>();
  let token: string | undefined;
  do {
    const page = await fetchPage(token);
    pages.push(page);
    assert.ok(page.items.length <= pageSize, `a page holds at most ${pageSize} items; got ${page.items.length}`);
    if (page.nextToken !== undefined) {
      assert.equal(typeof page.nextToken, 'string');
      assert.notEqual(page.nextToken, '', 'an empty nextToken would end pagination; omit it instead');
      assert.ok(!tokens.has(page.nextToken), 'a nextToken must never repeat');
      tokens.add(page.nextToken);
      assert.ok(page.items.length > 0, 'a page that promises more must not be empty');
      assert.equal(page.items.length, pageSize, 'every page but the last is full');
    }
    token = page.nextToken;
    assert.ok(pages.length < 10_000, 'pagination does not end');
  } while (token !== undefined);
  const items = pages.flatMap((p) => p.items);
  if (items.length > 0) assert.ok(pages.at(-1)!.items.length > 0, 'no empty trailing page');
  return { items, pages };
}

function assertEveryOnce(ids: string[], expected: string[], what: string): void {
  assert.equal(new Set(ids).size, ids.length, `${what}: an item was returned twice`);
  assert.deepEqual(ids, expected, `${what}: every item exactly once, in the stable order`);
}

const serverKey = (s: Server): string => `${s.vmServer?.vmServerAddress?.vmManagerId}/${s.vmServer?.vmServerAddress?.vmId}`;

/** Records the SQL of every query the service runs, with its parameters and how many rows came back. */
class QueryRecorder implements KyselyPlugin {
  readonly queries: { sql: string; parameters: readonly unknown[]; rows: number }[] = [];
  readonly #pending = new Map<unknown, { sql: string; parameters: readonly unknown[] }>();
  readonly #compile: (args: PluginTransformQueryArgs) => CompiledQuery;
  constructor(compile: (args: PluginTransformQueryArgs) => CompiledQuery) {
    this.#compile = compile;
  }
  transformQuery(args: PluginTransformQueryArgs) {
    const compiled = this.#compile(args);
    this.#pending.set(args.queryId, { sql: compiled.sql, parameters: compiled.parameters });
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    const query = this.#pending.get(args.queryId);
    this.#pending.delete(args.queryId);
    if (query) this.queries.push({ ...query, rows: args.result.rows.length });
    return args.result;
  }
}

describe('pagination over hundreds of items', () => {
  const clock = new ManualClock(Date.UTC(2026, 2, 1, 12, 0, 0));
  let t: TestFerry;
  let vcenter1: TestConnector;
  let vcenter2: TestConnector;
  let serverKeysInOrder: string[];
  let serverIdByKey: Map<string, string>;
  const jobIdsInOrder: string[] = [];
  let jobA: string;
  let jobB: string;
  const onDemandRunIds: string[] = [];
  /** The image the last on-demand run completed with: the job's latest. */
  let lastImage = '';
  const connectorIdsInOrder: string[] = [];

  before(async () => {
    t = await startTestFerry({ clock, policy: { maxNonTerminalJobsPerAccount: 1000, onDemandRunsPerWindow: 1000 } });
    vcenter1 = await t.connector();
    vcenter2 = await t.connector();
    await vcenter1.register({ vmManagerId: 'vcenter-1', vmManagerName: 'vc1.test' });
    await vcenter2.register({ vmManagerId: 'vcenter-2', vmManagerName: 'vc2.test' });
    connectorIdsInOrder.push(vcenter1.connectorId, vcenter2.connectorId);
    await t.sms.send(new ImportServerCatalogCommand({}));
    assert.equal((await vcenter1.inventory(vms(SERVERS_ON_VCENTER_1))).status, 'IMPORTING');
    // The same vmIds on a second VM manager: addresses differ only by vmManagerId.
    assert.deepEqual(await vcenter2.inventory(vms(SERVERS_ON_VCENTER_2)), { status: 'AVAILABLE', servers: SERVERS_ON_VCENTER_2 });
    serverKeysInOrder = [
      ...vms(SERVERS_ON_VCENTER_1).map((vm) => `vcenter-1/${vm.vmId}`),
      ...vms(SERVERS_ON_VCENTER_2).map((vm) => `vcenter-2/${vm.vmId}`),
    ];
    const all = await t.sms.send(new GetServersCommand({ maxResults: 1000 }));
    assert.equal(all.serverList?.length, serverKeysInOrder.length);
    serverIdByKey = new Map(all.serverList!.map((s) => [serverKey(s), s.serverId!]));

    // Jobs that wait a day, so no run of theirs is due; then jobs A and B on vcenter-2, whose runs we drive.
    const future = new Date(clock.now() + DAY);
    for (let i = 0; i < JOBS_ON_VCENTER_1; i++) {
      const serverId = serverIdByKey.get(`vcenter-1/vm-${i}`)!;
      const { replicationJobId } = await t.sms.send(new CreateReplicationJobCommand({ serverId, seedReplicationTime: future, frequency: 24 }));
      jobIdsInOrder.push(replicationJobId!);
    }
    jobA = (await t.sms.send(
      new CreateReplicationJobCommand({ serverId: serverIdByKey.get('vcenter-2/vm-0')!, seedReplicationTime: new Date(clock.now()), frequency: 24 }),
    )).replicationJobId!;
    jobB = (await t.sms.send(
      new CreateReplicationJobCommand({ serverId: serverIdByKey.get('vcenter-2/vm-1')!, seedReplicationTime: future, frequency: 24 }),
    )).replicationJobId!;
    jobIdsInOrder.push(jobA, jobB);

    // Job A: its first AUTOMATIC run, then many ON_DEMAND runs, each claimed and completed.
    const first = await vcenter2.claim();
    assert.equal(first.length, 1);
    assert.equal(first[0]!.replicationJobId, jobA);
    await vcenter2.completeWithImage(first[0]!.replicationRunId);
    for (let i = 0; i < ON_DEMAND_RUNS; i++) {
      clock.advance(100);
      const { replicationRunId } = await t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: jobA, description: `od ${i}` }));
      onDemandRunIds.push(replicationRunId!);
      const [claimed] = await vcenter2.claim();
      assert.equal(claimed?.replicationRunId, replicationRunId);
      lastImage = await vcenter2.completeWithImage(replicationRunId!);
    }

    // Many connectors, registered after the import (an import waits for every healthy connector's inventory).
    for (let i = 0; i < EXTRA_CONNECTORS; i++) {
      const connector = await t.connector();
      await connector.register({ vmManagerId: `vcenter-extra-${i}`, vmManagerName: `extra${i}.test` });
      connectorIdsInOrder.push(connector.connectorId);
    }
  });

  after(async () => {
    await t?.close();
  });

  test('GetServers with the SDK paginator: default page size 50, every server once, catalog status on every page', async () => {
    const responses: GetServersCommandOutput[] = [];
    for await (const page of paginateGetServers({ client: t.sms }, {})) responses.push(page);
    const total = SERVERS_ON_VCENTER_1 + SERVERS_ON_VCENTER_2;
    assert.deepEqual(
      responses.map((r) => r.serverList?.length),
      [50, 50, 50, 50, 50, 50, 20],
      'the default page size is 50',
    );
    for (const [i, page] of responses.entries()) {
      assert.equal(page.serverCatalogStatus, 'AVAILABLE', `serverCatalogStatus on page ${i + 1}`);
      assert.ok(page.lastModifiedOn instanceof Date, `lastModifiedOn on page ${i + 1}`);
      assert.equal(page.lastModifiedOn.getTime(), responses[0]!.lastModifiedOn!.getTime());
    }
    assert.equal(responses.at(-1)!.nextToken, undefined, 'no nextToken on the last page');
    const tokens = responses.slice(0, -1).map((r) => r.nextToken);
    assert.equal(new Set(tokens).size, tokens.length, 'tokens never repeat');
    const servers = responses.flatMap((r) => r.serverList!);
    assert.equal(servers.length, total);
    assertEveryOnce(servers.map(serverKey), serverKeysInOrder, 'GetServers');
    assert.equal(new Set(servers.map((s) => s.serverId)).size, total);
    // Servers carry their job, page after page.
    for (const server of servers.slice(0, JOBS_ON_VCENTER_1)) {
      assert.match(server.replicationJobId ?? '', /^sms-job-[0-9a-f]{8}$/);
      assert.equal(server.replicationJobTerminated, false);
    }
    assert.equal(servers[JOBS_ON_VCENTER_1]!.replicationJobId, undefined);

    // The paginator's pageSize is sent as maxResults.
    const sized: number[] = [];
    for await (const page of paginateGetServers({ client: t.sms, pageSize: 64 }, {})) sized.push(page.serverList!.length);
    assert.deepEqual(sized, [64, 64, 64, 64, 64]);
  });

  test('GetServers by hand with various maxResults: same items, same order, every page carries the catalog status', async () => {
    for (const maxResults of [1, 7, 49, 50, 51, 100, 160, 319, 320, 321, 5000]) {
      const { items, pages } = await collect(async (nextToken) => {
        const out = await t.sms.send(new GetServersCommand({ maxResults, nextToken }));
        assert.equal(out.serverCatalogStatus, 'AVAILABLE');
        assert.ok(out.lastModifiedOn instanceof Date);
        return { items: out.serverList ?? [], nextToken: out.nextToken };
      }, maxResults);
      assertEveryOnce(items.map(serverKey), serverKeysInOrder, `GetServers maxResults=${maxResults}`);
      assert.equal(pages.length, Math.ceil(320 / maxResults), `maxResults=${maxResults}: page count`);
    }
  });

  test('GetServers vmServerAddressList: any-of matching, missing members match anything, paginated and token-bound', async () => {
    const byVmId = await t.sms.send(new GetServersCommand({ vmServerAddressList: [{ vmId: 'vm-3' }] }));
    assert.deepEqual(byVmId.serverList?.map(serverKey), ['vcenter-1/vm-3', 'vcenter-2/vm-3']);
    assert.equal(byVmId.nextToken, undefined);
    assert.equal(byVmId.serverCatalogStatus, 'AVAILABLE');

    const exact = await t.sms.send(
      new GetServersCommand({
        vmServerAddressList: [
          { vmManagerId: 'vcenter-2', vmId: 'vm-3' },
          { vmManagerId: 'vcenter-1', vmId: 'vm-299' },
          { vmManagerId: 'vcenter-1', vmId: 'vm-nope' },
        ],
      }),
    );
    assert.deepEqual(exact.serverList?.map(serverKey), ['vcenter-1/vm-299', 'vcenter-2/vm-3'], 'filtered results keep the catalog order');
    assert.equal(exact.serverList?.[0]?.serverId, serverIdByKey.get('vcenter-1/vm-299'));

    const none = await t.sms.send(new GetServersCommand({ vmServerAddressList: [{ vmManagerId: 'vcenter-9' }] }));
    assert.deepEqual(none.serverList, []);
    assert.equal(none.nextToken, undefined);
    assert.equal(none.serverCatalogStatus, 'AVAILABLE');

    // A whole VM manager, through the paginator with the default page size.
    const manager: Server[] = [];
    const pageSizes: number[] = [];
    for await (const page of paginateGetServers({ client: t.sms }, { vmServerAddressList: [{ vmManagerId: 'vcenter-2' }] })) {
      pageSizes.push(page.serverList!.length);
      manager.push(...page.serverList!);
    }
    assert.deepEqual(pageSizes, [20]);
    assertEveryOnce(manager.map(serverKey), serverKeysInOrder.slice(SERVERS_ON_VCENTER_1), 'vcenter-2 filter');

    // A 60-entry filter spread over the catalog, paged 25 at a time.
    const wanted = Array.from({ length: 60 }, (_, i) => ({ vmManagerId: 'vcenter-1', vmId: `vm-${i * 5}` }));
    const filter = { vmServerAddressList: [...wanted].reverse() };
    const { items, pages } = await collect(async (nextToken) => {
      const out = await t.sms.send(new GetServersCommand({ ...filter, maxResults: 25, nextToken }));
      assert.equal(out.serverCatalogStatus, 'AVAILABLE');
      assert.ok(out.lastModifiedOn instanceof Date);
      return { items: out.serverList ?? [], nextToken: out.nextToken };
    }, 25);
    assert.equal(pages.length, 3);
    assertEveryOnce(items.map(serverKey), wanted.map((w) => `vcenter-1/${w.vmId}`), 'filtered GetServers');

    // The token belongs to that filter: a different filter, or none, refuses it.
    const firstPage = await t.sms.send(new GetServersCommand({ ...filter, maxResults: 25 }));
    assert.ok(firstPage.nextToken);
    await assert.rejects(
      t.sms.send(new GetServersCommand({ maxResults: 25, nextToken: firstPage.nextToken })),
      { name: 'InvalidParameterException' },
    );
    await assert.rejects(
      t.sms.send(new GetServersCommand({ vmServerAddressList: wanted.slice(1), maxResults: 25, nextToken: firstPage.nextToken })),
      { name: 'InvalidParameterException' },
    );
    const second = await t.sms.send(new GetServersCommand({ ...filter, maxResults: 25, nextToken: firstPage.nextToken }));
    assert.deepEqual(second.serverList?.map(serverKey), items.slice(25, 50).map(serverKey));
  });

  test('GetReplicationJobs: paginator and by hand, oldest first, each job with its latest run', async () => {
    const sizes: number[] = [];
    const viaPaginator: string[] = [];
    const tokens: (string | undefined)[] = [];
    for await (const page of paginateGetReplicationJobs({ client: t.sms }, {})) {
      sizes.push(page.replicationJobList!.length);
      tokens.push(page.nextToken);
      for (const job of page.replicationJobList!) {
        viaPaginator.push(job.replicationJobId!);
        assert.equal(job.replicationRunList?.length, 1, `${job.replicationJobId} carries its latest run`);
      }
    }
    assert.deepEqual(sizes, [50, 50, 50, 50, 50, 12]);
    assert.equal(tokens.at(-1), undefined);
    assert.equal(new Set(tokens.slice(0, -1)).size, tokens.length - 1);
    assertEveryOnce(viaPaginator, jobIdsInOrder, 'GetReplicationJobs paginator');

    for (const maxResults of [1, 13, 50, 131, 262, 263, 1000]) {
      const { items, pages } = await collect(async (nextToken) => {
        const out = await t.sms.send(new GetReplicationJobsCommand({ maxResults, nextToken }));
        return { items: out.replicationJobList ?? [], nextToken: out.nextToken };
      }, maxResults);
      assertEveryOnce(items.map((j) => j.replicationJobId!), jobIdsInOrder, `GetReplicationJobs maxResults=${maxResults}`);
      assert.equal(pages.length, Math.ceil(jobIdsInOrder.length / maxResults));
    }

    // One job by id: a single page without a token; its latest run is job A's newest run.
    const one = await t.sms.send(new GetReplicationJobsCommand({ replicationJobId: jobA }));
    assert.deepEqual(one.replicationJobList?.map((j) => j.replicationJobId), [jobA]);
    assert.equal(one.nextToken, undefined);
    assert.equal(one.replicationJobList![0]!.replicationRunList?.[0]?.replicationRunId, onDemandRunIds.at(-1));
  });

  test('GetReplicationJobs: a job created between pages shows up once, at the end; nothing repeats or goes missing', async () => {
    const seen: string[] = [];
    let created: string | undefined;
    let token: string | undefined;
    let pages = 0;
    do {
      const out = await t.sms.send(new GetReplicationJobsCommand({ maxResults: 100, nextToken: token }));
      seen.push(...out.replicationJobList!.map((j) => j.replicationJobId!));
      token = out.nextToken;
      if (++pages === 1) {
        created = (
          await t.sms.send(
            new CreateReplicationJobCommand({
              serverId: serverIdByKey.get('vcenter-1/vm-299')!,
              seedReplicationTime: new Date(clock.now() + DAY),
              frequency: 24,
            }),
          )
        ).replicationJobId;
      }
    } while (token);
    assert.ok(created);
    assertEveryOnce(seen, [...jobIdsInOrder, created], 'GetReplicationJobs while a job is created');
    jobIdsInOrder.push(created);
  });

  test('GetReplicationRuns: newest first, the job on every page, paginator and by hand', async () => {
    const all = await t.sms.send(new GetReplicationRunsCommand({ replicationJobId: jobA, maxResults: 1000 }));
    const ids = all.replicationRunList!.map((r) => r.replicationRunId!);
    // ON_DEMAND runs newest first, then the pending AUTOMATIC run placed after the first one, then the first one.
    assert.equal(ids.length, ON_DEMAND_RUNS + 2);
    assert.deepEqual(ids.slice(0, ON_DEMAND_RUNS), [...onDemandRunIds].reverse());
    assert.deepEqual(all.replicationRunList!.slice(ON_DEMAND_RUNS).map((r) => [r.type, r.state]), [
      ['AUTOMATIC', 'PENDING'],
      ['AUTOMATIC', 'COMPLETED'],
    ]);
    assert.equal(all.replicationRunList![0]!.description, `od ${ON_DEMAND_RUNS - 1}`);
    assert.equal(all.replicationRunList![0]!.amiId, lastImage);

    const sizes: number[] = [];
    const viaPaginator: string[] = [];
    for await (const page of paginateGetReplicationRuns({ client: t.sms }, { replicationJobId: jobA })) {
      sizes.push(page.replicationRunList!.length);
      viaPaginator.push(...page.replicationRunList!.map((r) => r.replicationRunId!));
      assert.equal(page.replicationJob?.replicationJobId, jobA, 'replicationJob is repeated on every page');
      assert.equal(page.replicationJob?.latestAmiId, lastImage);
    }
    assert.deepEqual(sizes, [50, 50, 27]);
    assertEveryOnce(viaPaginator, ids, 'GetReplicationRuns paginator');

    for (const maxResults of [1, 2, 9, 50, 126, 127, 128]) {
      const { items, pages } = await collect(async (nextToken) => {
        const out = await t.sms.send(new GetReplicationRunsCommand({ replicationJobId: jobA, maxResults, nextToken }));
        assert.equal(out.replicationJob?.replicationJobId, jobA);
        return { items: out.replicationRunList ?? [], nextToken: out.nextToken };
      }, maxResults);
      assertEveryOnce(items.map((r) => r.replicationRunId!), ids, `GetReplicationRuns maxResults=${maxResults}`);
      assert.equal(pages.length, Math.ceil(ids.length / maxResults));
    }

    // A token of job A's runs does not page job B's.
    const page1 = await t.sms.send(new GetReplicationRunsCommand({ replicationJobId: jobA, maxResults: 10 }));
    await assert.rejects(
      t.sms.send(new GetReplicationRunsCommand({ replicationJobId: jobB, nextToken: page1.nextToken })),
      { name: 'InvalidParameterException' },
    );
    const jobBRuns = await t.sms.send(new GetReplicationRunsCommand({ replicationJobId: jobB }));
    assert.equal(jobBRuns.replicationRunList?.length, 1);
    assert.equal(jobBRuns.nextToken, undefined);
  });

  test('GetConnectors: paginator and by hand, every associated connector once', async () => {
    const sizes: number[] = [];
    const viaPaginator: string[] = [];
    for await (const page of paginateGetConnectors({ client: t.sms }, {})) {
      sizes.push(page.connectorList!.length);
      viaPaginator.push(...page.connectorList!.map((c) => c.connectorId!));
    }
    assert.deepEqual(sizes, [50, 50, 20]);
    assertEveryOnce(viaPaginator, connectorIdsInOrder, 'GetConnectors paginator');
    for (const maxResults of [1, 3, 50, 119, 120, 121]) {
      const { items } = await collect(async (nextToken) => {
        const out = await t.sms.send(new GetConnectorsCommand({ maxResults, nextToken }));
        return { items: out.connectorList ?? [], nextToken: out.nextToken };
      }, maxResults);
      assertEveryOnce(items.map((c) => c.connectorId!), connectorIdsInOrder, `GetConnectors maxResults=${maxResults}`);
    }
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

  test('a later page costs what the first does: an indexed seq keyset search reading limit + 1 rows', async () => {
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
