/**
 * SigV4's canonical request, as small pure functions that follow the spec (and @smithy/signature-v4, the signer
 * the AWS SDK uses, which test/unit/sigv4.test.ts holds them to): the canonical URI, query string and headers, the
 * string to sign, and the derived signing key.
 */
import { createHmac, createSecretKey, hash, type KeyObject } from 'node:crypto';

export const ALGORITHM = 'AWS4-HMAC-SHA256';
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

/** RFC 3986 percent-encoding of everything but unreserved characters, as SigV4 encodes URI parts. */
export function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * How the path becomes the canonical URI. `normalized` (every AWS service but S3): `.` and `..` segments resolved,
 * empty segments dropped, then each character percent-encoded once more. `as-sent` (S3): the path exactly as
 * received — object keys may hold `../`, `//` and anything else, and clients sign them so.
 */
export type UriMode = 'normalized' | 'as-sent';

export function canonicalUri(path: string, mode: UriMode): string {
  // Every SMS request's path: nothing to resolve or encode.
  if (mode === 'as-sent' || path === '/') return path;
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const normalized = `${path.startsWith('/') ? '/' : ''}${segments.join('/')}${segments.length > 0 && path.endsWith('/') ? '/' : ''}`;
  return uriEncode(normalized).replace(/%2F/g, '/');
}

/** A percent-encoded URI part; undefined when it is not valid percent-encoded UTF-8. */
export function decodeComponent(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** The query's name/value pairs as sent, decoded (a name without `=` has the value ''); undefined if one does not decode. */
export function queryPairs(rawQuery: string): [string, string][] | undefined {
  const pairs: [string, string][] = [];
  for (const pair of rawQuery.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = decodeComponent(eq < 0 ? pair : pair.slice(0, eq));
    const value = decodeComponent(eq < 0 ? '' : pair.slice(eq + 1));
    if (name === undefined || value === undefined) return undefined;
    pairs.push([name, value]);
  }
  return pairs;
}

/** Every parameter re-encoded and sorted by name, then value; `omit` (a presigned URL's own signature) left out. */
export function canonicalQuery(pairs: readonly [string, string][], omit?: string): string {
  const encoded = pairs.filter(([name]) => name !== omit).map(([name, value]) => [uriEncode(name), uriEncode(value)] as const);
  encoded.sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return encoded.map(([name, value]) => `${name}=${value}`).join('&');
}

const NOT_CANONICAL = /[\r\n\t]| {2}|^ | $/;

/** A header value as SigV4 signs it: line breaks as spaces, runs of spaces and tabs as one space, trimmed. */
export function canonicalHeaderValue(value: string): string {
  // Most values (every header an SDK sends) are canonical already: one test instead of three replaces.
  if (!NOT_CANONICAL.test(value)) return value;
  return value.replace(/[\r\n]/g, ' ').replace(/[ \t]+/g, ' ').replace(/^ | $/g, '');
}

export interface CanonicalRequest {
  method: string;
  uri: string;
  query: string;
  /** The signed headers' names, lower case, sorted, and their values as sent. */
  headers: readonly (readonly [string, string])[];
  payloadHash: string;
}

export function canonicalRequestText(request: CanonicalRequest): string {
  let lines = '';
  for (const [name, value] of request.headers) lines += `${name}:${canonicalHeaderValue(value)}\n`;
  const names = request.headers.map(([name]) => name).join(';');
  return `${request.method}\n${request.uri}\n${request.query}\n${lines}\n${names}\n${request.payloadHash}`;
}

export function stringToSign(amzDate: string, scope: string, canonicalRequest: string): string {
  return `${ALGORITHM}\n${amzDate}\n${scope}\n${hash('sha256', canonicalRequest)}`;
}

/**
 * Derived signing keys per (secret, day, region, service), as the SDKs cache them; kept as KeyObjects because an
 * HMAC keyed with a Buffer costs several times more (the key is imported on every call).
 */
const signingKeys = new Map<string, KeyObject>();
const MAX_SIGNING_KEYS = 1000;

export function signingKey(secret: string, scopeDate: string, region: string, service: string): KeyObject {
  const cacheKey = `${secret}\u0000${scopeDate}\u0000${region}\u0000${service}`;
  let key = signingKeys.get(cacheKey);
  if (!key) {
    const dateKey = createHmac('sha256', `AWS4${secret}`).update(scopeDate).digest();
    const regionKey = createHmac('sha256', dateKey).update(region).digest();
    const serviceKey = createHmac('sha256', regionKey).update(service).digest();
    key = createSecretKey(createHmac('sha256', serviceKey).update('aws4_request').digest());
    if (signingKeys.size >= MAX_SIGNING_KEYS) signingKeys.clear();
    signingKeys.set(cacheKey, key);
  }
  return key;
}

/** `yyyyMMddTHHmmssZ`, or undefined. */
export function parseAmzDate(value: string): Date | undefined {
  // Requests signed in the same second share the answer (a Date is never changed by its readers).
  if (value === lastAmzDate.value) return lastAmzDate.date;
  const date = parseAmzDateAnew(value);
  lastAmzDate = { value, date };
  return date;
}

let lastAmzDate: { value: string; date: Date | undefined } = { value: '', date: undefined };

function parseAmzDateAnew(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  const date = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}
