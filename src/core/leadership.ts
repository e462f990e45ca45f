/**
 * A node's side of a leadership lease (domain/leadership.ts over store/leases): takes the lease when it is free,
 * renews it while held, and says whether this node may act as leader at a given moment. Each process is its own
 * holder (node id plus a random part), so a restarted node is a new holder: it waits for its previous life's lease
 * to run out instead of acting beside a process it cannot prove dead.
 */
import { randomBytes } from 'node:crypto';
import { actsAsLeader, checkLeaseTiming, decideLease, releasedLease, type Lease, type LeaseTiming } from '../domain/leadership.ts';
import type { Executor } from '../store/executor.ts';
import * as leases from '../store/leases/index.ts';

export interface Leadership {
  /** Who this node is in the lease row. */
  readonly holder: string;
  readonly timing: LeaseTiming;
  /** Takes or renews the lease when the rules allow; whether this node leads at `now`. */
  refresh(now: number): Promise<boolean>;
  /** Whether this node may act as leader at `now` (no database round trip). */
  leads(now: number): boolean;
  /** The lease as last read or written: who leads, until when, in which term. */
  lastSeen(): Lease | undefined;
  /** Gives the lease up (a clean stop), so another node takes over without waiting for its end. */
  release(now: number): Promise<void>;
}

export function newLeaseHolder(nodeId: string): string {
  return `${nodeId}/${randomBytes(4).toString('hex')}`;
}

export class LeaseKeeper implements Leadership {
  readonly holder: string;
  readonly timing: LeaseTiming;
  readonly #db: Executor;
  readonly #name: string;
  /** The lease this node wrote last, while it is this node's. */
  #held: Lease | undefined;
  #seen: Lease | undefined;

  constructor(db: Executor, name: string, holder: string, timing: LeaseTiming) {
    checkLeaseTiming(timing);
    this.#db = db;
    this.#name = name;
    this.holder = holder;
    this.timing = timing;
  }

  async refresh(now: number): Promise<boolean> {
    const current = await leases.read(this.#db, this.#name);
    const decision = decideLease(current, this.holder, now, this.timing);
    if (decision.kind === 'wait') {
      this.#held = undefined;
      this.#seen = current;
      return false;
    }
    const written = await leases.compareAndSet(this.#db, this.#name, current, decision.next);
    // Lost the race: another node wrote first; what it wrote is read at the next refresh.
    this.#held = written ? decision.next : undefined;
    this.#seen = written ? decision.next : current;
    return this.leads(now);
  }

  leads(now: number): boolean {
    return actsAsLeader(this.#held, this.holder, now, this.timing);
  }

  lastSeen(): Lease | undefined {
    return this.#seen;
  }

  async release(now: number): Promise<void> {
    const held = this.#held;
    this.#held = undefined;
    if (!held) return;
    // Only if the row is still this node's last write: a lease that ran out and was taken is not ours to free.
    if (await leases.compareAndSet(this.#db, this.#name, held, releasedLease(held, now))) this.#seen = releasedLease(held, now);
  }
}
