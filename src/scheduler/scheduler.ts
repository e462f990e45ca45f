/**
 * The scheduler loop. Each tick applies the time-driven steps (expired leases, due runs, job expiry, catalog
 * import timeouts, image retention), then sleeps until the earliest moment with more work — it never spins.
 * State changes committed elsewhere wake it early through the `schedule.changed` event. With time injected,
 * `tick(now)` can be driven directly by tests.
 *
 * On a store shared by several nodes, only the holder of the scheduler lease (core/leadership.ts) applies the
 * steps; the others tick only to look at the lease, and take it over once a dead leader's lease has run out. The
 * leader also ticks at least once per renewal period: changes committed on other nodes do not wake it (their events
 * stay in their process), so it finds them in the store at its next tick.
 */
import { coerceError } from '../lib/errors.ts';
import type { Core } from '../core/context.ts';
import { expireJobs, expireLeases, nextWakeAt, settleDueRuns } from '../core/schedulerSteps.ts';
import { expireCatalogImports, nextCatalogDeadline } from '../core/catalog.ts';
import { drainImageDeletions } from '../core/imageRetention.ts';
import type { ImageDeleter } from '../images/types.ts';
import type { Leadership } from '../core/leadership.ts';

/** Upper bound on one sleep, so a wall-clock jump (suspend, NTP step) is noticed within this time. */
const MAX_SLEEP_MS = 60_000;
/** Changes arriving in a burst are handled in one tick. */
const COALESCE_MS = 10;
/** Floor for the sleep after a tick, so that no rule that keeps reporting work "due now" can make the loop spin. */
const MIN_RETICK_MS = 200;

export class Scheduler {
  readonly #core: Core;
  readonly #images: ImageDeleter;
  #timer: NodeJS.Timeout | undefined;
  /** Real-time deadline of the armed timer, so a poke only ever brings a tick closer, never postpones it. */
  #timerDue = Infinity;
  #running: Promise<void> | undefined;
  #again = false;
  /** A change during the running tick needs a tick by this time (clock time; Infinity: none). */
  #againAt = Infinity;
  #stopped = true;
  #unsubscribe: (() => void) | undefined;
  lastTickAt: number | undefined;
  lastError: Error | undefined;
  /** Metrics (src/observability): ticks so far, and how late (ms) the last timer-driven tick started after it was due. */
  ticks = 0;
  lastTickLagMs: number | undefined;

  readonly #leadership: Leadership | undefined;
  /** Whether this node applied the steps at its last tick (always, without a lease: a store of its own). */
  leading: boolean;

  constructor(core: Core, images: ImageDeleter, leadership?: Leadership) {
    this.#core = core;
    this.#images = images;
    this.#leadership = leadership;
    this.leading = !leadership;
  }

  /** The scheduler lease this node competes for, if its store is shared by nodes. */
  get leadership(): Leadership | undefined {
    return this.#leadership;
  }

  start(): void {
    this.#stopped = false;
    this.#unsubscribe = this.#core.events.subscribe((event) => {
      if (event.type === 'schedule.changed') {
        if (event.notBefore === undefined) this.poke();
        else this.pokeAt(event.notBefore);
      }
    });
    this.poke(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe?.();
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running;
    if (this.#leadership) {
      this.leading = false;
      await this.#leadership.release(this.#core.clock.now()).catch((thrown: unknown) => this.#core.log.warn({ err: coerceError(thrown).message }, 'could not give up the scheduler lease; it runs out by itself'));
    }
  }

  /** Ask for a tick soon. */
  poke(delay = COALESCE_MS): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#arm(delay);
  }

  /** Ask for a tick by `time` (clock time): sooner only if nothing is due before it anyway. */
  pokeAt(time: number): void {
    if (this.#stopped) return;
    if (this.#running) {
      // The running tick may have read the schedule before this change committed: look again by `time`.
      this.#againAt = Math.min(this.#againAt, time);
      return;
    }
    this.#arm(Math.max(COALESCE_MS, time - this.#core.clock.now()));
  }

  #arm(delay: number): void {
    const wait = Math.max(0, Math.min(delay, MAX_SLEEP_MS));
    const due = Date.now() + wait;
    // Coalesce, don't debounce: a stream of changes must not keep pushing the tick into the future.
    if (this.#timer && this.#timerDue <= due) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerDue = due;
    this.#timer = setTimeout(() => this.#runTick(), wait);
    this.#timer.unref?.();
  }

  #runTick(): void {
    this.lastTickLagMs = Math.max(0, Date.now() - this.#timerDue);
    this.#timer = undefined;
    this.#timerDue = Infinity;
    this.#running = (async () => {
      let wake: number | null = null;
      try {
        const now = this.#core.clock.now();
        wake = await this.tick(now);
        // A leader renews its lease, a follower looks whether it is free, at least this often.
        if (this.#leadership) wake = Math.min(wake ?? Infinity, now + this.#leadership.timing.renewEveryMs);
        this.lastError = undefined;
      } catch (thrown) {
        this.lastError = coerceError(thrown);
        this.#core.log.error({ err: this.lastError }, 'scheduler tick failed; retrying');
        wake = this.#core.clock.now() + 1000;
      } finally {
        this.#running = undefined;
      }
      if (this.#stopped) return;
      const againAt = this.#againAt;
      this.#againAt = Infinity;
      if (this.#again) {
        this.#again = false;
        this.#arm(COALESCE_MS);
      } else {
        const now = this.#core.clock.now();
        const next = wake === null ? MAX_SLEEP_MS : Math.max(MIN_RETICK_MS, wake - now);
        this.#arm(Math.min(next, Math.max(COALESCE_MS, againAt - now)));
      }
    })();
  }

  /** One pass over every time-driven rule at `now`; returns when the next one falls due (or null). */
  async tick(now: number): Promise<number | null> {
    this.lastTickAt = now;
    this.ticks++;
    const lease = this.#leadership;
    if (lease) {
      const was = this.leading;
      this.leading = await lease.refresh(now);
      if (this.leading !== was) this.#core.log.info({ holder: lease.holder, term: lease.lastSeen()?.term }, this.leading ? 'this node now leads the scheduler' : 'this node no longer leads the scheduler');
      if (!this.leading) return null; // nothing for this node; the loop looks at the lease again (#runTick)
    }
    // A leader that lost its lease mid-tick (a stall longer than the lease) stops before the next step.
    const steps = [expireLeases, settleDueRuns, expireJobs, expireCatalogImports];
    for (const step of steps) {
      if (!this.#stillLeading()) return now;
      await step(this.#core, now);
    }
    if (!this.#stillLeading()) return now;
    const images = await drainImageDeletions(this.#core, this.#images, now);
    const times = [await nextWakeAt(this.#core, now), await nextCatalogDeadline(this.#core)].filter((t): t is number => t !== null);
    if (images.failed > 0) times.push(now + 2000);
    return times.length ? Math.min(...times) : null;
  }

  #stillLeading(): boolean {
    if (!this.#leadership) return true;
    this.leading = this.#leadership.leads(this.#core.clock.now());
    return this.leading;
  }
}
