/**
 * SigV4 as S3 uses it, in the Authorization header or in the query string (presigned URLs).
 *
 * S3's variant differs from the SMS endpoint's (src/protocol/sigv4.ts) in three ways, which is why it is verified
 * here rather than by verifySigV4: the canonical URI is the path exactly as sent (no dot-segment or `//`
 * normalisation, no second round of percent-encoding — object keys may hold `../`, `//` and anything else); the
 * payload hash is the declared `x-amz-content-sha256` (a hex SHA-256 or UNSIGNED-PAYLOAD), because bodies are
 * streamed to disk and never held in memory — the store hashes the body as it arrives and rejects it with
 * XAmzContentSHA256Mismatch before it becomes visible; and presigned URLs carry the signature in the query.
 * The rules both share (scope, 15-minute skew, signed `host` and `x-amz-*` headers, constant-time comparison)
 * follow sigv4.ts and the edge hardening of issue 8; fold this into verifySigV4 once it takes these as options.
 */
import { createHmac, hash, timingSafeEqual } from 'node:crypto';
import type { SecretLookup } from '../../protocol/sigv4.ts';
import { S3Error, notImplemented } from './s3Errors.ts';

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

export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
const ALGORITHM = 'AWS4-HMAC-SHA256';
const MAX_SKEW_MS = 15 * 60 * 1000;
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;
const CREDENTIAL = /^([^/\s]{1,128})\/(\d{8})\/([^/\s]{1,64})\/([^/\s]{1,64})\/aws4_request$/;
/** AWS region names (us-east-1, eu-central-2, us-gov-west-1, …). */
const REGION = /^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/;
const HEX_SHA256 = /^[0-9a-f]{64}$/;
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
  if (credential !== undefined) return CREDENTIAL.exec(credential)?.[4] === 's3';
  return params.has('AWSAccessKeyId') && params.has('Signature');
}

export async function authenticateS3(req: S3SignedRequest, lookup: SecretLookup, now: number): Promise<S3Caller> {
  const authorization = header(req, 'authorization');
  const queryAt = req.url.indexOf('?');
  const path = queryAt < 0 ? req.url : req.url.slice(0, queryAt);
  const rawQuery = queryAt < 0 ? '' : req.url.slice(queryAt + 1);
  const query = queryParameters(rawQuery);
  if (header(req, 'x-amz-security-token') !== undefined || query.has('X-Amz-Security-Token')) {
    throw new S3Error('InvalidToken', 'Ferry does not issue session tokens: sign with an access key and its secret (no x-amz-security-token).');
  }
  if ((authorization !== undefined && SIGV2_HEADER.test(authorization)) || (query.has('AWSAccessKeyId') && query.has('Signature'))) {
    throw new S3Error('InvalidRequest', 'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.');
  }
  const presigned = query.has('X-Amz-Credential') || query.has('X-Amz-Signature');
  if (presigned && authorization !== undefined) {
    throw new S3Error('InvalidRequest', 'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified.');
  }
  const claim = presigned ? presignedClaim(query, now) : headerClaim(req, authorization, now);
  const [, accessKeyId, scopeDate, region, service] = CREDENTIAL.exec(claim.credential) ?? [];
  if (!accessKeyId || service !== 's3' || !REGION.test(region!)) {
    throw new S3Error(presigned ? 'AuthorizationQueryParametersError' : 'AuthorizationHeaderMalformed', `The credential ${JSON.stringify(claim.credential)} is not scoped as ACCESS_KEY/yyyyMMdd/REGION/s3/aws4_request with a valid region.`);
  }
  if (!claim.amzDate.startsWith(scopeDate!)) {
    throw new S3Error(presigned ? 'AuthorizationQueryParametersError' : 'AuthorizationHeaderMalformed', `The credential date ${scopeDate} does not match the request date ${claim.amzDate}.`);
  }

  const signedNames = claim.signedHeaders.split(';');
  if (!signedNames.includes('host')) throw new S3Error('AccessDenied', 'The host header must be signed.');
  const headerLines: string[] = [];
  for (const name of signedNames) {
    const value = header(req, name);
    if (value === undefined) throw new S3Error('SignatureDoesNotMatch', `The signed header ${name} is missing from the request.`);
    headerLines.push(`${name}:${value.trim().replace(/\s+/g, ' ')}`);
  }
  const unsigned = Object.keys(req.headers).filter((name) => name.startsWith('x-amz-') && !signedNames.includes(name));
  if (unsigned.length > 0) {
    throw new S3Error('AccessDenied', `There were headers present in the request which were not signed: ${unsigned.join(', ')}.`, { HeadersNotSigned: unsigned.join(', ') });
  }

  const credentials = await lookup(accessKeyId);
  if (!credentials) {
    throw new S3Error('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', { AWSAccessKeyId: accessKeyId });
  }
  const canonicalRequest = [req.method, path, canonicalQuery(rawQuery, presigned), headerLines.join('\n') + '\n', claim.signedHeaders, claim.payloadHash].join('\n');
  const scope = `${scopeDate}/${region}/s3/aws4_request`;
  const stringToSign = `${ALGORITHM}\n${claim.amzDate}\n${scope}\n${hash('sha256', canonicalRequest)}`;
  const expected = createHmac('sha256', signingKey(credentials.secretAccessKey, scopeDate!, region!)).update(stringToSign).digest();
  const provided = Buffer.from(claim.signature, 'hex');
  if (provided.length !== expected.length || !timingSafeEqual(provided, expected)) {
    throw new S3Error('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.', {
      AWSAccessKeyId: accessKeyId,
      StringToSign: stringToSign,
      SignatureProvided: claim.signature,
      CanonicalRequest: canonicalRequest,
    });
  }
  return { accessKeyId, accountId: credentials.accountId, region: region!, payloadHash: claim.payloadHash };
}

interface Claim {
  credential: string;
  signedHeaders: string;
  signature: string;
  amzDate: string;
  payloadHash: string;
}

function headerClaim(req: S3SignedRequest, authorization: string | undefined, now: number): Claim {
  const match = /^AWS4-HMAC-SHA256\s+Credential=([^,\s]+),\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/.exec((authorization ?? '').trim());
  if (!match) throw new S3Error('AuthorizationHeaderMalformed', 'The authorization header is malformed: expected AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=….');
  const amzDate = header(req, 'x-amz-date');
  const signedAt = amzDate === undefined ? undefined : parseAmzDate(amzDate);
  if (!signedAt) throw new S3Error('AccessDenied', 'AWS authentication requires a valid x-amz-date header (yyyyMMddTHHmmssZ).');
  if (Math.abs(now - signedAt.getTime()) > MAX_SKEW_MS) {
    throw new S3Error('RequestTimeTooSkewed', 'The difference between the request time and the current time is too large (more than 15 minutes).', {
      RequestTime: amzDate!,
      ServerTime: new Date(now).toISOString(),
      MaxAllowedSkewMilliseconds: String(MAX_SKEW_MS),
    });
  }
  const payloadHash = header(req, 'x-amz-content-sha256');
  if (payloadHash === undefined) throw new S3Error('InvalidRequest', 'Missing required header for this request: x-amz-content-sha256.');
  if (payloadHash.startsWith('STREAMING-')) throw notImplemented(`chunked payload signing (${payloadHash}); send a plain body with a SHA-256 or UNSIGNED-PAYLOAD`);
  if (payloadHash !== UNSIGNED_PAYLOAD && !HEX_SHA256.test(payloadHash)) {
    throw new S3Error('InvalidArgument', 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a lower-case hex SHA-256 value.');
  }
  return { credential: match[1]!, signedHeaders: match[2]!, signature: match[3]!, amzDate: amzDate!, payloadHash };
}

function presignedClaim(query: Map<string, string>, now: number): Claim {
  const get = (name: string): string => {
    const value = query.get(name);
    if (value === undefined) throw new S3Error('AuthorizationQueryParametersError', `Query-string authentication requires the ${name} parameter.`);
    return value;
  };
  if (get('X-Amz-Algorithm') !== ALGORITHM) throw new S3Error('AuthorizationQueryParametersError', `X-Amz-Algorithm only supports "${ALGORITHM}".`);
  const amzDate = get('X-Amz-Date');
  const signedAt = parseAmzDate(amzDate);
  if (!signedAt) throw new S3Error('AuthorizationQueryParametersError', 'X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd\'T\'HHmmss\'Z\'".');
  const expires = Number(get('X-Amz-Expires'));
  if (!Number.isInteger(expires) || expires < 1 || expires > MAX_PRESIGN_SECONDS) {
    throw new S3Error('AuthorizationQueryParametersError', `X-Amz-Expires must be a whole number of seconds from 1 to ${MAX_PRESIGN_SECONDS} (7 days).`);
  }
  if (signedAt.getTime() - now > MAX_SKEW_MS) throw new S3Error('AccessDenied', 'Request is not yet valid.');
  if (now > signedAt.getTime() + expires * 1000) {
    throw new S3Error('AccessDenied', 'Request has expired.', { 'X-Amz-Expires': String(expires), Expires: new Date(signedAt.getTime() + expires * 1000).toISOString(), ServerTime: new Date(now).toISOString() });
  }
  const signature = get('X-Amz-Signature');
  if (!/^[0-9a-f]{64}$/.test(signature)) throw new S3Error('AuthorizationQueryParametersError', 'X-Amz-Signature must be 64 lower-case hex digits.');
  return { credential: get('X-Amz-Credential'), signedHeaders: get('X-Amz-SignedHeaders'), signature, amzDate, payloadHash: UNSIGNED_PAYLOAD };
}

/** Header values as one string (repeated headers joined with commas, as SigV4 canonicalises them). */
function header(req: S3SignedRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  const date = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** RFC 3986 percent-encoding of everything but unreserved characters, as SigV4 canonicalises query strings. */
function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);
}

function decodeComponent(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new S3Error('InvalidURI', "Couldn't parse the specified URI: a query parameter is not valid percent-encoded UTF-8.");
  }
}

/** Query parameters, decoded (a parameter without `=` has the value ''); the first of a repeated name wins. */
export function queryParameters(rawQuery: string): Map<string, string> {
  const params = new Map<string, string>();
  if (rawQuery === '') return params;
  for (const pair of rawQuery.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = decodeComponent(eq < 0 ? pair : pair.slice(0, eq));
    if (!params.has(name)) params.set(name, decodeComponent(eq < 0 ? '' : pair.slice(eq + 1)));
  }
  return params;
}

/** Every parameter re-encoded and sorted by name, then value; a presigned URL's own signature is left out. */
function canonicalQuery(rawQuery: string, presigned: boolean): string {
  const pairs: [string, string][] = [];
  for (const pair of rawQuery.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = decodeComponent(eq < 0 ? pair : pair.slice(0, eq));
    if (presigned && name === 'X-Amz-Signature') continue;
    pairs.push([uriEncode(name), uriEncode(decodeComponent(eq < 0 ? '' : pair.slice(eq + 1)))]);
  }
  pairs.sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return pairs.map(([n, v]) => `${n}=${v}`).join('&');
}

/** Derived signing keys per (secret, day, region), as SDKs cache them. */
const signingKeys = new Map<string, Buffer>();
const MAX_SIGNING_KEYS = 1000;

function signingKey(secret: string, scopeDate: string, region: string): Buffer {
  const cacheKey = `${secret}\u0000${scopeDate}\u0000${region}`;
  let key = signingKeys.get(cacheKey);
  if (!key) {
    const dateKey = createHmac('sha256', `AWS4${secret}`).update(scopeDate).digest();
    const regionKey = createHmac('sha256', dateKey).update(region).digest();
    const serviceKey = createHmac('sha256', regionKey).update('s3').digest();
    key = createHmac('sha256', serviceKey).update('aws4_request').digest();
    if (signingKeys.size >= MAX_SIGNING_KEYS) signingKeys.clear();
    signingKeys.set(cacheKey, key);
  }
  return key;
}
