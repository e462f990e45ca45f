/**
 * The launch subsystem as a cluster node that does not launch sees it (src/launch/launchElsewhere.ts), on every
 * store dialect: instances are read from the store as the launch node wrote them; what needs the instance's host is
 * refused naming the node to ask (another account's instance is unknown, as anywhere); a cluster naming no launch
 * node refuses launching saying how to name one. And the placement rule itself (domain/launchPlacement.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { storeDialects, type StoreUnderTest } from '../helpers/stores.ts';
import { coreOver, instanceRow, TENANT } from '../helpers/storeFixtures.ts';
import { insertInstance } from '../../src/launch/instanceRepo.ts';
import { LaunchElsewhere } from '../../src/launch/launchElsewhere.ts';
import { launchPlacement } from '../../src/domain/launchPlacement.ts';
import type { Core } from '../../src/core/context.ts';

const NOW = 1_800_000_000_000;
const OTHER = { accountId: '999988887777', region: 'us-east-1' };


const refusedWith = (pattern: RegExp) => (error: unknown) => {
  assert.equal((error as Error).name, 'OperationNotPermittedException');
  assert.match((error as Error).message, pattern);
  return true;
};

test('the placement rule: a lone store launches; in a cluster the named node, else nobody', () => {
  assert.deepEqual(launchPlacement({ sharedStore: false, nodeId: 'a', launchNode: undefined }), { kind: 'here' });
  assert.deepEqual(launchPlacement({ sharedStore: false, nodeId: 'a', launchNode: 'b' }), { kind: 'here' }, 'a store of its own has no other node');
  assert.deepEqual(launchPlacement({ sharedStore: true, nodeId: 'a', launchNode: 'a' }), { kind: 'here' });
  assert.deepEqual(launchPlacement({ sharedStore: true, nodeId: 'a', launchNode: 'b' }), { kind: 'elsewhere', node: 'b' });
  assert.deepEqual(launchPlacement({ sharedStore: true, nodeId: 'a', launchNode: undefined }), { kind: 'nowhere' });
});

for (const dialect of storeDialects) {
  describe(`a node that does not launch (${dialect.name})`, () => {
    let sut: StoreUnderTest;
    let core: Core;
    before(async () => {
      sut = await dialect.open(NOW);
      core = coreOver(sut.store, NOW);
      await insertInstance(core, instanceRow('i-0000000000000000a', NOW), []);
    });
    after(async () => sut.dispose());

    test('reads instances from the store and sends what needs their host to the launch node', async () => {
      const elsewhere = new LaunchElsewhere(core, 'node-b', 'node-a');
      assert.deepEqual(await elsewhere.availability(), { available: true }, 'the launch node checks libvirt when it launches');
      await elsewhere.validateNetwork();
      const [listed] = await elsewhere.list(TENANT);
      assert.deepEqual([listed?.instanceId, listed?.state, listed?.hydration, listed?.labels], ['i-0000000000000000a', 'running', 'hydrating', { 'ferry.app-id': 'app-0123456789abcdef0' }]);
      assert.equal((await elsewhere.get(TENANT, 'i-0000000000000000a'))?.bootedAt, NOW + 5000);
      const onNodeA = /is done by node node-a, the node that launches instances in this cluster \(FERRY_LAUNCH_NODE\); this is node node-b\. Send the request to node-a\.$/;
      await assert.rejects(elsewhere.consoleOutput(TENANT, 'i-0000000000000000a'), refusedWith(onNodeA));
      await assert.rejects(elsewhere.runCommand(TENANT, 'i-0000000000000000a', { script: 'true', interpreter: 'sh', timeoutSeconds: 5 }), refusedWith(onNodeA));
      await assert.rejects(elsewhere.terminate(TENANT, 'i-0000000000000000a'), refusedWith(onNodeA));
      await assert.rejects(elsewhere.launch({ tenant: TENANT, serverId: 's-12345678', amiId: 'ami-00000001' } as never), refusedWith(/^Launching server s-12345678 is done by node node-a/));
      // Another account's instance is unknown here too.
      assert.equal(await elsewhere.get(OTHER, 'i-0000000000000000a'), undefined);
      await assert.rejects(elsewhere.consoleOutput(OTHER, 'i-0000000000000000a'), (error: Error) => error.name === 'InvalidParameterException' && /does not exist/.test(error.message));
    });

    test('in a cluster that names no launch node, launching is unavailable, saying how to name one', async () => {
      const nowhere = new LaunchElsewhere(core, 'node-b', undefined);
      const how = /in a cluster, one node launches instances and none is named: set FERRY_LAUNCH_NODE/;
      const availability = await nowhere.availability();
      assert.equal(availability.available, false);
      assert.match((availability as { reason: string }).reason, how);
      assert.match(nowhere.launchesNowhere!, how);
      await assert.rejects(nowhere.validateNetwork(), refusedWith(how));
      await assert.rejects(nowhere.consoleOutput(TENANT, 'i-0000000000000000a'), refusedWith(how));
      assert.equal((await nowhere.list(TENANT)).length, 1, 'the store still answers');
    });
  });
}
