/**
 * The connector: registers with the service, heartbeats, uploads the datastore's inventory when a catalog import
 * asks for it, and claims and executes due replication runs. The same code runs standalone (`ferry connector`,
 * over HTTP) and embedded in `ferry serve --datastore` (in process).
 */
import { createHash } from 'node:crypto';
import { basename, resolve } from 'node:path';
import type { Logger } from 'pino';
import { scanDatastore, scanVmFolder, type DiscoveredVm } from './inventory/scanDatastore.ts';
import { HashPool } from './hashPool.ts';
import { executeRun } from './runExecutor.ts';
import type { RunOutcome } from '../domain/runOutcome.ts';
import type { ConnectorTransport, InventoryVm, RunAssignment } from '../protocol/connector/messages.ts';
import { BandwidthLimiter } from './bandwidth.ts';
import { prepareLauncher } from '../lib/launcher.ts';

export interface ConnectorOptions {
  transport: ConnectorTransport;
  datastore: string;
  log: Logger;
  version: string;
  /** How often to heartbeat and look for work (default 2 s). */
  pollIntervalMs?: number;
  /**
   * Runs executed at once (default 4). One run already uses every core, but runs queued behind each other finish
   * N times apart; run side by side they share the hash workers, the thread pool and the pack writes fairly and
   * together go as fast as one (bench/README.md, "Concurrent runs").
   */
  maxConcurrentRuns?: number;
  /** Upload limit in bytes per second. */
  maxBandwidth?: number;
  ipAddress?: string;
  macAddress?: string;
  /** Subscribes `wake` to whatever signals new work (returns the unsubscribe); see Connector.wake. */
  wakeOn?: (wake: () => void) => () => void;
  /** Called with each run's outcome when it ends (metrics: bytes read and sent). Must not throw. */
  onRunFinished?: (outcome: RunOutcome, run: RunAssignment) => void;
}

const SCAN_CACHE_MS = 5000;
/**
 * How often the connector asks which runs it holds, and takes up any it is not executing: a run it claimed whose
 * answer never came back (a node killed after the commit) is otherwise left to run out its lease and fail.
 */
const ADOPT_EVERY_MS = 30_000;
const DEFAULT_CONCURRENT_RUNS = 4;

/** Stable VM-manager identities for one datastore directory, one per SMS manager type it holds. */
export function datastoreManagers(datastore: string): Record<'VSPHERE' | 'HYPERV-MANAGER', { vmManagerId: string; vmManagerName: string }> {
  const root = resolve(datastore);
  const id = createHash('sha256').update(root).digest('hex').slice(0, 12);
  const name = basename(root);
  return {
    VSPHERE: { vmManagerId: `ferry-ds-${id}-vsphere`, vmManagerName: name },
    'HYPERV-MANAGER': { vmManagerId: `ferry-ds-${id}-hyperv`, vmManagerName: `${name} (Hyper-V)` },
  };
}

export class Connector {
  readonly #options: ConnectorOptions;
  readonly #log: Logger;
  readonly #abort = new AbortController();
  readonly #running = new Map<string, Promise<void>>();
  readonly #pool: HashPool;
  readonly #limiter: BandwidthLimiter | undefined;
  #timer: NodeJS.Timeout | undefined;
  #leaseSeconds = 120;
  #scan: { at: number; vms: Promise<DiscoveredVm[]> } | undefined;
  #ticking = false;
  /** A wake() arrived during a tick: tick again as soon as it ends. */
  #wakeAgain = false;
  #unsubscribe: (() => void) | undefined;
  /** When to look for held runs this process is not executing (now, after a claim whose answer was lost). */
  #adoptAt = 0;
  connectorId: string | undefined;
  /** How each run this process executed ended (for operators' logs and for tests). */
  readonly outcomes = new Map<string, RunOutcome>();

  constructor(options: ConnectorOptions) {
    this.#options = options;
    this.#log = options.log.child({ component: 'connector' });
    this.#pool = new HashPool();
    this.#limiter = options.maxBandwidth ? new BandwidthLimiter(options.maxBandwidth) : undefined;
  }

  async start(): Promise<void> {
    prepareLauncher(); // the qemu-img runs of the first run should not wait for it
    const managers = datastoreManagers(this.#options.datastore);
    const registered = await this.#options.transport.register({
      vmManagerType: 'VSPHERE',
      vmManagerName: managers.VSPHERE.vmManagerName,
      vmManagerId: managers.VSPHERE.vmManagerId,
      version: this.#options.version,
      capabilities: ['VSPHERE', 'HYPERV-MANAGER', 'SMS_OPTIMIZED'],
      ipAddress: this.#options.ipAddress,
      macAddress: this.#options.macAddress,
    });
    this.connectorId = registered.connectorId;
    this.#leaseSeconds = registered.leaseSeconds;
    this.#log.info({ connectorId: registered.connectorId, datastore: this.#options.datastore }, 'connector registered');
    // Runs this connector was executing before a restart continue where they stopped.
    await this.#adoptHeldRuns();
    this.#unsubscribe = this.#options.wakeOn?.(() => this.wake());
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.();
    this.#abort.abort();
    if (this.#timer) clearTimeout(this.#timer);
    await Promise.allSettled(this.#running.values());
    await this.#pool.close();
  }

  /**
   * Looks for work now instead of at the next poll: the embedded connector is woken when a run is queued or a
   * catalog import is requested, so an on-demand run starts without waiting out the poll interval.
   */
  wake(): void {
    if (this.#abort.signal.aborted) return;
    if (this.#ticking) {
      this.#wakeAgain = true;
      return;
    }
    if (this.#timer) clearTimeout(this.#timer);
    this.#schedule(0);
  }

  #schedule(delay: number): void {
    if (this.#abort.signal.aborted) return;
    this.#timer = setTimeout(() => void this.#tick(), delay);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    if (this.#ticking) return;
    this.#ticking = true;
    try {
      if (Date.now() >= this.#adoptAt) await this.#adoptHeldRuns();
      const status = await this.#options.transport.heartbeat({ status: 'HEALTHY' });
      if (status.catalogImportRequested) await this.#uploadInventory();
      const free = (this.#options.maxConcurrentRuns ?? DEFAULT_CONCURRENT_RUNS) - this.#running.size;
      if (status.runsWaiting && free > 0) {
        let claimed;
        try {
          claimed = await this.#options.transport.claim(free);
        } catch (error) {
          this.#adoptAt = 0; // it may have taken runs all the same
          throw error;
        }
        for (const run of claimed) this.#execute(run);
      }
    } catch (error) {
      if (!this.#abort.signal.aborted) this.#log.warn({ err: (error as Error).message }, 'connector poll failed; retrying');
    } finally {
      this.#ticking = false;
      const again = this.#wakeAgain;
      this.#wakeAgain = false;
      this.#schedule(again ? 0 : (this.#options.pollIntervalMs ?? 2000));
    }
  }

  /** Executes every run the service says this connector holds that this process is not executing yet. */
  async #adoptHeldRuns(): Promise<void> {
    const held = await this.#options.transport.activeRuns();
    this.#adoptAt = Date.now() + ADOPT_EVERY_MS;
    for (const run of held) {
      // Executing, or ended here since the service answered (a run that ended is in outcomes before it leaves #running).
      if (this.#running.has(run.replicationRunId) || this.outcomes.has(run.replicationRunId)) continue;
      this.#log.info({ runId: run.replicationRunId, stage: run.stage }, 'taking up a run this connector holds');
      this.#execute(run);
    }
  }

  /** The datastore's VMs, rescanned at most every few seconds. */
  async vms(): Promise<DiscoveredVm[]> {
    const now = Date.now();
    if (!this.#scan || now - this.#scan.at > SCAN_CACHE_MS) {
      const vms = scanDatastore(this.#options.datastore);
      this.#scan = { at: now, vms };
      vms.catch(() => (this.#scan = undefined));
    }
    return this.#scan.vms;
  }

  /**
   * The VM a run replicates. A cached scan that shows it missing or unreplicable is not trusted: its disk may have
   * been restored since (an operator fixes the disk and starts a run at once), so that answer is always rescanned.
   * When the cached scan is older than a few seconds, only the folder it found the VM in is read again (a run needs
   * its own VM, and a whole datastore's scan grows with every VM in it); the whole datastore is scanned when that
   * folder no longer holds the VM under this id, replicable.
   */
  async #findVm(vmId: string): Promise<DiscoveredVm | undefined> {
    const scan = this.#scan;
    if (scan && Date.now() - scan.at <= SCAN_CACHE_MS) {
      const cached = (await this.vms()).find((vm) => vm.vmId === vmId);
      if (cached?.replicable) return cached;
    } else if (scan) {
      const known = (await scan.vms.catch(() => [])).find((vm) => vm.vmId === vmId);
      const again = known && (await scanVmFolder(this.#options.datastore, known.folder).catch(() => undefined));
      if (again?.vmId === vmId && again.replicable) return again;
    }
    this.#scan = undefined;
    return (await this.vms()).find((vm) => vm.vmId === vmId);
  }

  async #uploadInventory(): Promise<void> {
    this.#scan = undefined;
    const managers = datastoreManagers(this.#options.datastore);
    const vms = await this.vms();
    const inventory: InventoryVm[] = vms.map((vm) => ({
      vmId: vm.vmId,
      vmName: vm.vmName,
      vmPath: vm.vmPath,
      replicable: vm.replicable,
      reason: vm.reason,
      vmManagerType: vm.vmManagerType,
      vmManagerId: managers[vm.vmManagerType].vmManagerId,
      vmManagerName: managers[vm.vmManagerType].vmManagerName,
      details: {
        kind: vm.kind,
        osFamily: vm.osFamily,
        disks: vm.disks.map((d) => ({ path: d.path, format: d.format, virtualSize: d.virtualSize })),
      },
    }));
    const result = await this.#options.transport.inventory(inventory);
    this.#log.info({ vms: inventory.length, catalog: result.status }, 'inventory uploaded');
  }

  #execute(run: RunAssignment): void {
    if (this.#running.has(run.replicationRunId)) return;
    const work = executeRun(run, {
      transport: this.#options.transport,
      pool: this.#pool,
      log: this.#log,
      leaseSeconds: this.#leaseSeconds,
      findVm: (vmId) => this.#findVm(vmId),
      throttle: this.#limiter ? (bytes) => this.#limiter!.take(bytes, this.#abort.signal) : undefined,
      signal: this.#abort.signal,
    })
      .then((outcome) => {
        this.outcomes.set(run.replicationRunId, outcome);
        try {
          this.#options.onRunFinished?.(outcome, run);
        } catch {
          // An observer must never change how a run ends.
        }
        if (outcome.kind === 'failed') this.#log.warn({ runId: run.replicationRunId, message: outcome.message }, 'run failed');
      })
      .catch((error: Error) => this.#log.error({ runId: run.replicationRunId, err: error }, 'run crashed'))
      .finally(() => {
        this.#running.delete(run.replicationRunId);
        // Look for the next run at once.
        if (!this.#abort.signal.aborted && !this.#ticking) {
          if (this.#timer) clearTimeout(this.#timer);
          this.#schedule(0);
        }
      });
    this.#running.set(run.replicationRunId, work);
  }
}
