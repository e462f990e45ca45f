/**
 * SigV4 verification: recompute the signature of the received request with the caller's secret and compare
 * in constant time. Canonicalisation is delegated to @smithy/signature-v4 (the signer the AWS SDK itself
 * uses), with the traps noted in DESIGN.md handled here: only signed headers are passed, the payload hash
 * is computed from the raw body (never trusted from `x-amz-content-sha256`), and the date comes from the
 * request. As AWS, the signature must cover `host` and every `x-amz-*` header sent, and the scope must name a
 * valid region (./region.ts); whether an UNSIGNED-PAYLOAD is acceptable is the caller's policy (`payload`).
 *
 * The check runs in two steps so that a server can refuse a request before reading its body: the headers
 * (`authenticateHeaders`), then the body (`verifyPayloadSignature`); `verifySigV4` does both.
 *
 * Every SMS request is a POST to `/` without a query string. For those the signature is computed here from the
 * same canonical headers (@smithy's getCanonicalHeaders) with node:crypto and a cached signing key: the full
 * signer (request cloning, its hash classes, path escaping) was the largest fixed cost of a request. Anything
 * else goes through the signer itself; test/unit/sigv4.test.ts holds the two to the same answers.
 */
import { createHmac, createSecretKey, hash, timingSafeEqual, type KeyObject } from 'node:crypto';
import { SignatureV4, getCanonicalHeaders } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';
import { ServiceError } from '../lib/errors.ts';
import { MINUTE } from '../lib/clock.ts';
import { isAllowedRegion, quotedRegion } from './region.ts';
import type { SecretLookup } from '../domain/credentials.ts';

const AUTH_PATTERN =
  /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/;

const MAX_SKEW_MS = 15 * MINUTE;
const Sha256 = Hash.bind(null, 'sha256');

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

export type { SecretLookup };

/**
 * One signer per (key, secret, region, service): SignatureV4 caches the derived signing key per day, so reusing
 * it saves four HMACs on every request.
 */
const signers = new Map<string, SignatureV4>();
const MAX_SIGNERS = 1000;

function signerFor(accessKeyId: string, secretAccessKey: string, region: string, service: string): SignatureV4 {
  const cacheKey = `${accessKeyId}\u0000${secretAccessKey}\u0000${region}\u0000${service}`;
  let signer = signers.get(cacheKey);
  if (!signer) {
    if (signers.size >= MAX_SIGNERS) signers.clear();
    signer = new SignatureV4({ credentials: { accessKeyId, secretAccessKey }, region, service, sha256: Sha256, applyChecksum: false });
    signers.set(cacheKey, signer);
  }
  return signer;
}

function header(req: Pick<SignedRequest, 'headers'>, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  return new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`);
}

/**
 * What the verifier does with `x-amz-content-sha256: UNSIGNED-PAYLOAD`. `signed` (the default, as SMS and every
 * JSON service): refused, so the signature always covers the body. `signed-or-unsigned`: accepted and signed as
 * the literal `UNSIGNED-PAYLOAD`, as S3 allows over TLS; a hex hash, when sent, must still match the body.
 */
export type PayloadPolicy = 'signed' | 'signed-or-unsigned';

export interface VerifyOptions {
  /** Always canonicalise with the full signer (tests compare it with the root-path computation). */
  fullSigner?: boolean;
  /** Default `signed`. */
  payload?: PayloadPolicy;
  /** Regions a credential may be scoped to (FERRY_REGIONS); any name of AWS's region pattern when unset. */
  regions?: ReadonlySet<string>;
}

const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

/**
 * A request whose headers passed every check that needs no body: a well-formed signature by a known key, in
 * scope and in time, over the headers AWS requires. Reading the body can wait until then; `verifyPayloadSignature`
 * finishes the job.
 */
export interface AuthenticatedHeaders {
  readonly request: Omit<SignedRequest, 'body'>;
  readonly caller: Caller;
  readonly secretAccessKey: string;
  readonly scopeDate: string;
  readonly service: string;
  readonly amzDate: string;
  readonly signingDate: Date;
  /** Signed header names as listed, and their values. */
  readonly names: readonly string[];
  readonly headers: Readonly<Record<string, string>>;
  readonly signature: string;
  /** The x-amz-content-sha256 value, when sent. */
  readonly claimedHash: string | undefined;
  readonly fullSigner: boolean;
}

/** Checks a request's signature, body included: `authenticateHeaders` then `verifyPayloadSignature`. */
export async function verifySigV4(
  req: SignedRequest,
  lookup: SecretLookup,
  now: number,
  expectedService = 'sms',
  options: VerifyOptions = {},
): Promise<Caller> {
  return verifyPayloadSignature(await authenticateHeaders(req, lookup, now, expectedService, options), req.body);
}

/**
 * Every check that needs only the headers, so that an unsigned or badly signed request is refused before its body
 * is read. The rules AWS applies beyond the arithmetic: the scope names this service and a valid region, `host`
 * and every `x-amz-*` header sent are signed (so neither the target nor the payload hash can be swapped), and the
 * payload is signed unless the policy allows otherwise.
 */
export async function authenticateHeaders(
  req: Omit<SignedRequest, 'body'>,
  lookup: SecretLookup,
  now: number,
  expectedService = 'sms',
  options: VerifyOptions = {},
): Promise<AuthenticatedHeaders> {
  const authorization = header(req, 'authorization');
  if (!authorization) {
    throw new ServiceError('MissingAuthenticationTokenException', 'Missing Authentication Token: the request is not signed with SigV4.');
  }
  const m = AUTH_PATTERN.exec(authorization.trim());
  if (!m) {
    throw new ServiceError('IncompleteSignatureException', 'The Authorization header is not a well-formed AWS4-HMAC-SHA256 signature.');
  }
  const [, accessKeyId, scopeDate, region, service, signedHeaderList, signature] = m as unknown as string[];
  if (service !== expectedService) {
    throw new ServiceError('InvalidSignatureException', `Credential should be scoped to service '${expectedService}', not '${service}'.`);
  }
  if (!isAllowedRegion(region!, options.regions)) {
    throw new ServiceError('InvalidSignatureException', `Credential should be scoped to a valid region, not '${quotedRegion(region!)}'.`);
  }
  const amzDate = header(req, 'x-amz-date');
  const signingDate = amzDate ? parseAmzDate(amzDate) : undefined;
  if (!signingDate) {
    throw new ServiceError('IncompleteSignatureException', 'The request must carry a valid X-Amz-Date header (yyyyMMddTHHmmssZ).');
  }
  if (!amzDate!.startsWith(scopeDate!)) {
    throw new ServiceError('InvalidSignatureException', 'The credential scope date does not match X-Amz-Date.');
  }
  if (Math.abs(now - signingDate.getTime()) > MAX_SKEW_MS) {
    throw new ServiceError(
      'InvalidSignatureException',
      `Signature expired: ${amzDate} is more than 15 minutes away from the server time ${new Date(now).toISOString()}.`,
    );
  }

  const names = signedHeaderList!.split(';');
  const signedNames = new Set(names);
  if (!signedNames.has('host')) {
    throw new ServiceError('IncompleteSignatureException', "'Host' must be a 'SignedHeader' in the AWS Authorization.");
  }
  for (const name in req.headers) {
    if (name.startsWith('x-amz-') && !signedNames.has(name)) {
      throw new ServiceError('IncompleteSignatureException', `Header ${name} is present in the request but not signed: every x-amz-* header must be a 'SignedHeader'.`);
    }
  }
  const headers: Record<string, string> = {};
  for (const name of names) {
    const value = header(req, name);
    if (value === undefined) throw new ServiceError('InvalidSignatureException', `Signed header ${name} is missing from the request.`);
    headers[name] = value;
  }
  const claimedHash = headers['x-amz-content-sha256'];
  if (claimedHash !== undefined && !/^[0-9a-f]{64}$/.test(claimedHash)) {
    if (claimedHash !== UNSIGNED_PAYLOAD) {
      throw new ServiceError('InvalidSignatureException', 'The x-amz-content-sha256 header must be the hex SHA-256 of the request body.');
    }
    if ((options.payload ?? 'signed') === 'signed') {
      throw new ServiceError('InvalidSignatureException', 'This service requires a signed payload: x-amz-content-sha256 UNSIGNED-PAYLOAD is not accepted.');
    }
  }

  const credentials = await lookup(accessKeyId!);
  if (!credentials) {
    throw new ServiceError('UnrecognizedClientException', 'The security token included in the request is invalid: unknown access key.');
  }
  return {
    request: req,
    caller: { accessKeyId: accessKeyId!, accountId: credentials.accountId, region: region! },
    secretAccessKey: credentials.secretAccessKey,
    scopeDate: scopeDate!,
    service: service!,
    amzDate: amzDate!,
    signingDate,
    names,
    headers,
    signature: signature!,
    claimedHash,
    fullSigner: options.fullSigner === true,
  };
}

/** The rest of the check, once the body has been read: the payload hash and the signature itself. */
export async function verifyPayloadSignature(auth: AuthenticatedHeaders, body: Buffer): Promise<Caller> {
  const bodyHash = hash('sha256', body);
  if (auth.claimedHash !== undefined && auth.claimedHash !== UNSIGNED_PAYLOAD && auth.claimedHash !== bodyHash) {
    throw new ServiceError('InvalidSignatureException', 'The x-amz-content-sha256 header does not match the request body.');
  }
  const req = auth.request;
  const { caller } = auth;
  const [path, query = ''] = req.url.split('?', 2);
  const expected =
    path === '/' && query === '' && !auth.fullSigner
      ? rootPathSignature(req.method, auth.headers, auth.amzDate, auth.claimedHash ?? bodyHash, {
          secret: auth.secretAccessKey,
          scopeDate: auth.scopeDate,
          region: caller.region,
          service: auth.service,
        })
      : await signerSignature({ ...req, body }, path!, query, auth.headers, auth.names, auth.signingDate, {
          accessKeyId: caller.accessKeyId,
          secret: auth.secretAccessKey,
          region: caller.region,
          service: auth.service,
        });
  if (expected.length !== 64 || !timingSafeEqual(Buffer.from(expected), Buffer.from(auth.signature))) {
    throw new ServiceError(
      'InvalidSignatureException',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    );
  }
  return caller;
}

/**
 * Derived signing keys per (secret, day, region, service), as the SDK's signer caches them; kept as KeyObjects
 * because an HMAC keyed with a Buffer costs several times more (the key is imported on every call).
 */
const signingKeys = new Map<string, KeyObject>();

function signingKey(secret: string, scopeDate: string, region: string, service: string): KeyObject {
  const cacheKey = `${secret}\u0000${scopeDate}\u0000${region}\u0000${service}`;
  let key = signingKeys.get(cacheKey);
  if (!key) {
    const dateKey = createHmac('sha256', `AWS4${secret}`).update(scopeDate).digest();
    const regionKey = createHmac('sha256', dateKey).update(region).digest();
    const serviceKey = createHmac('sha256', regionKey).update(service).digest();
    key = createSecretKey(createHmac('sha256', serviceKey).update('aws4_request').digest());
    if (signingKeys.size >= MAX_SIGNERS) signingKeys.clear();
    signingKeys.set(cacheKey, key);
  }
  return key;
}

/** The signature of a request to `/` with no query string, canonicalised exactly as SignatureV4.sign does. */
function rootPathSignature(
  method: string,
  signed: Record<string, string>,
  amzDate: string,
  payloadHash: string,
  scope: { secret: string; scopeDate: string; region: string; service: string },
): string {
  // The signer drops the headers it generates itself (authorization, date, x-amz-date), then sets x-amz-date.
  const headers: Record<string, string> = {};
  for (const name in signed) if (name !== 'authorization' && name !== 'date' && name !== 'x-amz-date') headers[name] = signed[name]!;
  headers['x-amz-date'] = amzDate;
  const canonical = getCanonicalHeaders({ headers } as Parameters<typeof getCanonicalHeaders>[0], undefined, new Set(Object.keys(signed)));
  const names = Object.keys(canonical).sort();
  let headerLines = '';
  for (const name of names) headerLines += `${name}:${canonical[name]}\n`;
  const canonicalRequest = `${method}\n/\n\n${headerLines}\n${names.join(';')}\n${payloadHash}`;
  const credentialScope = `${scope.scopeDate}/${scope.region}/${scope.service}/aws4_request`;
  const stringToSign = `AWS4-HMAC-SHA256\n${amzDate}\n${credentialScope}\n${hash('sha256', canonicalRequest)}`;
  return createHmac('sha256', signingKey(scope.secret, scope.scopeDate, scope.region, scope.service)).update(stringToSign).digest('hex');
}

async function signerSignature(
  req: SignedRequest,
  path: string,
  query: string,
  headers: Record<string, string>,
  names: readonly string[],
  signingDate: Date,
  who: { accessKeyId: string; secret: string; region: string; service: string },
): Promise<string> {
  const signer = signerFor(who.accessKeyId, who.secret, who.region, who.service);
  const signed = await signer.sign(
    {
      method: req.method,
      protocol: 'http:',
      hostname: headers['host'] ?? '',
      path,
      query: Object.fromEntries(new URLSearchParams(query)),
      headers,
      body: req.body,
    },
    { signingDate, signableHeaders: new Set(names) },
  );
  return /Signature=([0-9a-f]{64})/.exec(String(signed.headers['authorization']))?.[1] ?? '';
}
