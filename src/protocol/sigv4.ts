/**
 * SigV4 verification, for every API on Ferry's port: recompute the signature of the received request with the
 * caller's secret (protocol/sigv4/canonical.ts) and compare in constant time. The rules AWS applies beyond the
 * arithmetic hold for all of them: the scope names the expected service and a valid region (./region.ts), `host`
 * and every `x-amz-*` header sent are signed, and the date is within 15 minutes (or a presigned URL unexpired).
 * Where APIs differ, an option says so:
 *
 * - `uri`: the SMS endpoint normalises the path as AWS's JSON services do; S3 signs the path as sent.
 * - `payload`: `body` (SMS) — the payload hash is computed from the body once it is read, and a declared
 *   x-amz-content-sha256 must match it; `declared` (S3) — the declared hash is signed as is, because bodies are
 *   streamed to disk (the store checks them against it as they arrive).
 * - `unsignedPayload`: whether `UNSIGNED-PAYLOAD` is acceptable (S3 allows it; SMS and JSON services do not).
 * - `presigned`: whether the signature may come in the query string (S3's presigned URLs).
 * - `sessionTokens`: S3 refuses x-amz-security-token (Ferry issues none); the SMS endpoint ignores it, as before.
 *
 * The check runs in two steps so that a server can refuse a request before reading its body: the headers
 * (`authenticateHeaders`), then the signature over the payload (`verifyPayloadSignature`). A failure is a
 * SigV4Failure of one kind; the API's wrapper says it in the API's own words (protocol/sigv4/failures.ts):
 * verifySigV4 and friends as the SMS model's errors, server/s3/authenticate.ts as S3's.
 *
 * Every SMS request is a POST to `/` with a few headers: its canonical request is a few short strings, computed
 * here with node:crypto and a cached signing key. The SDK's own signer, used before for every request, cost more
 * per request than everything else in authentication. Bench figure that keeps this fast path (`npm run bench`,
 * section 3, 2026-12-04, 5 alternating rounds, machine 0 % idle, load average 14–20): 30.8 µs per SMS request
 * against 77.6 µs for the SDK signer computing the same signature (2.52×; 2.7× on 2026-12-03, timed one after the
 * other). test/unit/sigv4.test.ts holds this computation to the SDK signer's answers.
 */
import { createHmac, hash, timingSafeEqual } from 'node:crypto';
import { ServiceError, type ErrorCode } from '../lib/errors.ts';
import { MINUTE } from '../lib/clock.ts';
import type { SecretLookup } from '../domain/credentials.ts';
import { isAllowedRegion } from './region.ts';
import {
  ALGORITHM,
  canonicalQuery,
  canonicalRequestText,
  canonicalUri,
  parseAmzDate,
  queryPairs,
  signingKey,
  stringToSign,
  UNSIGNED_PAYLOAD,
  type UriMode,
} from './sigv4/canonical.ts';
import { SigV4Failure, SMS_AUTH_ERRORS, type SigV4FailureFacts } from './sigv4/failures.ts';

export type { SecretLookup };
export { UNSIGNED_PAYLOAD };

const MAX_SKEW_MS = 15 * MINUTE;
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;
const HEADER_AUTH = /^AWS4-HMAC-SHA256\s+Credential=([^,\s]+),\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/;
const CREDENTIAL = /^([^/\s]+)\/(\d{8})\/([^/\s]+)\/([^/\s]+)\/aws4_request$/;
const HEX_SHA256 = /^[0-9a-f]{64}$/;
/** Signature version 2 (`AWS key:signature`, or AWSAccessKeyId + Signature in the query): only S3 ever used it. */
const SIGV2_HEADER = /^AWS [^\s:]+:\S+$/;

export interface SignedRequest {
  method: string;
  /** Path and query exactly as received. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface Caller {
  accessKeyId: string;
  accountId: string;
  region: string;
}

/**
 * What the verifier does with `x-amz-content-sha256: UNSIGNED-PAYLOAD` (for the SMS endpoint's callers). `signed`
 * (the default, as SMS and every JSON service): refused, so the signature always covers the body.
 * `signed-or-unsigned`: accepted and signed as the literal `UNSIGNED-PAYLOAD`; a hex hash, when sent, must still
 * match the body.
 */
export type PayloadPolicy = 'signed' | 'signed-or-unsigned';

export interface VerifyOptions {
  /** Default `signed`. */
  payload?: PayloadPolicy;
  /** Regions a credential may be scoped to (FERRY_REGIONS); any name of AWS's region pattern when unset. */
  regions?: ReadonlySet<string>;
}

/** How one API uses SigV4 (see the top of this file). */
export interface SigV4Rules {
  service: string;
  uri: UriMode;
  payload: 'body' | 'declared';
  unsignedPayload: boolean;
  presigned: boolean;
  sessionTokens: 'ignored' | 'refused';
  regions?: ReadonlySet<string>;
}

/** A request whose headers passed every check that needs no body; verifyPayloadSignature finishes the job. */
export interface AuthenticatedHeaders {
  readonly request: Omit<SignedRequest, 'body'>;
  readonly caller: Caller;
  readonly rules: SigV4Rules;
  readonly secretAccessKey: string;
  readonly scope: { date: string; region: string; service: string };
  readonly amzDate: string;
  readonly presigned: boolean;
  /** The signed headers, names sorted, with their values as sent. */
  readonly signed: readonly (readonly [string, string])[];
  readonly signature: string;
  /** The declared x-amz-content-sha256 (always UNSIGNED-PAYLOAD for a presigned URL). */
  readonly declaredHash: string | undefined;
}

/** Header values as one string (repeated headers joined with commas, as SigV4 canonicalises them). */
function header(req: Pick<SignedRequest, 'headers'>, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

const fail = (kind: SigV4Failure['kind'], facts: SigV4FailureFacts = {}): never => {
  throw new SigV4Failure(kind, facts);
};

interface Claim {
  credential: string;
  signedHeaders: string;
  signature: string;
  amzDate: string;
  /** Seconds a presigned URL stays valid; undefined for the header form. */
  expires?: number;
}

function headerClaim(req: Omit<SignedRequest, 'body'>, authorization: string): Claim {
  const match = HEADER_AUTH.exec(authorization.trim()) ?? fail('malformed-header');
  return { credential: match[1]!, signedHeaders: match[2]!, signature: match[3]!, amzDate: header(req, 'x-amz-date') ?? '' };
}

function presignedClaim(query: ReadonlyMap<string, string>): Claim {
  const get = (name: string): string => query.get(name) ?? fail('malformed-query', { presigned: true, problem: `Query-string authentication requires the ${name} parameter.` });
  if (get('X-Amz-Algorithm') !== ALGORITHM) fail('malformed-query', { presigned: true, problem: `X-Amz-Algorithm only supports "${ALGORITHM}".` });
  const amzDate = get('X-Amz-Date');
  if (!parseAmzDate(amzDate)) fail('bad-date', { presigned: true });
  const expires = Number(get('X-Amz-Expires'));
  if (!Number.isInteger(expires) || expires < 1 || expires > MAX_PRESIGN_SECONDS) {
    fail('malformed-query', { presigned: true, problem: `X-Amz-Expires must be a whole number of seconds from 1 to ${MAX_PRESIGN_SECONDS} (7 days).` });
  }
  const signature = get('X-Amz-Signature');
  if (!HEX_SHA256.test(signature)) fail('malformed-query', { presigned: true, problem: 'X-Amz-Signature must be 64 lower-case hex digits.' });
  return { credential: get('X-Amz-Credential'), signedHeaders: get('X-Amz-SignedHeaders'), signature, amzDate, expires };
}

/** Every check that needs only the headers: an unsigned or badly signed request is refused before its body is read. */
export async function checkSignedHeaders(req: Omit<SignedRequest, 'body'>, lookup: SecretLookup, now: number, rules: SigV4Rules): Promise<AuthenticatedHeaders> {
  const authorization = header(req, 'authorization');
  const queryAt = req.url.indexOf('?');
  const pairs = rules.presigned && queryAt >= 0 ? (queryPairs(req.url.slice(queryAt + 1)) ?? fail('malformed-query', { presigned: true, problem: 'The query string is not valid percent-encoded UTF-8.' })) : [];
  const query = new Map<string, string>();
  for (const [name, value] of pairs) if (!query.has(name)) query.set(name, value);
  if (rules.sessionTokens === 'refused' && (header(req, 'x-amz-security-token') !== undefined || query.has('X-Amz-Security-Token'))) fail('session-token');
  if ((authorization !== undefined && SIGV2_HEADER.test(authorization)) || (query.has('AWSAccessKeyId') && query.has('Signature'))) fail('signature-v2');
  const presigned = rules.presigned && (query.has('X-Amz-Credential') || query.has('X-Amz-Signature'));
  if (presigned && authorization !== undefined) fail('two-mechanisms');
  if (!presigned && authorization === undefined) fail('unsigned');
  const claim = presigned ? presignedClaim(query) : headerClaim(req, authorization!);

  const facts: SigV4FailureFacts = { presigned, credential: claim.credential, amzDate: claim.amzDate, now };
  const [, accessKeyId, scopeDate, region, service] = CREDENTIAL.exec(claim.credential) ?? fail(presigned ? 'malformed-query' : 'malformed-header', { ...facts, problem: 'X-Amz-Credential is not ACCESS_KEY/yyyyMMdd/REGION/SERVICE/aws4_request.' });
  if (service !== rules.service) fail('wrong-service', { ...facts, service, expectedService: rules.service });
  if (!isAllowedRegion(region!, rules.regions)) fail('bad-region', { ...facts, region });
  const signedAt = parseAmzDate(claim.amzDate) ?? fail('bad-date', facts);
  if (!claim.amzDate.startsWith(scopeDate!)) fail('scope-date', { ...facts, scopeDate });
  if (claim.expires === undefined) {
    if (Math.abs(now - signedAt.getTime()) > MAX_SKEW_MS) fail('skewed', { ...facts, maxSkewMs: MAX_SKEW_MS });
  } else {
    if (signedAt.getTime() - now > MAX_SKEW_MS) fail('not-yet-valid', facts);
    if (now > signedAt.getTime() + claim.expires * 1000) fail('expired', { ...facts, expires: claim.expires });
  }

  const names = claim.signedHeaders.split(';');
  const signedNames = new Set(names);
  if (!signedNames.has('host')) fail('host-unsigned', facts);
  const unsigned = Object.keys(req.headers).filter((name) => name.startsWith('x-amz-') && !signedNames.has(name));
  if (unsigned.length > 0) fail('header-unsigned', { ...facts, headers: unsigned });
  const declaredHash = presigned ? UNSIGNED_PAYLOAD : header(req, 'x-amz-content-sha256');
  if (declaredHash === undefined) {
    if (rules.payload === 'declared') fail('payload-hash-missing', facts);
  } else if (!HEX_SHA256.test(declaredHash)) {
    if (declaredHash !== UNSIGNED_PAYLOAD) fail(rules.payload === 'declared' && declaredHash.startsWith('STREAMING-') ? 'payload-streaming' : 'payload-hash-malformed', { ...facts, header: declaredHash });
    if (!rules.unsignedPayload) fail('unsigned-payload-refused', facts);
  }
  const signed = [...signedNames].sort().map((name) => [name, header(req, name) ?? fail('signed-header-missing', { ...facts, header: name })] as const);

  const credentials = (await lookup(accessKeyId!)) ?? fail('unknown-key', { ...facts, accessKeyId });
  return {
    request: req,
    caller: { accessKeyId: accessKeyId!, accountId: credentials.accountId, region: region! },
    rules,
    secretAccessKey: credentials.secretAccessKey,
    scope: { date: scopeDate!, region: region!, service: service! },
    amzDate: claim.amzDate,
    presigned,
    signed,
    signature: claim.signature,
    declaredHash,
  };
}

/**
 * The rest of the check: the signature over the payload. `body` is the request's body where the rules hash it
 * (`payload: 'body'`); with `declared` the declared hash is what the signature covers, and no body is needed.
 */
export function checkSignature(auth: AuthenticatedHeaders, body?: Buffer): Caller {
  let payloadHash = auth.declaredHash ?? '';
  if (auth.rules.payload === 'body') {
    const bodyHash = hash('sha256', body ?? Buffer.alloc(0));
    if (auth.declaredHash !== undefined && auth.declaredHash !== UNSIGNED_PAYLOAD && auth.declaredHash !== bodyHash) fail('payload-mismatch');
    payloadHash = auth.declaredHash ?? bodyHash;
  }
  const { request, scope } = auth;
  const queryAt = request.url.indexOf('?');
  const path = queryAt < 0 ? request.url : request.url.slice(0, queryAt);
  const rawQuery = queryAt < 0 ? '' : request.url.slice(queryAt + 1);
  const canonical = canonicalRequestText({
    method: request.method,
    uri: canonicalUri(path, auth.rules.uri),
    query: rawQuery === '' ? '' : canonicalQuery(queryPairs(rawQuery) ?? [], auth.presigned ? 'X-Amz-Signature' : undefined),
    headers: auth.signed,
    payloadHash,
  });
  const toSign = stringToSign(auth.amzDate, `${scope.date}/${scope.region}/${scope.service}/aws4_request`, canonical);
  const expected = createHmac('sha256', signingKey(auth.secretAccessKey, scope.date, scope.region, scope.service)).update(toSign).digest();
  const provided = Buffer.from(auth.signature, 'hex');
  if (provided.length !== expected.length || !timingSafeEqual(provided, expected)) {
    fail('mismatch', { accessKeyId: auth.caller.accessKeyId, stringToSign: toSign, canonicalRequest: canonical, signature: auth.signature });
  }
  return auth.caller;
}

// ── The SMS endpoint's SigV4 ─────────────────────────────────────────────────────────────────────────────────────

function smsRules(expectedService: string, options: VerifyOptions): SigV4Rules {
  return {
    service: expectedService,
    uri: 'normalized',
    payload: 'body',
    unsignedPayload: (options.payload ?? 'signed') === 'signed-or-unsigned',
    presigned: false,
    sessionTokens: 'ignored',
    regions: options.regions,
  };
}

/** A SigV4Failure in the SMS model's words (spec §2); anything else unchanged. */
function asServiceError(thrown: unknown): unknown {
  if (!(thrown instanceof SigV4Failure)) return thrown;
  const { code, message } = SMS_AUTH_ERRORS[thrown.kind](thrown.facts);
  return new ServiceError(code as ErrorCode, message);
}

/** The SMS endpoint's header checks (authenticateHeaders then verifyPayloadSignature = verifySigV4). */
export async function authenticateHeaders(
  req: Omit<SignedRequest, 'body'>,
  lookup: SecretLookup,
  now: number,
  expectedService = 'sms',
  options: VerifyOptions = {},
): Promise<AuthenticatedHeaders> {
  try {
    return await checkSignedHeaders(req, lookup, now, smsRules(expectedService, options));
  } catch (thrown) {
    throw asServiceError(thrown);
  }
}

/** The rest of the SMS endpoint's check, once the body has been read (it needs no await: no promise per request). */
export function checkPayloadSignature(auth: AuthenticatedHeaders, body: Buffer): Caller {
  try {
    return checkSignature(auth, body);
  } catch (thrown) {
    throw asServiceError(thrown);
  }
}

/** checkPayloadSignature, as a promise. */
export async function verifyPayloadSignature(auth: AuthenticatedHeaders, body: Buffer): Promise<Caller> {
  return checkPayloadSignature(auth, body);
}

/** Checks a request's signature, body included. */
export async function verifySigV4(req: SignedRequest, lookup: SecretLookup, now: number, expectedService = 'sms', options: VerifyOptions = {}): Promise<Caller> {
  return verifyPayloadSignature(await authenticateHeaders(req, lookup, now, expectedService, options), req.body);
}
