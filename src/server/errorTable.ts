/**
 * Every error a request can end in, and what each API answers for it — its HTTP status and its wire code — in one
 * table. Each API's plugin writes the answer in its own shape: the SMS endpoint as AWS JSON 1.1's
 * `{"__type","message"}` (server/smsApi.ts), the connector protocol as `{"error","message"}` (connectorApi.ts), the
 * S3 endpoint as S3's XML error document (s3Api.ts), the console as text (console.ts). Anything the table does not
 * name is a bug: a 500 that names only the request id, and the error is logged.
 */
import { ServiceError, type ErrorCode } from '../lib/errors.ts';
import { RunConflict } from '../domain/replicationRun.ts';
import { InventoryRejected } from '../domain/inventory.ts';
import { ImageRequestError, ImageStoreError } from '../images/errors.ts';
import { ArtifactError } from '../artifacts/errors.ts';
import { ConnectorError } from '../protocol/connector/messages.ts';
import { S3Error, s3Status } from './s3/s3Errors.ts';

export type Api = 'sms' | 'connector' | 's3' | 'console';

export interface WireFailure {
  status: number;
  code: string;
  message: string;
  /** Further members of S3's error document (`<BucketName>`, …). */
  details?: Readonly<Record<string, string>>;
  /** The error is not one the table names (or says so itself): log it. */
  logged?: boolean;
}

type Answer = Omit<WireFailure, 'message' | 'logged'> & { message?: string };
type ErrorClass<E> = abstract new (...args: never[]) => E;
interface Entry<E = never> {
  type: ErrorClass<E>;
  answers: Partial<Record<Api, (error: E) => Answer>>;
}
const entry = <E extends Error>(type: ErrorClass<E>, answers: Partial<Record<Api, (error: E) => Answer>>): Entry => ({ type, answers }) as unknown as Entry;

/** Codes of requests the rules refuse as malformed: a connector's mistake (400); any other refusal means the run or job moved on (409). */
const CONNECTOR_BAD_REQUEST_CODES: readonly ErrorCode[] = ['InvalidParameterException', 'MissingRequiredParameterException', 'SerializationException'];

const s3Answer = (error: S3Error | ArtifactError): Answer => ({ status: s3Status(error.code), code: error.code, details: error.details });

const TABLE: readonly Entry[] = [
  entry(ServiceError, {
    sms: (e) => ({ status: e.status, code: e.code }),
    connector: (e) => ({ status: e.status >= 500 ? 500 : CONNECTOR_BAD_REQUEST_CODES.includes(e.code) ? 400 : 409, code: e.code }),
  }),
  entry(ConnectorError, { connector: (e) => ({ status: e.status, code: e.code }) }),
  entry(RunConflict, { connector: () => ({ status: 409, code: 'Conflict' }) }),
  entry(InventoryRejected, { connector: () => ({ status: 400, code: 'BadRequest' }) }),
  entry(ImageRequestError, { connector: () => ({ status: 400, code: 'BadRequest' }) }),
  entry(ImageStoreError, { connector: (e) => ({ status: 400, code: e.code }) }),
  entry(S3Error, { s3: s3Answer }),
  entry(ArtifactError, { s3: s3Answer }),
];

/** The 500 each API answers for an error the table does not name (its message names the request, never the cause). */
const INTERNAL: Record<Api, { code: string; message: (requestId: string) => string }> = {
  sms: { code: 'InternalError', message: (id) => `An internal error occurred (request ${id}).` },
  connector: { code: 'InternalError', message: (id) => `Internal error (request ${id}).` },
  s3: { code: 'InternalError', message: (id) => `We encountered an internal error (request ${id}). Please try again.` },
  console: { code: 'InternalError', message: (id) => `Internal error (request ${id}).` },
};

export function internalFailure(api: Api, requestId: string): WireFailure {
  return { status: 500, code: INTERNAL[api].code, message: INTERNAL[api].message(requestId), logged: true };
}

/** What `api` answers for anything thrown while serving a request. */
export function describeFailure(api: Api, thrown: unknown, requestId: string): WireFailure {
  for (const { type, answers } of TABLE) {
    const answer = answers[api];
    if (!answer || !(thrown instanceof type)) continue;
    const { message, ...rest } = answer(thrown);
    const failure: WireFailure = { ...rest, message: message ?? (thrown as Error).message };
    if (failure.status >= 500) {
      // A 5xx the code raised on purpose keeps its code; an InternalError never shows its cause.
      failure.logged = true;
      if (failure.code === 'InternalError') failure.message = INTERNAL[api].message(requestId);
    }
    return failure;
  }
  return internalFailure(api, requestId);
}

/**
 * What `api` answers for a request no route of it serves (its path shortened, the query left out). S3 has no such
 * answer: every request signed for S3 is routed by its bucket and key (server/s3/routes.ts).
 */
export function describeNotFound(api: Exclude<Api, 's3'>, method: string, url: string): WireFailure {
  const path = url.split('?', 1)[0]!.slice(0, 200);
  switch (api) {
    case 'sms':
      return { status: 404, code: 'UnknownOperationException', message: `${method} ${path} is not served here: the SMS API is POST / with an X-Amz-Target header.` };
    case 'connector':
      return { status: 404, code: 'NotFound', message: `${method} ${path} is not a connector API route.` };
    case 'console':
      return { status: 404, code: 'NotFound', message: 'Not found.' };
  }
}

/** What Fastify raises around a route before or while reading a body. */
export interface FrameworkError extends Error {
  code?: string;
  statusCode?: number;
}

/**
 * What `api` answers for an error Fastify raised (a body over the route's limit, an unreadable body, a media type
 * no parser takes), given the route's body limit and the request's Content-Type.
 */
export function describeFrameworkFailure(api: Api, error: FrameworkError, context: { bodyLimit: number; contentType: string | undefined; requestId: string }): WireFailure {
  const tooLarge = error.code === 'FST_ERR_CTP_BODY_TOO_LARGE';
  const badMedia = error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE';
  const status = error.statusCode ?? 500;
  if (!tooLarge && !badMedia && status >= 500) return internalFailure(api, context.requestId);
  switch (api) {
    case 'sms':
      if (tooLarge) return smsFailure('RequestEntityTooLargeException', `The request body exceeds the limit of ${context.bodyLimit} bytes.`);
      if (badMedia) return smsFailure('UnsupportedMediaTypeException', `Content-Type ${JSON.stringify(context.contentType ?? '')} is not supported; send application/x-amz-json-1.1.`);
      return smsFailure('SerializationException', error.message);
    case 'connector':
      if (tooLarge) return { status: 413, code: 'PayloadTooLarge', message: `The body exceeds this route's limit of ${context.bodyLimit} bytes.` };
      return { status, code: status === 415 ? 'UnsupportedMediaType' : 'BadRequest', message: error.message };
    case 's3':
    case 'console':
      return { status: tooLarge ? 413 : badMedia ? 415 : status, code: tooLarge ? 'EntityTooLarge' : 'InvalidRequest', message: error.message };
  }
}

function smsFailure(code: ErrorCode, message: string): WireFailure {
  const error = new ServiceError(code, message);
  return { status: error.status, code: error.code, message };
}
