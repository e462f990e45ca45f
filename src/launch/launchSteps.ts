/**
 * Drives each instance through its lifecycle (src/domain/instance.ts), one step at a time, with the state persisted
 * before the external step it allows — so a crash or kill -9 anywhere leaves a row that says what to do next, and
 * doing it again is harmless:
 *
 *   pending      make the instance dir; then side by side: serve the image over NBD and create the overlays,
 *                write the seed, define the domain (unless one of ours by that name exists: defining is
 *                idempotent, and terminate removes a domain whatever the state), make the network ready (unless
 *                this process found it up before: then a start that fails checks it and tries again) → starting
 *   starting     (after a restart) define the domain and make the network ready again, as above      → booting
 *   booting      `virsh start` only if libvirt says the domain was never started ("shut off (unknown)") or this
 *                process defined it a moment ago, then wait for the boot signal                   → running | failed
 *   running      collect validation results until each has one or their deadline passes; hydrate (asked at the
 *                boot, started once no guest of this process is booting or validating, itself included: until
 *                then the pull would only slow those guests down, hydrator.ts)
 *   terminating  destroy, undefine, close the exports, remove the files                              → terminated
 *   failed       the domain is stopped (kept, with its console, for inspection until terminated)
 *
 * One drive per instance at a time; `terminate` aborts whatever wait the drive is in and kicks it again.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { coerceError } from '../lib/errors.ts';
import { isBootLine, lastConsoleLines } from '../domain/instanceConsole.ts';
import { canMove, nextInstanceState, type InstanceEvent } from '../domain/instance.ts';
import { ConsoleTail, collectValidations, waitForBoot, type WatchContext } from './bootWatcher.ts';
import { DomainEvents } from './domainEvents.ts';
import { Hydrator } from './hydrator.ts';
import { defineDomain, makeOverlays, settleAll, writeSeed } from './instancePrep.ts';
import { removeDomainAndFiles, stopDomain } from './instanceRemoval.ts';
import type { LaunchPhase } from './launchPhases.ts';
import { changeInstance, failPendingValidations, findInstance, parsePlan, recordValidation, validationsOf, type InstanceRow, type LaunchPlan } from './instanceRepo.ts';
import { ensureNetworkReady } from './networks.ts';
import type { RunnerDeps } from './runnerDeps.ts';

/** Stops the drive when the instance moved on under it (terminate) — not an error. */
class Superseded extends Error {}

const RETRY_MS = [1000, 3000, 10_000, 30_000];

/** How long output already written by a guest may take to reach its console log through virtlogd. */
const CONSOLE_SETTLE_MS = 250;

async function consoleShowsBoot(deps: RunnerDeps, row: InstanceRow): Promise<boolean> {
  const text = (await deps.files.readConsole(row.instance_id)).toString('utf8');
  return text.split('\n').some(isBootLine);
}

/** Did the guest signal its boot while nobody watched (its console shows it, or its agent answers)? */
async function bootedMeanwhile(deps: RunnerDeps, row: InstanceRow): Promise<boolean> {
  if (await consoleShowsBoot(deps, row)) return true;
  try {
    await deps.virsh.agentCommand(row.domain_name, { execute: 'guest-ping' }, 1);
    return true;
  } catch {
    return false;
  }
}

export class LaunchRunner {
  readonly #deps: RunnerDeps;
  readonly #closing = new AbortController();
  readonly #drives = new Map<string, { promise: Promise<void>; abort: AbortController; again: boolean }>();
  readonly #hydrator: Hydrator;
  /** libvirt's event stream, followed while guests boot (domainEvents.ts): most boot probes become unnecessary. */
  readonly #events: DomainEvents;
  /** Instances whose boot this process started or has taken over (see #boot). */
  readonly #bootsWatched = new Set<string>();
  /**
   * What this process knows without asking libvirt (a retry after a failure asks again): the instance's domain was
   * defined here, its network made ready, and it was never started; its guest was seen booting a moment ago. Each
   * saves a virsh process on the way to the boot.
   */
  readonly #definedHere = new Set<string>();
  readonly #bootedHere = new Set<string>();
  /**
   * Networks this process has found active: the next launch on one does not ask libvirt again before its start (a
   * virsh process on the way to every boot). Should one have gone down since, the start fails, and #start checks the
   * network then (restarting Ferry's default one, or failing with the reason) and starts once more.
   */
  readonly #networksUp = new Set<string>();
  /** Instances whose network was taken as up from #networksUp, not checked for them. */
  readonly #networkUnchecked = new Set<string>();

  constructor(deps: RunnerDeps) {
    this.#deps = deps;
    this.#events = new DomainEvents(deps.virsh, deps.log);
    this.#hydrator = new Hydrator(deps, this.#closing.signal, this.#events);
  }

  /** Makes sure the instance is being driven (a drive already running picks the change up when it next looks). */
  kick(instanceId: string): void {
    if (this.#closing.signal.aborted) return;
    const current = this.#drives.get(instanceId);
    if (current) {
      current.again = true;
      return;
    }
    const entry = { abort: new AbortController(), again: false, promise: Promise.resolve() };
    this.#drives.set(instanceId, entry);
    entry.promise = (async () => {
      let attempt = 0;
      for (;;) {
        entry.again = false;
        try {
          await this.#drive(instanceId, AbortSignal.any([entry.abort.signal, this.#closing.signal]));
          attempt = 0;
        } catch (error) {
          if (this.#closing.signal.aborted) break;
          if (!entry.abort.signal.aborted) {
            this.#deps.log.warn({ instanceId, err: coerceError(error).message }, 'instance step failed; retrying');
            await sleep(RETRY_MS[Math.min(attempt++, RETRY_MS.length - 1)], undefined, { signal: this.#closing.signal }).catch(() => undefined);
            entry.again = true;
          }
        }
        if (entry.abort.signal.aborted && !this.#closing.signal.aborted) {
          entry.abort = new AbortController();
          entry.again = true;
        }
        if (!entry.again || this.#closing.signal.aborted) break;
      }
      this.#drives.delete(instanceId);
    })();
  }

  /** A network found active outside a launch (the service's start): the next launch on it does not ask again. */
  networkFoundUp(name: string): void {
    this.#networksUp.add(name);
  }

  /** Interrupts the instance's current wait (its state changed: terminate) and drives it again. */
  interrupt(instanceId: string): void {
    const current = this.#drives.get(instanceId);
    if (current) current.abort.abort();
    this.#hydrator.abort(instanceId);
    this.kick(instanceId);
  }

  async close(): Promise<void> {
    this.#closing.abort();
    this.#events.close();
    await Promise.allSettled([...this.#drives.values()].map((d) => d.promise));
    await this.#hydrator.ended();
  }

  // ── The steps ───────────────────────────────────────────────────────────────────────────────────────────

  async #drive(instanceId: string, signal: AbortSignal): Promise<void> {
    for (;;) {
      signal.throwIfAborted();
      const row = await findInstance(this.#deps.core, instanceId);
      if (!row) return this.#hydrator.settled(instanceId);
      // Pulls wait while this guest is on its way to its boot or running its validations (hydrator.ts).
      if (row.state === 'pending' || row.state === 'starting' || row.state === 'booting' || row.state === 'running') this.#hydrator.busy(instanceId);
      else this.#hydrator.settled(instanceId);
      try {
        switch (row.state) {
          case 'pending':
            await this.#prepare(row);
            break;
          case 'starting':
            await this.#define(row);
            break;
          case 'booting':
            await this.#boot(row, signal);
            break;
          case 'running':
            try {
              return await this.#settle(row, signal);
            } finally {
              this.#hydrator.settled(instanceId);
            }
          case 'failed':
            return await this.#stopDomain(row);
          case 'terminating':
            await this.#remove(row);
            break;
          case 'terminated':
            return;
        }
      } catch (error) {
        if (error instanceof Superseded || signal.aborted) continue;
        if (row.state === 'terminating') throw error; // retried by kick
        await this.#fail(row, coerceError(error).message);
      }
    }
  }

  /** Persists the lifecycle move `event` (src/domain/instance.ts) with `patch`; Superseded if the row moved on. */
  async #move(row: InstanceRow, event: InstanceEvent, patch: Partial<InstanceRow> = {}): Promise<InstanceRow> {
    const next = await changeInstance(this.#deps.core, row.instance_id, row.state, { ...patch, state: nextInstanceState(row.state, event) });
    if (!next) throw new Superseded();
    return next;
  }

  async #prepare(row: InstanceRow): Promise<void> {
    const plan = parsePlan(row);
    const id = row.instance_id;
    await this.#deps.files.createInstanceDir(id);
    this.#phase(id, 'instance dir made');
    // The overlays, the seed and the domain do not depend on each other: made side by side (each is a short-lived
    // program). The domain needs only the files' names to be defined (libvirt opens them at the start), so it is
    // defined, and its network made ready, while the files are made.
    const network = async () => {
      if (this.#networksUp.has(plan.network.name)) this.#networkUnchecked.add(id);
      else await this.#ensureNetwork(plan.network);
      this.#phase(id, 'network ready');
    };
    await settleAll([makeOverlays(this.#deps, row), writeSeed(this.#deps, row), defineDomain(this.#deps, row), network()]);
    await this.#move(row, 'prepared', { inputs: null });
    this.#definedHere.add(id);
    this.#phase(id, 'prepared (starting)');
  }

  async #define(row: InstanceRow): Promise<void> {
    const id = row.instance_id;
    // Defined (and its network made ready) by #prepare in this process; otherwise (a restart) done again here.
    if (!this.#definedHere.has(id)) {
      await settleAll([defineDomain(this.#deps, row), this.#ensureNetwork(parsePlan(row).network)]);
      this.#definedHere.add(id);
    }
    const now = this.#deps.core.clock.now();
    await this.#move(row, 'defined', { boot_started_at: now, boot_deadline_at: now + parsePlan(row).bootTimeoutMs });
    this.#phase(id, 'defined (booting)');
  }

  async #ensureNetwork(network: LaunchPlan['network']): Promise<void> {
    await ensureNetworkReady(this.#deps.virsh, network);
    this.#networksUp.add(network.name);
  }

  /** `virsh start`; when it fails on a network taken as up without a check, checks it (see #networksUp) and retries once. */
  async #start(row: InstanceRow): Promise<void> {
    const unchecked = this.#networkUnchecked.delete(row.instance_id);
    try {
      await this.#deps.virsh.start(row.domain_name);
    } catch (error) {
      if (!unchecked) throw error;
      const network = parsePlan(row).network;
      this.#networksUp.delete(network.name);
      await this.#ensureNetwork(network);
      await this.#deps.virsh.start(row.domain_name);
    }
  }

  #phase(instanceId: string, phase: LaunchPhase): void {
    this.#deps.phases?.report(instanceId, phase);
  }

  #watch(row: InstanceRow, signal: AbortSignal): WatchContext {
    return {
      tail: new ConsoleTail(this.#deps.files.consoleLog(row.instance_id)),
      virsh: this.#deps.virsh,
      domain: row.domain_name,
      nonce: row.console_nonce,
      signal,
      now: () => this.#deps.core.clock.now(),
      events: this.#events,
      onResult: async (result) => {
        await recordValidation(this.#deps.core, row, result);
        this.#phase(row.instance_id, 'validation result');
      },
      onFirstLine: () => this.#phase(row.instance_id, 'first console line'),
    };
  }

  async #boot(row: InstanceRow, signal: AbortSignal): Promise<void> {
    const { virsh } = this.#deps;
    const plan = parsePlan(row);
    if (row.hydration !== 'hydrated') await this.#deps.exports.serve(row.instance_id, row.ami_id, plan.diskSizes.length);
    const state = this.#definedHere.delete(row.instance_id) ? { state: 'shut off', reason: 'unknown' } : await virsh.domainState(row.domain_name);
    if (!state) throw new Error('its libvirt domain disappeared before it started');
    if (state.state === 'shut off') {
      // "unknown": a defined domain that never ran; "failed": QEMU could not start it (e.g. Ferry died as it was
      // started, taking the export with it) — no guest ran in either. Any other reason means the guest ran and stopped.
      if (state.reason !== 'unknown' && state.reason !== 'failed') throw new Error(`the guest stopped before it booted (${state.reason})`);
      await this.#start(row);
      this.#phase(row.instance_id, 'virsh start returned');
    } else if (!this.#bootsWatched.has(row.instance_id)) {
      await this.#checkBootAfterRestart(row, state.state === 'paused');
    }
    this.#bootsWatched.add(row.instance_id);
    const outcome = await waitForBoot(this.#watch(row, signal), row.boot_deadline_at ?? 0);
    if (outcome.booted) {
      this.#phase(row.instance_id, 'boot marker seen');
      const now = this.#deps.core.clock.now();
      const running = await this.#move(row, 'booted', { state_message: null, booted_at: now, validation_deadline_at: now + plan.validationTimeoutMs });
      this.#deps.log.info({ instanceId: row.instance_id, via: outcome.via, ms: now - (row.boot_started_at ?? now) }, 'instance booted');
      this.#bootedHere.add(row.instance_id);
      this.#phase(row.instance_id, 'booted (running)');
      // Hydration is asked for once the guest is up (until then it would compete with the boot for the emulated CPU);
      // it starts when neither this guest nor any other of this process is booting or running its validations
      // (hydrator.ts): #settle, next, collects this guest's results.
      this.#hydrator.start(running);
      return;
    }
    const console = lastConsoleLines((await this.#deps.files.readConsole(row.instance_id)).toString('utf8'));
    const seen = console.length > 0 ? ` Last console lines: ${console.join(' | ')}` : ' The console stayed empty.';
    if (outcome.why === 'timeout') {
      throw new Error(`The guest did not boot within ${Math.round(plan.bootTimeoutMs / 1000)} s (no FERRY-BOOT-OK marker, login prompt or guest-agent reply).${seen}`);
    }
    throw new Error(`The guest stopped before it booted: ${outcome.detail}.${seen}`);
  }

  /**
   * The guest was booting when a previous Ferry process died. If it has signalled its boot meanwhile, it goes on.
   * If not, its disk, read through that process's export, failed for as long as Ferry was down, so its boot cannot be
   * trusted: it boots again. The guest is paused for the last look at its console and the reset, so it cannot print
   * its marker between that look and the reset (a boot seen twice). A guest found paused (by a process killed between
   * these steps, or by QEMU on a read error while the export was gone) is looked at the same way and let run again.
   */
  async #checkBootAfterRestart(row: InstanceRow, paused: boolean): Promise<void> {
    const { virsh } = this.#deps;
    // A paused guest's agent cannot answer: only its console is read.
    if (!paused && (await bootedMeanwhile(this.#deps, row))) return;
    if (!paused) await virsh.suspend(row.domain_name);
    // What the guest wrote just before the pause may still be on its way through virtlogd into the log.
    await sleep(CONSOLE_SETTLE_MS);
    if (!(await consoleShowsBoot(this.#deps, row))) {
      this.#deps.log.warn({ instanceId: row.instance_id }, 'the guest was booting while Ferry was down: resetting it');
      await virsh.reset(row.domain_name);
    }
    await virsh.resume(row.domain_name);
  }

  async #settle(row: InstanceRow, signal: AbortSignal): Promise<void> {
    const plan = parsePlan(row);
    if (!this.#bootedHere.delete(row.instance_id)) {
      const state = await this.#deps.virsh.domainState(row.domain_name);
      if (!state) throw new Error('its libvirt domain no longer exists (removed outside Ferry?)');
      if (state.state === 'shut off' || state.state === 'crashed') throw new Error(`the guest is ${state.state} (${state.reason})`);
    }
    if (row.hydration !== 'hydrated') {
      // Until hydrated the guest reads through the export; a pull that failed before is tried again (once a start).
      await this.#deps.exports.serve(row.instance_id, row.ami_id, plan.diskSizes.length);
      this.#hydrator.start(row);
    }
    const pending = new Set(((await validationsOf(this.#deps.core, [row.instance_id])).get(row.instance_id) ?? []).filter((v) => v.status === 'PENDING').map((v) => v.validation_id));
    if (pending.size === 0) return;
    const left = await collectValidations(this.#watch(row, signal), pending, row.validation_deadline_at ?? 0);
    if (left.size > 0) {
      await failPendingValidations(this.#deps.core, row, `The guest reported no result within ${Math.round(plan.validationTimeoutMs / 1000)} s of booting (does it run the shell parts of NoCloud user-data?).`);
    }
  }

  async #fail(row: InstanceRow, message: string): Promise<void> {
    if (!canMove(row.state, 'fail')) return;
    const failed = await changeInstance(
      this.#deps.core,
      row.instance_id,
      row.state,
      { state: nextInstanceState(row.state, 'fail'), state_message: message.slice(0, 4000) },
      `The instance did not boot: ${message}`.slice(0, 2500),
    );
    if (!failed) return;
    this.#networkUnchecked.delete(row.instance_id);
    this.#deps.log.warn({ instanceId: row.instance_id, message }, 'instance failed');
    await this.#stopDomain(failed);
  }

  /** A failed instance's domain is stopped (not removed): no CPU spent, the console kept for inspection. */
  async #stopDomain(row: InstanceRow): Promise<void> {
    this.#hydrator.abort(row.instance_id);
    await stopDomain(this.#deps, row);
  }

  async #remove(row: InstanceRow): Promise<void> {
    this.#hydrator.abort(row.instance_id);
    for (const known of [this.#definedHere, this.#bootedHere, this.#bootsWatched, this.#networkUnchecked]) known.delete(row.instance_id);
    await removeDomainAndFiles(this.#deps, row);
    await this.#move(row, 'removed', { terminated_at: this.#deps.core.clock.now() });
    this.#deps.log.info({ instanceId: row.instance_id }, 'instance terminated');
  }
}
