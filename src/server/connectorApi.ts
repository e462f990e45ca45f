/**
 * Ferry's own connector protocol over HTTP, beside the SMS API (`/ferry/connector/v1/…`), as a Fastify plugin: the
 * routes of protocol/connector/routes.ts, each reading its call with protocol/connector/wire.ts and answering it
 * through the service's endpoint (operations/connector/endpoint.ts). Connectors authenticate with the bearer token
 * `ferry connectors register` issued. Every answer is JSON; errors are `{"error","message"}` with the status the
 * error table gives (server/errorTable.ts), and 409 tells a connector that the run it works on is no longer its own.
 *
 * Each route checks, in its onRequest hook and so before any of the body is read: the token, the registration,
 * the path parameters, the media type and the connector's in-flight body budget. Only then does Fastify read the
 * body, up to the route's limit.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { coerceError } from '../lib/errors.ts';
import type { Core } from '../core/context.ts';
import { connectorForToken } from '../core/connectors.ts';
import { requireCatalogImport } from '../core/catalog.ts';
import type { DataPlane } from '../core/runImages.ts';
import type { ConnectorRow } from '../store/rows.ts';
import { connectorEndpoint, requireRegistered } from '../operations/connector/endpoint.ts';
import { ConnectorError, type ConnectorEndpoint } from '../protocol/connector/messages.ts';
import {
  acceptsMediaType,
  badRequest,
  CONNECTOR_API_PREFIX,
  CONNECTOR_MEDIA_TYPES,
  CONNECTOR_ROUTES,
  IN_FLIGHT_BODY_BYTES_PER_CONNECTOR,
  parseDiskIndex,
  parseRunId,
  parseSha256,
  type ConnectorRoute,
} from '../protocol/connector/routes.ts';
import { WIRE, type JsonCallName, type PathParams } from '../protocol/connector/wire.ts';
import { describeFailure, describeFrameworkFailure, describeNotFound, type FrameworkError, type WireFailure } from './errorTable.ts';
import { readInventoryBody } from './inventoryBody.ts';
import { streamedBodyParser } from './streamedBody.ts';
import { tenantOf } from '../domain/tenant.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The connector whose token the request carries, set before its body is read. */
    connector?: ConnectorRow;
  }
}

type Request = FastifyRequest<{ Params: PathParams }>;

export interface ConnectorApiOptions {
  core: Core;
  plane?: DataPlane;
}

function send(request: FastifyRequest, reply: FastifyReply, failure: WireFailure, thrown?: unknown): void {
  if (failure.logged) request.log.error({ err: coerceError(thrown) }, 'connector API error');
  reply.code(failure.status).send({ error: failure.code, message: failure.message });
}

const sendFailure = (request: FastifyRequest, reply: FastifyReply, thrown: unknown): void =>
  send(request, reply, describeFailure('connector', thrown, String(request.id)), thrown);

function parseJson(request: FastifyRequest): Record<string, unknown> {
  const body = request.body as Buffer | undefined;
  if (!body || body.length === 0) return {};
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw badRequest('The body must be a JSON object.');
}

/** Calls `name` on the endpoint with arguments WIRE[name] read; the mapped type of WIRE keeps the two in step. */
function invoke(endpoint: ConnectorEndpoint, name: JsonCallName, args: unknown[]): Promise<unknown> {
  return (endpoint[name] as (...values: unknown[]) => Promise<unknown>)(...args);
}

export async function connectorApi(app: FastifyInstance, options: ConnectorApiOptions): Promise<void> {
  const { core, plane } = options;
  /** Body bytes each connector has in flight (see IN_FLIGHT_BODY_BYTES_PER_CONNECTOR). */
  const bodyBytesInFlight = new Map<string, number>();

  // Errors Fastify raises around a connector route (a body over the route's limit, an unreadable body).
  app.setErrorHandler((error: FrameworkError, request, reply) => {
    const failure = describeFrameworkFailure('connector', error, {
      bodyLimit: request.routeOptions.bodyLimit ?? 0,
      contentType: request.headers['content-type'],
      requestId: String(request.id),
    });
    send(request, reply, failure, error);
  });

  async function connectorOf(request: FastifyRequest): Promise<ConnectorRow> {
    const header = request.headers.authorization ?? '';
    const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    if (!token) throw new ConnectorError(401, 'Unauthorized', 'Missing bearer token: connectors authenticate with the token `ferry connectors register` printed.');
    const connector = await connectorForToken(core, token);
    if (!connector) throw new ConnectorError(401, 'Unauthorized', 'Unknown or revoked connector token.');
    return connector;
  }

  /** Holds `bytes` of the connector's budget until the answer is sent (or the connection is gone). */
  function reserveBodyBytes(connectorId: string, bytes: number, reply: FastifyReply): void {
    const held = bodyBytesInFlight.get(connectorId) ?? 0;
    if (bytes > 0 && held > 0 && held + bytes > IN_FLIGHT_BODY_BYTES_PER_CONNECTOR) {
      throw new ConnectorError(503, 'Busy', `This connector already has ${held} bytes of requests in flight; retry when they are answered.`);
    }
    bodyBytesInFlight.set(connectorId, held + bytes);
    reply.raw.once('close', () => {
      const left = (bodyBytesInFlight.get(connectorId) ?? bytes) - bytes;
      if (left > 0) bodyBytesInFlight.set(connectorId, left);
      else bodyBytesInFlight.delete(connectorId);
    });
  }

  /** Everything a request must pass before its body is read. */
  function gate(spec: ConnectorRoute, checks: { registered: boolean; beforeBody?: (connector: ConnectorRow) => Promise<void> }) {
    return async (request: Request, reply: FastifyReply): Promise<FastifyReply | undefined> => {
      try {
        const connector = await connectorOf(request);
        if (checks.registered) requireRegistered(connector);
        const { runId, disk, sha256 } = request.params;
        if (runId !== undefined) parseRunId(runId);
        if (disk !== undefined) parseDiskIndex(disk);
        if (sha256 !== undefined) parseSha256(sha256, 'the block hash');
        if (!acceptsMediaType(spec, request.headers['content-type'])) {
          throw new ConnectorError(415, 'UnsupportedMediaType', `Content-Type must be ${CONNECTOR_MEDIA_TYPES[spec.media]} on this route.`);
        }
        const declared = Number(request.headers['content-length'] ?? (request.headers['transfer-encoding'] ? spec.bodyLimit : 0));
        if (declared > spec.bodyLimit) {
          throw new ConnectorError(413, 'PayloadTooLarge', `The body exceeds this route's limit of ${spec.bodyLimit} bytes.`);
        }
        reserveBodyBytes(connector.connector_id, Number.isFinite(declared) ? declared : spec.bodyLimit, reply);
        if (checks.beforeBody) await checks.beforeBody(connector);
        request.connector = connector;
        return undefined;
      } catch (thrown) {
        // The body stays unread: Node discards it as it arrives, so it never takes memory.
        sendFailure(request, reply, thrown);
        return reply;
      }
    };
  }

  function route(
    spec: ConnectorRoute,
    work: (endpoint: ConnectorEndpoint, request: Request) => Promise<unknown>,
    options: { registered?: boolean; beforeBody?: (connector: ConnectorRow) => Promise<void>; streamedBody?: boolean } = {},
  ): void {
    const definition = {
      method: spec.method,
      url: `${CONNECTOR_API_PREFIX}${spec.path}`,
      bodyLimit: spec.bodyLimit,
      onRequest: gate(spec, { registered: options.registered ?? true, beforeBody: options.beforeBody }),
      handler: async (request: Request, reply: FastifyReply) => {
        try {
          reply.code(200).send(await work(connectorEndpoint(core, plane, request.connector!), request));
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
          send(request, reply, describeNotFound('connector', request.method, request.url));
        } catch (thrown) {
          sendFailure(request, reply, thrown);
        }
        return reply;
      },
      handler: async () => undefined,
    });
  }

  // The JSON calls: read the call, answer it, write the answer (protocol/connector/wire.ts).
  for (const name of Object.keys(WIRE) as JsonCallName[]) {
    const call = WIRE[name];
    route(
      CONNECTOR_ROUTES[call.route],
      async (endpoint, request) => call.answer((await invoke(endpoint, name, call.read(request.params, parseJson(request)))) as never),
      { registered: name !== 'register' },
    );
  }

  route(
    CONNECTOR_ROUTES.inventory,
    async (endpoint, request) => {
      const inventory = await readInventoryBody((request.body as Buffer | undefined) ?? Buffer.alloc(0));
      try {
        return await endpoint.inventory(inventory);
      } finally {
        inventory.close();
      }
    },
    {
      // Refused before a large body is read when no import asks for it.
      beforeBody: (connector) => requireCatalogImport(core.db, tenantOf(connector)),
      streamedBody: true,
    },
  );

  route(CONNECTOR_ROUTES.imageBlock, async (endpoint, request) => {
    const data = request.body as Buffer | undefined;
    if (!data || data.length === 0) throw badRequest('The body must be the block bytes.');
    await endpoint.putBlocks(request.params.runId!, [{ sha256: parseSha256(request.params.sha256, 'the block hash'), data }]);
    return {};
  });
}
