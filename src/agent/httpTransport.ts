/**
 * The connector protocol over HTTP, for a standalone `ferry connector`: each call written and its answer read by the
 * protocol's own definitions (protocol/connector/wire.ts), which the server reads and writes by too.
 *
 * Block PUTs, the bulk of the bytes, go through node:http on a keep-alive agent rather than fetch: fetch copies
 * every body and runs it through web streams, about 0.65 CPU s per 128 MiB of blocks against 0.12 s here
 * (256 PUTs of 512 KiB, 4 in flight, to a discarding server), CPU a connector beside its disks, or an object store
 * on a shared host, does not have to spare. The JSON calls are few and keep fetch.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { CONNECTOR_API_PREFIX, CONNECTOR_MEDIA_TYPES, CONNECTOR_ROUTES } from '../protocol/connector/routes.ts';
import { blockPath, inventoryBody, pathOf, WIRE, type JsonCallName } from '../protocol/connector/wire.ts';
import { ConnectorError, RunLost, type ConnectorTransport, type OutgoingBlock } from '../protocol/connector/messages.ts';
import { mapConcurrently } from '../lib/concurrency.ts';

const RETRYABLE = new Set([502, 503, 504]);
/** Calls that are not idempotent: one whose answer was lost may have been applied, so it is not sent again. */
const SENT_ONCE: ReadonlySet<JsonCallName> = new Set(['claim']);
/** Block PUTs in flight per putBlocks call. */
const PUTS_IN_FLIGHT = 4;

/** No answer (headers or body) for this long fails the PUT, as fetch's own five-minute timeouts did. */
const PUT_TIMEOUT_MS = 300_000;

/** What #request needs of an answer, from fetch or from node:http. */
interface Answer {
  status: number;
  statusText: string;
  ok: boolean;
  json(): Promise<unknown>;
}

type Args<K extends JsonCallName> = Parameters<ConnectorTransport[K]>;
type Result<K extends JsonCallName> = Awaited<ReturnType<ConnectorTransport[K]>>;

export class HttpTransport implements ConnectorTransport {
  readonly #base: string;
  readonly #token: string;
  readonly #agent: HttpAgent;

  constructor(serverUrl: string, token: string) {
    this.#base = `${serverUrl.replace(/\/+$/, '')}${CONNECTOR_API_PREFIX}`;
    this.#token = token;
    const https = new URL(this.#base).protocol === 'https:';
    // Sockets kept between PUTs (an idle one never holds the process open); as many as PUTs in flight across runs.
    this.#agent = https ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
  }

  /** A raw PUT through node:http(s), writing `body` as it is (a view of the engine's shared slots included). */
  #sendRaw(method: string, path: string, body: Buffer, headers: Record<string, string>): Promise<Answer> {
    const url = new URL(`${this.#base}${path}`);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<Answer>((resolve, reject) => {
      const outgoing = send(url, { method, agent: this.#agent, headers: { ...headers, 'content-length': String(body.length) } }, (incoming: IncomingMessage) => {
        const chunks: Buffer[] = [];
        incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
        incoming.on('error', reject);
        incoming.on('end', () => {
          // Answered before the whole body went out (a refusal): drop the socket, so no later write reads the
          // caller's buffer once it is reused.
          if (!outgoing.writableFinished) outgoing.destroy();
          const status = incoming.statusCode ?? 0;
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status, statusText: incoming.statusMessage ?? '', ok: status >= 200 && status < 300, json: async () => JSON.parse(text) as unknown });
        });
      });
      outgoing.setTimeout(PUT_TIMEOUT_MS, () => outgoing.destroy(new Error(`no answer to ${method} ${url.pathname} in ${PUT_TIMEOUT_MS / 1000} s`)));
      outgoing.on('error', reject);
      outgoing.end(body);
    });
  }

  /**
   * One call, retried a few times with backoff when the service is unreachable or answers 502–504, unless `once`:
   * a call that is not idempotent (claim) cannot be retried when its first attempt may have been applied.
   */
  async #request(method: string, path: string, body: { json: unknown } | { raw: Buffer }, once = false): Promise<Record<string, unknown>> {
    const attempts = once ? 1 : 5;
    for (let attempt = 1; ; attempt++) {
      let response: Answer;
      try {
        const headers = { authorization: `Bearer ${this.#token}`, 'content-type': 'raw' in body ? CONNECTOR_MEDIA_TYPES.block : CONNECTOR_MEDIA_TYPES.json };
        response =
          'raw' in body
            ? await this.#sendRaw(method, path, body.raw, headers)
            : await fetch(`${this.#base}${path}`, { method, headers, body: JSON.stringify(body.json ?? {}) });
      } catch (error) {
        // The service restarting or a network blip: retry a few times with backoff, then give up.
        if (attempt >= attempts) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** attempt));
        continue;
      }
      if (RETRYABLE.has(response.status) && attempt < attempts) {
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
    const json = await this.#request(CONNECTOR_ROUTES[call.route].method, pathOf(call.route, params), { json: body }, SENT_ONCE.has(name));
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
  diffBlocks: ConnectorTransport['diffBlocks'] = (runId, diskIndex, span) => this.#call('diffBlocks', runId, diskIndex, span);
  missingBlocks: ConnectorTransport['missingBlocks'] = (runId, sha256s) => this.#call('missingBlocks', runId, sha256s);
  recordBlocks: ConnectorTransport['recordBlocks'] = (runId, diskIndex, records) => this.#call('recordBlocks', runId, diskIndex, records);
  finishImage: ConnectorTransport['finishImage'] = (runId) => this.#call('finishImage', runId);

  async inventory(vms: Parameters<ConnectorTransport['inventory']>[0]): Promise<Awaited<ReturnType<ConnectorTransport['inventory']>>> {
    const answer = await this.#request(CONNECTOR_ROUTES.inventory.method, CONNECTOR_ROUTES.inventory.path, { json: inventoryBody(vms) });
    return answer as unknown as Awaited<ReturnType<ConnectorTransport['inventory']>>;
  }

  /** One PUT per block, a few in flight: the service checks each block's bytes against its hash. */
  async putBlocks(runId: string, blocks: readonly OutgoingBlock[]): Promise<void> {
    // Written as they are, views of the engine's SharedArrayBuffer slots included (no copy): a socket write
    // takes any Uint8Array, where fetch would have sent a shared view's string form.
    await mapConcurrently(blocks, PUTS_IN_FLIGHT, async ({ sha256, data }) => {
      await this.#request(CONNECTOR_ROUTES.imageBlock.method, blockPath(runId, sha256), { raw: data });
    });
  }
}
