/**
 * Requests no route serves are answered from the one error table (server/errorTable.ts) in the shape of the API
 * they reach: outside every API as the SMS endpoint (AWS JSON 1.1's {"__type","message"}, X-Amzn-ErrorType, the
 * request id), under /console/ as text with the console's security headers, under the connector prefix as
 * {"error","message"}. Fastify's own 404 and bad-URL bodies never reach a client.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestFerry } from '../helpers/ferry.ts';

test('a path or method no API serves gets the SMS endpoint 404, with the request id', async () => {
  const t = await startTestFerry();
  try {
    for (const [method, path] of [
      ['GET', '/no-such-page?token=secret'],
      ['DELETE', '/'],
      ['PUT', '/health/more'],
    ] as const) {
      const response = await fetch(`${t.ferry.url}${path}`, { method, body: method === 'PUT' ? 'x' : undefined });
      assert.equal(response.status, 404, `${method} ${path}`);
      assert.equal(response.headers.get('content-type'), 'application/x-amz-json-1.1');
      assert.equal(response.headers.get('x-amzn-errortype'), 'UnknownOperationException');
      assert.match(response.headers.get('x-amzn-requestid') ?? '', /\S/);
      const body = (await response.json()) as { __type: string; message: string };
      assert.equal(body.__type, 'UnknownOperationException');
      assert.equal(body.message, `${method} ${path.split('?')[0]} is not served here: the SMS API is POST / with an X-Amz-Target header.`);
    }
  } finally {
    await t.close();
  }
});

test('a URL that does not decode is refused in the SMS shape, not in Fastify\'s', async () => {
  const t = await startTestFerry();
  try {
    const response = await fetch(`${t.ferry.url}/console/%zz`);
    assert.equal(response.status, 400);
    assert.equal(response.headers.get('x-amzn-errortype'), 'SerializationException');
    assert.match(response.headers.get('x-amzn-requestid') ?? '', /\S/);
    const body = (await response.json()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body).sort(), ['__type', 'message']);
    assert.match(String(body.message), /not a valid url component/);
  } finally {
    await t.close();
  }
});

test("the console's not-found and bad paths are text with its security headers", async () => {
  const t = await startTestFerry();
  try {
    for (const [path, status, text] of [
      ['/console/assets/no-such-file.js', 404, 'Not found.\n'],
      ['/console/..%2F..%2Fpackage.json', 404, 'Not found.\n'],
      ['/console/a%00b.js', 400, 'Bad path.\n'],
    ] as const) {
      const response = await fetch(`${t.ferry.url}${path}`);
      assert.equal(response.status, status, path);
      assert.equal(response.headers.get('content-type'), 'text/plain; charset=utf-8');
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff', path);
      assert.match(response.headers.get('content-security-policy') ?? '', /default-src 'self'/, path);
      assert.equal(await response.text(), text);
    }
  } finally {
    await t.close();
  }
});

test('an unknown route under the connector prefix answers the connector shape', async () => {
  const t = await startTestFerry();
  try {
    const connector = await t.connector();
    const response = await fetch(`${t.ferry.url}/ferry/connector/v1/no-such-route?x=1`, { headers: { authorization: `Bearer ${connector.token}` } });
    assert.equal(response.status, 404);
    assert.deepEqual(await response.json(), { error: 'NotFound', message: 'GET /ferry/connector/v1/no-such-route is not a connector API route.' });
  } finally {
    await t.close();
  }
});
