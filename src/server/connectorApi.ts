/**
 * Ferry's own connector protocol, beside the SMS API (`/ferry/connector/v1/…`; the contract is
 * src/protocol/connector.ts). Connectors authenticate with the bearer token `ferry connectors register` issued.
 * Every answer is JSON; errors are `{"error","message"}` with a 4xx status, and 409 tells a connector that the run
 * it is working on is no longer its own.
 *
 * Each route checks, in its onRequest hook and so before any of the body is read: the token, the path parameters,
 * the media type and the connector's in-flight body budget. Only then does Fastify read the body, up to the route's
 * limit.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ServiceError, coerceError } from '../lib/errors.ts';
import type { Core } from '../core/context.ts';
import { connectorForToken, recordHeartbeat, registerConnector } from '../core/connectors.ts';
import { applyInventory, requireCatalogImport } from '../core/catalog.ts';
import { activeRuns, claimRuns, completeRun, failRun, reportProgress, RunConflict } from '../core/runs.ts';
import {
  beginRunImage,
  finishRunImage,
  ImageRequestError,
  missingRunBlocks,
  parentOfRun,
  putRunBlocks,
  recordRunBlocks,
  type DataPlane,
  type ImageDiskPlan,
} from '../core/runImages.ts';
import { ImageStoreError } from '../images/errors.ts';
import { encodeBlockRangeSet } from '../lib/blockRangeSet.ts';
import { CONNECTOR_CAPABILITIES, VM_MANAGER_TYPES } from '../domain/enums.ts';
import { InventoryRejected } from '../domain/inventory.ts';
import type { ConnectorRow } from '../store/rows.ts';
import {
  acceptsMediaType,
  CONNECTOR_API_PREFIX,
  CONNECTOR_MEDIA_TYPES,
  CONNECTOR_ROUTES,
  ConnectorRequestError,
  IN_FLIGHT_BODY_BYTES_PER_CONNECTOR,
  MAX_HASHES_PER_QUERY,
  parseDiskIndex,
  parseRunId,
  parseSha256,
  type ConnectorRoute,
} from '../protocol/connector.ts';
import { readInventoryBody } from './inventoryBody.ts';
import { streamedBodyParser } from './streamedBody.ts';

class BadRequest extends ConnectorRequestError {
  constructor(message: string) {
    super(400, 'BadRequest', message);
  }
}

interface RouteParams {
  runId?: string;
  sha256?: string;
  disk?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The connector whose token the request carries, set before its body is read. */
    connector?: ConnectorRow;
  }
}

function parseDiskPlans(value: unknown): ImageDiskPlan[] {
  if (!Array.isArray(value) || value.length === 0) throw new BadRequest('disks must be a non-empty list.');
  return value.map((raw: unknown, i) => {
    const d = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
    if (!Number.isInteger(d.index) || (d.index as number) < 0) throw new BadRequest(`disks[${i}].index must be a non-negative integer.`);
    if (!Number.isSafeInteger(d.sizeBytes) || (d.sizeBytes as number) <= 0) throw new BadRequest(`disks[${i}].sizeBytes must be a positive integer.`);
    if (d.mode !== 'full' && d.mode !== 'incremental') throw new BadRequest(`disks[${i}].mode must be full or incremental.`);
    const meta = d.meta === undefined || d.meta === null ? undefined : (d.meta as Record<string, unknown>);
    return { index: d.index as number, sizeBytes: d.sizeBytes as number, mode: d.mode, meta };
  });
}

function parseJson(request: FastifyRequest): Record<string, unknown> {
  const body = request.body as Buffer | undefined;
  if (!body || body.length === 0) return {};
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new BadRequest('The body must be a JSON object.');
}

function requireString(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  if (typeof value !== 'string' || value === '') throw new BadRequest(`${name} is required and must be a non-empty string.`);
  return value;
}

function optionalString(body: Record<string, unknown>, name: string): string | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new BadRequest(`${name} must be a string.`);
  return value;
}

function optionalNumber(body: Record<string, unknown>, name: string): number | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new BadRequest(`${name} must be a non-negative number.`);
  return value;
}

/** Status, code and message of anything a route throws. */
function describeFailure(thrown: unknown): [number, string, string] {
  if (thrown instanceof ConnectorRequestError) return [thrown.status, thrown.code, thrown.message];
  if (thrown instanceof InventoryRejected) return [400, 'BadRequest', thrown.message];
  if (thrown instanceof RunConflict) return [409, 'Conflict', thrown.message];
  if (thrown instanceof ImageRequestError) return [400, 'BadRequest', thrown.message];
  if (thrown instanceof ImageStoreError) return [400, thrown.code, thrown.message];
  if (thrown instanceof ServiceError) {
    if (thrown.status >= 500) return [500, thrown.code, thrown.message];
    // A request the rules refuse is the connector's mistake (400); anything else means the state moved on (409).
    const invalid = thrown.code === 'InvalidParameterException' || thrown.code === 'MissingRequiredParameterException' || thrown.code === 'SerializationException';
    return [invalid ? 400 : 409, thrown.code, thrown.message];
  }
  return [500, 'InternalError', ''];
}

function sendFailure(request: FastifyRequest, reply: FastifyReply, thrown: unknown): void {
  const [status, code, message] = describeFailure(thrown);
  if (status >= 500) request.log.error({ err: coerceError(thrown) }, 'connector API error');
  reply.code(status).send({ error: code, message: status === 500 && code === 'InternalError' ? `Internal error (request ${request.id}).` : message });
}

/** Errors Fastify raises around a connector route (a body over the route's limit, an unreadable body). */
export function sendConnectorFrameworkError(request: FastifyRequest, reply: FastifyReply, error: FastifyError | (Error & { code?: string; statusCode?: number })): void {
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    const limit = request.routeOptions.bodyLimit;
    reply.code(413).send({ error: 'PayloadTooLarge', message: `The body exceeds this route's limit of ${limit} bytes.` });
    return;
  }
  const status = error.statusCode ?? 500;
  if (status >= 500) {
    request.log.error({ err: error }, 'connector API error');
    reply.code(500).send({ error: 'InternalError', message: `Internal error (request ${request.id}).` });
    return;
  }
  reply.code(status).send({ error: status === 415 ? 'UnsupportedMediaType' : 'BadRequest', message: error.message });
}

export function registerConnectorApi(app: FastifyInstance, core: Core, plane?: DataPlane): void {
  /** Body bytes each connector has in flight (see IN_FLIGHT_BODY_BYTES_PER_CONNECTOR). */
  const bodyBytesInFlight = new Map<string, number>();

  async function connectorOf(request: FastifyRequest): Promise<ConnectorRow> {
    const header = request.headers.authorization ?? '';
    const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    if (!token) throw new ConnectorRequestError(401, 'Unauthorized', 'Missing bearer token: connectors authenticate with the token `ferry connectors register` printed.');
    const connector = await connectorForToken(core, token);
    if (!connector) throw new ConnectorRequestError(401, 'Unauthorized', 'Unknown or revoked connector token.');
    return connector;
  }

  /** Holds `bytes` of the connector's budget until the answer is sent (or the connection is gone). */
  function reserveBodyBytes(connectorId: string, bytes: number, reply: FastifyReply): void {
    const held = bodyBytesInFlight.get(connectorId) ?? 0;
    if (bytes > 0 && held > 0 && held + bytes > IN_FLIGHT_BODY_BYTES_PER_CONNECTOR) {
      throw new ConnectorRequestError(503, 'Busy', `This connector already has ${held} bytes of requests in flight; retry when they are answered.`);
    }
    bodyBytesInFlight.set(connectorId, held + bytes);
    reply.raw.once('close', () => {
      const left = (bodyBytesInFlight.get(connectorId) ?? bytes) - bytes;
      if (left > 0) bodyBytesInFlight.set(connectorId, left);
      else bodyBytesInFlight.delete(connectorId);
    });
  }

  /** Everything a request must pass before its body is read. */
  function gate(spec: ConnectorRoute, beforeBody?: (connector: ConnectorRow) => Promise<void>) {
    return async (request: FastifyRequest<{ Params: RouteParams }>, reply: FastifyReply): Promise<FastifyReply | undefined> => {
      try {
        const connector = await connectorOf(request);
        const { runId, disk, sha256 } = request.params;
        if (runId !== undefined) parseRunId(runId);
        if (disk !== undefined) parseDiskIndex(disk);
        if (sha256 !== undefined) parseSha256(sha256, 'the block hash');
        if (!acceptsMediaType(spec, request.headers['content-type'])) {
          throw new ConnectorRequestError(415, 'UnsupportedMediaType', `Content-Type must be ${CONNECTOR_MEDIA_TYPES[spec.media]} on this route.`);
        }
        const declared = Number(request.headers['content-length'] ?? (request.headers['transfer-encoding'] ? spec.bodyLimit : 0));
        if (declared > spec.bodyLimit) {
          throw new ConnectorRequestError(413, 'PayloadTooLarge', `The body exceeds this route's limit of ${spec.bodyLimit} bytes.`);
        }
        reserveBodyBytes(connector.connector_id, Number.isFinite(declared) ? declared : spec.bodyLimit, reply);
        if (beforeBody) await beforeBody(connector);
        request.connector = connector;
        return undefined;
      } catch (thrown) {
        // The body stays unread: Node discards it as it arrives, so it never takes memory.
        sendFailure(request, reply, thrown);
        return reply;
      }
    };
  }

  async function authenticate(request: FastifyRequest, requireRegistered = true): Promise<ConnectorRow> {
    const connector = request.connector!;
    if (requireRegistered && connector.registered_at === null) {
      throw new RunConflict('The connector has not registered yet: POST /ferry/connector/v1/register first.');
    }
    return connector;
  }

  function route(
    path: string,
    work: (request: FastifyRequest<{ Params: RouteParams }>) => Promise<unknown>,
    method: 'POST' | 'PUT' = 'POST',
    options: { beforeBody?: (connector: ConnectorRow) => Promise<void>; streamedBody?: boolean } = {},
  ): void {
    const spec = Object.values(CONNECTOR_ROUTES).find((r: ConnectorRoute) => r.path === path && r.method === method);
    if (!spec) throw new Error(`${method} ${path} is not in the connector protocol's contract (src/protocol/connector.ts).`);
    const definition = {
      method,
      url: `${CONNECTOR_API_PREFIX}${path}`,
      bodyLimit: spec.bodyLimit,
      onRequest: gate(spec, options.beforeBody),
      handler: async (request: FastifyRequest<{ Params: RouteParams }>, reply: FastifyReply) => {
        try {
          reply.code(200).send(await work(request));
        } catch (thrown) {
          sendFailure(request, reply, thrown);
        }
      },
    };
    if (!options.streamedBody) {
      app.route(definition);
      return;
    }
    // Content-type parsers are per plugin scope: this route alone reads its body as it streams in.
    void app.register(async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', streamedBodyParser(spec.bodyLimit));
      scope.route(definition);
    });
  }

  // Anything else under the prefix: authenticated like the routes, then 404, without reading a body.
  for (const url of [CONNECTOR_API_PREFIX, `${CONNECTOR_API_PREFIX}/*`]) {
    app.route({
      method: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'],
      url,
      bodyLimit: 1,
      onRequest: async (request: FastifyRequest, reply: FastifyReply) => {
        try {
          await connectorOf(request);
          throw new ConnectorRequestError(404, 'NotFound', `${request.method} ${request.url.split('?', 1)[0]!.slice(0, 200)} is not a connector API route.`);
        } catch (thrown) {
          sendFailure(request, reply, thrown);
          return reply;
        }
      },
      handler: async () => undefined,
    });
  }

  route('/register', async (request) => {
    const connector = await authenticate(request, false);
    const body = parseJson(request);
    const vmManagerType = requireString(body, 'vmManagerType');
    if (!(VM_MANAGER_TYPES as readonly string[]).includes(vmManagerType)) {
      throw new BadRequest(`vmManagerType must be one of ${VM_MANAGER_TYPES.join(', ')}.`);
    }
    const capabilities = body.capabilities ?? [vmManagerType];
    if (!Array.isArray(capabilities) || capabilities.some((c) => !(CONNECTOR_CAPABILITIES as readonly string[]).includes(c as string))) {
      throw new BadRequest(`capabilities must be a list drawn from ${CONNECTOR_CAPABILITIES.join(', ')}.`);
    }
    await registerConnector(core, connector, {
      vmManagerType,
      vmManagerName: requireString(body, 'vmManagerName'),
      vmManagerId: requireString(body, 'vmManagerId'),
      version: requireString(body, 'version'),
      capabilities: capabilities as string[],
      ipAddress: optionalString(body, 'ipAddress'),
      macAddress: optionalString(body, 'macAddress'),
    });
    return {
      connectorId: connector.connector_id,
      accountId: connector.account_id,
      region: connector.region,
      heartbeatIntervalSeconds: core.policy.connectorHeartbeatIntervalMs / 1000,
      leaseSeconds: core.policy.runLeaseMs / 1000,
    };
  });

  route('/heartbeat', async (request) => {
    const connector = await authenticate(request);
    const body = parseJson(request);
    const status = optionalString(body, 'status');
    if (status !== undefined && status !== 'HEALTHY' && status !== 'UNHEALTHY') throw new BadRequest('status must be HEALTHY or UNHEALTHY.');
    return recordHeartbeat(core, connector, { status, message: optionalString(body, 'message') });
  });

  route(
    '/inventory',
    async (request) => {
      const connector = await authenticate(request);
      const inventory = await readInventoryBody((request.body as Buffer | undefined) ?? Buffer.alloc(0));
      try {
        return await applyInventory(core, connector, inventory);
      } finally {
        inventory.close();
      }
    },
    'POST',
    {
      // Refused before a large body is read when no import asks for it.
      beforeBody: (connector) => requireCatalogImport(core.db, { accountId: connector.account_id, region: connector.region }),
      streamedBody: true,
    },
  );

  route('/runs/claim', async (request) => {
    const connector = await authenticate(request);
    const max = optionalNumber(parseJson(request), 'max') ?? 1;
    const runs = await claimRuns(core, connector, Math.min(Math.floor(max), 50));
    return { runs };
  });

  route('/runs/:runId/progress', async (request) => {
    const connector = await authenticate(request);
    const body = parseJson(request);
    return reportProgress(core, connector, request.params.runId!, {
      stage: requireString(body, 'stage'),
      stageProgress: requireString(body, 'stageProgress'),
      bytesDone: optionalNumber(body, 'bytesDone'),
      bytesTotal: optionalNumber(body, 'bytesTotal'),
      bytesPerSecond: optionalNumber(body, 'bytesPerSecond'),
    });
  });

  route('/runs/:runId/complete', async (request) => {
    const connector = await authenticate(request);
    const amiId = requireString(parseJson(request), 'amiId');
    if (!/^ami-[0-9a-f]{17}$/.test(amiId)) throw new BadRequest('amiId must be ami- followed by 17 lower-case hex digits.');
    await completeRun(core, connector, request.params.runId!, amiId);
    return { ok: true };
  });

  route('/runs/:runId/fail', async (request) => {
    const connector = await authenticate(request);
    const message = requireString(parseJson(request), 'message');
    await failRun(core, connector, request.params.runId!, message.slice(0, 2000));
    return { ok: true };
  });

  route('/runs/active', async (request) => {
    const connector = await authenticate(request);
    return { runs: await activeRuns(core, connector) };
  });

  function dataPlane(): DataPlane {
    if (!plane) throw new BadRequest('This service has no image store configured.');
    return plane;
  }

  route('/runs/:runId/image/parent', async (request) => {
    const connector = await authenticate(request);
    return { parent: await parentOfRun(core, dataPlane(), connector, request.params.runId!) };
  });

  route('/runs/:runId/image/begin', async (request) => {
    const connector = await authenticate(request);
    const begun = await beginRunImage(core, dataPlane(), connector, request.params.runId!, parseDiskPlans(parseJson(request).disks));
    // Ranges, not a bitmap: the answer follows what the run committed, never the disk's size.
    const committedRanges: Record<string, string> = {};
    for (const [disk, blocks] of begun.committed) committedRanges[disk] = encodeBlockRangeSet(blocks);
    return { amiId: begun.amiId, committedRanges, parent: begun.parent };
  });

  route('/runs/:runId/image/missing', async (request) => {
    const connector = await authenticate(request);
    const hashes = parseJson(request).sha256s;
    if (!Array.isArray(hashes) || hashes.length > MAX_HASHES_PER_QUERY) throw new BadRequest(`sha256s must be a list of at most ${MAX_HASHES_PER_QUERY} hashes.`);
    const missing = await missingRunBlocks(core, dataPlane(), connector, request.params.runId!, hashes.map((h, i) => parseSha256(h, `sha256s[${i}]`)));
    return { missing };
  });

  route(
    '/runs/:runId/image/blocks/:sha256',
    async (request) => {
      const connector = await authenticate(request);
      const data = request.body as Buffer | undefined;
      if (!data || data.length === 0) throw new BadRequest('The body must be the block bytes.');
      await putRunBlocks(core, dataPlane(), connector, request.params.runId!, [{ sha256: parseSha256(request.params.sha256, 'the block hash'), data }]);
      return {};
    },
    'PUT',
  );

  route('/runs/:runId/image/disks/:disk/records', async (request) => {
    const connector = await authenticate(request);
    const disk = Number(request.params.disk);
    if (!Number.isInteger(disk) || disk < 0) throw new BadRequest('The disk index must be a non-negative integer.');
    const raw = parseJson(request).records;
    if (!Array.isArray(raw)) throw new BadRequest('records must be a list of [blockIndex, sha256 | null].');
    const records = raw.map((entry: unknown, i) => {
      if (!Array.isArray(entry) || !Number.isInteger(entry[0])) throw new BadRequest(`records[${i}] must be [blockIndex, sha256 | null].`);
      return { blockIndex: entry[0] as number, sha256: entry[1] === null ? null : parseSha256(entry[1], `records[${i}] hash`) };
    });
    await recordRunBlocks(core, dataPlane(), connector, request.params.runId!, disk, records);
    return {};
  });

  route('/runs/:runId/image/finish', async (request) => {
    const connector = await authenticate(request);
    return finishRunImage(core, dataPlane(), connector, request.params.runId!);
  });
}
