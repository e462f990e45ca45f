/**
 * The baseline: a bare node:http JSON server (forked by api.bench.ts). It reads and parses the request body like
 * any JSON API would, and answers with JSON.stringify of the response Ferry gave for the same operation, so the
 * request and response bodies are the same size as Ferry's. Everything Ferry does on top (routing, SigV4,
 * validation, SQLite, mapping, access log) is what the ratio measures.
 */
import http from 'node:http';
import { randomUUID } from 'node:crypto';

const CONTENT_TYPE = 'application/x-amz-json-1.1';
let payloads: Record<string, unknown> = {};

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let input: unknown;
    try {
      input = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    } catch {
      input = undefined;
    }
    const target = String(req.headers['x-amz-target'] ?? '');
    const operation = target.slice(target.lastIndexOf('.') + 1);
    const output = input === undefined ? { __type: 'SerializationException' } : (payloads[operation] ?? {});
    const body = Buffer.from(JSON.stringify(output));
    res.writeHead(input === undefined ? 400 : 200, {
      'content-type': CONTENT_TYPE,
      'content-length': body.length,
      'x-amzn-RequestId': randomUUID(),
    });
    res.end(body);
  });
});
server.keepAliveTimeout = 65_000;

process.on('message', (message: { payloads?: Record<string, unknown> }) => {
  if (message.payloads) payloads = { ...payloads, ...message.payloads };
  process.send!({ ok: true });
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.send!({ port: typeof address === 'object' && address ? address.port : 0 });
});
