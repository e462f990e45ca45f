/**
 * Hydrating instances in the background (the runner's `running` step, launchSteps.ts): at most one pull per
 * instance in this process, its outcome recorded on the instance (`hydrating` → `hydrated` | `failed`), the
 * instance's exports closed once it no longer reads from them.
 */
import { coerceError } from '../lib/errors.ts';
import { hydrate } from './hydration.ts';
import { changeInstance, findInstance, parsePlan, type InstanceRow } from './instanceRepo.ts';
import type { RunnerDeps } from './runnerDeps.ts';

export class Hydrator {
  readonly #deps: RunnerDeps;
  readonly #closing: AbortSignal;
  readonly #pulls = new Map<string, { promise: Promise<void>; abort: AbortController }>();

  /** `closing` aborts every pull (Ferry stopping: the guests keep running, a restart pulls again). */
  constructor(deps: RunnerDeps, closing: AbortSignal) {
    this.#deps = deps;
    this.#closing = closing;
  }

  /** Starts pulling the image into the instance's disks, once per process; records the outcome. */
  start(row: InstanceRow): void {
    const id = row.instance_id;
    if (this.#pulls.has(id) || row.hydration === 'hydrated') return;
    const abort = new AbortController();
    const signal = AbortSignal.any([abort.signal, this.#closing]);
    const promise = (async () => {
      const { core, virsh, exports } = this.#deps;
      try {
        const current = await findInstance(core, id);
        if (!current || current.state === 'terminating' || current.state === 'terminated' || current.state === 'failed') return;
        if (current.hydration !== 'hydrating') await changeInstance(core, id, current.state, { hydration: 'hydrating', hydration_message: null });
        this.#deps.phases?.report(id, 'hydration started');
        await hydrate(virsh, current.domain_name, parsePlan(current).layout.disks, signal, this.#deps.hydrationBandwidthMiB);
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

  /** Stops the instance's pull, if one runs (it is being stopped or removed). */
  abort(instanceId: string): void {
    this.#pulls.get(instanceId)?.abort.abort();
  }

  /** Resolves when every pull has ended (after `closing` aborted them). */
  async settled(): Promise<void> {
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
