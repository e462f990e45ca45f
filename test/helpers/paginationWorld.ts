/**
 * Shared world for the pagination integration tests (test/integration/pagination*.test.ts): hundreds of servers,
 * jobs, runs and connectors in one Ferry, plus helpers that walk every page checking the tokens, and a Kysely plugin
 * that records the SQL the service runs.
 */
import assert from 'node:assert/strict';
import {
  CreateReplicationJobCommand,
  GetServersCommand,
  ImportServerCatalogCommand,
  StartOnDemandReplicationRunCommand,
  type Server,
} from '@aws-sdk/client-sms';
import {
  CompiledQuery,
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type UnknownRow,
} from 'kysely';
import { startTestFerry, type TestFerry } from './ferry.ts';
import { vms, type TestConnector } from './testConnector.ts';
import { DAY, ManualClock } from '../../src/lib/clock.ts';

export const SERVERS_ON_VCENTER_1 = 300;
export const SERVERS_ON_VCENTER_2 = 20;
export const JOBS_ON_VCENTER_1 = 260;
export const ON_DEMAND_RUNS = 125;
export const EXTRA_CONNECTORS = 118;

export interface Page<T> {
  items: T[];
  nextToken?: string;
}

/**
 * Follows nextToken to the end and checks the invariants every listing must keep: tokens never repeat, only the
 * last page lacks a token, no page is empty unless the whole list is, and no page is larger than asked.
 */
export async function collect<T>(fetchPage: (token: string | undefined) => Promise<Page<T>>, pageSize: number): Promise<{ items: T[]; pages: Page<T>[] }> {
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

export function assertEveryOnce(ids: string[], expected: string[], what: string): void {
  assert.equal(new Set(ids).size, ids.length, `${what}: an item was returned twice`);
  assert.deepEqual(ids, expected, `${what}: every item exactly once, in the stable order`);
}

export const serverKey = (s: Server): string => `${s.vmServer?.vmServerAddress?.vmManagerId}/${s.vmServer?.vmServerAddress?.vmId}`;

/** Records the SQL of every query the service runs, with its parameters and how many rows came back. */
export class QueryRecorder implements KyselyPlugin {
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

export interface PaginationWorld {
  clock: ManualClock;
  t: TestFerry;
  vcenter1: TestConnector;
  vcenter2: TestConnector;
  serverKeysInOrder: string[];
  serverIdByKey: Map<string, string>;
  jobIdsInOrder: string[];
  jobA: string;
  jobB: string;
  onDemandRunIds: string[];
  /** The image the last on-demand run completed with: the job's latest. */
  lastImage: string;
  connectorIdsInOrder: string[];
}

/**
 * Starts a Ferry and fills it: 320 servers on two VM managers, 262 jobs (job A with one AUTOMATIC and 125 ON_DEMAND
 * completed runs), 120 connectors. The caller closes `world.t`.
 */
export async function seedPaginationWorld(): Promise<PaginationWorld> {
  const clock = new ManualClock(Date.UTC(2026, 2, 1, 12, 0, 0));
  const t = await startTestFerry({ clock, policy: { maxNonTerminalJobsPerAccount: 1000, onDemandRunsPerWindow: 1000 } });
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

  try {
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
  } catch (error) {
    await t.close();
    throw error;
  }
  return { clock, t, vcenter1, vcenter2, serverKeysInOrder, serverIdByKey, jobIdsInOrder, jobA, jobB, onDemandRunIds, lastImage, connectorIdsInOrder };
}
