/**
 * The connector protocol over HTTP, for a standalone `ferry connector`: each call written and its answer read by the
 * protocol's own definitions (protocol/connector/wire.ts), which the server reads and writes by too.
 */
import { CONNECTOR_API_PREFIX, CONNECTOR_MEDIA_TYPES, CONNECTOR_ROUTES } from '../protocol/connector/routes.ts';
import { blockPath, inventoryBody, pathOf, WIRE, type JsonCallName } from '../protocol/connector/wire.ts';
import { ConnectorError, RunLost, type ConnectorTransport, type OutgoingBlock } from '../protocol/connector/messages.ts';
import { mapConcurrently } from '../lib/concurrency.ts';

const RETRYABLE = new Set([502, 503, 504]);
/** Block PUTs in flight per putBlocks call. */
const PUTS_IN_FLIGHT = 4;

type Args<K extends JsonCallName> = Parameters<ConnectorTransport[K]>;
type Result<K extends JsonCallName> = Awaited<ReturnType<ConnectorTransport[K]>>;

export class HttpTransport implements ConnectorTransport {
  readonly #base: string;
  readonly #token: string;

  constructor(serverUrl: string, token: string) {
    this.#base = `${serverUrl.replace(/\/+$/, '')}${CONNECTOR_API_PREFIX}`;
    this.#token = token;
  }

  async #request(method: string, path: string, body: { json: unknown } | { raw: Buffer }): Promise<Record<string, unknown>> {
    for (let attempt = 1; ; attempt++) {
      let response: Response;
      try {
        response = await fetch(`${this.#base}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${this.#token}`,
            'content-type': 'raw' in body ? CONNECTOR_MEDIA_TYPES.block : CONNECTOR_MEDIA_TYPES.json,
          },
          body: 'raw' in body ? body.raw : JSON.stringify(body.json ?? {}),
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
      if (!response.ok) throw new ConnectorError(response.status, String(payload.error ?? response.status), String(payload.message ?? response.statusText));
      return payload;
    }
  }

  async #call<K extends JsonCallName>(name: K, ...args: Args<K>): Promise<Result<K>> {
    // WIRE's mapped type gives each call its own argument and result types; indexing it by a generic key loses them.
    const call = WIRE[name] as unknown as {
      route: keyof typeof CONNECTOR_ROUTES;
      write(...values: Args<K>): { params: Parameters<typeof pathOf>[1]; body: unknown };
      result(json: Record<string, unknown>, values: Args<K>): Result<K>;
    };
    const { params, body } = call.write(...args);
    const json = await this.#request(CONNECTOR_ROUTES[call.route].method, pathOf(call.route, params), { json: body });
    return call.result(json, args);
  }

  register: ConnectorTransport['register'] = (registration) => this.#call('register', registration);
  heartbeat: ConnectorTransport['heartbeat'] = (report) => this.#call('heartbeat', report);
  claim: ConnectorTransport['claim'] = (max) => this.#call('claim', max);
  activeRuns: ConnectorTransport['activeRuns'] = () => this.#call('activeRuns');
  progress: ConnectorTransport['progress'] = (runId, report) => this.#call('progress', runId, report);
  complete: ConnectorTransport['complete'] = (runId, amiId) => this.#call('complete', runId, amiId);
  fail: ConnectorTransport['fail'] = (runId, message) => this.#call('fail', runId, message);
  parentImage: ConnectorTransport['parentImage'] = (runId) => this.#call('parentImage', runId);
  beginImage: ConnectorTransport['beginImage'] = (runId, disks) => this.#call('beginImage', runId, disks);
  missingBlocks: ConnectorTransport['missingBlocks'] = (runId, sha256s) => this.#call('missingBlocks', runId, sha256s);
  recordBlocks: ConnectorTransport['recordBlocks'] = (runId, diskIndex, records) => this.#call('recordBlocks', runId, diskIndex, records);
  finishImage: ConnectorTransport['finishImage'] = (runId) => this.#call('finishImage', runId);

  async inventory(vms: Parameters<ConnectorTransport['inventory']>[0]): Promise<Awaited<ReturnType<ConnectorTransport['inventory']>>> {
    const answer = await this.#request(CONNECTOR_ROUTES.inventory.method, CONNECTOR_ROUTES.inventory.path, { json: inventoryBody(vms) });
    return answer as unknown as Awaited<ReturnType<ConnectorTransport['inventory']>>;
  }

  /** One PUT per block, a few in flight: the service checks each block's bytes against its hash. */
  async putBlocks(runId: string, blocks: readonly OutgoingBlock[]): Promise<void> {
    await mapConcurrently(blocks, PUTS_IN_FLIGHT, async ({ sha256, data }) => {
      // fetch cannot send a view of a SharedArrayBuffer (the engine's batch slots): it would send the view's
      // string form. Those are copied.
      const raw = data.buffer instanceof SharedArrayBuffer ? Buffer.from(data) : data;
      await this.#request(CONNECTOR_ROUTES.imageBlock.method, blockPath(runId, sha256), { raw });
    });
  }
}
