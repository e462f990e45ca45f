/**
 * No dead code behind an export (issue 12 item 7): every name that a module of src/ or web/src/ exports is named
 * again somewhere, in its own file or in another source, test or bench file. The exports come from the TypeScript
 * parser (no type check, so the test is quick); a use is the name as a whole word, which can only over-count, so
 * a failure here is always real.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const EXPORTING = ['src', 'web/src'];
const USING = [...EXPORTING, 'test', 'bench'];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : sourceFiles(path);
    return /\.tsx?$/.test(entry.name) ? [path] : [];
  });
}

const hasModifier = (node: ts.Node, kind: ts.SyntaxKind): boolean =>
  (ts.canHaveModifiers(node) ? ts.getModifiers(node) : undefined)?.some((m) => m.kind === kind) ?? false;

/** The names a module exports by declaration (`export function f`, `export const a, b`, `export type T` …). */
export function exportedNames(fileName: string, text: string): string[] {
  const kind = fileName.endsWith('.tsx') ? ts.ScriptKind.TSX : ts.ScriptKind.TS;
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, false, kind);
  const names: string[] = [];
  for (const statement of source.statements) {
    if (!hasModifier(statement, ts.SyntaxKind.ExportKeyword) || hasModifier(statement, ts.SyntaxKind.DefaultKeyword)) continue;
    if (ts.isVariableStatement(statement)) {
      for (const declaration of statement.declarationList.declarations) if (ts.isIdentifier(declaration.name)) names.push(declaration.name.text);
    } else if (
      (ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement) || ts.isInterfaceDeclaration(statement) || ts.isTypeAliasDeclaration(statement)) &&
      statement.name
    ) {
      names.push(statement.name.text);
    }
  }
  return names;
}

/** How often each identifier-like word stands in a text (a name's uses, counted once per file). */
export function wordCounts(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const [word] of text.matchAll(/[\w$]+/g)) counts.set(word, (counts.get(word) ?? 0) + 1);
  return counts;
}

test('the export scanner sees functions, classes, constants, interfaces and types, not default exports', () => {
  const text = [
    'export function f() {}',
    'export const a = 1, b = 2;',
    'export class C {}',
    'export interface I {}',
    'export type T = string;',
    'export default function d() {}',
    'function local() {}',
    "export { local };",
  ].join('\n');
  assert.deepEqual(exportedNames('x.ts', text), ['f', 'a', 'b', 'C', 'I', 'T']);
  assert.equal(wordCounts('$a a_b a $a (a)').get('a'), 2);
});

test('every export of src/ and web/src/ is used somewhere (no dead exports)', () => {
  const files = USING.flatMap((dir) => sourceFiles(join(REPO, dir))).map((path) => {
    const text = readFileSync(path, 'utf8');
    return { path: relative(REPO, path), text, words: wordCounts(text) };
  });
  const dead: string[] = [];
  for (const file of files) {
    if (!EXPORTING.some((dir) => file.path.startsWith(`${dir}/`))) continue;
    for (const name of exportedNames(file.path, file.text)) {
      const usedInOwnFile = (file.words.get(name) ?? 0) > 1;
      if (!usedInOwnFile && !files.some((other) => other !== file && other.words.has(name))) dead.push(`${file.path}: ${name}`);
    }
  }
  assert.deepEqual(dead, [], `exported but never used (remove them):\n${dead.join('\n')}`);
});
