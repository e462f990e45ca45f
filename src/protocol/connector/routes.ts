/**
 * The connector protocol's HTTP routes: every route with its method, its body limit and media type, the formats of
 * path parameters, and the error a request the protocol refuses carries. The rest of the contract is beside it
 * (messages.ts, wire.ts); src/server/connectorApi.ts serves it, src/agent/httpTransport.ts speaks it, the README
 * documents it.
 *
 * Body limits are sized to what each route needs, and the server authenticates a request before it reads any of
 * its body: a caller without a valid token costs no memory, and a connector at most a route's limit per request.
 */
import { BLOCK_SIZE } from '../../domain/blocks.ts';
import { ConnectorError } from './messages.ts';

export const CONNECTOR_API_PREFIX = '/ferry/connector/v1';

const KiB = 1024;
const MiB = 1024 * KiB;

/** JSON requests and answers; block uploads are raw bytes. A request without a Content-Type is read as its route's. */
export const CONNECTOR_MEDIA_TYPES = { json: 'application/json', block: 'application/octet-stream' } as const;
export type ConnectorMedia = keyof typeof CONNECTOR_MEDIA_TYPES;

export interface ConnectorRoute {
  readonly method: 'POST' | 'PUT';
  readonly path: string;
  readonly bodyLimit: number;
  readonly media: ConnectorMedia;
}

/** A few strings and numbers (register, heartbeat, claim, progress, complete, fail, …), with room to spare. */
const SMALL = 16 * KiB;

export const CONNECTOR_ROUTES = {
  register: { method: 'POST', path: '/register', bodyLimit: SMALL, media: 'json' },
  heartbeat: { method: 'POST', path: '/heartbeat', bodyLimit: SMALL, media: 'json' },
  /** Up to INVENTORY_LIMITS.vmsPerConnector (50,000) VMs of about 430 bytes each, with room for longer paths. */
  inventory: { method: 'POST', path: '/inventory', bodyLimit: 32 * MiB, media: 'json' },
  claim: { method: 'POST', path: '/runs/claim', bodyLimit: SMALL, media: 'json' },
  active: { method: 'POST', path: '/runs/active', bodyLimit: SMALL, media: 'json' },
  progress: { method: 'POST', path: '/runs/:runId/progress', bodyLimit: SMALL, media: 'json' },
  complete: { method: 'POST', path: '/runs/:runId/complete', bodyLimit: SMALL, media: 'json' },
  fail: { method: 'POST', path: '/runs/:runId/fail', bodyLimit: SMALL, media: 'json' },
  imageParent: { method: 'POST', path: '/runs/:runId/image/parent', bodyLimit: SMALL, media: 'json' },
  /** Up to 22 disks, each with the connector's metadata (a dirty bitmap's name). */
  imageBegin: { method: 'POST', path: '/runs/:runId/image/begin', bodyLimit: 64 * KiB, media: 'json' },
  /** Up to MAX_HASHES_PER_QUERY hex hashes (67 bytes each in JSON). */
  imageMissing: { method: 'POST', path: '/runs/:runId/image/missing', bodyLimit: 512 * KiB, media: 'json' },
  /** A span of up to MAX_DIFF_BLOCKS [blockIndex, sha256 | null] pairs (about 72 KiB); answered with indexes. */
  imageDiff: { method: 'POST', path: '/runs/:runId/image/disks/:disk/diff', bodyLimit: 512 * KiB, media: 'json' },
  /** One block. */
  imageBlock: { method: 'PUT', path: '/runs/:runId/image/blocks/:sha256', bodyLimit: BLOCK_SIZE, media: 'block' },
  /** [blockIndex, sha256 | null] pairs: a connector sends at most 1,024 per call (about 80 KiB). */
  imageRecords: { method: 'POST', path: '/runs/:runId/image/disks/:disk/records', bodyLimit: 512 * KiB, media: 'json' },
  imageFinish: { method: 'POST', path: '/runs/:runId/image/finish', bodyLimit: SMALL, media: 'json' },
} as const satisfies Record<string, ConnectorRoute>;

export type ConnectorRouteName = keyof typeof CONNECTOR_ROUTES;

export const MAX_HASHES_PER_QUERY = 4096;
/** Blocks one hash-diff span may list, and the widest span (the image store's own bounds, images/parentDiff.ts). */
export const MAX_DIFF_BLOCKS = 1024;
export const MAX_DIFF_SPAN = 65536;

/**
 * Body bytes one connector may have in flight at once (declared lengths, or the route's limit when a body has no
 * length): enough for an inventory and dozens of block uploads; more waits (503, which connectors retry).
 */
export const IN_FLIGHT_BODY_BYTES_PER_CONNECTOR = 64 * MiB;

/** Path parameters longer than this do not match a route (the router's limit; the formats below are shorter). */
export const MAX_PATH_PARAMETER_LENGTH = 256;

/** A request the protocol refuses as malformed. */
export const badRequest = (message: string): ConnectorError => new ConnectorError(400, 'BadRequest', message);

/** Run ids as Ferry issues them (lib/ids.ts: `sms-run-` and 8 hex digits), allowing AWS's 17-digit form. */
const RUN_ID = /^sms-run-[0-9a-f]{8,17}$/;
/** A disk index in its one decimal spelling: `1`, never `01`, `1.0`, `0x1` or ` 1`. */
const DISK_INDEX = /^(?:0|[1-9][0-9]{0,5})$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;

export function parseRunId(value: string | undefined): string {
  if (value === undefined || !RUN_ID.test(value)) {
    throw badRequest(`${JSON.stringify(shorten(value ?? ''))} is not a replication run id (sms-run- followed by hex digits).`);
  }
  return value;
}

export function parseDiskIndex(value: string | undefined): number {
  if (value === undefined || !DISK_INDEX.test(value)) {
    throw badRequest(`The disk index must be a non-negative integer in decimal; got ${JSON.stringify(shorten(value ?? ''))}.`);
  }
  return Number(value);
}

export function parseSha256(hex: unknown, what: string): Buffer {
  if (typeof hex !== 'string' || !SHA256_HEX.test(hex)) throw badRequest(`${what} must be 64 lower-case hex digits.`);
  return Buffer.from(hex, 'hex');
}

/**
 * Whether a Content-Type fits a route. None at all is accepted (the route's own type is assumed); anything else,
 * the empty string included, must name the route's media type.
 */
export function acceptsMediaType(route: ConnectorRoute, contentType: string | undefined): boolean {
  if (contentType === undefined) return true;
  return contentType.split(';', 1)[0]!.trim().toLowerCase() === CONNECTOR_MEDIA_TYPES[route.media];
}

function shorten(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}
