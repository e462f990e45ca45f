/**
 * The connector protocol in process, for the connector embedded in `ferry serve`: the same operations the HTTP
 * routes call, without a loopback hop for every 512 KiB block. It authenticates once with the connector's token
 * and re-reads the connector on every call, so a disassociation takes effect at once.
 */
import type { Core } from '../core/context.ts';
import { connectorForToken, recordHeartbeat, registerConnector } from '../core/connectors.ts';
import { applyInventory } from '../core/catalog.ts';
import { activeRuns, claimRuns, completeRun, failRun, reportProgress, RunConflict } from '../core/runs.ts';
import { beginRunImage, finishRunImage, missingRunBlocks, parentOfRun, putRunBlocks, recordRunBlocks, type DataPlane } from '../core/runImages.ts';
import type { ConnectorRow } from '../store/rows.ts';
import {
  RunLost,
  type BegunImage,
  type BlockRecord,
  type ConnectorTransport,
  type ImageDiskPlan,
  type InventoryVm,
  type OutgoingBlock,
  type ProgressReport,
  type Registration,
  type RunAssignment,
} from './transport.ts';

export class LocalTransport implements ConnectorTransport {
  readonly #core: Core;
  readonly #plane: DataPlane;
  readonly #token: string;

  constructor(core: Core, plane: DataPlane, token: string) {
    this.#core = core;
    this.#plane = plane;
    this.#token = token;
  }

  async #connector(): Promise<ConnectorRow> {
    const connector = await connectorForToken(this.#core, this.#token);
    if (!connector) throw new Error('The embedded connector was disassociated; restart the service to register it again.');
    return connector;
  }

  async #run<T>(work: (connector: ConnectorRow) => Promise<T>): Promise<T> {
    try {
      return await work(await this.#connector());
    } catch (error) {
      if (error instanceof RunConflict) throw new RunLost(error.message);
      throw error;
    }
  }

  async register(registration: Registration) {
    const connector = await this.#connector();
    await registerConnector(this.#core, connector, registration);
    return {
      connectorId: connector.connector_id,
      heartbeatIntervalSeconds: this.#core.policy.connectorHeartbeatIntervalMs / 1000,
      leaseSeconds: this.#core.policy.runLeaseMs / 1000,
    };
  }
  async heartbeat(report: { status?: 'HEALTHY' | 'UNHEALTHY'; message?: string }) {
    return recordHeartbeat(this.#core, await this.#connector(), report);
  }
  async inventory(vms: InventoryVm[]) {
    const connector = await this.#connector();
    return applyInventory(
      this.#core,
      connector,
      vms.map((vm) => ({
        ...vm,
        manager:
          vm.vmManagerId && vm.vmManagerName && vm.vmManagerType
            ? { vmManagerId: vm.vmManagerId, vmManagerName: vm.vmManagerName, vmManagerType: vm.vmManagerType }
            : undefined,
      })),
    );
  }
  async claim(max: number): Promise<RunAssignment[]> {
    return (await claimRuns(this.#core, await this.#connector(), max)) as RunAssignment[];
  }
  async activeRuns(): Promise<RunAssignment[]> {
    return (await activeRuns(this.#core, await this.#connector())) as RunAssignment[];
  }
  progress(runId: string, report: ProgressReport) {
    return this.#run((c) => reportProgress(this.#core, c, runId, report));
  }
  complete(runId: string, amiId: string) {
    return this.#run((c) => completeRun(this.#core, c, runId, amiId));
  }
  fail(runId: string, message: string) {
    return this.#run((c) => failRun(this.#core, c, runId, message));
  }
  parentImage(runId: string): Promise<BegunImage['parent']> {
    return this.#run((c) => parentOfRun(this.#core, this.#plane, c, runId));
  }
  beginImage(runId: string, disks: ImageDiskPlan[]): Promise<BegunImage> {
    return this.#run(async (c) => {
      const begun = await beginRunImage(this.#core, this.#plane, c, runId, disks);
      return { committed: begun.committed, parent: begun.parent };
    });
  }
  missingBlocks(runId: string, sha256s: Buffer[]) {
    return this.#run((c) => missingRunBlocks(this.#core, this.#plane, c, runId, sha256s));
  }
  /** The digests come from this process's hash workers, so the store does not hash every block a second time. */
  putBlocks(runId: string, blocks: readonly OutgoingBlock[]) {
    return this.#run((c) => putRunBlocks(this.#core, this.#plane, c, runId, blocks, { trustedDigests: true }));
  }
  recordBlocks(runId: string, diskIndex: number, records: BlockRecord[]) {
    return this.#run((c) => recordRunBlocks(this.#core, this.#plane, c, runId, diskIndex, records));
  }
  finishImage(runId: string) {
    return this.#run((c) => finishRunImage(this.#core, this.#plane, c, runId));
  }
}
