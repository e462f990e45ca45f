/**
 * How each connector call travels over HTTP, in both directions: the HTTP transport writes a call's path
 * parameters and JSON body and reads its answer; the server reads the same body (checked with the SMS API's own
 * schema runtime, reporting 400 BadRequest) and writes the same answer. Committed blocks travel as ranges
 * (lib/blockRangeSet.ts), never as a bitmap. The inventory (a large body read in a worker) and block uploads (raw
 * bytes, one PUT per block) are the two calls with bodies of their own; their paths and bodies are here too.
 */
import { validateInput, type Field, type SchemaErrors, type Shape } from '../../api/schema.ts';
import { blockCount } from '../../domain/blocks.ts';
import { CONNECTOR_CAPABILITIES, VM_MANAGER_TYPES } from '../../domain/enums.ts';
import { BlockRangeSet, decodeBlockRangeSet, encodeBlockRangeSet } from '../../lib/blockRangeSet.ts';
import type { BegunImage, BlockRecord, ConnectorTransport, ImageDiskPlan, InventoryVm } from './messages.ts';
import { badRequest, CONNECTOR_ROUTES, MAX_DIFF_BLOCKS, MAX_HASHES_PER_QUERY, parseSha256, type ConnectorRouteName } from './routes.ts';

/** The path parameters of a route (`:runId`, `:disk`, `:sha256`), as strings. */
export interface PathParams {
  runId?: string;
  disk?: string;
  sha256?: string;
}

type Call<K extends keyof ConnectorTransport> = ConnectorTransport[K];

/** One call over HTTP. */
export interface WireCall<Args extends unknown[], Result> {
  route: ConnectorRouteName;
  /** Client: the request's path parameters and JSON body. */
  write(...args: Args): { params: PathParams; body: unknown };
  /** Server: the arguments, from the path parameters (checked before the body was read) and the body. */
  read(params: PathParams, body: Record<string, unknown>): Args;
  /** Server: the answer's JSON. */
  answer(result: Result): unknown;
  /** Client: the result, from the answer's JSON. */
  result(json: Record<string, unknown>, args: Args): Result;
}

type WireCalls = {
  [K in JsonCallName]: WireCall<Parameters<Call<K>>, Awaited<ReturnType<Call<K>>>>;
};

/** Every call but the two with bodies of their own. */
export type JsonCallName = Exclude<keyof ConnectorTransport, 'inventory' | 'putBlocks'>;

/** Schema violations are the protocol's 400s. */
const BAD_REQUEST: SchemaErrors = { missing: badRequest, type: badRequest, invalid: badRequest };
const read = <T>(shape: Shape, body: Record<string, unknown>): T => validateInput<T>(shape, body, BAD_REQUEST);

const text = (required = false): Field => ({ kind: 'string', required });
const count: Field = { kind: 'number', min: 0 };
const SHA256_HEX = /^[0-9a-f]{64}$/;

const REGISTRATION: Shape = {
  vmManagerType: { kind: 'enum', values: VM_MANAGER_TYPES, required: true },
  vmManagerName: text(true),
  vmManagerId: text(true),
  version: text(true),
  capabilities: { kind: 'list', of: { kind: 'enum', values: CONNECTOR_CAPABILITIES } },
  ipAddress: text(),
  macAddress: text(),
};

const HEARTBEAT: Shape = { status: { kind: 'enum', values: ['HEALTHY', 'UNHEALTHY'] }, message: text() };

const PROGRESS: Shape = { stage: text(true), stageProgress: text(true), bytesDone: count, bytesTotal: count, bytesPerSecond: count };

const DISK_PLANS: Shape = {
  disks: {
    kind: 'list',
    required: true,
    minItems: 1,
    of: {
      kind: 'structure',
      members: {
        index: { kind: 'integer', required: true, min: 0 },
        sizeBytes: { kind: 'integer', required: true, min: 1, max: Number.MAX_SAFE_INTEGER },
        mode: { kind: 'enum', values: ['full', 'incremental'], required: true },
        meta: { kind: 'object' },
      },
    },
  },
};

/** A hash diff's span; its records are read like recordBlocks' (readRecords), the store checks the rest. */
const SPAN: Shape = { start: { kind: 'integer', required: true, min: 0 }, end: { kind: 'integer', required: true, min: 1 } };

const HASHES: Shape = { sha256s: { kind: 'list', required: true, maxItems: MAX_HASHES_PER_QUERY, of: { kind: 'string', pattern: SHA256_HEX } } };

const hex = (hash: Buffer): string => hash.toString('hex');
const runOf = (params: PathParams): string => params.runId!;
const none = (): { params: PathParams; body: unknown } => ({ params: {}, body: {} });
const onRun = (runId: string, body: unknown = {}) => ({ params: { runId }, body });

/** `[blockIndex, sha256 | null]` pairs: the compact form of a run's block records. */
const writeRecords = (records: readonly BlockRecord[]): unknown[] => records.map((r) => [r.blockIndex, r.sha256 === null ? null : hex(r.sha256)]);

function readRecords(body: Record<string, unknown>, limit = Infinity): BlockRecord[] {
  const raw = body.records;
  if (!Array.isArray(raw)) throw badRequest('records must be a list of [blockIndex, sha256 | null].');
  if (raw.length > limit) throw badRequest(`records must list at most ${limit} blocks.`);
  return raw.map((entry: unknown, i) => {
    if (!Array.isArray(entry) || !Number.isInteger(entry[0])) throw badRequest(`records[${i}] must be [blockIndex, sha256 | null].`);
    return { blockIndex: entry[0] as number, sha256: entry[1] === null ? null : parseSha256(entry[1], `records[${i}] hash`) };
  });
}

/** Per disk, the committed block ranges as the wire carries them (`committedRanges`: disk index → encoded ranges). */
export function encodeCommitted(committed: ReadonlyMap<number, BlockRangeSet>): Record<string, string> {
  const ranges: Record<string, string> = {};
  for (const [disk, blocks] of committed) ranges[disk] = encodeBlockRangeSet(blocks);
  return ranges;
}

export function decodeCommitted(ranges: unknown, disks: readonly ImageDiskPlan[]): Map<number, BlockRangeSet> {
  // (Older services sent a bitmap as `committed`: a connector must never read one as ranges.)
  if (typeof ranges !== 'object' || ranges === null) {
    throw new Error('The service did not say which blocks this run committed (committedRanges): it is older than this connector; upgrade it.');
  }
  const committed = new Map<number, BlockRangeSet>();
  for (const disk of disks) {
    const encoded = (ranges as Record<string, unknown>)[String(disk.index)];
    committed.set(disk.index, typeof encoded === 'string' ? decodeBlockRangeSet(encoded, blockCount(disk.sizeBytes)) : new BlockRangeSet());
  }
  return committed;
}

export const WIRE: WireCalls = {
  register: {
    route: 'register',
    write: (registration) => ({ params: {}, body: registration }),
    read: (_params, body) => {
      const registration = read<Parameters<Call<'register'>>[0]>(REGISTRATION, body);
      return [{ ...registration, capabilities: registration.capabilities ?? [registration.vmManagerType] }];
    },
    answer: (answer) => answer,
    result: (json) => json as unknown as Awaited<ReturnType<Call<'register'>>>,
  },
  heartbeat: {
    route: 'heartbeat',
    write: (report) => ({ params: {}, body: report }),
    read: (_params, body) => [read(HEARTBEAT, body)],
    answer: (answer) => answer,
    result: (json) => json as unknown as Awaited<ReturnType<Call<'heartbeat'>>>,
  },
  claim: {
    route: 'claim',
    write: (max) => ({ params: {}, body: { max } }),
    read: (_params, body) => [read<{ max?: number }>({ max: count }, body).max ?? 1],
    answer: (runs) => ({ runs }),
    result: (json) => json.runs as Awaited<ReturnType<Call<'claim'>>>,
  },
  activeRuns: {
    route: 'active',
    write: none,
    read: () => [],
    answer: (runs) => ({ runs }),
    result: (json) => json.runs as Awaited<ReturnType<Call<'activeRuns'>>>,
  },
  progress: {
    route: 'progress',
    write: (runId, report) => onRun(runId, report),
    read: (params, body) => [runOf(params), read(PROGRESS, body)],
    answer: (answer) => answer,
    result: (json) => json as unknown as Awaited<ReturnType<Call<'progress'>>>,
  },
  complete: {
    route: 'complete',
    write: (runId, amiId) => onRun(runId, { amiId }),
    read: (params, body) => [runOf(params), read<{ amiId: string }>({ amiId: text(true) }, body).amiId],
    answer: () => ({ ok: true }),
    result: () => undefined,
  },
  fail: {
    route: 'fail',
    write: (runId, message) => onRun(runId, { message }),
    read: (params, body) => [runOf(params), read<{ message: string }>({ message: text(true) }, body).message],
    answer: () => ({ ok: true }),
    result: () => undefined,
  },
  parentImage: {
    route: 'imageParent',
    write: (runId) => onRun(runId),
    read: (params) => [runOf(params)],
    answer: (parent) => ({ parent }),
    result: (json) => json.parent as Awaited<ReturnType<Call<'parentImage'>>>,
  },
  beginImage: {
    route: 'imageBegin',
    write: (runId, disks) => onRun(runId, { disks }),
    read: (params, body) => [runOf(params), read<{ disks: ImageDiskPlan[] }>(DISK_PLANS, body).disks],
    // Ranges, not a bitmap: the answer follows what the run committed, never the disk's size.
    answer: (begun) => ({ amiId: begun.amiId, committedRanges: encodeCommitted(begun.committed), parent: begun.parent }),
    result: (json, [, disks]): BegunImage => ({
      amiId: json.amiId as string,
      committed: decodeCommitted(json.committedRanges, disks),
      parent: json.parent as BegunImage['parent'],
    }),
  },
  diffBlocks: {
    route: 'imageDiff',
    write: (runId, diskIndex, span) => ({ params: { runId, disk: String(diskIndex) }, body: { start: span.start, end: span.end, records: writeRecords(span.blocks) } }),
    read: (params, body) => {
      const { start, end } = read<{ start: number; end: number }>(SPAN, body);
      return [runOf(params), Number(params.disk), { start, end, blocks: readRecords(body, MAX_DIFF_BLOCKS) }];
    },
    answer: (differ) => ({ differ }),
    result: (json) => json.differ as number[],
  },
  missingBlocks: {
    route: 'imageMissing',
    write: (runId, sha256s) => onRun(runId, { sha256s: sha256s.map(hex) }),
    read: (params, body) => [runOf(params), read<{ sha256s: string[] }>(HASHES, body).sha256s.map((h) => Buffer.from(h, 'hex'))],
    answer: (missing) => ({ missing }),
    result: (json) => json.missing as boolean[],
  },
  recordBlocks: {
    route: 'imageRecords',
    write: (runId, diskIndex, records) => ({
      params: { runId, disk: String(diskIndex) },
      body: { records: writeRecords(records) },
    }),
    read: (params, body) => [runOf(params), Number(params.disk), readRecords(body)],
    answer: () => ({}),
    result: () => undefined,
  },
  finishImage: {
    route: 'imageFinish',
    write: (runId) => onRun(runId),
    read: (params) => [runOf(params)],
    answer: (finished) => finished,
    result: (json) => json as unknown as Awaited<ReturnType<Call<'finishImage'>>>,
  },
};

/** The inventory's body (read on the server by server/inventoryBody.ts, entry by entry with domain/inventory.ts). */
export const inventoryBody = (vms: readonly InventoryVm[]): unknown => ({ vms });

/** A route's path with its parameters filled in. */
export function pathOf(route: ConnectorRouteName, params: PathParams): string {
  return CONNECTOR_ROUTES[route].path.replace(/:(runId|disk|sha256)/g, (_, name: keyof PathParams) => encodeURIComponent(params[name]!));
}

/** The path of one block upload (PUT, the block's bytes as the body). */
export const blockPath = (runId: string, sha256: Buffer): string => pathOf('imageBlock', { runId, sha256: hex(sha256) });
