import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBody, encodeBody, epochDate, operationFromTarget, checkContentType } from '../../src/protocol/awsJson.ts';
import { validateInput, str, int, bool, timestamp, oneOf, listOf, struct } from '../../src/api/schema.ts';
import { closePage, fingerprintOf, openCursor } from '../../src/core/paginate.ts';

const PREFIX = 'AWSServerMigrationService_V2016_10_24';

test('X-Amz-Target routing accepts the SMS prefix only', () => {
  assert.equal(operationFromTarget(`${PREFIX}.GetServers`, PREFIX), 'GetServers');
  for (const bad of [undefined, '', 'GetServers', 'AmazonEC2.GetServers', `${PREFIX}x.GetServers`]) {
    assert.throws(() => operationFromTarget(bad, PREFIX), { name: 'UnknownOperationException' });
  }
});

test('media types: the JSON 1.1 type and plain JSON are accepted, others refused with 415', () => {
  checkContentType('application/x-amz-json-1.1');
  checkContentType('application/json; charset=utf-8');
  checkContentType(undefined);
  assert.throws(() => checkContentType('text/xml'), (err: { name: string; status: number }) => err.name === 'UnsupportedMediaTypeException' && err.status === 415);
});

test('bodies: empty means {}, anything but a JSON object is a SerializationException', () => {
  assert.deepEqual(decodeBody(Buffer.alloc(0)), {});
  assert.deepEqual(decodeBody(Buffer.from('{"a":1}')), { a: 1 });
  for (const bad of ['{', '[]', '"x"', '12', 'null']) {
    assert.throws(() => decodeBody(Buffer.from(bad)), { name: 'SerializationException' });
  }
});

test('timestamps leave as epoch seconds with millisecond precision, absent members are omitted', () => {
  const body = JSON.parse(encodeBody({ a: epochDate(1477006131856), b: undefined, c: [{ d: epochDate(0) }], e: 'x' }));
  assert.deepEqual(body, { a: 1477006131.856, c: [{ d: 0 }], e: 'x' });
});

test('validation order: required members, then JSON types, then ranges and enums', () => {
  const shape = { id: str(true), n: int(1, 24), when: timestamp(true), kind: oneOf(['AWS', 'BYOL']), flag: bool() };
  assert.throws(() => validateInput(shape, { n: 'x' }), { name: 'MissingRequiredParameterException' });
  assert.throws(() => validateInput(shape, { id: '', when: 1 }), { name: 'MissingRequiredParameterException' });
  assert.throws(() => validateInput(shape, { id: 'a', when: 1, n: 'x' }), { name: 'SerializationException' });
  assert.throws(() => validateInput(shape, { id: 'a', when: 1, n: 2.5 }), { name: 'SerializationException' });
  assert.throws(() => validateInput(shape, { id: 'a', when: 1, n: 25 }), { name: 'InvalidParameterException' });
  assert.throws(() => validateInput(shape, { id: 'a', when: 1, kind: 'Auto' }), { name: 'InvalidParameterException' });
  assert.throws(() => validateInput(shape, { id: 'a', when: 1, flag: 'true' }), { name: 'SerializationException' });
  const ok = validateInput<Record<string, unknown>>(shape, { id: 'a', when: 1477348200.123, n: 12, unknown: 1, kind: null });
  assert.deepEqual(ok, { id: 'a', when: new Date(1477348200123), n: 12 });
  assert.deepEqual(validateInput(shape, { id: 'a', when: '1477348200' }), { id: 'a', when: new Date(1477348200000) });
});

test('nested lists and structures are checked member by member', () => {
  const shape = { list: listOf(struct({ vmId: str(), vmManagerId: str() })) };
  assert.deepEqual(validateInput(shape, { list: [{ vmId: 'v', extra: 1 }] }), { list: [{ vmId: 'v' }] });
  assert.throws(() => validateInput(shape, { list: {} }), { name: 'SerializationException' });
  assert.throws(() => validateInput(shape, { list: [{ vmId: 3 }] }), /list\[0\]\.vmId/);
});

test('pagination: tokens are bound to their request, never repeat, and the last page has none', () => {
  const fp = fingerprintOf('GetServers', { accountId: '1', region: 'r' });
  const rows = Array.from({ length: 7 }, (_, i) => ({ seq: i + 1 }));
  const seen: number[] = [];
  const tokens = new Set<string>();
  let token: string | undefined;
  do {
    const cursor = openCursor({ nextToken: token, maxResults: 3 }, fp);
    const fetched = rows.filter((r) => cursor.after === undefined || r.seq > cursor.after).slice(0, cursor.limit + 1);
    const page = closePage(fetched, cursor);
    seen.push(...page.items.map((r) => r.seq));
    token = page.nextToken;
    if (token) {
      assert.ok(!tokens.has(token), 'token repeated');
      tokens.add(token);
    }
  } while (token);
  assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7]);
  assert.equal(tokens.size, 2);
  assert.equal(openCursor({}, fp).limit, 50);
  const [first] = tokens;
  assert.throws(() => openCursor({ nextToken: first }, fingerprintOf('GetConnectors')), { name: 'InvalidParameterException' });
  assert.throws(() => openCursor({ nextToken: 'garbage!' }, fp), { name: 'InvalidParameterException' });
  assert.throws(() => openCursor({ maxResults: 0 }, fp), { name: 'InvalidParameterException' });
  assert.equal(openCursor({ nextToken: '' }, fp).after, undefined);
});
