/**
 * What a connector and the service exchange about its registration and its runs, as plain data: the connector
 * protocol's messages (protocol/connector/messages.ts) and the service's rules (core/) both use these.
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

/** A run handed to a connector (claimed now, or held since before a restart). */
export interface RunAssignment {
  replicationRunId: string;
  replicationJobId: string;
  type: string;
  serverId: string;
  vmServer: { vmServerAddress?: { vmManagerId?: string; vmId?: string }; vmName?: string; vmPath?: string };
  scheduledStartTime: number;
  leaseExpiresAt: number;
  encrypted: boolean;
  kmsKeyId: string | null;
  licenseType: string | null;
  roleName: string | null;
  description: string | null;
  /** The job's newest image, the parent an incremental run builds on. */
  parentAmiId: string | null;
  serverDetails: unknown;
  /** Where the run stands when it is resumed (null for a newly claimed run): progress never goes back. */
  stage: string | null;
  stageProgress: string | null;
}

export interface ImageDiskPlan {
  index: number;
  sizeBytes: number;
  /** `incremental`: block indexes not recorded keep the parent image's block; `full`: they are zero. */
  mode: 'full' | 'incremental';
  /** Connector-owned facts kept with the snapshot (e.g. the dirty bitmap that tracks changes since it). */
  meta?: Record<string, unknown>;
}

/**
 * The image a run builds on, with its disks' sizes and connector metadata. `compareBlocks`: the service answers
 * diffBlocks for an incremental run over it (a service without the call leaves it out, and a connector without
 * change tracking then reads and records every block, as a full image).
 */
export type ParentImage = {
  amiId: string;
  disks: { index: number; sizeBytes: number; meta?: Record<string, unknown> }[];
  compareBlocks?: boolean;
} | null;

export interface BegunImage {
  amiId: string;
  /** Per disk: block indexes already committed by an earlier attempt of this run (resume), as ranges. */
  committed: Map<number, BlockRangeSet>;
  parent: ParentImage;
}
