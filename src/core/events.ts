/**
 * Typed state-change events, published after the change has committed. The scheduler listens to wake up
 * early; metrics and webhooks (a later issue) subscribe here too.
 */
export type FerryEvent =
  | { type: 'job.state'; tenant: TenantRef; replicationJobId: string; state: string; previousState: string | null; statusMessage?: string | null }
  | { type: 'run.state'; tenant: TenantRef; replicationJobId: string; replicationRunId: string; runType: string; state: string; statusMessage?: string | null }
  | { type: 'run.progress'; tenant: TenantRef; replicationJobId: string; replicationRunId: string; stage: string; stageProgress: string }
  | { type: 'catalog.state'; tenant: TenantRef; status: string }
  // Applications (core/apps): published when any of an app's statuses changed; `previous` holds the values before.
  | { type: 'app.state'; tenant: TenantRef; appId: string; status: string; replicationStatus: string; launchStatus: string; previous: { status: string; replicationStatus: string; launchStatus: string } | null }
  // The launch subsystem's instances (src/apps/ports.ts): the app coordinator advances launches on these.
  // `previous`: the state and hydration before this change (null for a new instance; absent when unknown). A
  // validation result is announced with both unchanged.
  | {
      type: 'instance.state';
      tenant: TenantRef;
      instanceId: string;
      appId: string | null;
      serverId: string;
      state: string;
      hydration: string;
      message: string | null;
      previous?: { state: string; hydration: string } | null;
    }
  // App-level (SSM) validations were queued (core/apps/appValidationQueue.ts): the runner takes them from the store.
  | { type: 'app.validation'; tenant: TenantRef; appId: string }
  /**
   * The schedule changed; with `notBefore`, nothing the change made falls due before that time (a new job's seed run),
   * so a scheduler already waking earlier need not tick for it.
   */
  | { type: 'schedule.changed'; notBefore?: number };

interface TenantRef {
  accountId: string;
  region: string;
}

export type Listener = (event: FerryEvent) => void;

export class FerryEvents {
  readonly #listeners = new Set<Listener>();
  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  publish(event: FerryEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // A faulty listener must never break the request that caused the event.
      }
    }
  }
}
