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
 *   running      hydrate (from the boot on: until then the guest reads everything through the export, and the
 *                pull would only slow its boot down); collect validation results until each has one or their
 *                deadline passes
 *   terminating  destroy, undefine, close the exports, remove the files                              → terminated
 *   failed       the domain is stopped (kept, with its console, for inspection until terminated)
 *
 * One drive per instance at a time; `terminate` aborts whatever wait the drive is in and kicks it again.
 */
import { writeFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { coerceError } from '../lib/errors.ts';
import { launch as run } from '../lib/launcher.ts';
import type { Core } from '../core/context.ts';
import { isBootLine, lastConsoleLines } from '../domain/instanceConsole.ts';
import { canMove, nextInstanceState, type InstanceEvent } from '../domain/instance.ts';
import { ConsoleTail, collectValidations, waitForBoot, type WatchContext } from './bootWatcher.ts';
import type { DiskExports } from './diskExports.ts';
import { domainXml, parseDomainMetadata, FERRY_XMLNS } from './domainXml.ts';
import { hydrate } from './hydration.ts';
import type { InstanceFiles } from './instanceFiles.ts';
import type { LaunchPhase, LaunchPhases } from './launchPhases.ts';
import {
  changeInstance,
  failPendingValidations,
  findInstance,
  parsePlan,
  recordValidation,
  validationsOf,
  type InstanceRow,
  type LaunchInputs,
  type LaunchPlan,
} from './instanceRepo.ts';
import { ensureNetworkReady } from './networks.ts';
import { writeSeedIso } from './noCloudSeed.ts';
import { validationWrapper } from './validationWrapper.ts';
import { configureScriptPart } from './configureScript.ts';
import { CONFIGURE_PART, seedUserData, VALIDATION_PART, type SeedPart } from './seedUserData.ts';
import type { Virsh } from './virsh.ts';

export interface RunnerDeps {
  core: Core;
  virsh: Virsh;
  files: InstanceFiles;
  exports: DiskExports;
  ownerId: () => Promise<string>;
  log: Logger;
  /** Caps each disk's pull (MiB/s); default none. */
  hydrationBandwidthMiB?: number;
  /** Told of each step's end, for timelines (launchPhases.ts). */
  phases?: LaunchPhases;
}

/** Waits for every one of `steps` (none is left running behind a failure), then rejects with the first failure. */
async function settleAll(steps: readonly Promise<void>[]): Promise<void> {
  const failed = (await Promise.allSettled(steps)).find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** Stops the drive when the instance moved on under it (terminate) — not an error. */
class Superseded extends Error {}

const RETRY_MS = [1000, 3000, 10_000, 30_000];

/** Did the guest signal its boot while nobody watched (its console shows it, or its agent answers)? */
async function bootedMeanwhile(deps: RunnerDeps, row: InstanceRow): Promise<boolean> {
  const text = (await deps.files.readConsole(row.instance_id)).toString('utf8');
  if (text.split('\n').some(isBootLine)) return true;
  try {
    await deps.virsh.agentCommand(row.domain_name, { execute: 'guest-ping' }, 1);
    return true;
  } catch {
    return false;
  }
}

/** The seed's user-data: the user's, then the configure script, then the validations (seedUserData.ts). */
function seedUserDataOf(inputs: LaunchInputs, nonce: string): Buffer {
  const parts: SeedPart[] = [];
  if (inputs.configureScript) {
    const script = Buffer.from(inputs.configureScript.script, 'base64');
    parts.push({ filename: CONFIGURE_PART, contentType: 'text/x-shellscript', body: Buffer.from(configureScriptPart(script, inputs.configureScript.scriptType)) });
  }
  if (inputs.validations.length > 0) {
    const validations = inputs.validations.map((v) => ({ ...v, script: Buffer.from(v.script, 'base64') }));
    parts.push({ filename: VALIDATION_PART, contentType: 'text/x-shellscript', body: Buffer.from(validationWrapper(nonce, validations)) });
  }
  return seedUserData(inputs.userData === null ? null : Buffer.from(inputs.userData, 'base64'), parts);
}

export class LaunchRunner {
  readonly #deps: RunnerDeps;
  readonly #closing = new AbortController();
  readonly #drives = new Map<string, { promise: Promise<void>; abort: AbortController; again: boolean }>();
  readonly #hydrations = new Map<string, { promise: Promise<void>; abort: AbortController }>();
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

  /** Interrupts the instance's current wait (its state changed: terminate) and drives it again. */
  interrupt(instanceId: string): void {
    const current = this.#drives.get(instanceId);
    if (current) current.abort.abort();
    this.#hydrations.get(instanceId)?.abort.abort();
    this.kick(instanceId);
  }

  async close(): Promise<void> {
    this.#closing.abort();
    await Promise.allSettled([...this.#drives.values()].map((d) => d.promise));
    await Promise.allSettled([...this.#hydrations.values()].map((h) => h.promise));
  }

  // ── The steps ───────────────────────────────────────────────────────────────────────────────────────────

  async #drive(instanceId: string, signal: AbortSignal): Promise<void> {
    for (;;) {
      signal.throwIfAborted();
      const row = await findInstance(this.#deps.core, instanceId);
      if (!row) return;
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
            return await this.#settle(row, signal);
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
    const { files, exports } = this.#deps;
    const plan = parsePlan(row);
    const id = row.instance_id;
    await files.createInstanceDir(id);
    this.#phase(id, 'instance dir made');
    // The overlays, the seed and the domain do not depend on each other: made side by side (each is a short-lived
    // program).
    const overlays = async () => {
      const served = await exports.serve(id, row.ami_id, plan.diskSizes.length);
      this.#phase(id, 'NBD export up');
      await Promise.all(served.map(async (exported, disk) => {
        // -u: the backing file need not be opened now (the size is given); the domain opens it when it starts.
        const created = await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', exported.uri, '-u', files.overlay(id, disk), String(exported.sizeBytes)], {
          timeoutMs: 60_000,
        });
        if (created.code !== 0) throw new Error(`qemu-img create failed: ${(created.startError?.message ?? created.stderr).trim()}`);
      }));
      this.#phase(id, 'overlay created');
    };
    const seed = async () => {
      if (!plan.seed) return;
      const inputs = row.inputs ? (JSON.parse(row.inputs) as LaunchInputs) : { userData: null, sshPublicKey: null, validations: [] };
      await writeSeedIso(files.seed(id), files.seedWork(id), {
        instanceId: id,
        hostname: plan.hostname,
        userData: seedUserDataOf(inputs, row.console_nonce),
        sshPublicKey: inputs.sshPublicKey,
        vendorData: null,
      });
      this.#phase(id, 'seed written');
    };
    // The domain needs only the files' names to be defined (libvirt opens them at the start), so it is defined,
    // and its network made ready, while the files are made.
    const network = async () => {
      if (this.#networksUp.has(plan.network.name)) this.#networkUnchecked.add(id);
      else await this.#ensureNetwork(plan.network);
      this.#phase(id, 'network ready');
    };
    await settleAll([overlays(), seed(), this.#defineDomain(row), network()]);
    await this.#move(row, 'prepared', { inputs: null });
    this.#definedHere.add(id);
    this.#phase(id, 'prepared (starting)');
  }

  async #define(row: InstanceRow): Promise<void> {
    const id = row.instance_id;
    // Defined (and its network made ready) by #prepare in this process; otherwise (a restart) done again here.
    if (!this.#definedHere.has(id)) {
      await settleAll([this.#defineDomain(row), this.#ensureNetwork(parsePlan(row).network)]);
      this.#definedHere.add(id);
    }
    const now = this.#deps.core.clock.now();
    await this.#move(row, 'defined', { boot_started_at: now, boot_deadline_at: now + parsePlan(row).bootTimeoutMs });
    this.#phase(id, 'defined (booting)');
  }

  /**
   * Defines the instance's domain. libvirt refuses to define a second domain of the same name (the XML carries no
   * UUID, so it cannot replace one either): when the define fails, a domain of ours by that name (defined before a
   * restart) is accepted as done, and anyone else's is an error.
   */
  async #defineDomain(row: InstanceRow): Promise<void> {
    const { virsh, files } = this.#deps;
    const plan = parsePlan(row);
    const id = row.instance_id;
    const owner = await this.#deps.ownerId();
    const xml = domainXml({
      name: row.domain_name,
      virtType: plan.virtType,
      vcpus: plan.vcpus,
      memoryMiB: plan.memoryMiB,
      layout: plan.layout,
      disks: plan.diskSizes.map((_, disk) => files.overlay(id, disk)),
      seed: plan.seed ? files.seed(id) : null,
      network: plan.network,
      consoleLog: files.consoleLog(id),
      metadata: { owner, instanceId: id, accountId: row.account_id, region: row.region, appId: row.app_id, serverId: row.server_id, amiId: row.ami_id, labels: plan.labels },
    });
    await writeFile(files.domainXml(id), xml, { mode: 0o600 });
    try {
      await virsh.define(files.domainXml(id));
    } catch (error) {
      if (!(await virsh.domainState(row.domain_name))) throw error;
      const mine = parseDomainMetadata((await virsh.metadata(row.domain_name, FERRY_XMLNS)) ?? '');
      if (mine.owner !== owner || mine.instanceId !== id) throw new Error(`a libvirt domain named ${row.domain_name} exists and is not this instance's`);
    } finally {
      await rm(files.domainXml(id), { force: true });
    }
    this.#phase(id, 'domain defined');
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
    } else if (!this.#bootsWatched.has(row.instance_id) && !(await bootedMeanwhile(this.#deps, row))) {
      // The guest was booting when a previous Ferry process died: its disk, read through that process's export,
      // failed for as long as Ferry was down, so its boot cannot be trusted. It has not booted yet: boot it again.
      this.#deps.log.warn({ instanceId: row.instance_id }, 'the guest was booting while Ferry was down: resetting it');
      await virsh.reset(row.domain_name);
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
      // Hydration starts once the guest is up: until then it would compete with the boot for the (emulated) CPU.
      this.#hydrate(running);
      return;
    }
    const console = lastConsoleLines((await this.#deps.files.readConsole(row.instance_id)).toString('utf8'));
    const seen = console.length > 0 ? ` Last console lines: ${console.join(' | ')}` : ' The console stayed empty.';
    if (outcome.why === 'timeout') {
      throw new Error(`The guest did not boot within ${Math.round(plan.bootTimeoutMs / 1000)} s (no FERRY-BOOT-OK marker, login prompt or guest-agent reply).${seen}`);
    }
    throw new Error(`The guest stopped before it booted: ${outcome.detail}.${seen}`);
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
      this.#hydrate(row);
    }
    const pending = new Set(((await validationsOf(this.#deps.core, [row.instance_id])).get(row.instance_id) ?? []).filter((v) => v.status === 'PENDING').map((v) => v.validation_id));
    if (pending.size === 0) return;
    const left = await collectValidations(this.#watch(row, signal), pending, row.validation_deadline_at ?? 0);
    if (left.size > 0) {
      await failPendingValidations(this.#deps.core, row, `The guest reported no result within ${Math.round(plan.validationTimeoutMs / 1000)} s of booting (does it run the shell parts of NoCloud user-data?).`);
    }
  }

  /** Starts pulling the image into the instance's disks, once per process; records the outcome. */
  #hydrate(row: InstanceRow): void {
    const id = row.instance_id;
    if (this.#hydrations.has(id) || row.hydration === 'hydrated') return;
    const abort = new AbortController();
    const signal = AbortSignal.any([abort.signal, this.#closing.signal]);
    const promise = (async () => {
      const { core, virsh, exports } = this.#deps;
      try {
        const current = await findInstance(core, id);
        if (!current || current.state === 'terminating' || current.state === 'terminated' || current.state === 'failed') return;
        if (current.hydration !== 'hydrating') await changeInstance(core, id, current.state, { hydration: 'hydrating', hydration_message: null });
        this.#phase(id, 'hydration started');
        await hydrate(virsh, current.domain_name, parsePlan(current).layout.disks, signal, this.#deps.hydrationBandwidthMiB);
        this.#phase(id, 'block jobs done');
        await this.#setHydration(id, { hydration: 'hydrated', hydration_message: null, hydrated_at: core.clock.now() });
        this.#phase(id, 'hydrated');
        await exports.close(id);
        this.#deps.log.info({ instanceId: id }, 'instance hydrated: it no longer reads from the image store');
      } catch (error) {
        if (signal.aborted) return;
        const message = `Hydration failed: ${coerceError(error).message}`;
        this.#deps.log.warn({ instanceId: id, message }, 'hydration failed');
        await this.#setHydration(id, { hydration: 'failed', hydration_message: message }).catch(() => undefined);
      } finally {
        this.#hydrations.delete(id);
      }
    })();
    this.#hydrations.set(id, { promise, abort });
  }

  /** Hydration changes whatever the (live) state is, unless the instance is being removed. */
  async #setHydration(instanceId: string, patch: Partial<InstanceRow>): Promise<void> {
    for (let i = 0; i < 5; i++) {
      const row = await findInstance(this.#deps.core, instanceId);
      if (!row || row.state === 'terminating' || row.state === 'terminated') return;
      if (await changeInstance(this.#deps.core, instanceId, row.state, patch)) return;
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
    this.#hydrations.get(row.instance_id)?.abort.abort();
    const state = await this.#deps.virsh.domainState(row.domain_name);
    if (state && state.state !== 'shut off') await this.#deps.virsh.destroy(row.domain_name).catch(() => undefined);
    await this.#deps.exports.close(row.instance_id);
  }

  async #remove(row: InstanceRow): Promise<void> {
    const { virsh, files, exports } = this.#deps;
    this.#hydrations.get(row.instance_id)?.abort.abort();
    for (const known of [this.#definedHere, this.#bootedHere, this.#bootsWatched, this.#networkUnchecked]) known.delete(row.instance_id);
    const state = await virsh.domainState(row.domain_name);
    if (state) {
      const mine = parseDomainMetadata((await virsh.metadata(row.domain_name, FERRY_XMLNS)) ?? '');
      if (mine.owner !== (await this.#deps.ownerId()) || mine.instanceId !== row.instance_id) {
        throw new Error(`the libvirt domain ${row.domain_name} is not this instance's; it was left alone`);
      }
      if (state.state !== 'shut off') {
        await virsh.destroy(row.domain_name).catch(async (error) => {
          if ((await virsh.domainState(row.domain_name))?.state !== 'shut off') throw error;
        });
      }
      await virsh.undefine(row.domain_name);
    }
    await exports.close(row.instance_id);
    await files.removeInstanceDir(row.instance_id);
    await this.#move(row, 'removed', { terminated_at: this.#deps.core.clock.now() });
    this.#deps.log.info({ instanceId: row.instance_id }, 'instance terminated');
  }
}
