/**
 * The canonical forms' short cuts (a value already canonical is returned as is, the path `/` needs no work, the
 * last X-Amz-Date is remembered) must give what the full rules give, for the values that take them and for the
 * values that do not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalHeaderValue, canonicalUri, parseAmzDate } from '../../src/protocol/sigv4/canonical.ts';

/** SigV4's rule written out in full: line breaks as spaces, runs of spaces and tabs as one space, trimmed. */
const fullRule = (value: string) => value.replace(/[\r\n]/g, ' ').replace(/[ \t]+/g, ' ').replace(/^ | $/g, '');

test('a header value is canonicalised as the full rule says, whether or not it needed it', () => {
  const values = ['application/x-amz-json-1.1', 'a b', ' a', 'a ', '  a  b  ', 'a\tb', '\ta', 'a\r\n b', 'a\n', '', ' ', 'x  y', 'AWS4-HMAC-SHA256 Credential=K/20261205/us-east-1/sms/aws4_request'];
  for (const value of values) assert.equal(canonicalHeaderValue(value), fullRule(value), JSON.stringify(value));
});

test('the path / is its own canonical URI; other paths are still normalised and encoded', () => {
  assert.equal(canonicalUri('/', 'normalized'), '/');
  assert.equal(canonicalUri('/a/./b/../c//d', 'normalized'), '/a/c/d');
  assert.equal(canonicalUri('/a b', 'normalized'), '/a%20b');
  assert.equal(canonicalUri('/x/../', 'normalized'), '/');
});

test('X-Amz-Date parsing gives the same answer when asked again, and a new date its own', () => {
  const first = parseAmzDate('20261205T001500Z');
  assert.equal(first?.toISOString(), '2026-12-05T00:15:00.000Z');
  assert.equal(parseAmzDate('20261205T001500Z')?.toISOString(), '2026-12-05T00:15:00.000Z');
  assert.equal(parseAmzDate('20261205T001501Z')?.toISOString(), '2026-12-05T00:15:01.000Z');
  assert.equal(parseAmzDate('20261305T001500Z'), undefined);
  assert.equal(parseAmzDate('20261305T001500Z'), undefined);
  assert.equal(parseAmzDate('not a date'), undefined);
});
