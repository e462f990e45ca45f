/**
 * The rules of a leadership lease: one row per role (today only `scheduler`) naming who holds it and until when.
 * A node acts as leader only while it holds an unexpired lease, and stops acting a safety margin before the end it
 * wrote, so that a node whose clock runs a little behind, or whose renewal is slow, has stopped before another node
 * can see the lease as expired and take it. A lease nobody renews (its holder was killed) is free once it ends; a
 * holder that stops cleanly gives it up at once. Pure functions of (lease, candidate, now): the store only
 * compares-and-sets what these rules decide.
 */

export interface Lease {
  holder: string | null;
  /** Milliseconds since the epoch; the lease is over at this instant. */
  expiresAt: number;
  /** Bumped at every change of holder: tells apart two terms of one holder name. */
  term: number;
  /** When the current holder took the lease (unchanged by renewals). */
  acquiredAt: number;
}

export interface LeaseTiming {
  /** How long a written lease lasts: the longest a dead leader delays the next one. */
  ttlMs: number;
  /** How often the holder renews, and a follower looks again. Well below ttlMs, so one slow renewal loses nothing. */
  renewEveryMs: number;
  /** The holder stops acting this long before the end it wrote (clock skew between nodes, a slow round trip). */
  marginMs: number;
}

export const SCHEDULER_LEASE_TIMING: LeaseTiming = { ttlMs: 15_000, renewEveryMs: 5_000, marginMs: 3_000 };

export type LeaseDecision =
  | { kind: 'acquire'; next: Lease }
  | { kind: 'renew'; next: Lease }
  | { kind: 'wait'; holder: string; until: number };

export function checkLeaseTiming(timing: LeaseTiming): void {
  if (!(timing.renewEveryMs > 0 && timing.marginMs >= 0 && timing.renewEveryMs + timing.marginMs < timing.ttlMs)) {
    throw new Error(`a lease must be renewed (every ${timing.renewEveryMs} ms) and given up (${timing.marginMs} ms early) well within its ${timing.ttlMs} ms`);
  }
}

/** A lease is free when nobody holds it or its end has passed. */
export function leaseFree(lease: Lease | undefined, now: number): boolean {
  return !lease || lease.holder === null || lease.expiresAt <= now;
}

/** What `candidate` may do with the lease at `now`: take it (free), extend it (its own), or wait for its end. */
export function decideLease(lease: Lease | undefined, candidate: string, now: number, timing: LeaseTiming): LeaseDecision {
  const expiresAt = now + timing.ttlMs;
  if (lease && lease.holder === candidate && lease.expiresAt > now) {
    return { kind: 'renew', next: { ...lease, expiresAt: Math.max(expiresAt, lease.expiresAt) } };
  }
  if (leaseFree(lease, now)) {
    return { kind: 'acquire', next: { holder: candidate, expiresAt, term: (lease?.term ?? 0) + 1, acquiredAt: now } };
  }
  return { kind: 'wait', holder: lease!.holder!, until: lease!.expiresAt };
}

/** Whether `holder` may act as leader at `now` under the lease it last wrote. */
export function actsAsLeader(lease: Lease | undefined, holder: string, now: number, timing: LeaseTiming): boolean {
  return !!lease && lease.holder === holder && now < lease.expiresAt - timing.marginMs;
}

/** The lease after its holder gave it up (a clean stop): free at once, the term kept so the next holder's is new. */
export function releasedLease(lease: Lease, now: number): Lease {
  return { ...lease, holder: null, expiresAt: now };
}
