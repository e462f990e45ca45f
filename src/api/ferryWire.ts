/**
 * Ferry's own operations on the wire (target prefix `Ferry_20261122`, beside the SMS ones on the same endpoint): every
 * operation's input and output, in one place for the three parties that speak them — the handlers in
 * src/operations/ferry/, the Node client (src/client/ferryClient.ts) and the web console (web/src/api/ferry.ts).
 *
 * Timestamps are a type parameter: handlers build their outputs with Dates (EpochDates, which serialise as epoch
 * seconds), clients read epoch seconds — one shape, so the two sides cannot drift apart. This module is types and
 * constants only, with no imports, so the browser build can use it.
 */

export const FERRY_TARGET_PREFIX = 'Ferry_20261122';

/** AWS JSON timestamps: seconds since the epoch, with up to three decimals. */
export type EpochSeconds = number;

export interface FerryImageDisk {
  index: number;
  snapshotId: string;
  sizeBytes: number;
  dataBlocks: number;
}

export interface FerryImage<Time = EpochSeconds> {
  amiId: string;
  replicationJobId: string;
  replicationRunId: string;
  parentAmiId?: string;
  createdAt: Time;
  encrypted: boolean;
  kmsKeyArn?: string;
  sizeBytes: number;
  dataBlocks: number;
  disks: FerryImageDisk[];
  /** Bytes the image's distinct blocks take in the store, and how many of them other images share (dedup). */
  storedBytes: number;
  sharedBlocks: number;
  exclusiveBytes: number;
}

export interface RunProgress<Time = EpochSeconds> {
  replicationRunId: string;
  replicationJobId: string;
  state: string;
  stage?: string;
  stageProgress?: string;
  bytesDone?: number;
  bytesTotal?: number;
  bytesPerSecond?: number;
  /** Seconds left in the Uploading stage at the current rate, when known. */
  etaSeconds?: number;
  updatedAt: Time;
}

export interface OnDemandQuota<Time = EpochSeconds> {
  replicationJobId: string;
  limit: number;
  used: number;
  windowHours: number;
  /** When the next on-demand run becomes possible, if the quota is used up. */
  nextAvailableAt?: Time;
}

export interface ConnectorHeartbeat<Time = EpochSeconds> {
  connectorId: string;
  /** When the connector last sent a heartbeat (GetConnectors' shape has no member for it). */
  lastHeartbeatAt?: Time;
  /** What the connector itself last reported (HEALTHY / UNHEALTHY) and why. */
  reportedStatus?: string;
  statusMessage?: string;
  /** When it last uploaded its inventory (a catalog import). */
  lastInventoryAt?: Time;
}

export interface FerryInstanceValidation<Time = EpochSeconds> {
  validationId: string;
  name: string;
  status: string;
  message?: string;
  at?: Time;
}

export interface FerryInstance<Time = EpochSeconds> {
  instanceId: string;
  appId?: string;
  serverId: string;
  amiId: string;
  domainName: string;
  /** pending, starting, booting, running, failed, terminating, terminated (src/domain/instance.ts). */
  state: string;
  stateMessage?: string;
  /** none, hydrating, hydrated, failed: whether the instance's disk still reads from the image store. */
  hydration: string;
  hydrationMessage?: string;
  launchedAt: Time;
  bootedAt?: Time;
  hydratedAt?: Time;
  terminatedAt?: Time;
  validations: FerryInstanceValidation<Time>[];
  labels: Record<string, string>;
}

export interface InstanceConsoleOutput<Time = EpochSeconds> {
  instanceId: string;
  /** The newest `maxBytes` (default 64 KiB) of the instance's serial console, as text. */
  output: string;
  timestamp: Time;
}

/** Every operation: its input and its output. The handler table and both clients are typed by this map. */
export interface FerryOperationShapes<Time = EpochSeconds> {
  ListImages: { input: { replicationJobId?: string }; output: { images: FerryImage<Time>[] } };
  GetRunProgress: { input: { replicationRunId?: string }; output: RunProgress<Time> };
  GetOnDemandQuota: { input: { replicationJobId?: string }; output: OnDemandQuota<Time> };
  ListConnectorHeartbeats: { input: Record<string, never>; output: { connectors: ConnectorHeartbeat<Time>[] } };
  ListInstances: { input: { appId?: string }; output: { instances: FerryInstance<Time>[] } };
  GetInstanceConsoleOutput: { input: { instanceId?: string; maxBytes?: number }; output: InstanceConsoleOutput<Time> };
}

export type FerryOperationName = keyof FerryOperationShapes;
export type FerryInput<Op extends FerryOperationName> = FerryOperationShapes[Op]['input'];
/** An operation's output as a handler builds it (Dates) or, by default, as a client reads it (epoch seconds). */
export type FerryOutput<Op extends FerryOperationName, Time = EpochSeconds> = FerryOperationShapes<Time>[Op]['output'];
