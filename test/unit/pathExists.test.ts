/** pathExists: true for a file or a directory, false for nothing there or a path through a file. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathExists } from '../../src/lib/pathExists.ts';

test('pathExists sees files and directories, and says false where stat fails', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-exists-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'file'), 'x');
  symlinkSync(join(dir, 'missing'), join(dir, 'dangling'));
  assert.equal(await pathExists(dir), true);
  assert.equal(await pathExists(join(dir, 'file')), true);
  assert.equal(await pathExists(join(dir, 'missing')), false);
  assert.equal(await pathExists(join(dir, 'file', 'below')), false, 'ENOTDIR counts as not there');
  assert.equal(await pathExists(join(dir, 'dangling')), false, 'a link is followed: its missing target is not there');
});
