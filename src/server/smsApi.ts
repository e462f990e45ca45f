/**
 * The SMS endpoint: one pipeline, read top to bottom — route (X-Amz-Target) → media type → authenticate the
 * headers (SigV4) → read the body → verify the signature over it → decode → validate → invoke → encode. Everything
 * before the body runs in the route's onRequest hook, so an unsigned or badly signed request is refused before any
 * of its body is read. Errors thrown anywhere are typed values mapped here, once.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ServiceError, coerceError } from '../lib/errors.ts';
import { describeFailure, describeFrameworkFailure, describeNotFound, type FrameworkError, type WireFailure } from './errorTable.ts';
import { checkContentType, CONTENT_TYPE, decodeBody, encodeBodyBytes, encodeError, operationFromTarget } from '../protocol/awsJson.ts';
import { authenticateHeaders, verifyPayloadSignature, type AuthenticatedHeaders, type SecretLookup } from '../protocol/sigv4.ts';
import { validateInput } from '../api/schema.ts';
import type { Operation } from '../operations/operation.ts';
import { findOperation, NOT_IMPLEMENTED_OPERATIONS } from '../operations/index.ts';
import { FERRY_TARGET_PREFIX, findFerryOperation } from '../operations/ferry/index.ts';
import type { Core } from '../core/context.ts';
import type { DataPlane } from '../core/runImages.ts';
import type { AppPorts } from '../apps/ports.ts';

export const SMS_TARGET_PREFIX = 'AWSServerMigrationService_V2016_10_24';
const NOT_IMPLEMENTED = new Set<string>(NOT_IMPLEMENTED_OPERATIONS);

export interface SmsApiOptions {
  core: Core;
  secrets: SecretLookup;
  plane?: DataPlane;
  /** The launch subsystem and the artifact store, handed to operations in their context. */
  ports?: AppPorts;
  /** Regions a credential may be scoped to (FERRY_REGIONS); by default any name of AWS's region pattern. */
  regions?: ReadonlySet<string>;
}

/** What the onRequest stages established, for the handler. */
interface RoutedRequest {
  name: string;
  operation: Operation<unknown, unknown> | undefined;
  auth: AuthenticatedHeaders;
}

declare module 'fastify' {
  interface FastifyRequest {
    smsOperation?: string;
    smsAccount?: string;
    smsRouted?: RoutedRequest;
  }
}

/** The error answer of the SMS endpoint (and of anything on the port outside the other APIs). */
export function sendSmsFailure(reply: FastifyReply, failure: WireFailure): void {
  reply
    .code(failure.status)
    .header('content-type', CONTENT_TYPE)
    .header('x-amzn-errortype', failure.code)
    .send(Buffer.from(encodeError(failure.code, failure.message)));
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
  const { core, secrets, plane, ports, regions } = options;
  app.setErrorHandler(smsFrameworkErrorHandler);

  /** Route, media type and header authentication: everything that needs no body. */
  async function beforeBody(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    try {
      // Ferry's own read-only operations (images, live progress) share the endpoint, the signing and the errors.
      const target = request.headers['x-amz-target'] as string | undefined;
      const ferryOwn = target?.startsWith(`${FERRY_TARGET_PREFIX}.`) ?? false;
      const name = operationFromTarget(target, ferryOwn ? FERRY_TARGET_PREFIX : SMS_TARGET_PREFIX);
      request.smsOperation = ferryOwn ? `Ferry.${name}` : name;
      const operation = ferryOwn ? findFerryOperation(name) : findOperation(name);
      if (!operation && (ferryOwn || !NOT_IMPLEMENTED.has(name))) {
        throw new ServiceError('UnknownOperationException', `Operation ${name} is not part of the ${ferryOwn ? 'Ferry' : 'SMS'} API.`);
      }
      checkContentType(request.headers['content-type']);
      const auth = await authenticateHeaders({ method: request.method, url: request.url, headers: request.headers }, secrets, core.clock.now(), 'sms', {
        regions,
      });
      request.smsAccount = auth.caller.accountId;
      request.smsRouted = { name, operation, auth };
      return undefined;
    } catch (thrown) {
      // The body stays unread: Node discards it as it arrives, so it never takes memory.
      sendError(reply, request, thrown);
      return reply;
    }
  }

  async function handle(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    try {
      const { name, operation, auth } = request.smsRouted!;
      const body = (request.body as Buffer | undefined) ?? Buffer.alloc(0);
      const caller = await verifyPayloadSignature(auth, body);
      if (!operation) {
        throw new ServiceError('NotImplementedException', `Ferry does not implement the ${name} operation yet.`);
      }
      const input = validateInput(operation.input, decodeBody(body));
      const output = await operation.handle(input, {
        core,
        tenant: { accountId: caller.accountId, region: caller.region },
        requestId: String(request.id),
        plane,
        instances: ports?.instances,
        artifacts: ports?.artifacts,
      });
      // A Buffer keeps Fastify from appending a charset to the media type the clients expect.
      reply.code(200).header('content-type', CONTENT_TYPE).send(encodeBodyBytes(output));
    } catch (thrown) {
      sendError(reply, request, thrown);
    }
  }

  function sendError(reply: FastifyReply, request: FastifyRequest, thrown: unknown): void {
    const failure = describeFailure('sms', thrown, String(request.id));
    // Mutations commit as the last step of a handler, so an unexpected error means nothing was committed;
    // 500 lets clients retry safely.
    if (failure.logged) request.log.error({ err: coerceError(thrown), op: request.smsOperation }, 'unexpected error in SMS operation');
    sendSmsFailure(reply, failure);
  }

  app.post('/*', { onRequest: beforeBody }, handle);
  app.post('/', { onRequest: beforeBody }, handle);
}

