/**
 * SigV4 verification: recompute the signature of the received request with the caller's secret and compare
 * in constant time. Canonicalisation is delegated to @smithy/signature-v4 (the signer the AWS SDK itself
 * uses), with the traps noted in DESIGN.md handled here: only signed headers are passed, the payload hash
 * is computed from the raw body (never trusted from `x-amz-content-sha256`), and the date comes from the
 * request.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';
import { ServiceError } from '../lib/errors.ts';
import { MINUTE } from '../lib/clock.ts';

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

export interface SecretLookup {
  (accessKeyId: string): Promise<{ secretAccessKey: string; accountId: string } | undefined>;
}

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

function header(req: SignedRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  return new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`);
}

export async function verifySigV4(
  req: SignedRequest,
  lookup: SecretLookup,
  now: number,
  expectedService = 'sms',
): Promise<Caller> {
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
  const credentials = await lookup(accessKeyId!);
  if (!credentials) {
    throw new ServiceError('UnrecognizedClientException', 'The security token included in the request is invalid: unknown access key.');
  }

  const names = signedHeaderList!.split(';');
  const headers: Record<string, string> = {};
  for (const name of names) {
    const value = header(req, name);
    if (value === undefined) throw new ServiceError('InvalidSignatureException', `Signed header ${name} is missing from the request.`);
    headers[name] = value;
  }
  const bodyHash = createHash('sha256').update(req.body).digest('hex');
  const claimedHash = headers['x-amz-content-sha256'];
  if (claimedHash !== undefined && claimedHash !== 'UNSIGNED-PAYLOAD' && claimedHash !== bodyHash) {
    throw new ServiceError('InvalidSignatureException', 'The x-amz-content-sha256 header does not match the request body.');
  }

  const [path, query = ''] = req.url.split('?', 2);
  const signer = signerFor(accessKeyId!, credentials.secretAccessKey, region!, service!);
  const signed = await signer.sign(
    {
      method: req.method,
      protocol: 'http:',
      hostname: headers['host'] ?? '',
      path: path!,
      query: Object.fromEntries(new URLSearchParams(query)),
      headers,
      body: req.body,
    },
    { signingDate, signableHeaders: new Set(names) },
  );
  const expected = /Signature=([0-9a-f]{64})/.exec(String(signed.headers['authorization']))?.[1] ?? '';
  if (expected.length !== 64 || !timingSafeEqual(Buffer.from(expected), Buffer.from(signature!))) {
    throw new ServiceError(
      'InvalidSignatureException',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    );
  }
  return { accessKeyId: accessKeyId!, accountId: credentials.accountId, region: region! };
}
