/**
 * The webhook outbox's rules, as pure functions: when a failed delivery is tried again, which pending events may go
 * now (per URL, one event of an ordering key at a time, oldest first), and when a node's claim on an event lapses.
 * The store (store/outbox/) and the dispatcher (observability/webhooks/) apply them; nothing here touches I/O.
 */

export interface RetryPolicy {
  /** The first retry's delay; each next one doubles. */
  retryBaseMs: number;
  /** The longest delay between attempts. */
  retryMaxMs: number;
  /** Attempts before an event is dead-lettered. */
  maxAttempts: number;
}

/** The delay before attempt `attempts + 1`, after `attempts` failures (exponential, capped, ±20 % jitter). */
export function backoffMs(attempts: number, policy: Pick<RetryPolicy, 'retryBaseMs' | 'retryMaxMs'>, random: () => number = Math.random): number {
  const exponential = Math.min(policy.retryMaxMs, policy.retryBaseMs * 2 ** Math.min(Math.max(attempts, 1) - 1, 30));
  // Jitter, so receivers that come back are not hit by every waiting event at the same instant.
  return Math.round(Math.min(policy.retryMaxMs, exponential * (0.8 + 0.4 * random())));
}

export type FailureVerdict = { kind: 'dead'; attempts: number } | { kind: 'retry'; attempts: number; nextAttemptAt: number };

/**
 * What a failed attempt leads to: dead-lettered once `maxAttempts` are spent, else a retry after the backoff, or
 * later when the receiver asked for it (Retry-After, still capped by retryMaxMs).
 */
export function failureVerdict(previousAttempts: number, now: number, policy: RetryPolicy, retryAfterMs?: number, random: () => number = Math.random): FailureVerdict {
  const attempts = previousAttempts + 1;
  if (attempts >= policy.maxAttempts) return { kind: 'dead', attempts };
  let delay = backoffMs(attempts, policy, random);
  if (retryAfterMs !== undefined) delay = Math.max(delay, Math.min(policy.retryMaxMs, retryAfterMs));
  return { kind: 'retry', attempts, nextAttemptAt: now + delay };
}

/** A pending outbox event as the claim rule sees it. */
export interface PendingEvent {
  seq: number;
  url: string;
  orderingKey: string;
  nextAttemptAt: number;
  /** Until when a node holds it (null: nobody ever claimed it, or its claim was released). */
  leaseUntil: number | null;
}

/** A claim lapses at its lease's end: the node that held it is presumed gone, and another may take the event. */
export const isLeased = (event: Pick<PendingEvent, 'leaseUntil'>, now: number): boolean => event.leaseUntil !== null && event.leaseUntil > now;

export interface ClaimPlan {
  /** The events to claim now, in seq order. */
  claimable: number[];
  /** The earliest time a waiting head may become claimable: its retry is due or its lease lapses (Infinity: none). */
  wakeAt: number;
}

/**
 * Which of `pending` (ordered by seq) may be claimed now. Only the oldest pending event of each (URL, ordering
 * key) may go: the rest wait behind it, so receivers see a job's, an app's or an instance's changes in commit order
 * even when its head is being retried or is held by another node.
 */
export function planClaims(pending: readonly PendingEvent[], now: number, limit = Infinity): ClaimPlan {
  const heads = new Set<string>();
  const claimable: number[] = [];
  let wakeAt = Infinity;
  for (const event of pending) {
    const key = `${event.url}\u0000${event.orderingKey}`;
    if (heads.has(key)) continue;
    heads.add(key);
    if (isLeased(event, now)) {
      // Held elsewhere: look again when the lease lapses, in case its holder died.
      wakeAt = Math.min(wakeAt, event.leaseUntil!);
      continue;
    }
    if (event.nextAttemptAt > now) {
      wakeAt = Math.min(wakeAt, event.nextAttemptAt);
      continue;
    }
    if (claimable.length < limit) claimable.push(event.seq);
  }
  return { claimable, wakeAt };
}
