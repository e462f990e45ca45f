/**
 * Every import in src/ points down the layers (DESIGN.md, "Where the design goes next"):
 *
 *   lib ← domain ← store ← images, kms, artifacts ← core ← operations ← server ← the composition root
 *
 * with api/ (input schemas, shapes) and protocol/ (wire contracts) beside them, and the connector (agent/) talking
 * to the service only through protocol/. The table below says what each folder may import; a file may always
 * import its own folder. Type-only imports count: a type is a dependency too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

const BELOW_CORE = ['lib', 'config', 'domain', 'api', 'store', 'images', 'kms', 'artifacts'];
const CORE = [...BELOW_CORE, 'core', 'launch', 'apps'];

/** What each folder of src/ may import (besides itself). `root` is a file directly in src/ (the composition root). */
const MAY_IMPORT: Record<string, readonly string[]> = {
  lib: [],
  config: ['lib'],
  domain: ['lib'],
  api: ['lib', 'domain'],
  store: ['lib', 'domain'],
  images: ['lib', 'domain', 'store'],
  kms: ['lib', 'domain', 'store', 'images'],
  artifacts: ['lib', 'domain', 'store'],
  // The launch subsystem and the App operations' ports sit beside core (they use its context and transactions).
  core: CORE,
  launch: CORE,
  apps: CORE,
  protocol: ['lib', 'domain', 'api'],
  operations: [...CORE, 'protocol'],
  observability: [...CORE, 'protocol'],
  scheduler: CORE,
  server: [...CORE, 'protocol', 'operations', 'observability'],
  agent: ['lib', 'domain', 'protocol'],
  client: ['lib', 'domain', 'api', 'protocol', 'operations'],
  cli: ['*'],
  root: ['*'],
};

/**
 * Imports that run upward today, each with why, and who removes it. A new entry needs a reason as good; the test
 * also fails when an entry is no longer needed, so the list only shrinks.
 */
const KNOWN_UPWARD: Record<string, string> = {
  // Empty: the App code's wire mapping moved up into operations/apps/ (issue 12 item 4), the last upward imports.
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') || entry.name.endsWith('.tsx') ? [path] : [];
  });
}

/** Relative specifiers a module loads: static imports and re-exports, dynamic imports, and worker URLs. */
export function importsOf(text: string): string[] {
  const found: string[] = [];
  const patterns = [/(?:^|[;}\s])(?:import|export)\s[^'"]*?\sfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g, /\bnew URL\(\s*['"]([^'"]+)['"]\s*,\s*import\.meta\.url/g, /^import\s+['"]([^'"]+)['"]/gm];
  for (const pattern of patterns) for (const match of text.matchAll(pattern)) if (match[1]!.startsWith('.')) found.push(match[1]!);
  return found;
}

const layerOf = (file: string): string => {
  const rel = relative(SRC, file);
  return rel.includes('/') ? rel.split('/')[0]! : 'root';
};

function upwardImports(): string[] {
  const violations: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const from = layerOf(file);
    const allowed = MAY_IMPORT[from];
    assert.ok(allowed, `src/${relative(SRC, file)}: folder ${from} is not in the layering table; add it where it belongs`);
    if (allowed.includes('*')) continue;
    for (const specifier of importsOf(readFileSync(file, 'utf8'))) {
      const target = resolve(dirname(file), specifier);
      if (relative(SRC, target).startsWith('..')) continue; // not a module of src/ (the console's built files)
      const to = layerOf(target);
      if (to === from || allowed.includes(to)) continue;
      violations.push(`${relative(SRC, file)} -> ${relative(SRC, target)}`);
    }
  }
  return violations;
}

test('the import scanner sees static, re-exported, type-only, dynamic and worker imports', () => {
  const text = [
    "import { a } from './a.ts';",
    "import type { B } from '../b/b.ts';",
    'import {\n  c,\n  d,\n} from "../c.ts";',
    "export { e } from './e.ts';",
    "export type { F } from '../f.ts';",
    "const g = await import('./g.ts');",
    "new Worker(new URL('./worker.ts', import.meta.url));",
    "import 'node:fs';",
    "import { h } from 'kysely';",
  ].join('\n');
  assert.deepEqual(importsOf(text).sort(), ['../b/b.ts', '../c.ts', '../f.ts', './a.ts', './e.ts', './g.ts', './worker.ts']);
});

test('no import runs upward between the layers (domain, store, core, operations, server; agent only through protocol)', () => {
  const violations = upwardImports();
  const unexplained = violations.filter((v) => !(v in KNOWN_UPWARD));
  assert.deepEqual(unexplained, [], `imports that run upward:\n${unexplained.join('\n')}`);
  const stale = Object.keys(KNOWN_UPWARD).filter((known) => !violations.includes(known));
  assert.deepEqual(stale, [], `KNOWN_UPWARD entries no longer needed (remove them):\n${stale.join('\n')}`);
});
