/**
 * The app launch queries on every store dialect: launch rows inserted and changed in bulk per launch (skipped,
 * to terminate) or one by one while still in a state, the apps a restarted coordinator resumes, a member's and a
 * server's launch inputs, the jobs' latest images; and the catalog lookups a launch plan reads (servers, VM names).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Kysely } from 'kysely';
import { selectLaunchRows, selectMembers } from '../../src/store/apps/appQueries.ts';
import * as launch from '../../src/store/apps/launchQueries.ts';
import { insertGroup, insertMember, linkMemberJob } from '../../src/store/apps/membershipQueries.ts';
import * as catalog from '../../src/store/catalog/index.ts';
import type { Database } from '../../src/store/schema.ts';
import { appInstanceRow, appRow, appValidationRow, groupRow, jobRow, memberRow, serverRow, T0 } from '../helpers/storeRows.ts';
import { storeDialects, type StoreUnderTest } from '../helpers/stores.ts';

for (const dialect of storeDialects) {
  describe(`app launch queries (${dialect.name})`, () => {
    let under: StoreUnderTest;
    let db: Kysely<Database>;
    before(async () => {
      under = await dialect.open();
      db = under.store.db;
      await db.insertInto('servers').values([serverRow('s-l1', true), serverRow('s-l2', true), serverRow('s-l3', true)]).execute();
      await db.insertInto('apps').values([appRow('app-l', { launch_phase: 'LAUNCH', launch_status: 'LAUNCH_IN_PROGRESS' }), appRow('app-t', { launch_phase: 'TERMINATE' }), appRow('app-n')]).execute();
      await insertGroup(db, groupRow('app-l', 'g-l', 0));
      for (const [i, id] of ['s-l1', 's-l2', 's-l3'].entries()) await insertMember(db, memberRow('app-l', 'g-l', id, i));
    });
    after(() => under.dispose());

    test('launch rows: inserted per launch, skipped while planned, marked to terminate unless terminated, changed only in a given state', async () => {
      await launch.insertLaunchRow(db, appInstanceRow('app-l', 1, 's-l1', 0));
      await launch.insertLaunchRow(db, { ...appInstanceRow('app-l', 1, 's-l2', 0), instance_id: 'i-2', state: 'running' });
      await launch.insertLaunchRow(db, { ...appInstanceRow('app-l', 1, 's-l3', 1), instance_id: 'i-3', state: 'terminated' });
      await launch.insertLaunchRow(db, { ...appInstanceRow('app-l', 2, 's-l1', 0) });
      await launch.skipPlannedLaunchRows(db, 'app-l', 1, 'Not launched', T0 + 1);
      await launch.markLaunchRowsToTerminate(db, 'app-l', 1, T0 + 2);
      const states = async (seq: number) => (await selectLaunchRows(db, 'app-l', seq)).map((r) => [r.server_id, r.state, r.message]);
      assert.deepEqual(await states(1), [['s-l1', 'skipped', 'Not launched'], ['s-l2', 'terminate', null], ['s-l3', 'terminated', null]]);
      assert.deepEqual(await states(2), [['s-l1', 'planned', null]], 'another launch is untouched');
      const [row] = await selectLaunchRows(db, 'app-l', 2);
      assert.equal(await launch.updateLaunchRowIf(db, row!.seq, { state: 'requested', updated_at: T0 + 3 }, 'running'), false);
      assert.equal(await launch.updateLaunchRowIf(db, row!.seq, { state: 'requested', updated_at: T0 + 3 }, 'planned'), true);
      assert.equal(await launch.updateLaunchRowIf(db, row!.seq, { state: 'failed', updated_at: T0 + 4 }), true);
      assert.deepEqual(await states(2), [['s-l1', 'failed', null]]);
    });

    test('apps in launch phases; member, server validations and latest images a launch reads', async () => {
      assert.deepEqual((await launch.selectAppsInLaunchPhases(db, ['LAUNCH', 'TERMINATE'])).map((a) => [a.app_id, a.launch_status]).sort(), [
        ['app-l', 'LAUNCH_IN_PROGRESS'],
        ['app-t', 'READY_FOR_CONFIGURATION'],
      ]);
      assert.equal((await launch.selectMember(db, 'app-l', 's-l2'))?.position, 1);
      assert.equal(await launch.selectMember(db, 'app-n', 's-l2'), undefined);
      await db.insertInto('app_validations').values([
        { ...appValidationRow('app-l', 'v-b', 1), kind: 'SERVER', server_group_id: 'g-l', server_id: 's-l1' },
        { ...appValidationRow('app-l', 'v-a', 0), kind: 'SERVER', server_group_id: 'g-l', server_id: 's-l1' },
        { ...appValidationRow('app-l', 'v-c', 2), kind: 'SERVER', server_group_id: 'g-l', server_id: 's-l2' },
      ]).execute();
      assert.deepEqual((await launch.selectServerValidations(db, 'app-l', 's-l1')).map((v) => v.validation_id), ['v-a', 'v-b']);
      await db.insertInto('jobs').values([{ ...jobRow('sms-job-l0000001', 's-l1', 'ACTIVE'), latest_ami_id: 'ami-0000000000000000a' }, jobRow('sms-job-l0000002', 's-l2', 'PENDING')]).execute();
      const images = await launch.selectLatestImages(db, ['sms-job-l0000001', 'sms-job-l0000002', 'sms-job-nothere0']);
      assert.deepEqual([...images.entries()].sort(), [['sms-job-l0000001', 'ami-0000000000000000a'], ['sms-job-l0000002', null]]);
      assert.equal((await launch.selectLatestImages(db, [])).size, 0);
      await linkMemberJob(db, 's-l1', 'sms-job-l0000001');
      assert.equal((await selectMembers(db, 'app-l')).find((m) => m.server_id === 's-l1')?.replication_job_id, 'sms-job-l0000001');
    });

    test('catalog lookups of a launch plan: servers and VM names by id', async () => {
      const servers = await catalog.getMany(db, ['s-l1', 's-l3', 's-nothere']);
      assert.deepEqual([...servers.keys()].sort(), ['s-l1', 's-l3']);
      const names = await catalog.vmNamesOf(db, ['s-l2', 's-nothere']);
      assert.deepEqual([...names.keys()], ['s-l2']);
      assert.equal(names.get('s-l2'), servers.get('s-l1')!.vm_name.replace('s-l1', 's-l2'));
      assert.equal((await catalog.getMany(db, [])).size, 0);
      assert.equal((await catalog.vmNamesOf(db, [])).size, 0);
    });
  });
}
