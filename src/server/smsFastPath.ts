/**
 * The common SMS request — `POST /` with a Content-Type and a Content-Length within the limit, not S3-signed — goes
 * from node:http straight to the pipeline (server/smsPipeline.ts), without Fastify's request and reply objects,
 * hooks, content-type parsing and per-request child logger. Those were a large share of a request's CPU that the
 * bare node:http server the bench compares with does not pay (bench/README.md, "Where a request's CPU goes").
 * Everything else on the port (another path or method, a chunked or oversized body, `Expect: 100-continue`, S3,
 * the connector protocol, the console, a server that is closing) still goes to Fastify, unchanged.
 *
 * What a client sees is the same as through the Fastify routes: the same status, headers (x-amzn-requestid,
 * content-type, x-amzn-errortype on a failure, content-length; Node adds date and connection as before) and body,
 * written in one end(). The access-log line (reqId, op, status, ms, account) and the request metrics are the same.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { newRequestId } from '../lib/ids.ts';
import { CONTENT_TYPE } from '../protocol/awsJson.ts';
import { internalFailure } from './errorTable.ts';
import { isS3Request } from './s3/authenticate.ts';
import { failureAnswer, type SmsAnswer, type SmsExchange, type SmsPipeline } from './smsPipeline.ts';
import type { FerryMetrics } from '../observability/metrics.ts';

export interface SmsFastPathOptions {
  pipeline: SmsPipeline;
  log: Logger;
  /** Where the access-log line goes (server/app.ts: `log` without redaction, since its fields hold no secret). */
  accessLog: Logger;
  bodyLimit: number;
  metrics?: FerryMetrics;
}

/** The requests this path serves; anything else goes to Fastify. */
function isPlainSmsRequest(req: IncomingMessage, bodyLimit: number): boolean {
  if (req.method !== 'POST' || req.url !== '/') return false;
  const headers = req.headers;
  if (headers['content-type'] === undefined || headers['transfer-encoding'] !== undefined || headers.expect !== undefined) return false;
  const length = headers['content-length'];
  // Over the limit: Fastify answers RequestEntityTooLargeException (after the header checks, as always).
  if (length === undefined || !(Number(length) <= bodyLimit)) return false;
  return !isS3Request(headers.authorization, '/');
}

/** The whole body; undefined if the client went away first (nothing is answered then, as through Fastify). */
function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on('error', () => resolve(undefined));
    req.on('aborted', () => resolve(undefined));
  });
}

/**
 * A 'request' listener for the server: serves the plain SMS requests and hands every other one to `fallback`
 * (Fastify's own listener). `closing()` says the server is shutting down: Fastify then answers 503 itself.
 */
export function smsFastPath(options: SmsFastPathOptions, fallback: (req: IncomingMessage, res: ServerResponse) => void, closing: () => boolean) {
  const { pipeline, log, accessLog, bodyLimit, metrics } = options;

  function answer(req: IncomingMessage, res: ServerResponse, exchange: SmsExchange, started: number, reply: SmsAnswer): void {
    const headers: Record<string, string | number> = { 'x-amzn-requestid': exchange.requestId, 'content-type': CONTENT_TYPE };
    if (reply.errorType !== undefined) headers['x-amzn-errortype'] = reply.errorType;
    headers['content-length'] = reply.body.length;
    res.writeHead(reply.status, headers);
    res.end(reply.body);
    const ms = performance.now() - started;
    // An unrouted request (no X-Amz-Target) is named by its route, as Fastify's access log and metrics name it.
    accessLog.info({ reqId: exchange.requestId, op: exchange.operation ?? req.url, status: reply.status, ms: Math.round(ms * 10) / 10, account: exchange.account }, 'request');
    metrics?.observe(exchange.operation ?? `POST ${req.url}`, reply.errorType, reply.status, ms);
  }

  async function serve(req: IncomingMessage, res: ServerResponse, exchange: SmsExchange, started: number): Promise<void> {
    const refused = await pipeline.beforeBody(exchange, { method: 'POST', url: '/', headers: req.headers });
    // Refused before the body: it stays unread, and Node discards it as it arrives.
    if (refused) return answer(req, res, exchange, started, refused);
    const body = await readBody(req);
    if (body === undefined) return;
    answer(req, res, exchange, started, await pipeline.afterBody(exchange, body));
  }

  return (req: IncomingMessage, res: ServerResponse): void => {
    if (closing() || !isPlainSmsRequest(req, bodyLimit)) return fallback(req, res);
    const started = performance.now();
    const requestId = newRequestId();
    const exchange: SmsExchange = { requestId, log: () => log.child({ reqId: requestId }) };
    serve(req, res, exchange, started).catch((thrown: unknown) => {
      // The pipeline answers every error it meets; this is a bug in this file. Answer as Fastify would, once.
      exchange.log().error({ err: thrown }, 'unhandled server error');
      if (!res.headersSent) answer(req, res, exchange, started, failureAnswer(internalFailure('sms', requestId)));
    });
  };
}
