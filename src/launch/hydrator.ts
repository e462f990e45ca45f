/**
 * Hydrating instances in the background (the runner's `running` step, launchSteps.ts): at most one pull per
 * instance in this process, its outcome recorded on the instance (`hydrating` → `hydrated` | `failed`), the
 * instance's exports closed once it no longer reads from them.
 *
 * A pull waits while a guest of this process is still busy: on its way to its boot (pending, starting or
 * booting), or booted and running the validation scripts of its seed (until each has reported a result). An
 * emulated guest boots and runs its scripts on the host's CPU, and so does a pull (the image store decoding blocks
 * for the NBD export, QEMU copying them), so the guests of a launch group that boot together would otherwise have
 * their boots and validations slowed by the pulls of the first ones up — and a guest by its own pull, between its
 * boot marker and its validation result. Once no guest is busy, the held pulls start; a pull is held at most
 * MAX_HOLD_MS, so a steady stream of launches (or a validation that never reports) cannot keep an instance
 * dependent on the image store for ever.
 */
import { coerceError } from '../lib/errors.ts';
import type { DomainEvents } from './domainEvents.ts';
import { hydrate } from './hydration.ts';
import { changeInstance, findInstance, parsePlan, type InstanceRow } from './instanceRepo.ts';
import type { RunnerDeps } from './runnerDeps.ts';

/** The longest a pull waits for busy guests (a boot under software emulation on a busy host takes minutes). */
export const MAX_HOLD_MS = 120_000;

export class Hydrator {
  readonly #deps: RunnerDeps;
  readonly #closing: AbortSignal;
  readonly #events: DomainEvents | undefined;
  readonly #pulls = new Map<string, { promise: Promise<void>; abort: AbortController }>();
  /** Instances of this process on their way to a boot or running their validations: while there is one, pulls wait. */
  readonly #busy = new Set<string>();
  /** Pulls waiting for the busy guests, each with the timer that starts it after MAX_HOLD_MS anyway. */
  readonly #held = new Map<string, { row: InstanceRow; timer: NodeJS.Timeout }>();

  /**
   * `closing` aborts every pull (Ferry stopping: the guests keep running, a restart pulls again); `events`, when
   * given, tells a pull's end without polling for it (hydration.ts).
   */
  constructor(deps: RunnerDeps, closing: AbortSignal, events?: DomainEvents) {
    this.#deps = deps;
    this.#closing = closing;
    this.#events = events;
    closing.addEventListener('abort', () => {
      for (const id of [...this.#held.keys()]) this.#unhold(id);
    }, { once: true });
  }

  /** The instance is on its way to its boot or running its validations: pulls (its own too) wait for it. */
  busy(instanceId: string): void {
    this.#busy.add(instanceId);
  }

  /** The instance is no longer busy (validated, failed, removed): when it was the last, held pulls start. */
  settled(instanceId: string): void {
    if (!this.#busy.delete(instanceId) || this.#busy.size > 0) return;
    for (const [id, { row }] of [...this.#held]) {
      this.#unhold(id);
      this.#pull(row);
    }
  }

  /** Hydrates the instance now, or once no guest (itself included) is busy (see above); once per process. */
  start(row: InstanceRow): void {
    const id = row.instance_id;
    if (this.#pulls.has(id) || this.#held.has(id) || row.hydration === 'hydrated' || this.#closing.aborted) return;
    if (this.#busy.size === 0) return this.#pull(row);
    const timer = setTimeout(() => {
      this.#unhold(id);
      this.#pull(row);
    }, MAX_HOLD_MS);
    this.#held.set(id, { row, timer });
  }

  #unhold(instanceId: string): void {
    const held = this.#held.get(instanceId);
    if (!held) return;
    clearTimeout(held.timer);
    this.#held.delete(instanceId);
  }

  /** Pulls the image into the instance's disks; records the outcome. */
  #pull(row: InstanceRow): void {
    const id = row.instance_id;
    if (this.#pulls.has(id)) return;
    const abort = new AbortController();
    const signal = AbortSignal.any([abort.signal, this.#closing]);
    const promise = (async () => {
      const { core, virsh, exports } = this.#deps;
      try {
        const current = await findInstance(core, id);
        if (!current || current.state === 'terminating' || current.state === 'terminated' || current.state === 'failed') return;
        if (current.hydration !== 'hydrating') await changeInstance(core, id, current.state, { hydration: 'hydrating', hydration_message: null });
        this.#deps.phases?.report(id, 'hydration started');
        await hydrate(virsh, current.domain_name, parsePlan(current).layout.disks, signal, this.#deps.hydrationBandwidthMiB, this.#events);
        this.#deps.phases?.report(id, 'block jobs done');
        await this.#record(id, { hydration: 'hydrated', hydration_message: null, hydrated_at: core.clock.now() });
        this.#deps.phases?.report(id, 'hydrated');
        await exports.close(id);
        this.#deps.log.info({ instanceId: id }, 'instance hydrated: it no longer reads from the image store');
      } catch (error) {
        if (signal.aborted) return;
        const message = `Hydration failed: ${coerceError(error).message}`;
        this.#deps.log.warn({ instanceId: id, message }, 'hydration failed');
        await this.#record(id, { hydration: 'failed', hydration_message: message }).catch(() => undefined);
      } finally {
        this.#pulls.delete(id);
      }
    })();
    this.#pulls.set(id, { promise, abort });
  }

  /** Stops the instance's pull, running or held (it is being stopped or removed). */
  abort(instanceId: string): void {
    this.#unhold(instanceId);
    this.#pulls.get(instanceId)?.abort.abort();
  }

  /** Resolves when every pull has ended (after `closing` aborted them). */
  async ended(): Promise<void> {
    await Promise.allSettled([...this.#pulls.values()].map((p) => p.promise));
  }

  /** Hydration changes whatever the (live) state is, unless the instance is being removed. */
  async #record(instanceId: string, patch: Partial<InstanceRow>): Promise<void> {
    for (let i = 0; i < 5; i++) {
      const row = await findInstance(this.#deps.core, instanceId);
      if (!row || row.state === 'terminating' || row.state === 'terminated') return;
      if (await changeInstance(this.#deps.core, instanceId, row.state, patch)) return;
    }
  }
}
