/**
 * SigV4 as S3 uses it, in the Authorization header or in the query string (presigned URLs), verified by the one
 * SigV4 implementation (src/protocol/sigv4.ts) with S3's rules: the canonical URI is the path exactly as sent (no
 * dot-segment or `//` normalisation, no second round of percent-encoding — object keys may hold `../`, `//` and
 * anything else); the payload hash is the declared `x-amz-content-sha256` (a hex SHA-256 or UNSIGNED-PAYLOAD),
 * because bodies are streamed to disk and never held in memory — the store hashes the body as it arrives and
 * rejects it with XAmzContentSHA256Mismatch before it becomes visible; presigned URLs carry the signature in the
 * query; session tokens are refused. Failures are answered with S3's codes (protocol/sigv4/failures.ts).
 */
import { checkSignature, checkSignedHeaders, type SecretLookup, type SigV4Rules } from '../../protocol/sigv4.ts';
import { queryPairs } from '../../protocol/sigv4/canonical.ts';
import { S3_AUTH_ERRORS, SigV4Failure } from '../../protocol/sigv4/failures.ts';
import { S3Error, type S3ErrorCode } from './s3Errors.ts';

export { UNSIGNED_PAYLOAD } from '../../protocol/sigv4.ts';

export interface S3Caller {
  accessKeyId: string;
  accountId: string;
  region: string;
  /** The declared payload hash: hex SHA-256 of the body, or UNSIGNED-PAYLOAD (always, for presigned URLs). */
  payloadHash: string;
}

export interface S3SignedRequest {
  method: string;
  /** Path and query exactly as received. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
}

const CREDENTIAL_SERVICE = /^[^/\s]+\/\d{8}\/[^/\s]+\/([^/\s]+)\/aws4_request$/;
const AUTH_S3_SCOPE = /^AWS4-HMAC-SHA256\s+Credential=[^/\s,]+\/\d{8}\/[^/\s,]+\/s3\/aws4_request[\s,]/;
/** Signature version 2 (`AWS key:signature`, or AWSAccessKeyId + Signature in the query): only S3 ever used it. */
const SIGV2_HEADER = /^AWS [^\s:]+:\S+$/;

/**
 * Whether a request is addressed to the S3 endpoint. Ferry serves S3 on the same port as the SMS API (POST to any
 * path), the console, /health, /metrics and the connector API, so S3 requests are told apart by their signature's
 * credential scope — service `s3` in the Authorization header or in X-Amz-Credential — and never by their path: a
 * bucket may be called `console` or `health`, and nothing else changes behaviour.
 */
export function isS3Request(authorization: string | string[] | undefined, url: string): boolean {
  if (typeof authorization === 'string') return AUTH_S3_SCOPE.test(authorization) || SIGV2_HEADER.test(authorization);
  const query = url.indexOf('?');
  if (query < 0) return false;
  let params: Map<string, string>;
  try {
    params = queryParameters(url.slice(query + 1));
  } catch {
    return false;
  }
  const credential = params.get('X-Amz-Credential');
  if (credential !== undefined) return CREDENTIAL_SERVICE.exec(credential)?.[1] === 's3';
  return params.has('AWSAccessKeyId') && params.has('Signature');
}

/** S3's rules for SigV4 (see the top of this file). */
export function s3Rules(regions?: ReadonlySet<string>): SigV4Rules {
  return { service: 's3', uri: 'as-sent', payload: 'declared', unsignedPayload: true, presigned: true, sessionTokens: 'refused', regions };
}

export async function authenticateS3(req: S3SignedRequest, lookup: SecretLookup, now: number, options: { regions?: ReadonlySet<string> } = {}): Promise<S3Caller> {
  queryParameters(req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '');
  try {
    const auth = await checkSignedHeaders(req, lookup, now, s3Rules(options.regions));
    const caller = checkSignature(auth);
    return { ...caller, payloadHash: auth.declaredHash! };
  } catch (thrown) {
    if (!(thrown instanceof SigV4Failure)) throw thrown;
    const { code, message, details } = S3_AUTH_ERRORS[thrown.kind](thrown.facts);
    throw new S3Error(code as S3ErrorCode, message, details);
  }
}

/** Query parameters, decoded (a parameter without `=` has the value ''); the first of a repeated name wins. */
export function queryParameters(rawQuery: string): Map<string, string> {
  const pairs = queryPairs(rawQuery);
  if (!pairs) throw new S3Error('InvalidURI', "Couldn't parse the specified URI: a query parameter is not valid percent-encoded UTF-8.");
  const params = new Map<string, string>();
  for (const [name, value] of pairs) if (!params.has(name)) params.set(name, value);
  return params;
}
