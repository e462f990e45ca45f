/**
 * Composition root: opens the store, builds the core, starts the scheduler and the HTTP server. Tests, benchmarks
 * and `ferry serve` all start Ferry through `startFerry`.
 */
import { readFileSync } from 'node:fs';
import { probeQuery } from './store/probe.ts';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { systemClock, type Clock } from './lib/clock.ts';
import { createLogger } from './lib/logger.ts';
import { defaultPolicy, type Policy } from './domain/policy.ts';
import { openStore } from './store/openStore.ts';
import { FerryEvents } from './core/events.ts';
import type { Core } from './core/context.ts';
import { secretLookup } from './core/accessKeys.ts';
import { startRootCredentials, type RootCredentials } from './core/rootCredentials.ts';
import { openSecretsAtRest, type SecretsAtRest } from './core/secretsAtRest.ts';
import { Scheduler } from './scheduler/scheduler.ts';
import { LeaseKeeper, newLeaseHolder } from './core/leadership.ts';
import { SCHEDULER_LEASE_TIMING, type LeaseTiming } from './domain/leadership.ts';
import { buildApp } from './server/app.ts';
import { parseRegionList } from './protocol/region.ts';
import { DEFAULT_LAUNCH_URI, defaultInstancesDir, type LaunchConfig, type ServeConfig } from './config/config.ts';
import { Keyring } from './kms/keyring.ts';
import { openImageStore, type ImageStore } from './images/imageStore.ts';
import { openBlockStorage, parseBlocksSetting } from './images/blocks/blocksUrl.ts';
import { LeftUploadSweeps } from './images/blocks/leftUploads.ts';
import type { DataPlane } from './core/runImages.ts';
import { GarbageCollection, deferWhileInUse, followRunsForImages } from './imageLifecycle.ts';
import { startEmbeddedConnector } from './embeddedConnector.ts';
import type { Connector } from './agent/connector.ts';
// Launch (src/launch): instances on libvirt.
import { LibvirtInstanceService } from './launch/instanceService.ts';
// Observability (metrics, webhooks): src/observability, docs/events.md.
import { FerryMetrics } from './observability/metrics.ts';
import { startWebhooks, type Webhooks } from './observability/webhooks/index.ts';
import type { DeliveryOptions } from './observability/webhooks/dispatcher.ts';
// Artifact buckets (src/artifacts), served over S3's REST API on the same port.
import { openLocalArtifactStore } from './artifacts/local/localArtifactStore.ts';
import { BucketBlobs } from './artifacts/bucket/bucketBlobs.ts';
import type { ArtifactStore } from './artifacts/artifactStore.ts';
import type { ArtifactLimits } from './artifacts/limits.ts';
// Applications (src/core/apps): statuses kept in every transaction, launches driven through the ports.
import type { AppPorts, ArtifactStore as AppArtifactStore, InstanceService } from './apps/ports.ts';
import { appStatusHook } from './core/apps/refreshApps.ts';
import { LaunchCoordinator } from './core/apps/launchCoordinator.ts';
import { AppValidationRunner } from './core/apps/appValidationRunner.ts';
import { launchPlacement, NO_LAUNCH_NODE, type LaunchPlacement } from './domain/launchPlacement.ts';
import { liveInstances } from './launch/instanceRepo.ts';
import { LaunchElsewhere } from './launch/launchElsewhere.ts';

/** How often the launch node of a cluster looks for launches, terminations and validations other nodes asked for. */
const FOLLOW_OTHER_NODES_MS = 2000;

export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface FerryOptions extends Partial<ServeConfig> {
  dataDir: string;
  clock?: Clock;
  policy?: Partial<Policy>;
  log?: Logger;
  env?: NodeJS.ProcessEnv;
  /** Block compression in the image store (default: FERRY_COMPRESSION, else none). */
  compression?: 'zstd' | 'none';
  /** How often the embedded connector looks for work (default 1 s). */
  connectorPollMs?: number;
  /** Webhook URLs for job and run state changes (`--webhook`; default: FERRY_WEBHOOK_URLS, comma-separated). */
  webhookUrls?: string[];
  /** Webhook delivery tuning: retries, timeouts, concurrency (tests shorten them). */
  webhookDelivery?: Partial<DeliveryOptions>;
  /** Artifact bucket limits (tests lower them; defaults: src/artifacts/limits.ts). */
  artifactLimits?: Partial<ArtifactLimits>;
  /** The launch subsystem (LaunchApp, TerminateApp); without one those answer that it is missing. */
  instances?: InstanceService;
  /** Another artifact store for the App operations than the local one in the data dir (tests). */
  artifacts?: AppArtifactStore;
  /** Regions a credential may be scoped to (default: FERRY_REGIONS, else any name of AWS's region pattern). */
  regions?: ReadonlySet<string>;
  /** Where instances are launched (default: FERRY_LAUNCH_URI / FERRY_INSTANCES_DIR, else qemu:///system and the default dir). */
  launch?: Partial<LaunchConfig>;
  /** The scheduler lease's timing on a store shared by nodes (default: domain/leadership.ts; tests shorten it). */
  schedulerLease?: LeaseTiming;
}

function compressionFrom(env: NodeJS.ProcessEnv): 'zstd' | 'none' {
  const value = env.FERRY_COMPRESSION ?? 'none';
  if (value !== 'zstd' && value !== 'none') throw new Error(`FERRY_COMPRESSION must be zstd or none; got ${JSON.stringify(value)}.`);
  return value;
}

export interface RunningFerry {
  url: string;
  port: number;
  /** This node's name (FERRY_NODE_ID, else the host name): in /health, /metrics and the scheduler lease. */
  nodeId: string;
  core: Core;
  scheduler: Scheduler;
  root: RootCredentials;
  /** The master key and the sealer of access keys' secrets (what `ferry accounts` commands use, in process). */
  secrets: SecretsAtRest;
  plane: DataPlane<ImageStore>;
  /** The embedded connector, when started with a datastore. */
  connector?: Connector;
  /** Served at GET /metrics. */
  metrics: FerryMetrics;
  /** Set when webhook URLs are configured. */
  webhooks?: Webhooks;
  /** Artifact buckets: user data, scripts and templates, also served over S3's REST API. */
  artifacts: ArtifactStore;
  /** Drives app launches and terminations. */
  launches: LaunchCoordinator;
  /** Runs app-level (SSM) validations once an app is launched. */
  appValidations: AppValidationRunner;
  /** Launched instances (libvirt); started only where this node launches (`launchPlacement`). */
  instances: LibvirtInstanceService;
  /** Whether this node launches instances, or which node does (a cluster). */
  launchPlacement: LaunchPlacement;
  close(): Promise<void>;
}

export async function startFerry(options: FerryOptions): Promise<RunningFerry> {
  const clock = options.clock ?? systemClock;
  const log = options.log ?? createLogger(options.logLevel ?? 'info');
  const env = options.env ?? process.env;
  const regions = options.regions ?? (env.FERRY_REGIONS ? parseRegionList(env.FERRY_REGIONS) : undefined);
  const store = await openStore({ dataDir: options.dataDir, url: options.store }, clock.now(), { warn: (message) => log.warn(message), poolSize: options.storePoolSize });
  const core: Core = { db: store.db, readRows: store.readRows, readArrays: store.readArrays, capabilities: store.capabilities, clock, policy: { ...defaultPolicy, ...options.policy }, log, events: new FerryEvents() };
  // Secrets at rest: the master key (checked against what the store is sealed with), then the root key.
  let secrets: SecretsAtRest;
  let root: RootCredentials;
  try {
    secrets = await openSecretsAtRest(core, options.dataDir, env);
    if (secrets.sealedNow > 0) log.warn({ keys: secrets.sealedNow }, 'access key secrets stored in plain text are now sealed under the master key');
    root = await startRootCredentials(core, secrets.accessKeys, options.dataDir, env, (message) => log.warn(message));
  } catch (thrown) {
    await store.close();
    throw thrown;
  }
  // Apps follow their jobs, runs and instances in the same transactions, from the first change on. The artifact
  // store joins the ports once it is open (below), before anything can launch.
  const ports: AppPorts = { instances: options.instances, artifacts: options.artifacts };
  const launches = new LaunchCoordinator(core, ports);
  const appValidations = new AppValidationRunner(core, ports);
  (core.beforeCommit ??= []).push(appStatusHook(core, () => launches.refreshOptions));
  // Observability: metrics follow the events from here on; webhooks stage an outbox row in every transaction
  // that changes a job or run, so both start before anything can change one.
  const nodeId = options.nodeId ?? (env.FERRY_NODE_ID || hostname());
  const metrics = new FerryMetrics({ core, nodeId });
  const webhooks = await startWebhooks({
    core,
    dataDir: options.dataDir,
    env,
    urls: options.webhookUrls,
    log,
    version: VERSION,
    delivery: options.webhookDelivery,
    observe: metrics.webhookDelivery,
    capabilities: store.capabilities,
  });
  const keyring = new Keyring(core.db, secrets.master, clock);
  const images = await openImageStore({
    db: core.db,
    dataDir: options.dataDir,
    log: log.child({ component: 'images' }),
    resolveSealer: (keyRef) => keyring.sealerForKeyRef(keyRef),
    compression: options.compression ?? compressionFrom(env),
    now: () => clock.now(),
    blocks: blockStorageFor(options, env),
  });
  const plane: DataPlane<ImageStore> = { images, keyring };
  const artifacts = await openLocalArtifactStore({
    db: core.db,
    dataDir: options.dataDir,
    now: () => clock.now(),
    limits: options.artifactLimits,
    log: log.child({ component: 'artifacts' }),
    // With remote block storage, artifact bytes go to the same bucket, so that every node of a cluster reads them.
    ...(images.placement.remote ? { blobs: new BucketBlobs(images.placement.storage, join(options.dataDir, 'artifacts')), garbageGraceMs: artifactGraceMs(env) } : {}),
  });
  const gc = new GarbageCollection(images, log);
  // A node killed mid-pack leaves an S3 multipart upload that nothing completes: swept at start, then hourly.
  const uploadSweeps = images.placement.remote ? new LeftUploadSweeps(core.db, images.placement.storage, () => clock.now(), log.child({ component: 'images' })) : undefined;
  uploadSweeps?.start();
  const unsubscribe = followRunsForImages(core, images, log);
  ports.artifacts ??= artifacts;
  const instances = new LibvirtInstanceService({
    core,
    images,
    uri: options.launch?.uri ?? (env.FERRY_LAUNCH_URI || DEFAULT_LAUNCH_URI),
    instancesDir: options.launch?.instancesDir ?? (env.FERRY_INSTANCES_DIR || defaultInstancesDir(env)),
    log: log.child({ component: 'launch' }),
    ...(options.launch?.hydrationBandwidthMiB ? { hydrationBandwidthMiB: options.launch.hydrationBandwidthMiB } : {}),
    ...(options.launch?.bootTimeoutMs ? { bootTimeoutMs: options.launch.bootTimeoutMs } : {}),
  });
  // In a cluster one node launches (domain/launchPlacement.ts); the others answer from the store and leave the rest to it.
  const placement = launchPlacement({ sharedStore: store.capabilities.sharedByNodes === true, nodeId, launchNode: options.launch?.node ?? (env.FERRY_LAUNCH_NODE || undefined) });
  ports.instances ??= placement.kind === 'here' ? instances : new LaunchElsewhere(core, nodeId, placement.kind === 'elsewhere' ? placement.node : undefined);
  // Retention never deletes an image an instance still reads through its export: deferred until it is hydrated,
  // failed or terminated, which pokes the scheduler to try again.
  // Nodes sharing a store take turns at the scheduler through a lease; a store of its own makes this node the leader.
  const leadership = store.capabilities.sharedByNodes ? new LeaseKeeper(core.db, 'scheduler', newLeaseHolder(nodeId), options.schedulerLease ?? SCHEDULER_LEASE_TIMING) : undefined;
  const scheduler = new Scheduler(core, deferWhileInUse(gc.deleter(), (amiId) => instances.imageReaders(amiId)), leadership);
  const unsubscribeReaders = core.events.subscribe((event) => {
    if (event.type === 'instance.state' && (event.hydration === 'hydrated' || event.state === 'failed' || event.state === 'terminated')) scheduler.poke();
  });
  metrics.attach({ images, scheduler, webhooks });
  const health = {
    nodeId,
    store: { kind: store.capabilities.sharedByNodes ? 'postgres' : 'sqlite', check: async () => void (await core.readRows(probeQuery(core.db))) },
    // A name no object has: the answer (absent) proves the storage answers, without reading or listing anything.
    blocks: { kind: images.placement.storage.kind, check: async () => void (await images.placement.storage.sizeOf('health/probe')) },
    schedulerLeading: () => scheduler.leading,
  };
  const app = await buildApp({ core, log, secrets: secretLookup(core, secrets.accessKeys, (problem) => log.error({ problem }, 'an access key cannot be used')), version: VERSION, plane, metrics, artifacts, ports, regions, health });
  // The embedded connector (in process, it needs no HTTP) is registered before the port opens: its registration counts
  // as a heartbeat, so the first request a client sends (ImportServerCatalog right after start) finds it healthy
  // instead of racing its start (NoConnectorsAvailableException, seen on PostgreSQL under load).
  const connector = options.datastore
    ? await startEmbeddedConnector({ core, plane, dataDir: options.dataDir, datastore: options.datastore, rootAccountId: root.accountId, version: VERSION, log, pollIntervalMs: options.connectorPollMs, maxBandwidth: options.maxBandwidth, onRunFinished: metrics.connectorRunFinished })
    : undefined;
  try {
    await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 });
  } catch (thrown) {
    await connector?.stop(); // a port in use: nothing of this node may keep running
    throw thrown;
  }
  scheduler.start();
  if (placement.kind === 'here') {
    // Instances a previous process left mid-launch or mid-terminate are driven on (in the background). The launch
    // node of a cluster also looks for what other nodes asked (their events stay in their processes).
    const follow = store.capabilities.sharedByNodes ? { followOtherNodesMs: FOLLOW_OTHER_NODES_MS } : {};
    void instances.start();
    await launches.start(follow);
    await appValidations.start(follow);
  } else if (placement.kind === 'nowhere') {
    // A store that had launched instances before it was shared (or named a launch node): nobody watches them now.
    const unwatched = (await liveInstances(core)).length;
    if (unwatched > 0) log.warn({ instances: unwatched }, `${unwatched} launched instance(s) are not watched by any node: ${NO_LAUNCH_NODE}`);
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 0);
  const host = options.host === '0.0.0.0' || options.host === undefined ? '127.0.0.1' : options.host;
  let closed = false;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    nodeId,
    core,
    scheduler,
    root,
    secrets,
    plane,
    connector,
    metrics,
    webhooks,
    artifacts,
    launches,
    appValidations,
    instances,
    launchPlacement: placement,
    async close() {
      if (closed) return;
      closed = true;
      await connector?.stop();
      await launches.stop();
      await appValidations.stop();
      await scheduler.stop();
      unsubscribe();
      unsubscribeReaders();
      await gc.stop();
      await uploadSweeps?.stop();
      await app.close();
      // Stops watching instances and closes their image exports; the instances themselves keep running.
      await instances.close();
      await artifacts.close();
      // Nothing changes jobs any more: stop delivering (what is left goes out at the next start).
      await webhooks?.stop();
      metrics.close();
      await images.close();
      await store.close();
    },
  };
}

/** FERRY_ARTIFACT_GRACE_SECONDS: how long artifact garbage stays in a shared bucket (src/artifacts/local/sharedBlobs.ts). */
function artifactGraceMs(env: NodeJS.ProcessEnv): number | undefined {
  const value = env.FERRY_ARTIFACT_GRACE_SECONDS;
  if (value === undefined || value === '') return undefined;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds < 0) throw new Error(`FERRY_ARTIFACT_GRACE_SECONDS must be a number of seconds ≥ 0, not ${JSON.stringify(value)}`);
  return seconds * 1000;
}

/** The S3 block storage `--blocks s3://…` (FERRY_BLOCKS) asks for; undefined: local packs in the data dir. */
function blockStorageFor(options: FerryOptions, env: NodeJS.ProcessEnv) {
  const setting = parseBlocksSetting(options.blocks ?? (env.FERRY_BLOCKS || undefined), options.s3Endpoint ?? (env.FERRY_S3_ENDPOINT || undefined), env);
  return setting ? openBlockStorage(setting) : undefined;
}
