/** The accounts repository's contract, held against every store dialect: unique names, lookups by id or name, the list. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { storeDialects, type StoreUnderTest } from '../helpers/stores.ts';
import * as accounts from '../../src/store/accounts/index.ts';

const NOW = 1_800_000_000_000;

for (const dialect of storeDialects) {
  describe(`accounts repository (${dialect.name})`, () => {
    let sut: StoreUnderTest;
    before(async () => {
      sut = await dialect.open(NOW);
    });
    after(async () => sut.dispose());

    test('insert, then find by id or by name; list is oldest first; a second account of one name is refused', async () => {
      const { db } = sut.store;
      await accounts.insert(db, { accountId: '210987654321', name: 'team-b', createdAt: NOW + 2 });
      await accounts.insert(db, { accountId: '123456789012', name: 'team-a', createdAt: NOW + 1 });
      assert.equal(await accounts.idByName(db, 'team-a'), '123456789012');
      assert.equal(await accounts.idByName(db, 'team-z'), undefined);
      assert.equal(await accounts.idExists(db, '210987654321'), true);
      assert.equal(await accounts.idExists(db, '000000000000'), false);
      assert.deepEqual(await accounts.byIdOrName(db, '210987654321'), { accountId: '210987654321', name: 'team-b', createdAt: NOW + 2 });
      assert.deepEqual(await accounts.byIdOrName(db, 'team-a'), { accountId: '123456789012', name: 'team-a', createdAt: NOW + 1 });
      assert.equal(await accounts.byIdOrName(db, 'nobody'), undefined);
      const listed = (await accounts.list(db)).filter((a) => a.name.startsWith('team-'));
      assert.deepEqual(listed.map((a) => a.name), ['team-a', 'team-b']);
      await assert.rejects(accounts.insert(db, { accountId: '555555555555', name: 'team-a', createdAt: NOW }));
    });
  });
}
