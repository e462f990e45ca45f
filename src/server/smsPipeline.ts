/**
 * The SMS endpoint's pipeline, free of any HTTP framework, read top to bottom: route (X-Amz-Target) → media type →
 * authenticate the headers (SigV4) → [the caller reads the body] → verify the signature over it → decode → validate
 * → invoke → encode. Everything before the body is one step, so an unsigned or badly signed request is refused
 * before any of its body is read. Errors thrown anywhere are typed values mapped here, once, to the answer's status,
 * error type and bytes. Two front ends drive it: the Fastify routes (server/smsApi.ts) and the direct node:http path
 * for the common request (server/smsFastPath.ts); both send the same answer.
 */
import { ServiceError, coerceError } from '../lib/errors.ts';
import { describeFailure, type WireFailure } from './errorTable.ts';
import { checkContentType, decodeBody, encodeBodyBytes, encodeError, operationFromTarget } from '../protocol/awsJson.ts';
import { authenticateHeaders, checkPayloadSignature, type AuthenticatedHeaders, type SecretLookup } from '../protocol/sigv4.ts';
import { validateInput } from '../api/schema.ts';
import type { Operation, RequestContext } from '../operations/operation.ts';
import { findOperation, NOT_IMPLEMENTED_OPERATIONS } from '../operations/index.ts';
import { FERRY_TARGET_PREFIX, findFerryOperation } from '../operations/ferry/index.ts';
import type { Core } from '../core/context.ts';
import type { DataPlane } from '../core/runImages.ts';
import type { AppPorts } from '../apps/ports.ts';

export const SMS_TARGET_PREFIX = 'AWSServerMigrationService_V2016_10_24';
const NOT_IMPLEMENTED = new Set<string>(NOT_IMPLEMENTED_OPERATIONS);
const EMPTY_BODY = Buffer.alloc(0);

export interface SmsApiOptions {
  core: Core;
  secrets: SecretLookup;
  plane?: DataPlane;
  /** The launch subsystem and the artifact store, handed to operations in their context. */
  ports?: AppPorts;
  /** Regions a credential may be scoped to (FERRY_REGIONS); by default any name of AWS's region pattern. */
  regions?: ReadonlySet<string>;
}

/** One request as it moves through the pipeline: what the access log and the metrics read at the end. */
export interface SmsExchange {
  readonly requestId: string;
  /** The request's logger (its lines carry the request id); only asked for when an error is logged. */
  readonly log: () => { error(fields: object, message: string): void };
  /** The operation's name once routed (`Ferry.` + name for Ferry's own operations). */
  operation?: string;
  /** The caller's account once the headers are authenticated. */
  account?: string;
  routed?: { name: string; operation: Operation<unknown, unknown> | undefined; auth: AuthenticatedHeaders };
}

/** What the endpoint answers: a status, the error's wire code (x-amzn-errortype) for a failure, and the body. */
export interface SmsAnswer {
  status: number;
  errorType?: string;
  body: Buffer;
}

export interface RequestHead {
  method: string;
  /** Path and query exactly as received. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
}

/** The answer for a failure the error table describes. */
export function failureAnswer(failure: WireFailure): SmsAnswer {
  return { status: failure.status, errorType: failure.code, body: Buffer.from(encodeError(failure.code, failure.message)) };
}

export interface SmsPipeline {
  /** Route, media type and header authentication: an answer when the request is refused before its body. */
  beforeBody(exchange: SmsExchange, head: RequestHead): Promise<SmsAnswer | undefined>;
  /** The rest, once the body is read (only after beforeBody answered nothing). */
  afterBody(exchange: SmsExchange, body: Buffer | undefined): Promise<SmsAnswer>;
}

export function smsPipeline(options: SmsApiOptions): SmsPipeline {
  const { core, secrets, plane, ports, regions } = options;

  function failed(exchange: SmsExchange, thrown: unknown): SmsAnswer {
    const failure = describeFailure('sms', thrown, exchange.requestId);
    // Mutations commit as the last step of a handler, so an unexpected error means nothing was committed;
    // 500 lets clients retry safely.
    if (failure.logged) exchange.log().error({ err: coerceError(thrown), op: exchange.operation }, 'unexpected error in SMS operation');
    return failureAnswer(failure);
  }

  return {
    async beforeBody(exchange, head) {
      try {
        // Ferry's own read-only operations (images, live progress) share the endpoint, the signing and the errors.
        const target = head.headers['x-amz-target'] as string | undefined;
        const ferryOwn = target?.startsWith(`${FERRY_TARGET_PREFIX}.`) ?? false;
        const name = operationFromTarget(target, ferryOwn ? FERRY_TARGET_PREFIX : SMS_TARGET_PREFIX);
        exchange.operation = ferryOwn ? `Ferry.${name}` : name;
        const operation = ferryOwn ? findFerryOperation(name) : findOperation(name);
        if (!operation && (ferryOwn || !NOT_IMPLEMENTED.has(name))) {
          throw new ServiceError('UnknownOperationException', `Operation ${name} is not part of the ${ferryOwn ? 'Ferry' : 'SMS'} API.`);
        }
        checkContentType(head.headers['content-type'] as string | undefined);
        const auth = await authenticateHeaders(head, secrets, core.clock.now(), 'sms', { regions });
        exchange.account = auth.caller.accountId;
        exchange.routed = { name, operation, auth };
        return undefined;
      } catch (thrown) {
        return failed(exchange, thrown);
      }
    },

    async afterBody(exchange, body) {
      try {
        const { name, operation, auth } = exchange.routed!;
        const bytes = body ?? EMPTY_BODY;
        const caller = checkPayloadSignature(auth, bytes);
        if (!operation) {
          throw new ServiceError('NotImplementedException', `Ferry does not implement the ${name} operation yet.`);
        }
        const input = validateInput(operation.input, decodeBody(bytes));
        const context: RequestContext = {
          core,
          tenant: { accountId: caller.accountId, region: caller.region },
          requestId: exchange.requestId,
          plane,
          instances: ports?.instances,
          artifacts: ports?.artifacts,
        };
        return { status: 200, body: encodeBodyBytes(await operation.handle(input, context)) };
      } catch (thrown) {
        return failed(exchange, thrown);
      }
    },
  };
}
