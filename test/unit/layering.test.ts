/**
 * Every import in src/ points down the layers (DESIGN.md, "Where the design goes next"):
 *
 *   lib ← domain ← store ← images, kms, artifacts ← core ← launch ← operations ← server ← the composition root
 *
 * with api/ (input schemas, shapes) and protocol/ (wire contracts) beside them, and the connector (agent/) talking
 * to the service only through protocol/. The table below says what each folder may import; a file may always
 * import its own folder. Type-only imports count: a type is a dependency too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
  // The App code in core/ drives two subsystems through the contracts in apps/ (ports.ts, instances.ts); launch/
  // implements the instance contract on core's context and transactions, so it sits above both.
  core: [...BELOW_CORE, 'apps'],
  apps: BELOW_CORE,
  launch: [...BELOW_CORE, 'core', 'apps'],
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

/**
 * Cycles in the table: none. (Until 2026-12-04 apps/ports.ts re-exported the instance contract from launch/, which
 * runs on core/, which drives apps/: the contract moved down into apps/instances.ts.) The test fails if one appears.
 */
const KNOWN_CYCLE: string[] = [];

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

const layerOf = (root: string, file: string): string => {
  const rel = relative(root, file);
  return rel.includes('/') ? rel.split('/')[0]! : 'root';
};

/** Every import of a module under `root` (a src/ folder) that the table does not allow, as `from -> to`. */
function upwardImports(root = SRC): string[] {
  const violations: string[] = [];
  for (const file of sourceFiles(root)) {
    const from = layerOf(root, file);
    const allowed = MAY_IMPORT[from];
    assert.ok(allowed, `src/${relative(root, file)}: folder ${from} is not in the layering table; add it where it belongs`);
    if (allowed.includes('*')) continue;
    for (const specifier of importsOf(readFileSync(file, 'utf8'))) {
      const target = resolve(dirname(file), specifier);
      if (relative(root, target).startsWith('..')) continue; // not a module of src/ (the console's built files)
      const to = layerOf(root, target);
      if (to === from || allowed.includes(to)) continue;
      violations.push(`${relative(root, file)} -> ${relative(root, target)}`);
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

/** The folders each folder reaches through the table, directly or through others. */
function reachable(from: string): Set<string> {
  const seen = new Set<string>();
  const walk = (layer: string) => {
    for (const next of MAY_IMPORT[layer] ?? []) {
      if (next === '*' || seen.has(next)) continue;
      seen.add(next);
      walk(next);
    }
  };
  walk(from);
  return seen;
}

test('the table is an order: no folder reaches itself, so every pair of layers has one direction', () => {
  const cycles = Object.keys(MAY_IMPORT).filter((layer) => reachable(layer).has(layer));
  assert.deepEqual(cycles.sort(), KNOWN_CYCLE, `folders that can import themselves through others: ${cycles.join(', ')}`);
});

/**
 * The pairs issue 12 item 4 names, lower layer first: the upper may import the lower (directly or through others),
 * never the other way. agent/ talks to the service only through protocol/, so it sits below none of it.
 */
const ORDERED_PAIRS: [lower: string, upper: string][] = [
  ['domain', 'store'],
  ['store', 'core'],
  ['core', 'operations'],
  ['operations', 'server'],
  ['domain', 'images'],
  ['images', 'kms'],
  ['images', 'core'],
  ['kms', 'core'],
  ['images', 'launch'],
  ['launch', 'operations'],
  ['launch', 'server'],
  ['domain', 'protocol'],
  ['protocol', 'operations'],
  ['protocol', 'agent'],
  ['domain', 'agent'],
];

test('every layer pair the issue names has its direction in the table', () => {
  for (const [lower, upper] of ORDERED_PAIRS) {
    assert.ok(reachable(upper).has(lower) || MAY_IMPORT[upper]!.includes(lower), `${upper} may import ${lower}`);
    assert.ok(!reachable(lower).has(upper), `${lower} must not import ${upper}`);
  }
  for (const service of ['store', 'core', 'operations', 'server', 'images', 'kms', 'launch', 'scheduler', 'observability']) {
    assert.ok(!reachable('agent').has(service), `agent must not import ${service}: it reaches the service only through protocol/`);
    assert.ok(!reachable(service).has('agent'), `${service} must not import agent`);
  }
});

test('an upward import fails the check, for every pair the issue names (a made-up tree)', () => {
  const root = mkdtempSync(join(tmpdir(), 'ferry-layering-'));
  try {
    for (const layer of new Set(ORDERED_PAIRS.flat())) mkdirSync(join(root, layer), { recursive: true });
    const expected: string[] = [];
    for (const [lower, upper] of ORDERED_PAIRS) {
      // The lower layer importing the upper one: upward. Type-only, as the cheapest way to write one by accident.
      writeFileSync(join(root, lower, `uses_${upper}.ts`), `import type { X } from '../${upper}/x.ts';\nexport type Y = X;\n`);
      writeFileSync(join(root, upper, 'x.ts'), 'export type X = 1;\n');
      expected.push(`${lower}/uses_${upper}.ts -> ${upper}/x.ts`);
    }
    // agent/ reaching past protocol/ into the service, and the service reaching into agent/.
    writeFileSync(join(root, 'agent', 'uses_core.ts'), "import { y } from '../core/y.ts';\n");
    writeFileSync(join(root, 'core', 'uses_agent.ts'), "export { z } from '../agent/z.ts';\n");
    expected.push('agent/uses_core.ts -> core/y.ts', 'core/uses_agent.ts -> agent/z.ts');
    assert.deepEqual(upwardImports(root).sort(), expected.sort());
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
