/**
 * S3's errors on the wire: every code the endpoint can answer with and its HTTP status (the store's codes from
 * src/artifacts/errors.ts and the protocol's own), and the XML error document. server/errorTable.ts maps thrown
 * errors to these.
 */
import { ArtifactError, S3CodedError, type ArtifactErrorCode } from '../../artifacts/errors.ts';
import { xmlDocument, type XmlNode } from './xml.ts';

/** Errors the REST layer itself raises (authentication, request syntax, unsupported features). */
export const PROTOCOL_ERROR_STATUS = {
  AuthorizationHeaderMalformed: 400,
  AuthorizationQueryParametersError: 400,
  IllegalLocationConstraintException: 400,
  InternalError: 500,
  InvalidAccessKeyId: 403,
  InvalidDigest: 400,
  InvalidRequest: 400,
  InvalidToken: 400,
  InvalidURI: 400,
  MalformedXML: 400,
  MaxMessageLengthExceeded: 400,
  MethodNotAllowed: 405,
  MissingContentLength: 411,
  NotImplemented: 501,
  /** Not an error: a GET or HEAD whose If-None-Match / If-Modified-Since says the client's copy is current. */
  NotModified: 304,
  RequestTimeTooSkewed: 403,
  SignatureDoesNotMatch: 403,
} as const;

export type ProtocolErrorCode = keyof typeof PROTOCOL_ERROR_STATUS;
export type S3ErrorCode = ArtifactErrorCode | ProtocolErrorCode;

const ARTIFACT_ERROR_STATUS: Record<ArtifactErrorCode, number> = {
  AccessDenied: 403,
  BadDigest: 400,
  BucketAlreadyExists: 409,
  BucketAlreadyOwnedByYou: 409,
  BucketNotEmpty: 409,
  EntityTooLarge: 400,
  EntityTooSmall: 400,
  IncompleteBody: 400,
  InvalidArgument: 400,
  InvalidBucketName: 400,
  InvalidPart: 400,
  InvalidPartOrder: 400,
  InvalidRange: 416,
  KeyTooLongError: 400,
  MetadataTooLarge: 400,
  NoSuchBucket: 404,
  NoSuchKey: 404,
  NoSuchUpload: 404,
  PreconditionFailed: 412,
  TooManyBuckets: 400,
  TooManyUploads: 400,
  XAmzContentSHA256Mismatch: 400,
};

export function s3Status(code: S3ErrorCode): number {
  return code in PROTOCOL_ERROR_STATUS ? PROTOCOL_ERROR_STATUS[code as ProtocolErrorCode] : ARTIFACT_ERROR_STATUS[code as ArtifactErrorCode];
}

/** An error the REST layer raises; store errors arrive as ArtifactError and are answered the same way. */
export class S3Error extends S3CodedError<S3ErrorCode> {}

export const notImplemented = (what: string): S3Error =>
  new S3Error('NotImplemented', `A header or query you provided implies functionality that is not implemented: Ferry's artifact buckets do not support ${what}.`);

/** S3's error document (no namespace, as S3 sends it): Code, Message, the details, the resource and the request id. */
export function errorDocument(error: { code: string; message: string; details?: Readonly<Record<string, string>> }, resource: string, requestId: string): Buffer {
  const details: XmlNode[] = Object.entries(error.details ?? {}).map(([name, value]) => [name, value]);
  return xmlDocument('Error', [['Code', error.code], ['Message', error.message], ...details, ['Resource', resource], ['RequestId', requestId]], null);
}
