/**
 * The libvirt implementation of the launch subsystem's contract (apps/instances.ts: what the App operations call).
 *
 * `launch` checks the spec (launchSpec.ts), persists the instance as `pending` and returns at once; LaunchRunner
 * (launchSteps.ts) boots it in the background from a copy-on-write overlay over an NBD export of the image, watches
 * for the boot signal and validation results, and hydrates it into a standalone disk. Every state change publishes
 * an `instance.state` event on core.events. Every method is scoped by tenant: another account's instance id is
 * "not found" (InvalidParameterException), exactly like an id that never existed.
 *
 * `start()` learns the launch prerequisites in the background (so a first launch does not ask them) and resumes what
 * a previous process left unfinished (reconcile.ts); `close()` stops watching and closes the exports — running
 * instances keep running (hydrated ones need nothing from Ferry).
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Core } from '../core/context.ts';
import type { Tenant } from '../domain/tenant.ts';
import { canMove, domainNameOf, newInstanceId, nextInstanceState, type HydrationState, type InstanceState } from '../domain/instance.ts';
import type { DeviceModel } from '../domain/instanceDevices.ts';
import type { ImageStore } from '../images/imageStore.ts';
import { invalidParameter, notPermitted } from '../lib/errors.ts';
import { DiskExports } from './diskExports.ts';
import { runGuestCommand } from './guestCommands.ts';
import type { GuestCommand, Instance, InstanceService, InstanceSpec, InstanceValidationResult } from '../apps/instances.ts';
import { InstanceFiles } from './instanceFiles.ts';
import { changeInstance, insertInstance, launchOwnerId, tenantInstance, type InstanceRow, type ValidationRow } from './instanceRepo.ts';
import { InstanceRecords, toInstance } from './instanceRecords.ts';
import { checkAvailability, type Availability } from './libvirtDaemon.ts';
import { LaunchPhases, type PhaseListener } from './launchPhases.ts';
import { LaunchRunner } from './launchSteps.ts';
import { resolveLaunch } from './launchSpec.ts';
import { DEFAULT_NETWORK, resolveNetwork } from './networks.ts';
import { resumeInstances } from './reconcile.ts';
import { Virsh } from './virsh.ts';

export interface LibvirtInstanceServiceOptions {
  core: Core;
  images: ImageStore;
  /** libvirt URI, e.g. qemu:///system (default) or qemu+ssh://host/system. */
  uri: string;
  instancesDir: string;
  log: Logger;
  /** Caps how fast each disk is pulled from the image store (MiB/s), e.g. to spare a busy store; default none. */
  hydrationBandwidthMiB?: number;
  /** The boot timeout of launches that set none (the App operations set none); default 5 min. */
  bootTimeoutMs?: number;
}

export const DEFAULT_CONSOLE_BYTES = 64 * 1024;
export const MAX_CONSOLE_BYTES = 1024 * 1024;
/** A failed availability check is repeated at most this often (a daemon started meanwhile is noticed). */
const AVAILABILITY_RETRY_MS = 5000;

export class LibvirtInstanceService implements InstanceService {
  readonly virsh: Virsh;
  readonly files: InstanceFiles;
  readonly #core: Core;
  readonly #records: InstanceRecords;
  readonly #images: ImageStore;
  readonly #log: Logger;
  readonly #exports: DiskExports;
  readonly #runner: LaunchRunner;
  readonly #phases = new LaunchPhases();
  readonly #bootTimeoutMs: number | undefined;
  #owner: Promise<string> | undefined;
  #checked: { at: number; result: Availability } | undefined;
  /** The check under way: callers that come meanwhile (the start's own, a first LaunchApp) share it. */
  #checking: Promise<Availability> | undefined;
  #learned: Promise<void> = Promise.resolve();

  constructor(options: LibvirtInstanceServiceOptions) {
    this.#core = options.core;
    this.#records = new InstanceRecords(options.core);
    this.#images = options.images;
    this.#log = options.log;
    this.#bootTimeoutMs = options.bootTimeoutMs;
    this.virsh = new Virsh(options.uri);
    this.files = new InstanceFiles(options.instancesDir, options.uri);
    this.#exports = new DiskExports(options.images, this.files);
    this.#runner = new LaunchRunner({
      core: options.core,
      virsh: this.virsh,
      files: this.files,
      exports: this.#exports,
      ownerId: () => this.ownerId(),
      log: options.log,
      phases: this.#phases,
      ...(options.hydrationBandwidthMiB ? { hydrationBandwidthMiB: options.hydrationBandwidthMiB } : {}),
    });
  }

  /** Calls `listener` at each step of every launch this process drives (launchPhases.ts); returns the unsubscribe. */
  onPhase(listener: PhaseListener): () => void {
    return this.#phases.listen(listener);
  }

  /** This installation's id in domain metadata. */
  ownerId(): Promise<string> {
    this.#owner ??= launchOwnerId(this.#core);
    this.#owner.catch(() => (this.#owner = undefined));
    return this.#owner;
  }

  async #availability(): Promise<Availability> {
    const now = Date.now();
    if (this.#checked && (this.#checked.result.available || now - this.#checked.at < AVAILABILITY_RETRY_MS)) return this.#checked.result;
    this.#checking ??= checkAvailability(this.virsh, this.files)
      .then((result) => {
        this.#checked = { at: Date.now(), result };
        return result;
      })
      .finally(() => (this.#checking = undefined));
    return this.#checking;
  }

  /**
   * Learns the launch prerequisites once, in the background, when the service starts: is libvirt reachable (two
   * virsh processes), this installation's owner id (a transaction), is Ferry's default network up (one virsh).
   * Otherwise the first launch of a process asks them on its way: the first LaunchApp waited for the availability
   * check before it answered, and its instance for the network check before `prepared` (0.1–0.8 s together on
   * this 2-core host at load 4–10, bench/README.md round 13). A network found up is trusted as one found by a
   * launch is (launchSteps.ts #networksUp): should it be stopped or removed by the time of a launch, that launch's
   * start fails, the network is checked, made ready again, and the start retried. Nothing is created or started
   * here: Ferry's default network is still made on first use.
   */
  async #learnPrerequisites(): Promise<void> {
    try {
      if (!(await this.#availability()).available) return;
      // The installation's owner id goes into every domain's metadata: read (or made, once) now, not by a first define.
      await this.ownerId();
      if (await this.virsh.networkActive(DEFAULT_NETWORK)) this.#runner.networkFoundUp(DEFAULT_NETWORK);
    } catch (error) {
      // Only a head start: the first launch checks whatever is not known by then.
      this.#log.debug({ err: (error as Error).message }, 'launch prerequisites not checked at start');
    }
  }

  async availability(): Promise<{ available: true } | { available: false; reason: string }> {
    const result = await this.#availability();
    return result.available ? { available: true } : result;
  }

  async #requireAvailable(): Promise<'qemu' | 'kvm'> {
    const result = await this.#availability();
    if (!result.available) throw notPermitted(`Launching is unavailable on this Ferry: ${result.reason}.`);
    return result.virtType;
  }

  async validateNetwork(network: InstanceSpec['network']): Promise<void> {
    await this.#requireAvailable();
    await resolveNetwork(this.virsh, network);
  }

  async launch(spec: InstanceSpec): Promise<Instance> {
    const virtType = await this.#requireAvailable();
    // The domain's `define` and `start` come within a second: virsh shells connected by then save each a start.
    // (Started earlier, when the launch configuration is put, they saved nothing more: bench/README.md round 13.)
    this.virsh.prewarm();
    const instanceId = newInstanceId();
    const withDefaults = spec.bootTimeoutMs === undefined && this.#bootTimeoutMs !== undefined ? { ...spec, bootTimeoutMs: this.#bootTimeoutMs } : spec;
    const resolved = await resolveLaunch({ core: this.#core, images: this.#images, virsh: this.virsh, virtType }, withDefaults, instanceId);
    const now = this.#core.clock.now();
    const row: InstanceRow = {
      instance_id: instanceId,
      account_id: spec.tenant.accountId,
      region: spec.tenant.region,
      app_id: spec.appId,
      server_id: spec.serverId,
      ami_id: spec.amiId,
      domain_name: domainNameOf(instanceId),
      state: 'pending',
      state_message: null,
      hydration: 'none',
      hydration_message: null,
      plan: JSON.stringify(resolved.plan),
      inputs: JSON.stringify(resolved.inputs),
      console_nonce: randomBytes(16).toString('hex'),
      launched_at: now,
      boot_started_at: null,
      boot_deadline_at: null,
      booted_at: null,
      validation_deadline_at: null,
      hydrated_at: null,
      terminated_at: null,
      updated_at: now,
    };
    const validations: ValidationRow[] = resolved.validations.map((v, position) => ({
      instance_id: instanceId,
      validation_id: v.validationId,
      position,
      name: v.name,
      status: 'PENDING',
      message: null,
      at: null,
    }));
    await insertInstance(this.#core, row, validations);
    this.#log.info({ instanceId, amiId: spec.amiId, serverId: spec.serverId, appId: spec.appId, bus: resolved.plan.bus, network: resolved.plan.network.name }, 'instance launching');
    this.#runner.kick(instanceId);
    return toInstance(row, validations);
  }

  async terminate(tenant: Tenant, instanceId: string): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const row = await tenantInstance(this.#core, tenant, instanceId);
      if (!row) throw invalidParameter(`Instance ${instanceId} does not exist.`);
      if (!canMove(row.state, 'terminate')) return; // terminating or terminated already
      if (await changeInstance(this.#core, instanceId, row.state, { state: nextInstanceState(row.state, 'terminate') })) {
        this.#runner.interrupt(instanceId);
        return;
      }
    }
    throw notPermitted(`Instance ${instanceId} keeps changing state; try again.`);
  }

  get(tenant: Tenant, instanceId: string): Promise<Instance | undefined> {
    return this.#records.get(tenant, instanceId);
  }

  list(tenant: Tenant, filter: { appId?: string } = {}): Promise<Instance[]> {
    return this.#records.list(tenant, filter);
  }

  async consoleOutput(tenant: Tenant, instanceId: string, maxBytes = DEFAULT_CONSOLE_BYTES): Promise<string> {
    if (!Number.isInteger(maxBytes) || maxBytes < 1 || maxBytes > MAX_CONSOLE_BYTES) throw invalidParameter(`maxBytes must be from 1 to ${MAX_CONSOLE_BYTES}.`);
    const row = await tenantInstance(this.#core, tenant, instanceId);
    if (!row) throw invalidParameter(`Instance ${instanceId} does not exist.`);
    const bytes = await this.files.readConsole(instanceId);
    // Cut on a character boundary: skip UTF-8 continuation bytes at the start of the window.
    let start = Math.max(0, bytes.length - maxBytes);
    while (start < bytes.length && (bytes[start]! & 0xc0) === 0x80) start++;
    return bytes.subarray(start).toString('utf8');
  }

  async runCommand(
    tenant: Tenant,
    instanceId: string,
    command: GuestCommand,
  ): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    const row = await tenantInstance(this.#core, tenant, instanceId);
    if (!row) throw invalidParameter(`Instance ${instanceId} does not exist.`);
    if (row.state !== 'running') throw notPermitted(`Instance ${instanceId} is ${row.state}, not running.`);
    await this.#requireAvailable();
    return runGuestCommand(this.virsh, { domain: row.domain_name, instanceId, bootedAt: row.booted_at === null ? null : Number(row.booted_at) }, command, () => this.#core.clock.now());
  }

  /** Instances that still read the image through its export (retention defers its deletion until none does). */
  imageReaders(amiId: string): Promise<string[]> {
    return this.#records.imageReaders(amiId);
  }

  /**
   * Learns the launch prerequisites (#learnPrerequisites) and picks up every instance a previous process left
   * unfinished (both in the background; errors are logged).
   */
  start(): Promise<void> {
    this.#learned = this.#learnPrerequisites();
    return resumeInstances({
      core: this.#core,
      virsh: this.virsh,
      availability: () => this.#availability(),
      ownerId: () => this.ownerId(),
      kick: (id) => this.#runner.kick(id),
      log: this.#log,
    }).catch((error: unknown) => this.#log.warn({ err: (error as Error).message }, 'resuming instances failed'));
  }

  /** Resolves once what start() set out to learn of the launch prerequisites is known (tests; never rejects). */
  prerequisitesLearned(): Promise<void> {
    return this.#learned;
  }

  async close(): Promise<void> {
    await this.#learned; // no virsh of the start's check left running after close
    await this.#runner.close();
    await this.#exports.closeAll();
  }
}
