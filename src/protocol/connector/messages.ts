/**
 * The connector protocol's calls as typed values: what a connector sends and what the service answers, and the
 * two failures every transport reports the same way. The connector (src/agent) is written against
 * ConnectorTransport; the service implements ConnectorEndpoint (src/operations/connector/endpoint.ts); the HTTP
 * transport and the in-process transport carry one to the other (wire.ts says how over HTTP).
 */
import type { InventoryEntry, InventoryPages } from '../../domain/inventory.ts';
import type { ProgressReport } from '../../domain/replicationRun.ts';
import type { BegunImage, ImageDiskPlan, ParentImage, Registration, RunAssignment } from '../../domain/connectorCalls.ts';

export type { BegunImage, ImageDiskPlan, ParentImage, ProgressReport, Registration, RunAssignment };

export interface RegisterAnswer {
  connectorId: string;
  accountId: string;
  region: string;
  heartbeatIntervalSeconds: number;
  leaseSeconds: number;
}

export interface HeartbeatReport {
  status?: 'HEALTHY' | 'UNHEALTHY';
  message?: string;
}

export interface HeartbeatAnswer {
  catalogImportRequested: boolean;
  runsWaiting: boolean;
}

/** One VM of a connector's inventory, as it reports it (domain/inventory.ts readInventoryEntry reads it). */
export interface InventoryVm {
  vmId: string;
  vmName: string;
  vmPath: string;
  replicable: boolean;
  reason?: string;
  vmManagerType?: string;
  vmManagerName?: string;
  vmManagerId?: string;
  details?: unknown;
}

export interface InventoryAnswer {
  status: string;
  servers: number;
}

export interface BlockRecord {
  blockIndex: number;
  /** Plaintext SHA-256, or null for an all-zero block. */
  sha256: Buffer | null;
}

/**
 * A span of a disk's block indexes for a hash diff: the blocks read in [start, end), ascending, each with its
 * plaintext SHA-256 (null: all zeros); every other index of the span is a hole.
 */
export interface DiffSpan {
  start: number;
  end: number;
  blocks: BlockRecord[];
}

export interface OutgoingBlock {
  sha256: Buffer;
  data: Buffer;
}

export interface FinishedImage {
  amiId: string;
  snapshotIds: string[];
}

/** What a connector needs from the Ferry service; HTTP (agent/httpTransport.ts) or in process (server/connector/localTransport.ts). */
export interface ConnectorTransport {
  register(registration: Registration): Promise<RegisterAnswer>;
  heartbeat(report: HeartbeatReport): Promise<HeartbeatAnswer>;
  inventory(vms: InventoryVm[]): Promise<InventoryAnswer>;
  /**
   * Takes up to `max` due runs. Not idempotent, so never retried blindly: a claim whose answer was lost may still have
   * taken runs, which the connector then finds with activeRuns.
   */
  claim(max: number): Promise<RunAssignment[]>;
  /** Runs this connector holds as ACTIVE (to resume after a restart). */
  activeRuns(): Promise<RunAssignment[]>;
  progress(runId: string, report: ProgressReport): Promise<{ leaseExpiresAt: number }>;
  complete(runId: string, amiId: string): Promise<void>;
  fail(runId: string, message: string): Promise<void>;

  /** The image the run builds on (the job's latest), with its disks' sizes and connector metadata. */
  parentImage(runId: string): Promise<ParentImage>;
  beginImage(runId: string, disks: ImageDiskPlan[]): Promise<BegunImage>;
  /**
   * Hash diff, for a run begun `incremental` over a parent that offers it (ParentImage.compareBlocks): the indexes of
   * the span whose content differs from the parent's block at the same index, ascending. Only those need
   * missingBlocks → putBlocks → recordBlocks (a differing zero or hole: a record with sha256 null).
   */
  diffBlocks(runId: string, diskIndex: number, span: DiffSpan): Promise<number[]>;
  missingBlocks(runId: string, sha256s: Buffer[]): Promise<boolean[]>;
  /**
   * Sends blocks the store lacks. The transport is done with the bytes when the promise settles. Over HTTP each
   * block is its own request (several in flight); in process the batch is one call.
   */
  putBlocks(runId: string, blocks: readonly OutgoingBlock[]): Promise<void>;
  recordBlocks(runId: string, diskIndex: number, records: BlockRecord[]): Promise<void>;
  finishImage(runId: string): Promise<FinishedImage>;
}

/**
 * The service's side of the same calls, for one authenticated connector. The inventory arrives as entries already
 * read (over HTTP a worker thread reads the body page by page); blocks may come with digests the caller vouches for
 * (the embedded connector's own hash workers).
 */
export interface ConnectorEndpoint extends Omit<ConnectorTransport, 'inventory' | 'putBlocks'> {
  inventory(vms: readonly InventoryEntry[] | InventoryPages): Promise<InventoryAnswer>;
  putBlocks(runId: string, blocks: readonly OutgoingBlock[], options?: { trustedDigests?: boolean }): Promise<void>;
}

/** The service says the run is no longer this connector's (deleted job, expired lease): stop quietly. */
export class RunLost extends Error {}

/** Any other refusal, with the status and code the protocol gives it (`{"error": code, "message"}` over HTTP). */
export class ConnectorError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}
