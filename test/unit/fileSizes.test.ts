/**
 * No source file over 500 lines (issue 12 item 5; the project's standard): a file that long does several jobs, and
 * is split by job, not by line count. The service (src/) and the console (web/src/).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const MAX_LINES = 500;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(tsx?|css)$/.test(entry.name) ? [path] : [];
  });
}

test(`no source file in src/ or web/src/ is over ${MAX_LINES} lines`, () => {
  const files = ['src', 'web/src'].flatMap((dir) => sourceFiles(join(REPO, dir)));
  assert.ok(files.length > 100, 'the walk found the sources');
  const long = files
    .map((path) => ({ path: relative(REPO, path), lines: readFileSync(path, 'utf8').split('\n').length - 1 }))
    .filter((file) => file.lines > MAX_LINES)
    .map((file) => `${file.path}: ${file.lines} lines`);
  assert.deepEqual(long, [], `split these by job:\n${long.join('\n')}`);
});
