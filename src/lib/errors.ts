/**
 * Errors are typed values. Domain and operation code throws them; only the protocol edge turns them into
 * an HTTP status and an `{"__type","message"}` body.
 */

/** The SMS model's exceptions plus the protocol- and auth-level errors of spec §1.7 and §2. */
export const ERROR_STATUS = {
  InvalidParameterException: 400,
  MissingRequiredParameterException: 400,
  OperationNotPermittedException: 400,
  UnauthorizedOperationException: 400,
  NoConnectorsAvailableException: 400,
  ReplicationJobAlreadyExistsException: 400,
  ReplicationJobNotFoundException: 400,
  ReplicationRunLimitExceededException: 400,
  ServerCannotBeReplicatedException: 400,
  DryRunOperationException: 400,
  InternalError: 500,
  TemporarilyUnavailableException: 503,
  // Protocol level (not in the model).
  UnknownOperationException: 400,
  SerializationException: 400,
  UnsupportedMediaTypeException: 415,
  RequestEntityTooLargeException: 413,
  NotImplementedException: 400,
  // Authentication (spec §2).
  MissingAuthenticationTokenException: 400,
  UnrecognizedClientException: 400,
  InvalidSignatureException: 400,
  IncompleteSignatureException: 400,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/**
 * An error that carries a machine-readable code and is named after it (so a stack trace or log line shows the code).
 * Each wire — the SMS JSON protocol, S3's XML, Ferry's own calls — has its own code set and extras; this is the part
 * they share.
 */
export class CodedError<Code extends string = string> extends Error {
  readonly code: Code;
  constructor(code: Code, message: string) {
    super(message);
    this.code = code;
    this.name = code;
  }
}

export class ServiceError extends CodedError<ErrorCode> {
  readonly status: number;
  constructor(code: ErrorCode, message: string) {
    super(code, message);
    this.status = ERROR_STATUS[code];
  }
}

export const invalidParameter = (message: string): ServiceError =>
  new ServiceError('InvalidParameterException', message);
export const missingParameter = (message: string): ServiceError =>
  new ServiceError('MissingRequiredParameterException', message);
export const notPermitted = (message: string): ServiceError =>
  new ServiceError('OperationNotPermittedException', message);

/** Turns anything thrown into an Error, so background loops can record it. */
export function coerceError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  return new Error(typeof thrown === 'string' ? thrown : JSON.stringify(thrown));
}
