/** The pure rules of artifact buckets: bucket names, keys, metadata, key order, ranges and HTTP preconditions. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketNameProblem, checkKey, checkMetadata } from '../../src/artifacts/names.ts';
import { compareKeys, prefixSuccessor } from '../../src/artifacts/keyOrder.ts';
import { DEFAULT_ARTIFACT_LIMITS } from '../../src/artifacts/limits.ts';
import { ArtifactError } from '../../src/artifacts/errors.ts';
import { resolveRange } from '../../src/artifacts/local/localArtifactStore.ts';
import { checkPreconditions, parseRange } from '../../src/server/s3/objectHandlers.ts';
import type { StoredObject } from '../../src/artifacts/artifactStore.ts';

const code = (e: unknown) => (e instanceof Error ? (e as { code?: string }).code : undefined);

test('bucket names follow S3: 3–63 lower-case letters, digits, dots and hyphens, no IPs or reserved affixes', () => {
  for (const ok of ['abc', 'console', 'health', 'my.bucket-1', 'a'.repeat(63), '1bucket9']) assert.equal(bucketNameProblem(ok), undefined, ok);
  for (const bad of ['ab', 'a'.repeat(64), 'Upper', 'under_score', '-start', 'end-', '.dot', 'dot.', 'two..dots', '192.168.1.1', 'xn--abc', 'sthree-x', 'amzn-s3-demo-x', 'x-s3alias', 'x--ol-s3', 'x.mrap', 'x--x-s3', 'x--table-s3', 'sp ace', 'ünï']) {
    assert.ok(bucketNameProblem(bad), `${bad} should be refused`);
  }
});

test('keys: 1 to 1,024 bytes of well-formed UTF-8 without NUL; path-like keys are ordinary', () => {
  for (const ok of ['a', '../etc/passwd', '//double', '/leading', 'dir/', 'ключ', '😀', 'a'.repeat(1024), 'é'.repeat(512)]) checkKey(ok, DEFAULT_ARTIFACT_LIMITS);
  assert.throws(() => checkKey('', DEFAULT_ARTIFACT_LIMITS), (e) => code(e) === 'InvalidArgument');
  assert.throws(() => checkKey('a'.repeat(1025), DEFAULT_ARTIFACT_LIMITS), (e) => code(e) === 'KeyTooLongError');
  assert.throws(() => checkKey('é'.repeat(513), DEFAULT_ARTIFACT_LIMITS), (e) => code(e) === 'KeyTooLongError', '1,026 bytes although 513 characters');
  assert.throws(() => checkKey('a\u0000b', DEFAULT_ARTIFACT_LIMITS), (e) => code(e) === 'InvalidArgument');
  assert.throws(() => checkKey('lone \ud800 surrogate', DEFAULT_ARTIFACT_LIMITS), (e) => code(e) === 'InvalidArgument');
});

test('user metadata is bounded to 2 KiB of names and values, with header-token names', () => {
  checkMetadata({ owner: 'ops', 'build-id': '42' }, DEFAULT_ARTIFACT_LIMITS);
  assert.throws(() => checkMetadata({ big: 'x'.repeat(2046) }, DEFAULT_ARTIFACT_LIMITS), (e) => e instanceof ArtifactError && e.code === 'MetadataTooLarge');
  assert.throws(() => checkMetadata({ 'bad name': 'x' }, DEFAULT_ARTIFACT_LIMITS), (e) => code(e) === 'InvalidArgument');
});

test('keys order by UTF-8 bytes (code points), not UTF-16 units; a prefix successor bounds every key under it', () => {
  const keys = ['b', 'a/', 'a', '\u{10000}', '\uffff', 'a/b', 'a0', 'é'];
  const sorted = [...keys].sort(compareKeys);
  assert.deepEqual(sorted, ['a', 'a/', 'a/b', 'a0', 'b', 'é', '\uffff', '\u{10000}']);
  assert.ok('\u{10000}' < '\uffff', 'JavaScript would put U+10000 first');
  assert.equal(prefixSuccessor('a/'), 'a0');
  assert.equal(prefixSuccessor('abc'), 'abd');
  assert.equal(prefixSuccessor('a\u{10ffff}'), 'b');
  assert.equal(prefixSuccessor('x\ud7ff'), 'x\ue000');
  assert.equal(prefixSuccessor('\u{10ffff}\u{10ffff}'), undefined);
  for (const prefix of ['a/', 'dir//', 'é', '\uffff']) {
    const next = prefixSuccessor(prefix)!;
    for (const key of [`${prefix}`, `${prefix}\u{10ffff}zz`, `${prefix}\u0001`]) assert.ok(compareKeys(key, next) < 0, `${key} < ${next}`);
  }
});

test('Range: one bytes= range is honoured, anything else means the whole object; unsatisfiable ranges are InvalidRange', () => {
  assert.deepEqual(parseRange('bytes=0-99'), { start: 0, end: 99 });
  assert.deepEqual(parseRange('bytes=100-'), { start: 100 });
  assert.deepEqual(parseRange('bytes=-5'), { suffix: 5 });
  for (const ignored of [undefined, 'bytes=5-2', 'bytes=0-1,4-5', 'items=0-1', 'bytes=-', 'bytes=a-b']) assert.equal(parseRange(ignored), undefined, String(ignored));
  assert.deepEqual(resolveRange({ start: 0, end: 99 }, 50), { start: 0, end: 49 });
  assert.deepEqual(resolveRange({ start: 10 }, 50), { start: 10, end: 49 });
  assert.deepEqual(resolveRange({ suffix: 5 }, 50), { start: 45, end: 49 });
  assert.deepEqual(resolveRange({ suffix: 500 }, 50), { start: 0, end: 49 });
  assert.throws(() => resolveRange({ start: 50 }, 50), (e) => code(e) === 'InvalidRange');
  assert.throws(() => resolveRange({ suffix: 0 }, 50), (e) => code(e) === 'InvalidRange');
  assert.throws(() => resolveRange({ start: 0 }, 0), (e) => code(e) === 'InvalidRange');
});

test('GET/HEAD preconditions: If-Match/If-Unmodified-Since fail with 412, If-None-Match/If-Modified-Since answer 304', () => {
  const object: StoredObject = { bucket: 'b', key: 'k', size: 1, etag: '"abc"', lastModified: Date.UTC(2026, 0, 2, 3, 4, 5, 600), metadata: {} };
  const check = (headers: Record<string, string>) => {
    try {
      checkPreconditions(headers, object);
      return 'pass';
    } catch (e) {
      return code(e);
    }
  };
  const at = (ms: number) => new Date(ms).toUTCString();
  assert.equal(check({}), 'pass');
  assert.equal(check({ 'if-match': '"abc"' }), 'pass');
  assert.equal(check({ 'if-match': 'abc, "other"' }), 'pass');
  assert.equal(check({ 'if-match': '*' }), 'pass');
  assert.equal(check({ 'if-match': '"other"' }), 'PreconditionFailed');
  assert.equal(check({ 'if-unmodified-since': at(object.lastModified - 1000) }), 'PreconditionFailed');
  assert.equal(check({ 'if-unmodified-since': at(object.lastModified) }), 'pass', 'second precision, as in Last-Modified');
  assert.equal(check({ 'if-match': '"abc"', 'if-unmodified-since': at(0) }), 'pass', 'If-Match wins over If-Unmodified-Since');
  assert.equal(check({ 'if-none-match': '"abc"' }), 'NotModified');
  assert.equal(check({ 'if-none-match': '"other"' }), 'pass');
  assert.equal(check({ 'if-modified-since': at(object.lastModified) }), 'NotModified');
  assert.equal(check({ 'if-modified-since': at(object.lastModified - 1000) }), 'pass');
  assert.equal(check({ 'if-none-match': '"other"', 'if-modified-since': at(object.lastModified + 5000) }), 'pass', 'If-None-Match wins over If-Modified-Since');
  assert.equal(check({ 'if-modified-since': 'not a date' }), 'pass');
});
