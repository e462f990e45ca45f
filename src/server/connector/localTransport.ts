/**
 * The connector protocol in process, for the connector embedded in `ferry serve`: the same endpoint the HTTP
 * routes call (operations/connector/endpoint.ts), without a loopback hop for every 512 KiB block. It authenticates
 * with the connector's token on every call, so a disassociation takes effect at once, reads the inventory with the
 * wire's own entry reader, and reports refusals as the HTTP transport does (the error table's status and code;
 * 409 as RunLost).
 */
import type { Core } from '../../core/context.ts';
import { connectorForToken } from '../../core/connectors.ts';
import type { DataPlane } from '../../core/runImages.ts';
import { readInventoryEntry } from '../../domain/inventory.ts';
import { connectorEndpoint } from '../../operations/connector/endpoint.ts';
import { ConnectorError, RunLost, type ConnectorEndpoint, type ConnectorTransport } from '../../protocol/connector/messages.ts';
import { describeFailure } from '../errorTable.ts';

export class LocalTransport implements ConnectorTransport {
  readonly #core: Core;
  readonly #plane: DataPlane;
  readonly #token: string;

  constructor(core: Core, plane: DataPlane, token: string) {
    this.#core = core;
    this.#plane = plane;
    this.#token = token;
  }

  async #call<T>(work: (endpoint: ConnectorEndpoint) => Promise<T>): Promise<T> {
    const connector = await connectorForToken(this.#core, this.#token);
    if (!connector) throw new Error('The embedded connector was disassociated; restart the service to register it again.');
    try {
      return await work(connectorEndpoint(this.#core, this.#plane, connector));
    } catch (thrown) {
      const failure = describeFailure('connector', thrown, 'in-process');
      // An error the table does not name is a bug: the connector sees (and logs) the error itself.
      if (failure.logged) throw thrown;
      if (failure.status === 409) throw new RunLost(failure.message);
      throw new ConnectorError(failure.status, failure.code, failure.message);
    }
  }

  register: ConnectorTransport['register'] = (registration) => this.#call((e) => e.register(registration));
  heartbeat: ConnectorTransport['heartbeat'] = (report) => this.#call((e) => e.heartbeat(report));
  inventory: ConnectorTransport['inventory'] = (vms) => this.#call((e) => e.inventory(vms.map(readInventoryEntry)));
  claim: ConnectorTransport['claim'] = (max) => this.#call((e) => e.claim(max));
  activeRuns: ConnectorTransport['activeRuns'] = () => this.#call((e) => e.activeRuns());
  progress: ConnectorTransport['progress'] = (runId, report) => this.#call((e) => e.progress(runId, report));
  complete: ConnectorTransport['complete'] = (runId, amiId) => this.#call((e) => e.complete(runId, amiId));
  fail: ConnectorTransport['fail'] = (runId, message) => this.#call((e) => e.fail(runId, message));
  parentImage: ConnectorTransport['parentImage'] = (runId) => this.#call((e) => e.parentImage(runId));
  beginImage: ConnectorTransport['beginImage'] = (runId, disks) => this.#call((e) => e.beginImage(runId, disks));
  diffBlocks: ConnectorTransport['diffBlocks'] = (runId, diskIndex, span) => this.#call((e) => e.diffBlocks(runId, diskIndex, span));
  missingBlocks: ConnectorTransport['missingBlocks'] = (runId, sha256s) => this.#call((e) => e.missingBlocks(runId, sha256s));
  /** The digests come from this process's hash workers, so the store does not hash every block a second time. */
  putBlocks: ConnectorTransport['putBlocks'] = (runId, blocks) => this.#call((e) => e.putBlocks(runId, blocks, { trustedDigests: true }));
  recordBlocks: ConnectorTransport['recordBlocks'] = (runId, diskIndex, records) => this.#call((e) => e.recordBlocks(runId, diskIndex, records));
  finishImage: ConnectorTransport['finishImage'] = (runId) => this.#call((e) => e.finishImage(runId));
}
