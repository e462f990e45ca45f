/**
 * The S3 endpoint for artifact buckets, on Ferry's one port: path-style requests signed for service `s3`. One
 * pipeline, top to bottom — recognise (credential scope) → route (method, bucket/key, subresource) → authenticate
 * (SigV4, header or presigned) → handle → send — with every error answered as S3's XML error document.
 *
 * It runs as an onRequest hook, before Fastify parses a body: object bodies stream from the socket to disk and
 * are never buffered whole, and the SMS endpoint's 1 MiB body limit does not apply to them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ArtifactStore } from '../artifacts/artifactStore.ts';
import type { Clock } from '../lib/clock.ts';
import { coerceError } from '../lib/errors.ts';
import type { SecretLookup } from '../protocol/sigv4.ts';
import { authenticateS3, isS3Request, queryParameters } from './s3/authenticate.ts';
import { errorDocument } from './s3/s3Errors.ts';
import { describeFailure, type WireFailure } from './errorTable.ts';
import { parseTarget, type S3Response } from './s3/s3Request.ts';
import { selectRoute } from './s3/routes.ts';

export interface S3ApiOptions {
  artifacts: ArtifactStore;
  secrets: SecretLookup;
  clock: Clock;
  /** Regions a credential may be scoped to (FERRY_REGIONS), as on the SMS endpoint. */
  regions?: ReadonlySet<string>;
}

/**
 * The S3 endpoint as a plugin. Its hook must see every request of the server, whatever the path (an S3 request is
 * recognised by its signature's scope, not by a route), so the plugin does not get a scope of its own: Fastify's
 * `skip-override` mark (what the fastify-plugin package sets) registers the hook on the server itself.
 */
export async function s3Api(app: FastifyInstance, options: S3ApiOptions): Promise<void> {
  // `Expect: 100-continue` (botocore sends it with every upload): Node answers 100 at once unless a listener takes
  // over. For S3 requests the 100 waits until a handler starts reading the body, so a refused upload (bad signature,
  // no such bucket, too large) is answered before the client sends a byte of it. Everything else keeps Node's
  // behaviour.
  const deferredContinue = new WeakSet<IncomingMessage>();
  app.server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    if (isS3Request(req.headers.authorization, req.url ?? '')) deferredContinue.add(req);
    else res.writeContinue();
    app.server.emit('request', req, res);
  });
  app.addHook('onRequest', async (request, reply) => {
    if (!isS3Request(request.headers.authorization, request.raw.url ?? request.url)) return;
    await serveS3(request, reply, options, deferredContinue.has(request.raw));
    return reply;
  });
}

(s3Api as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;

/** The request body; the first read sends the deferred `100 Continue`, if the client is waiting for one. */
function requestBody(request: FastifyRequest, reply: FastifyReply, continueDeferred: boolean): AsyncIterable<Uint8Array> {
  let continued = !continueDeferred;
  return {
    [Symbol.asyncIterator]() {
      if (!continued) {
        continued = true;
        reply.raw.writeContinue();
      }
      return request.raw[Symbol.asyncIterator]();
    },
  };
}

async function serveS3(request: FastifyRequest, reply: FastifyReply, options: S3ApiOptions, continueDeferred: boolean): Promise<void> {
  const url = request.raw.url ?? request.url;
  const requestId = String(request.id);
  request.smsOperation = 'S3';
  let resource = url.split('?', 1)[0]!;
  try {
    const target = parseTarget(url);
    resource = `/${target.bucket}${target.key === '' ? '' : `/${target.key}`}`;
    const query = queryParameters(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');
    // Routing first (it reads nothing but the request line), but its refusals only after the caller is known.
    let route: ReturnType<typeof selectRoute> | undefined;
    let routeError: unknown;
    try {
      route = selectRoute(request.method, target, query);
      request.smsOperation = `S3.${route.name}`;
    } catch (thrown) {
      routeError = thrown;
    }
    const caller = await authenticateS3({ method: request.method, url, headers: request.headers }, options.secrets, options.clock.now(), { regions: options.regions });
    request.smsAccount = caller.accountId;
    if (!route) throw routeError;
    const response = await route.handle({
      store: options.artifacts,
      limits: options.artifacts.limits,
      caller,
      method: request.method,
      bucket: target.bucket,
      key: target.key,
      query,
      headers: request.headers,
      body: requestBody(request, reply, continueDeferred),
      host: request.headers.host ?? 'localhost',
      requestId,
    });
    send(reply, request, response);
  } catch (thrown) {
    if (request.raw.destroyed && !request.raw.complete) {
      // The client went away mid-body: the store has already dropped what it received; there is no one to answer.
      request.log.info({ op: request.smsOperation }, 'S3 client closed the connection before sending its whole request');
      reply.hijack();
      reply.raw.destroy();
      return;
    }
    const failure = describeFailure('s3', thrown, requestId);
    if (failure.logged) request.log.error({ err: coerceError(thrown), op: request.smsOperation }, 'unexpected error in S3 operation');
    sendError(reply, request, failure, resource, requestId);
  }
}

/**
 * Responses are written to the raw socket (the reply is hijacked): Fastify's own handling would otherwise apply to
 * a request whose path happens to match one of its routes (a HEAD to /console/… would get Content-Length: 0).
 * onResponse still runs, so logs and metrics see S3 requests like any other.
 */
function send(reply: FastifyReply, request: FastifyRequest, response: S3Response): void {
  const headers: Record<string, string> = { 'x-amz-request-id': String(request.id), ...response.headers };
  // A body the client is still sending (or waiting to send) would have to be read to the end to keep the
  // connection: close it instead.
  if (!request.raw.complete) headers.connection = 'close';
  const body = request.method === 'HEAD' ? undefined : response.body;
  if (body === undefined) {
    headers['content-length'] ??= '0';
  } else if (Buffer.isBuffer(body)) {
    headers['content-type'] ??= 'application/xml';
    headers['content-length'] = String(body.length);
  }
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(response.status, headers);
  if (body === undefined || Buffer.isBuffer(body)) {
    raw.end(body);
    return;
  }
  pipeline(body, raw).catch((thrown: unknown) => {
    // Headers are gone: all that is left is to cut the connection, so the client sees a short body, not a whole one.
    if (!raw.destroyed) request.log.warn({ err: coerceError(thrown) }, 'S3 object stream failed mid-response');
    raw.destroy();
  });
}

function sendError(reply: FastifyReply, request: FastifyRequest, error: WireFailure, resource: string, requestId: string): void {
  // The metrics read the outcome from this header (a closed set of S3 codes).
  reply.header('x-amzn-errortype', error.code);
  const headers: Record<string, string> = { 'x-amz-request-id': requestId };
  const body = request.method === 'HEAD' || error.status === 304 ? undefined : errorDocument(error, resource, requestId);
  if (body) headers['content-type'] = 'application/xml';
  send(reply, request, { status: error.status, headers, ...(body ? { body } : {}) });
}
