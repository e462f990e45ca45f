/**
 * Why a SigV4 check fails, and how each API says so. The verifier (protocol/sigv4.ts) raises a SigV4Failure of one
 * kind; the SMS endpoint answers it with the SMS model's authentication errors (spec §2) and the S3 endpoint with
 * S3's own codes, messages and error-document details, both from the one table below.
 */
import { parseAmzDate } from './canonical.ts';

export type SigV4FailureKind =
  | 'unsigned'
  | 'session-token'
  | 'signature-v2'
  | 'two-mechanisms'
  | 'malformed-header'
  | 'malformed-query'
  | 'wrong-service'
  | 'bad-region'
  | 'bad-date'
  | 'scope-date'
  | 'skewed'
  | 'not-yet-valid'
  | 'expired'
  | 'host-unsigned'
  | 'header-unsigned'
  | 'signed-header-missing'
  | 'payload-hash-missing'
  | 'payload-streaming'
  | 'payload-hash-malformed'
  | 'unsigned-payload-refused'
  | 'unknown-key'
  | 'payload-mismatch'
  | 'mismatch';

/** What a failure knows: the facts its messages and S3's error document name. */
export interface SigV4FailureFacts {
  service?: string;
  expectedService?: string;
  region?: string;
  credential?: string;
  /** The query parameter a presigned URL lacks or gets wrong, and why. */
  parameter?: string;
  problem?: string;
  header?: string;
  headers?: readonly string[];
  amzDate?: string;
  scopeDate?: string;
  now?: number;
  maxSkewMs?: number;
  expires?: number;
  accessKeyId?: string;
  stringToSign?: string;
  canonicalRequest?: string;
  signature?: string;
  presigned?: boolean;
}

export class SigV4Failure extends Error {
  readonly kind: SigV4FailureKind;
  readonly facts: SigV4FailureFacts;
  constructor(kind: SigV4FailureKind, facts: SigV4FailureFacts = {}) {
    super(`SigV4: ${kind}`);
    this.kind = kind;
    this.facts = facts;
  }
}

export interface WireAuthError {
  code: string;
  message: string;
  details?: Record<string, string>;
}

type Describe = (facts: SigV4FailureFacts) => WireAuthError;

const shortened = (text = ''): string => (text.length > 40 ? `${text.slice(0, 40)}…` : text);
const iso = (ms = 0): string => new Date(ms).toISOString();
const mismatch = 'The request signature we calculated does not match the signature you provided.';

/** The SMS endpoint's answers (the model's authentication exceptions, spec §2). */
export const SMS_AUTH_ERRORS: Record<SigV4FailureKind, Describe> = {
  unsigned: () => ({ code: 'MissingAuthenticationTokenException', message: 'Missing Authentication Token: the request is not signed with SigV4.' }),
  'session-token': () => ({ code: 'UnrecognizedClientException', message: 'Ferry does not issue session tokens: sign with an access key and its secret.' }),
  'signature-v2': () => ({ code: 'IncompleteSignatureException', message: 'The Authorization header is not a well-formed AWS4-HMAC-SHA256 signature.' }),
  'two-mechanisms': () => ({ code: 'IncompleteSignatureException', message: 'Sign either in the Authorization header or in the query string, not both.' }),
  'malformed-header': () => ({ code: 'IncompleteSignatureException', message: 'The Authorization header is not a well-formed AWS4-HMAC-SHA256 signature.' }),
  'malformed-query': (f) => ({ code: 'IncompleteSignatureException', message: `Query-string authentication: ${f.problem}` }),
  'wrong-service': (f) => ({ code: 'InvalidSignatureException', message: `Credential should be scoped to service '${f.expectedService}', not '${shortened(f.service)}'.` }),
  'bad-region': (f) => ({ code: 'InvalidSignatureException', message: `Credential should be scoped to a valid region, not '${shortened(f.region)}'.` }),
  'bad-date': () => ({ code: 'IncompleteSignatureException', message: 'The request must carry a valid X-Amz-Date header (yyyyMMddTHHmmssZ).' }),
  'scope-date': () => ({ code: 'InvalidSignatureException', message: 'The credential scope date does not match X-Amz-Date.' }),
  skewed: (f) => ({ code: 'InvalidSignatureException', message: `Signature expired: ${f.amzDate} is more than 15 minutes away from the server time ${iso(f.now)}.` }),
  'not-yet-valid': () => ({ code: 'InvalidSignatureException', message: 'Signature not yet current.' }),
  expired: () => ({ code: 'InvalidSignatureException', message: 'Signature expired.' }),
  'host-unsigned': () => ({ code: 'IncompleteSignatureException', message: "'Host' must be a 'SignedHeader' in the AWS Authorization." }),
  'header-unsigned': (f) => ({
    code: 'IncompleteSignatureException',
    message: `Header ${f.headers?.[0]} is present in the request but not signed: every x-amz-* header must be a 'SignedHeader'.`,
  }),
  'signed-header-missing': (f) => ({ code: 'InvalidSignatureException', message: `Signed header ${f.header} is missing from the request.` }),
  'payload-hash-missing': () => ({ code: 'InvalidSignatureException', message: 'The x-amz-content-sha256 header is required.' }),
  'payload-streaming': () => ({ code: 'InvalidSignatureException', message: 'The x-amz-content-sha256 header must be the hex SHA-256 of the request body.' }),
  'payload-hash-malformed': () => ({ code: 'InvalidSignatureException', message: 'The x-amz-content-sha256 header must be the hex SHA-256 of the request body.' }),
  'unsigned-payload-refused': () => ({ code: 'InvalidSignatureException', message: 'This service requires a signed payload: x-amz-content-sha256 UNSIGNED-PAYLOAD is not accepted.' }),
  'unknown-key': () => ({ code: 'UnrecognizedClientException', message: 'The security token included in the request is invalid: unknown access key.' }),
  'payload-mismatch': () => ({ code: 'InvalidSignatureException', message: 'The x-amz-content-sha256 header does not match the request body.' }),
  mismatch: () => ({ code: 'InvalidSignatureException', message: `${mismatch} Check your AWS Secret Access Key and signing method.` }),
};

/** S3's answers: its codes, its messages, and the members of its error document. */
export const S3_AUTH_ERRORS: Record<SigV4FailureKind, Describe> = {
  unsigned: () => ({ code: 'AccessDenied', message: 'Access Denied: the request is not signed.' }),
  'session-token': () => ({ code: 'InvalidToken', message: 'Ferry does not issue session tokens: sign with an access key and its secret (no x-amz-security-token).' }),
  'signature-v2': () => ({ code: 'InvalidRequest', message: 'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.' }),
  'two-mechanisms': () => ({
    code: 'InvalidRequest',
    message: 'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified.',
  }),
  'malformed-header': () => ({ code: 'AuthorizationHeaderMalformed', message: 'The authorization header is malformed: expected AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=….' }),
  'malformed-query': (f) => ({ code: 'AuthorizationQueryParametersError', message: f.problem ?? 'Query-string authentication is malformed.' }),
  'wrong-service': (f) => scopeError(f),
  'bad-region': (f) => scopeError(f),
  'bad-date': (f) =>
    f.presigned
      ? { code: 'AuthorizationQueryParametersError', message: 'X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd\'T\'HHmmss\'Z\'".' }
      : { code: 'AccessDenied', message: 'AWS authentication requires a valid x-amz-date header (yyyyMMddTHHmmssZ).' },
  'scope-date': (f) => ({
    code: f.presigned ? 'AuthorizationQueryParametersError' : 'AuthorizationHeaderMalformed',
    message: `The credential date ${f.scopeDate} does not match the request date ${f.amzDate}.`,
  }),
  skewed: (f) => ({
    code: 'RequestTimeTooSkewed',
    message: 'The difference between the request time and the current time is too large (more than 15 minutes).',
    details: { RequestTime: f.amzDate ?? '', ServerTime: iso(f.now), MaxAllowedSkewMilliseconds: String(f.maxSkewMs) },
  }),
  'not-yet-valid': () => ({ code: 'AccessDenied', message: 'Request is not yet valid.' }),
  expired: (f) => {
    const at = (parseAmzDate(f.amzDate ?? '')?.getTime() ?? 0) + (f.expires ?? 0) * 1000;
    return { code: 'AccessDenied', message: 'Request has expired.', details: { 'X-Amz-Expires': String(f.expires), Expires: iso(at), ServerTime: iso(f.now) } };
  },
  'host-unsigned': () => ({ code: 'AccessDenied', message: 'The host header must be signed.' }),
  'header-unsigned': (f) => ({
    code: 'AccessDenied',
    message: `There were headers present in the request which were not signed: ${f.headers?.join(', ')}.`,
    details: { HeadersNotSigned: f.headers?.join(', ') ?? '' },
  }),
  'signed-header-missing': (f) => ({ code: 'SignatureDoesNotMatch', message: `The signed header ${f.header} is missing from the request.` }),
  'payload-hash-missing': () => ({ code: 'InvalidRequest', message: 'Missing required header for this request: x-amz-content-sha256.' }),
  'payload-streaming': (f) => ({
    code: 'NotImplemented',
    message: `A header or query you provided implies functionality that is not implemented: Ferry's artifact buckets do not support chunked payload signing (${f.header}); send a plain body with a SHA-256 or UNSIGNED-PAYLOAD.`,
  }),
  'payload-hash-malformed': () => ({ code: 'InvalidArgument', message: 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a lower-case hex SHA-256 value.' }),
  'unsigned-payload-refused': () => ({ code: 'InvalidArgument', message: 'This request must sign its payload.' }),
  'unknown-key': (f) => ({ code: 'InvalidAccessKeyId', message: 'The AWS Access Key Id you provided does not exist in our records.', details: { AWSAccessKeyId: f.accessKeyId ?? '' } }),
  'payload-mismatch': () => ({ code: 'XAmzContentSHA256Mismatch', message: "The provided 'x-amz-content-sha256' header does not match what was computed." }),
  mismatch: (f) => ({
    code: 'SignatureDoesNotMatch',
    message: `${mismatch} Check your key and signing method.`,
    details: { AWSAccessKeyId: f.accessKeyId ?? '', StringToSign: f.stringToSign ?? '', SignatureProvided: f.signature ?? '', CanonicalRequest: f.canonicalRequest ?? '' },
  }),
};

function scopeError(f: SigV4FailureFacts): WireAuthError {
  return {
    code: f.presigned ? 'AuthorizationQueryParametersError' : 'AuthorizationHeaderMalformed',
    message: `The credential ${JSON.stringify(shortened(f.credential))} is not scoped as ACCESS_KEY/yyyyMMdd/REGION/s3/aws4_request with a valid region.`,
  };
}
