/**
 * The SMS endpoint as Fastify routes: the pipeline (server/smsPipeline.ts) with its header stage in the route's
 * onRequest hook, so an unsigned or badly signed request is refused before any of its body is read. The common
 * request (POST / with a length) skips Fastify and takes server/smsFastPath.ts; these routes serve the rest (another
 * path, a chunked body) and every error Fastify raises around a request, with the same answers.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { describeFrameworkFailure, describeNotFound, type FrameworkError, type WireFailure } from './errorTable.ts';
import { CONTENT_TYPE } from '../protocol/awsJson.ts';
import { failureAnswer, smsPipeline, type SmsAnswer, type SmsApiOptions, type SmsExchange } from './smsPipeline.ts';

export { SMS_TARGET_PREFIX, type SmsApiOptions } from './smsPipeline.ts';

declare module 'fastify' {
  interface FastifyRequest {
    smsOperation?: string;
    smsAccount?: string;
    smsExchange?: SmsExchange;
  }
}

/** Sends an answer of the SMS endpoint. A Buffer keeps Fastify from appending a charset to the media type. */
function sendAnswer(reply: FastifyReply, request: FastifyRequest, answer: SmsAnswer): void {
  const exchange = request.smsExchange;
  if (exchange) {
    request.smsOperation = exchange.operation;
    request.smsAccount = exchange.account;
  }
  reply.code(answer.status).header('content-type', CONTENT_TYPE);
  if (answer.errorType !== undefined) reply.header('x-amzn-errortype', answer.errorType);
  reply.send(answer.body);
}

/** The error answer of the SMS endpoint (and of anything on the port outside the other APIs). */
export function sendSmsFailure(reply: FastifyReply, failure: WireFailure): void {
  const answer = failureAnswer(failure);
  reply.code(answer.status).header('content-type', CONTENT_TYPE).header('x-amzn-errortype', answer.errorType!).send(answer.body);
}

/** Errors Fastify raises around an SMS request (a body over the limit, an unreadable body). */
export function smsFrameworkErrorHandler(error: FrameworkError, request: FastifyRequest, reply: FastifyReply): void {
  const failure = describeFrameworkFailure('sms', error, {
    bodyLimit: request.routeOptions.bodyLimit ?? 0,
    contentType: request.headers['content-type'],
    requestId: String(request.id),
  });
  if (failure.logged) request.log.error({ err: error }, 'unhandled server error');
  sendSmsFailure(reply, failure);
}

/** A request no route serves (a GET to an unknown path): the SMS endpoint's 404, the server's default. */
export function smsNotFoundHandler(request: FastifyRequest, reply: FastifyReply): void {
  sendSmsFailure(reply, describeNotFound('sms', request.method, request.url));
}

export async function smsApi(app: FastifyInstance, options: SmsApiOptions): Promise<void> {
  const pipeline = smsPipeline(options);
  app.setErrorHandler(smsFrameworkErrorHandler);

  async function beforeBody(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const exchange: SmsExchange = { requestId: String(request.id), log: () => request.log };
    request.smsExchange = exchange;
    const refused = await pipeline.beforeBody(exchange, { method: request.method, url: request.url, headers: request.headers });
    request.smsOperation = exchange.operation;
    request.smsAccount = exchange.account;
    if (!refused) return undefined;
    // The body stays unread: Node discards it as it arrives, so it never takes memory.
    sendAnswer(reply, request, refused);
    return reply;
  }

  async function handle(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    sendAnswer(reply, request, await pipeline.afterBody(request.smsExchange!, request.body as Buffer | undefined));
  }

  app.post('/*', { onRequest: beforeBody }, handle);
  app.post('/', { onRequest: beforeBody }, handle);
}
