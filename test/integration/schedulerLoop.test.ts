/**
 * The scheduler does not spin: what `tick` asks to wake for (nothing, a catalog-import timeout, a run's slot or lease),
 * and the real background loop staying asleep when nothing is due. Shared setup: test/helpers/schedulerHarness.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateReplicationJobCommand, GetServersCommand, ImportServerCatalogCommand } from '@aws-sdk/client-sms';
import { startTestFerry } from '../helpers/ferry.ts';
import { vms } from '../helpers/testConnector.ts';
import { HOUR, MINUTE, ManualClock } from '../../src/lib/clock.ts';
import { START, type Harness, tick, at, createJob, claimOne } from '../helpers/schedulerHarness.ts';

test('does not spin: tick returns null or a future time, or the due run’s following slot / lease', async () => {
  const clock = new ManualClock(START);
  const t = await startTestFerry({ clock });
  try {
    await t.ferry.scheduler.stop();
    const h: Harness = { t, clock, connector: await t.connector(), serverIds: [] };
    assert.equal(await tick(h), null, 'nothing to do at all');
    await h.connector.register();
    await t.sms.send(new ImportServerCatalogCommand({}));
    assert.equal(await tick(h), START + t.ferry.core.policy.catalogImportTimeoutMs, 'wakes for the import timeout');
    await h.connector.inventory(vms(1));
    assert.equal(await tick(h), null, 'catalog available, no jobs');
    h.serverIds = (await t.sms.send(new GetServersCommand({}))).serverList!.map((x) => x.serverId!);

    const seed = START + 3 * HOUR;
    await createJob(h, { seedReplicationTime: new Date(seed), frequency: 6 });
    assert.equal(await tick(h), seed, 'sleeps until the first run');
    assert.equal(await at(h, seed - 1), seed);
    // Due, but no connector has taken it: wake when it would be missed, not now.
    assert.equal(await at(h, seed), seed + 6 * HOUR);
    assert.equal(await at(h, seed + 10 * MINUTE), seed + 6 * HOUR);
    const run = await claimOne(h);
    // Active: wake when its lease would run out (sooner than the next slot).
    assert.equal(await tick(h), seed + 10 * MINUTE + 2 * MINUTE + 1);
    assert.equal(run.leaseExpiresAt, seed + 12 * MINUTE);
  } finally {
    await t.close();
  }
});

test('the real loop sleeps: with nothing due and a due-but-unclaimed run it does not tick again', async () => {
  // The system clock and the running loop, watched for a moment of real time.
  const t = await startTestFerry();
  try {
    const connector = await t.connector();
    await connector.register();
    await t.sms.send(new ImportServerCatalogCommand({}));
    await connector.inventory(vms(1));
    const serverId = (await t.sms.send(new GetServersCommand({}))).serverList![0]!.serverId!;
    await t.sms.send(new CreateReplicationJobCommand({ serverId, seedReplicationTime: new Date(Date.now() - 1000), frequency: 1 }));
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    // Let the ticks the changes above asked for run (a spinning loop never settles).
    let settled = t.ferry.scheduler.lastTickAt;
    for (let i = 0; i < 10; i++) {
      await sleep(100);
      if (t.ferry.scheduler.lastTickAt === settled) break;
      settled = t.ferry.scheduler.lastTickAt;
    }
    assert.ok(settled !== undefined && settled > Date.now() - 10_000);
    await sleep(300);
    assert.equal(t.ferry.scheduler.lastTickAt, settled, 'no tick while nothing new can happen');
    assert.equal(t.ferry.scheduler.lastError, undefined);
  } finally {
    await t.close();
  }
});

test('a create whose seed is later than the next tick costs no tick; one due now wakes the loop', async () => {
  const t = await startTestFerry();
  try {
    const connector = await t.connector();
    await connector.register();
    await t.sms.send(new ImportServerCatalogCommand({}));
    await connector.inventory(vms(2));
    const [later, now] = (await t.sms.send(new GetServersCommand({}))).serverList!.map((s) => s.serverId!);
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const settle = async () => {
      let ticks = t.ferry.scheduler.ticks;
      for (let i = 0; i < 10; i++) {
        await sleep(100);
        if (t.ferry.scheduler.ticks === ticks) return ticks;
        ticks = t.ferry.scheduler.ticks;
      }
      assert.fail('the loop did not settle');
    };
    const before = await settle();
    await t.sms.send(new CreateReplicationJobCommand({ serverId: later, seedReplicationTime: new Date(Date.now() + 3_600_000), frequency: 12 }));
    await sleep(200);
    assert.equal(t.ferry.scheduler.ticks, before, 'a seed an hour ahead waits for the tick already armed');
    await t.sms.send(new CreateReplicationJobCommand({ serverId: now, seedReplicationTime: new Date(Date.now() - 1000), frequency: 12 }));
    const deadline = Date.now() + 5000;
    while (t.ferry.scheduler.ticks === before && Date.now() < deadline) await sleep(20);
    assert.ok(t.ferry.scheduler.ticks > before, 'a seed due now woke the loop');
  } finally {
    await t.close();
  }
});
