/**
 * Ferry's own connector protocol, beside the SMS API (`/ferry/connector/v1/…`). Connectors authenticate with the
 * bearer token `ferry connectors register` issued. Every answer is JSON; errors are `{"error","message"}` with a
 * 4xx status, and 409 tells a connector that the run it is working on is no longer its own.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ServiceError, coerceError } from '../lib/errors.ts';
import type { Core } from '../core/context.ts';
import { connectorForToken, recordHeartbeat, registerConnector } from '../core/connectors.ts';
import { applyInventory } from '../core/catalog.ts';
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
import type { ConnectorRow } from '../core/mappers.ts';

export const CONNECTOR_API_PREFIX = '/ferry/connector/v1';
const INVENTORY_BODY_LIMIT = 32 * 1024 * 1024;
/** One 512 KiB block per request, with room to spare. */
const BLOCK_BODY_LIMIT = 1024 * 1024;

class BadRequest extends Error {}

interface RouteParams {
  runId?: string;
  sha256?: string;
  disk?: string;
}

function parseSha256(hex: unknown, what: string): Buffer {
  if (typeof hex !== 'string' || !/^[0-9a-f]{64}$/.test(hex)) throw new BadRequest(`${what} must be 64 lower-case hex digits.`);
  return Buffer.from(hex, 'hex');
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
class Unauthorized extends Error {}

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

export function registerConnectorApi(app: FastifyInstance, core: Core, plane?: DataPlane): void {
  async function authenticate(request: FastifyRequest, requireRegistered = true): Promise<ConnectorRow> {
    const header = request.headers.authorization ?? '';
    const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    if (!token) throw new Unauthorized('Missing bearer token: connectors authenticate with the token `ferry connectors register` printed.');
    const connector = await connectorForToken(core, token);
    if (!connector) throw new Unauthorized('Unknown or revoked connector token.');
    if (requireRegistered && connector.registered_at === null) {
      throw new RunConflict('The connector has not registered yet: POST /ferry/connector/v1/register first.');
    }
    return connector;
  }

  function route(
    path: string,
    work: (request: FastifyRequest<{ Params: RouteParams }>) => Promise<unknown>,
    bodyLimit?: number,
    method: 'POST' | 'PUT' = 'POST',
  ): void {
    app.route({ method, url: `${CONNECTOR_API_PREFIX}${path}`, bodyLimit, handler: async (request: FastifyRequest<{ Params: RouteParams }>, reply: FastifyReply) => {
      try {
        reply.code(200).send(await work(request));
      } catch (thrown) {
        const [status, code, message] =
          thrown instanceof Unauthorized
            ? [401, 'Unauthorized', thrown.message]
            : thrown instanceof BadRequest
              ? [400, 'BadRequest', thrown.message]
              : thrown instanceof RunConflict
                ? [409, 'Conflict', thrown.message]
                : thrown instanceof ImageRequestError || thrown instanceof ImageStoreError
                  ? [400, thrown instanceof ImageStoreError ? thrown.code : 'BadRequest', thrown.message]
                : thrown instanceof ServiceError
                  ? [thrown.status >= 500 ? 500 : 409, thrown.code, thrown.message]
                  : [500, 'InternalError', `Internal error (request ${request.id}).`];
        if (status === 500) request.log.error({ err: coerceError(thrown) }, 'connector API error');
        reply.code(status).send({ error: code, message });
      }
    } });
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
      const body = parseJson(request);
      if (!Array.isArray(body.vms)) throw new BadRequest('vms must be a list.');
      const vms = body.vms.map((raw: unknown, i: number) => {
        if (typeof raw !== 'object' || raw === null) throw new BadRequest(`vms[${i}] must be an object.`);
        const vm = raw as Record<string, unknown>;
        let manager: { vmManagerId: string; vmManagerName: string; vmManagerType: string } | undefined;
        if (vm.vmManagerId !== undefined || vm.vmManagerType !== undefined) {
          const vmManagerType = requireString(vm, 'vmManagerType');
          if (!(VM_MANAGER_TYPES as readonly string[]).includes(vmManagerType)) {
            throw new BadRequest(`vms[${i}].vmManagerType must be one of ${VM_MANAGER_TYPES.join(', ')}.`);
          }
          manager = { vmManagerType, vmManagerId: requireString(vm, 'vmManagerId'), vmManagerName: requireString(vm, 'vmManagerName') };
        }
        return {
          manager,
          vmId: requireString(vm, 'vmId'),
          vmName: requireString(vm, 'vmName'),
          vmPath: optionalString(vm, 'vmPath') ?? '',
          replicable: vm.replicable !== false,
          reason: optionalString(vm, 'reason'),
          details: vm.details,
        };
      });
      return applyInventory(core, connector, vms);
    },
    INVENTORY_BODY_LIMIT,
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
    if (!Array.isArray(hashes) || hashes.length > 4096) throw new BadRequest('sha256s must be a list of at most 4096 hashes.');
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
    BLOCK_BODY_LIMIT,
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
