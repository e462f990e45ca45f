/**
 * The named moments of one instance's launch, for whoever wants to see where a launch's time goes
 * (bench/launchTimeline.ts). The runner reports each as it happens; with no listener a report costs a Set lookup.
 * They are observations only: nothing decides anything from them, and they are not persisted.
 */
export const LAUNCH_PHASES = [
  'instance dir made',
  'NBD export up',
  'overlay created',
  'seed written',
  'prepared (starting)',
  'domain defined',
  'network ready',
  'defined (booting)',
  'virsh start returned',
  'first console line',
  'boot marker seen',
  'booted (running)',
  'validation result',
  'hydration started',
  'block jobs done',
  'hydrated',
] as const;
export type LaunchPhase = (typeof LAUNCH_PHASES)[number];

export type PhaseListener = (instanceId: string, phase: LaunchPhase, at: number) => void;

/** Listeners of launch phases; `report` stamps each moment with performance.now() (ms, monotonic). */
export class LaunchPhases {
  readonly #listeners = new Set<PhaseListener>();

  listen(listener: PhaseListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  report(instanceId: string, phase: LaunchPhase): void {
    if (this.#listeners.size === 0) return;
    const at = performance.now();
    for (const listener of this.#listeners) listener(instanceId, phase, at);
  }
}
