/** The connector protocol over HTTP, for a standalone `ferry connector` (see the README for the endpoints). */
import { BlockRangeSet, decodeBlockRangeSet } from '../lib/blockRangeSet.ts';
import { blockCount } from './blockRanges.ts';
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

export class ConnectorHttpError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const RETRYABLE = new Set([502, 503, 504]);
/** Block PUTs in flight per putBlocks call. */
const PUTS_IN_FLIGHT = 4;

export class HttpTransport implements ConnectorTransport {
  readonly #base: string;
  readonly #token: string;

  constructor(serverUrl: string, token: string) {
    this.#base = `${serverUrl.replace(/\/+$/, '')}/ferry/connector/v1`;
    this.#token = token;
  }

  async #request<T>(method: string, path: string, body?: unknown, raw?: Buffer): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let response: Response;
      try {
        response = await fetch(`${this.#base}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${this.#token}`,
            'content-type': raw ? 'application/octet-stream' : 'application/json',
          },
          body: raw ?? JSON.stringify(body ?? {}),
        });
      } catch (error) {
        // The service restarting or a network blip: retry a few times with backoff, then give up.
        if (attempt >= 5) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** attempt));
        continue;
      }
      if (RETRYABLE.has(response.status) && attempt < 5) {
        await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** attempt));
        continue;
      }
      const payload = (await response.json().catch(() => ({}))) as Record<string, unknown>;
      if (response.status === 409) throw new RunLost(String(payload.message ?? 'The run is no longer held by this connector.'));
      if (!response.ok) {
        throw new ConnectorHttpError(response.status, String(payload.error ?? response.status), String(payload.message ?? response.statusText));
      }
      return payload as T;
    }
  }

  register(registration: Registration) {
    return this.#request<{ connectorId: string; heartbeatIntervalSeconds: number; leaseSeconds: number }>('POST', '/register', registration);
  }
  heartbeat(report: { status?: 'HEALTHY' | 'UNHEALTHY'; message?: string }) {
    return this.#request<{ catalogImportRequested: boolean; runsWaiting: boolean }>('POST', '/heartbeat', report);
  }
  inventory(vms: InventoryVm[]) {
    return this.#request<{ status: string; servers: number }>('POST', '/inventory', { vms });
  }
  async claim(max: number): Promise<RunAssignment[]> {
    return (await this.#request<{ runs: RunAssignment[] }>('POST', '/runs/claim', { max })).runs;
  }
  async activeRuns(): Promise<RunAssignment[]> {
    return (await this.#request<{ runs: RunAssignment[] }>('POST', '/runs/active', {})).runs;
  }
  progress(runId: string, report: ProgressReport) {
    return this.#request<{ leaseExpiresAt: number }>('POST', `/runs/${runId}/progress`, report);
  }
  async complete(runId: string, amiId: string): Promise<void> {
    await this.#request('POST', `/runs/${runId}/complete`, { amiId });
  }
  async fail(runId: string, message: string): Promise<void> {
    await this.#request('POST', `/runs/${runId}/fail`, { message });
  }
  async parentImage(runId: string): Promise<BegunImage['parent']> {
    return (await this.#request<{ parent: BegunImage['parent'] }>('POST', `/runs/${runId}/image/parent`, {})).parent;
  }
  async beginImage(runId: string, disks: ImageDiskPlan[]): Promise<BegunImage> {
    const answer = await this.#request<{ committedRanges?: Record<string, string>; parent: BegunImage['parent'] }>(
      'POST',
      `/runs/${runId}/image/begin`,
      { disks },
    );
    // (Older services sent a bitmap as `committed`: a connector must never read one as ranges.)
    if (typeof answer.committedRanges !== 'object' || answer.committedRanges === null) {
      throw new Error('The service did not say which blocks this run committed (committedRanges): it is older than this connector; upgrade it.');
    }
    const committed = new Map<number, BlockRangeSet>();
    for (const disk of disks) {
      const encoded = answer.committedRanges[String(disk.index)];
      committed.set(disk.index, encoded === undefined ? new BlockRangeSet() : decodeBlockRangeSet(encoded, blockCount(disk.sizeBytes)));
    }
    return { committed, parent: answer.parent };
  }
  async missingBlocks(runId: string, sha256s: Buffer[]): Promise<boolean[]> {
    const answer = await this.#request<{ missing: boolean[] }>('POST', `/runs/${runId}/image/missing`, {
      sha256s: sha256s.map((h) => h.toString('hex')),
    });
    return answer.missing;
  }
  /** One PUT per block, a few in flight: the service checks each block's bytes against its hash. */
  async putBlocks(runId: string, blocks: readonly OutgoingBlock[]): Promise<void> {
    let next = 0;
    const sender = async () => {
      while (next < blocks.length) {
        const { sha256, data } = blocks[next++]!;
        // fetch cannot send a view of a SharedArrayBuffer (the engine's batch slots): it would send the view's
        // string form. Those are copied.
        const body = data.buffer instanceof SharedArrayBuffer ? Buffer.from(data) : data;
        await this.#request('PUT', `/runs/${runId}/image/blocks/${sha256.toString('hex')}`, undefined, body);
      }
    };
    await Promise.all(Array.from({ length: Math.min(PUTS_IN_FLIGHT, blocks.length) }, sender));
  }
  async recordBlocks(runId: string, diskIndex: number, records: BlockRecord[]): Promise<void> {
    await this.#request('POST', `/runs/${runId}/image/disks/${diskIndex}/records`, {
      records: records.map((r) => [r.blockIndex, r.sha256 === null ? null : r.sha256.toString('hex')]),
    });
  }
  finishImage(runId: string) {
    return this.#request<{ amiId: string; snapshotIds: string[] }>('POST', `/runs/${runId}/image/finish`, {});
  }
}
