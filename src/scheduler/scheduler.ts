/**
 * The scheduler loop. Each tick applies the time-driven steps (expired leases, due runs, job expiry, catalog
 * import timeouts, image retention), then sleeps until the earliest moment with more work — it never spins.
 * State changes committed elsewhere wake it early through the `schedule.changed` event. With time injected,
 * `tick(now)` can be driven directly by tests.
 */
import { coerceError } from '../lib/errors.ts';
import type { Core } from '../core/context.ts';
import { expireJobs, expireLeases, nextWakeAt, settleDueRuns } from '../core/schedulerSteps.ts';
import { expireCatalogImports, nextCatalogDeadline } from '../core/catalog.ts';
import { drainImageDeletions } from '../core/imageRetention.ts';
import type { ImageDeleter } from '../images/types.ts';

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
  #stopped = true;
  #unsubscribe: (() => void) | undefined;
  lastTickAt: number | undefined;
  lastError: Error | undefined;
  /** Metrics (src/observability): ticks so far, and how late (ms) the last timer-driven tick started after it was due. */
  ticks = 0;
  lastTickLagMs: number | undefined;

  constructor(core: Core, images: ImageDeleter) {
    this.#core = core;
    this.#images = images;
  }

  start(): void {
    this.#stopped = false;
    this.#unsubscribe = this.#core.events.subscribe((event) => {
      if (event.type === 'schedule.changed') this.poke();
    });
    this.poke(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe?.();
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running;
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
        wake = await this.tick(this.#core.clock.now());
        this.lastError = undefined;
      } catch (thrown) {
        this.lastError = coerceError(thrown);
        this.#core.log.error({ err: this.lastError }, 'scheduler tick failed; retrying');
        wake = this.#core.clock.now() + 1000;
      } finally {
        this.#running = undefined;
      }
      if (this.#stopped) return;
      if (this.#again) {
        this.#again = false;
        this.#arm(COALESCE_MS);
      } else {
        this.#arm(wake === null ? MAX_SLEEP_MS : Math.max(MIN_RETICK_MS, wake - this.#core.clock.now()));
      }
    })();
  }

  /** One pass over every time-driven rule at `now`; returns when the next one falls due (or null). */
  async tick(now: number): Promise<number | null> {
    this.lastTickAt = now;
    this.ticks++;
    await expireLeases(this.#core, now);
    await settleDueRuns(this.#core, now);
    await expireJobs(this.#core, now);
    await expireCatalogImports(this.#core, now);
    const images = await drainImageDeletions(this.#core, this.#images, now);
    const times = [await nextWakeAt(this.#core, now), await nextCatalogDeadline(this.#core)].filter((t): t is number => t !== null);
    if (images.failed > 0) times.push(now + 2000);
    return times.length ? Math.min(...times) : null;
  }
}
