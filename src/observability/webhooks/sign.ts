/**
 * Webhook signatures: `X-Ferry-Signature: sha256=<hex HMAC-SHA256(secret, body)>`, the key being the secret's
 * UTF-8 bytes and the body the exact bytes received. Receivers verify with `verifySignature` (or the few lines in
 * docs/events.md) before parsing.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-ferry-signature';
/** Unix seconds when this attempt was sent (informational: the signed body carries the event's own `time`). */
export const TIMESTAMP_HEADER = 'x-ferry-timestamp';
/** The event's id (the body's `id`), the same on every attempt: receivers deduplicate on it. */
export const EVENT_ID_HEADER = 'x-ferry-event-id';
/** 1 for the first attempt, 2 for the first retry, … */
export const ATTEMPT_HEADER = 'x-ferry-delivery-attempt';

export function signBody(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** True when `header` is the signature of `body` under `secret` (compared in constant time). */
export function verifySignature(secret: string, body: string | Buffer, header: string | string[] | undefined): boolean {
  if (typeof header !== 'string') return false;
  const expected = Buffer.from(signBody(secret, body));
  const given = Buffer.from(header.trim());
  return given.length === expected.length && timingSafeEqual(given, expected);
}
