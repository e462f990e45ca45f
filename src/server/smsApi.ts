/**
 * The SMS endpoint: one pipeline, read top to bottom — route (X-Amz-Target) → media type → authenticate (SigV4)
 * → decode → validate → invoke → encode. Errors thrown anywhere are typed values mapped here, once.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ServiceError, coerceError } from '../lib/errors.ts';
import { checkContentType, CONTENT_TYPE, decodeBody, encodeBody, encodeError, operationFromTarget } from '../protocol/awsJson.ts';
import { verifySigV4, type SecretLookup } from '../protocol/sigv4.ts';
import { validateInput } from '../api/schema.ts';
import { findOperation, NOT_IMPLEMENTED_OPERATIONS } from '../operations/index.ts';
import { FERRY_TARGET_PREFIX, findFerryOperation } from '../operations/ferry/index.ts';
import type { Core } from '../core/context.ts';
import type { DataPlane } from '../core/runImages.ts';
import type { InstanceService } from '../launch/instanceService.ts';

export const SMS_TARGET_PREFIX = 'AWSServerMigrationService_V2016_10_24';
const NOT_IMPLEMENTED = new Set<string>(NOT_IMPLEMENTED_OPERATIONS);

export interface SmsApiOptions {
  core: Core;
  secrets: SecretLookup;
  plane?: DataPlane;
  instances?: InstanceService;
}

declare module 'fastify' {
  interface FastifyRequest {
    smsOperation?: string;
    smsAccount?: string;
  }
}

export function registerSmsApi(app: FastifyInstance, options: SmsApiOptions): void {
  const { core, secrets, plane, instances } = options;

  async function handle(request: FastifyRequest, reply: FastifyReply): Promise<void> {
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
      const body = (request.body as Buffer | undefined) ?? Buffer.alloc(0);
      const caller = await verifySigV4(
        { method: request.method, url: request.url, headers: request.headers, body },
        secrets,
        core.clock.now(),
      );
      request.smsAccount = caller.accountId;
      if (!operation) {
        throw new ServiceError('NotImplementedException', `Ferry does not implement the ${name} operation yet (application migration is planned).`);
      }
      const input = validateInput(operation.input, decodeBody(body));
      const output = await operation.handle(input, {
        core,
        tenant: { accountId: caller.accountId, region: caller.region },
        requestId: String(request.id),
        plane,
        instances,
      });
      // A Buffer keeps Fastify from appending a charset to the media type the clients expect.
      reply.code(200).header('content-type', CONTENT_TYPE).send(Buffer.from(encodeBody(output)));
    } catch (thrown) {
      sendError(reply, request, thrown);
    }
  }

  function sendError(reply: FastifyReply, request: FastifyRequest, thrown: unknown): void {
    let error: ServiceError;
    if (thrown instanceof ServiceError) {
      error = thrown;
    } else {
      const cause = coerceError(thrown);
      request.log.error({ err: cause, op: request.smsOperation }, 'unexpected error in SMS operation');
      // Mutations commit as the last step of a handler, so an unexpected error means nothing was committed;
      // 500 lets clients retry safely.
      error = new ServiceError('InternalError', `An internal error occurred (request ${request.id}).`);
    }
    reply
      .code(error.status)
      .header('content-type', CONTENT_TYPE)
      .header('x-amzn-errortype', error.code)
      .send(Buffer.from(encodeError(error)));
  }

  app.post('/*', handle);
  app.post('/', handle);
}
