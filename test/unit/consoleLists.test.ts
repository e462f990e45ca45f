/** The console's list updates (web/src/lists.ts): the entry at an index changed or removed, the given list untouched. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { patchAt, removeAt, replaceAt } from '../../web/src/lists.ts';

test('patchAt patches only the entry at the index, into a new list', () => {
  const items = Object.freeze([{ name: 'a', n: 1 }, { name: 'b', n: 2 }]);
  const patched = patchAt<{ name: string; n: number }>(1, { n: 9 })(items);
  assert.deepEqual(patched, [{ name: 'a', n: 1 }, { name: 'b', n: 9 }]);
  assert.equal(patched[0], items[0], 'the other entries are the same objects');
  assert.deepEqual(items[1], { name: 'b', n: 2 });
  assert.deepEqual(patchAt<{ n: number }>(5, { n: 0 })(items), items, 'an index past the end changes nothing');
});

test('replaceAt replaces the entry at the index; removeAt drops it', () => {
  const groups = Object.freeze(['web', 'db', 'cache']);
  assert.deepEqual(replaceAt(1, 'database')(groups), ['web', 'database', 'cache']);
  assert.deepEqual(removeAt(0)(groups), ['db', 'cache']);
  assert.deepEqual(removeAt(2)(groups), ['web', 'db']);
  assert.deepEqual(groups, ['web', 'db', 'cache']);
});
