/**
 * Reports a run's stage and progress to the service: monotonic (never a lower stage or percentage), at most about
 * once a second within a stage, and often enough to keep the run's lease alive even while a stage makes no
 * visible progress.
 */
import type { ConnectorTransport } from '../protocol/connector/messages.ts';
import { RUN_STAGES as STAGES, type RunStage as Stage } from '../domain/replicationRun.ts';


const MIN_INTERVAL_MS = 1000;

export class ProgressReporter {
  readonly #transport: ConnectorTransport;
  readonly #runId: string;
  readonly #now: () => number;
  #stage = -1;
  #percent = -1;
  #lastSentAt = 0;
  #bytesDone = 0;
  #bytesTotal = 0;
  #rate = { at: 0, bytes: 0, perSecond: 0 };
  #keepAlive: NodeJS.Timeout | undefined;
  #inFlight: Promise<unknown> = Promise.resolve();

  constructor(transport: ConnectorTransport, runId: string, leaseSeconds: number, now: () => number = Date.now) {
    this.#transport = transport;
    this.#runId = runId;
    this.#now = now;
    // Renew the lease at a third of its length, whatever the stages do.
    this.#keepAlive = setInterval(() => void this.#send(true).catch(() => {}), Math.max(1000, (leaseSeconds * 1000) / 3));
    this.#keepAlive.unref();
  }

  /**
   * Starts from where a resumed run already stands (its stage and progress as the service shows them), so a run
   * picked up again after a restart never reports going back: the service refuses a lower stage.
   */
  resumeAt(stage: string | null | undefined, stageProgress: string | null | undefined): void {
    const index = STAGES.indexOf(stage as Stage);
    if (index < 0) return;
    this.#stage = index;
    this.#percent = Math.max(0, Math.min(100, Number.parseInt(stageProgress ?? '0', 10) || 0));
  }

  get bytesPerSecond(): number {
    return this.#rate.perSecond;
  }

  /** Moves to `stage` at `percent` (0–100); lower stages or percentages than already reported are ignored. */
  async report(stage: Stage, percent: number, bytes?: { done: number; total: number }): Promise<void> {
    const index = STAGES.indexOf(stage);
    const clamped = Math.max(0, Math.min(100, Math.floor(percent)));
    if (index < this.#stage || (index === this.#stage && clamped <= this.#percent && !bytes)) return;
    const stageChanged = index !== this.#stage;
    if (index > this.#stage) this.#percent = -1;
    this.#stage = index;
    this.#percent = Math.max(this.#percent, clamped);
    if (bytes) this.#observe(bytes.done, bytes.total);
    if (stageChanged || clamped === 100 || this.#now() - this.#lastSentAt >= MIN_INTERVAL_MS) await this.#send(false);
  }

  #observe(done: number, total: number): void {
    const now = this.#now();
    this.#bytesDone = Math.max(this.#bytesDone, done);
    this.#bytesTotal = total;
    if (this.#rate.at === 0) {
      this.#rate = { at: now, bytes: done, perSecond: 0 };
      return;
    }
    const elapsed = (now - this.#rate.at) / 1000;
    if (elapsed >= 1) {
      const instant = (done - this.#rate.bytes) / elapsed;
      // Smoothed so the console's ETA does not jump with every batch.
      const perSecond = this.#rate.perSecond === 0 ? instant : 0.7 * this.#rate.perSecond + 0.3 * instant;
      this.#rate = { at: now, bytes: done, perSecond };
    }
  }

  async #send(keepAlive: boolean): Promise<void> {
    if (this.#stage < 0) return;
    if (keepAlive && this.#now() - this.#lastSentAt < MIN_INTERVAL_MS) return;
    this.#lastSentAt = this.#now();
    const report = {
      stage: STAGES[this.#stage]!,
      stageProgress: `${Math.max(0, this.#percent)}%`,
      ...(this.#bytesTotal > 0
        ? { bytesDone: this.#bytesDone, bytesTotal: this.#bytesTotal, bytesPerSecond: Math.round(this.#rate.perSecond) }
        : {}),
    };
    // Reports go out one at a time, in order.
    const send = this.#inFlight.then(() => this.#transport.progress(this.#runId, report));
    this.#inFlight = send.catch(() => {});
    await send;
  }

  close(): void {
    if (this.#keepAlive) clearInterval(this.#keepAlive);
    this.#keepAlive = undefined;
  }
}
