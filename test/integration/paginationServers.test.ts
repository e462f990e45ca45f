/**
 * Pagination (spec §3.2), GetServers over hundreds of servers: the SDK paginator and by hand with various maxResults, every
 * server exactly once in a stable order, the catalog status on every page, and vmServerAddressList filters.
 * Shared world: test/helpers/paginationWorld.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GetServersCommand, paginateGetServers, type GetServersCommandOutput, type Server } from '@aws-sdk/client-sms';
import type { TestFerry } from '../helpers/ferry.ts';
import {
  SERVERS_ON_VCENTER_1,
  SERVERS_ON_VCENTER_2,
  JOBS_ON_VCENTER_1,
  collect,
  assertEveryOnce,
  serverKey,
  seedPaginationWorld,
} from '../helpers/paginationWorld.ts';

describe('pagination over hundreds of items', () => {
  let t: TestFerry;
  let serverKeysInOrder: string[];
  let serverIdByKey: Map<string, string>;

  before(async () => {
    ({ t, serverKeysInOrder, serverIdByKey } = await seedPaginationWorld());
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

});
