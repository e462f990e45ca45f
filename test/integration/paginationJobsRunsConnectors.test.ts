/**
 * Pagination (spec §3.2), GetReplicationJobs (including a job created between pages), GetReplicationRuns and GetConnectors over
 * hundreds of items: paginator and by hand, every item exactly once, in a stable order.
 * Shared world: test/helpers/paginationWorld.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateReplicationJobCommand,
  GetConnectorsCommand,
  GetReplicationJobsCommand,
  GetReplicationRunsCommand,
  paginateGetConnectors,
  paginateGetReplicationJobs,
  paginateGetReplicationRuns,
} from '@aws-sdk/client-sms';
import type { TestFerry } from '../helpers/ferry.ts';
import { DAY, ManualClock } from '../../src/lib/clock.ts';
import { ON_DEMAND_RUNS, collect, assertEveryOnce, seedPaginationWorld } from '../helpers/paginationWorld.ts';

describe('pagination over hundreds of items', () => {
  let clock: ManualClock;
  let t: TestFerry;
  let serverIdByKey: Map<string, string>;
  let jobIdsInOrder: string[];
  let jobA: string;
  let jobB: string;
  let onDemandRunIds: string[];
  let lastImage: string;
  let connectorIdsInOrder: string[];

  before(async () => {
    ({ clock, t, serverIdByKey, jobIdsInOrder, jobA, jobB, onDemandRunIds, lastImage, connectorIdsInOrder } = await seedPaginationWorld());
  });

  after(async () => {
    await t?.close();
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

});
