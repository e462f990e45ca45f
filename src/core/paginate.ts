/**
 * Keyset pagination shared by every list operation: rows are ordered by their insertion sequence, a page
 * asks for one row more than it returns to learn whether another page exists, and the token names the last
 * sequence returned. Tokens therefore never repeat, cost per page does not grow with the table, and a token
 * is bound to its operation and filter by a fingerprint (a mismatched or garbled token is
 * InvalidParameterException).
 */
import { hash } from 'node:crypto';
import { invalidParameter } from '../lib/errors.ts';

export const DEFAULT_PAGE_SIZE = 50;
/**
 * Any larger maxResults is honoured (spec §9.7) but fetched as at most this many rows (the model's integer is
 * 32-bit): SQLite's LIMIT takes a 64-bit integer, and a value such as 1e300 would otherwise fail the query with
 * a 500 that clients retry.
 */
const MAX_FETCH = 2 ** 31 - 1;

export interface PageRequest {
  nextToken?: string;
  maxResults?: number;
}

export interface Cursor {
  /** Sequence of the last row already returned, or undefined on the first page. */
  after: number | undefined;
  limit: number;
  fingerprint: string;
}

export function fingerprintOf(...parts: unknown[]): string {
  return hash('sha256', JSON.stringify(parts), 'base64url').slice(0, 16);
}

export function openCursor(request: PageRequest, fingerprint: string, defaultSize = DEFAULT_PAGE_SIZE): Cursor {
  const requested = request.maxResults ?? defaultSize;
  if (requested < 1) throw invalidParameter(`maxResults must be at least 1; got ${requested}.`);
  const limit = Math.min(requested, MAX_FETCH);
  if (request.nextToken === undefined || request.nextToken === '') return { after: undefined, limit, fingerprint };
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(request.nextToken, 'base64url').toString('utf8'));
  } catch {
    decoded = undefined;
  }
  const token = decoded as { v?: unknown; s?: unknown; f?: unknown } | undefined;
  if (!token || token.v !== 1 || typeof token.s !== 'number' || !Number.isInteger(token.s) || token.f !== fingerprint) {
    throw invalidParameter('The nextToken is not valid for this request.');
  }
  return { after: token.s, limit, fingerprint };
}

/** Cuts the `limit + 1` rows fetched into a page and the token for the next one. */
export function closePage<T extends { seq: number }>(rows: T[], cursor: Cursor): { items: T[]; nextToken?: string } {
  if (rows.length <= cursor.limit) return { items: rows };
  const items = rows.slice(0, cursor.limit);
  const last = items[items.length - 1]!;
  const nextToken = Buffer.from(JSON.stringify({ v: 1, s: last.seq, f: cursor.fingerprint })).toString('base64url');
  return { items, nextToken };
}
