/**
 * What a connector needs from the Ferry service. `HttpTransport` speaks the connector protocol over HTTP (a
 * standalone `ferry connector`); the embedded connector of `ferry serve --datastore` calls the same operations
 * in process. Both are driven by the same connector code.
 */
import type { BlockRangeSet } from '../lib/blockRangeSet.ts';

export interface Registration {
  vmManagerType: string;
  vmManagerName: string;
  vmManagerId: string;
  version: string;
  capabilities: string[];
  ipAddress?: string;
  macAddress?: string;
}

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

export interface RunAssignment {
  replicationRunId: string;
  replicationJobId: string;
  type: string;
  serverId: string;
  vmServer: { vmServerAddress?: { vmManagerId?: string; vmId?: string }; vmName?: string; vmPath?: string };
  leaseExpiresAt: number;
  encrypted: boolean;
  kmsKeyId: string | null;
  licenseType: string | null;
  parentAmiId: string | null;
  serverDetails: unknown;
  /** Where the run stands when it is resumed (null for a newly claimed run). */
  stage?: string | null;
  stageProgress?: string | null;
}

export interface ProgressReport {
  stage: string;
  stageProgress: string;
  bytesDone?: number;
  bytesTotal?: number;
  bytesPerSecond?: number;
}

export interface ImageDiskPlan {
  index: number;
  sizeBytes: number;
  /** `incremental`: block indexes not recorded keep the parent image's block; `full`: they are zero. */
  mode: 'full' | 'incremental';
  /** Connector-owned facts kept with the snapshot (e.g. the dirty bitmap that tracks changes since it). */
  meta?: Record<string, unknown>;
}

export interface BegunImage {
  /** Per disk: block indexes already committed by an earlier attempt of this run (resume), as ranges. */
  committed: Map<number, BlockRangeSet>;
  /** The parent image's disks (size and connector metadata), for planning incremental reads. */
  parent: { amiId: string; disks: { index: number; sizeBytes: number; meta?: Record<string, unknown> }[] } | null;
}

export interface BlockRecord {
  blockIndex: number;
  /** Plaintext SHA-256, or null for an all-zero block. */
  sha256: Buffer | null;
}

export interface OutgoingBlock {
  sha256: Buffer;
  data: Buffer;
}

export interface ConnectorTransport {
  register(registration: Registration): Promise<{ connectorId: string; heartbeatIntervalSeconds: number; leaseSeconds: number }>;
  heartbeat(report: { status?: 'HEALTHY' | 'UNHEALTHY'; message?: string }): Promise<{ catalogImportRequested: boolean; runsWaiting: boolean }>;
  inventory(vms: InventoryVm[]): Promise<{ status: string; servers: number }>;
  claim(max: number): Promise<RunAssignment[]>;
  /** Runs this connector holds as ACTIVE (to resume after a restart). */
  activeRuns(): Promise<RunAssignment[]>;
  progress(runId: string, report: ProgressReport): Promise<{ leaseExpiresAt: number }>;
  complete(runId: string, amiId: string): Promise<void>;
  fail(runId: string, message: string): Promise<void>;

  /** The image the run builds on (the job's latest), with its disks' sizes and connector metadata. */
  parentImage(runId: string): Promise<BegunImage['parent']>;
  beginImage(runId: string, disks: ImageDiskPlan[]): Promise<BegunImage>;
  missingBlocks(runId: string, sha256s: Buffer[]): Promise<boolean[]>;
  /**
   * Sends blocks the store lacks. The transport is done with the bytes when the promise settles. Over HTTP each
   * block is its own request (several in flight); in process the batch is one call.
   */
  putBlocks(runId: string, blocks: readonly OutgoingBlock[]): Promise<void>;
  recordBlocks(runId: string, diskIndex: number, records: BlockRecord[]): Promise<void>;
  finishImage(runId: string): Promise<{ amiId: string; snapshotIds: string[] }>;
}

/** Thrown when the service says the run is no longer this connector's (deleted job, expired lease): stop quietly. */
export class RunLost extends Error {}
