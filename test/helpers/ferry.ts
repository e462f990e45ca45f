/** Starts a real Ferry (in process, ephemeral port, temp data dir) and real AWS SDK clients against it. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetConnectorsCommand, SMSClient } from '@aws-sdk/client-sms';
import { startFerry, type RunningFerry } from '../../src/main.ts';
import type { Clock } from '../../src/lib/clock.ts';
import type { Policy } from '../../src/domain/policy.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { issueConnector } from '../../src/core/connectors.ts';
import { createAccount, type AccountKeys } from '../../src/core/accounts.ts';
import type { Tenant } from '../../src/domain/tenant.ts';
import type { LaunchConfig } from '../../src/config/config.ts';
import { TestConnector } from './testConnector.ts';
import type { ArtifactLimits } from '../../src/artifacts/limits.ts';
import type { ArtifactStore, InstanceService } from '../../src/apps/ports.ts';
import { createTestDatabase, testPostgresUrl } from './stores.ts';
import { stopBeforeDropping } from './testDatabases.ts';
import { forgetTestStore, LONE_TEST_NODE, registerTestStore } from './process.ts';
import { blocksFor, forgetBlocks, type TestBlocks } from './testBlocks.ts';

export interface TestFerry {
  ferry: RunningFerry;
  dataDir: string;
  /** The PostgreSQL URL when the server runs on PostgreSQL: a CLI run beside it needs it as FERRY_STORE. */
  storeUrl?: string;
  /** 'local' (pack files in the data dir) or 's3' (a bucket of its own on the test process's moto_server). */
  blocks: TestBlocks;
  /** FERRY_STORE / FERRY_BLOCKS / FERRY_S3_ENDPOINT a CLI or a second node beside this server needs ({} for SQLite + local). */
  serverEnv: Record<string, string>;
  /** An SMS client signed with the root account's keys. */
  sms: SMSClient;
  client(keys: { accessKeyId: string; secretAccessKey: string }, region?: string): SMSClient;
  createAccount(name: string): Promise<AccountKeys>;
  /** Issues a connector token for `tenant` (default: root, us-east-1) and returns a connector using it. */
  connector(tenant?: Partial<Tenant>): Promise<TestConnector>;
  close(): Promise<void>;
}

export interface TestFerryOptions {
  clock?: Clock;
  policy?: Partial<Policy>;
  dataDir?: string;
  /** Starts the embedded connector on this datastore directory (default: none). */
  datastore?: string;
  /** Image store block compression (default none). */
  compression?: 'zstd' | 'none';
  /** How often the embedded connector looks for work. */
  connectorPollMs?: number;
  /** Artifact bucket limits (e.g. a small maximum object size). */
  artifactLimits?: Partial<ArtifactLimits>;
  /**
   * Stand-ins for the launch subsystem and the artifact store the App operations use (default: the real ones —
   * libvirt as `launch` says, and the local artifact store). Only for failures the real ones cannot produce.
   */
  instances?: InstanceService;
  artifacts?: ArtifactStore;
  /** Webhook URLs for state changes (docs/events.md). */
  webhookUrls?: string[];
  /** Regions a SigV4 scope may name (FERRY_REGIONS). */
  regions?: ReadonlySet<string>;
  /**
   * Where instances are launched. Default: nowhere — a libvirt socket that does not exist, so launching is
   * unavailable (honestly: the real subsystem says libvirt does not answer) and no test boots a VM by accident.
   * Tests that launch pass test/helpers/launch.ts's private instances dir and qemu:///system.
   */
  launch?: Partial<LaunchConfig>;
  /**
   * This server's node id (FERRY_NODE_ID). On PostgreSQL the default is LONE_TEST_NODE, which is also the default
   * launch node (`launch.node`): a lone server launches; give another id to start a node of a cluster that does not.
   */
  nodeId?: string;
  /**
   * The state store: 'sqlite' (in the data dir), 'postgres' (a fresh database on FERRY_TEST_PG_URL, dropped on
   * close), or a postgres:// URL. Default: FERRY_TEST_STORE, else 'sqlite'.
   */
  store?: 'sqlite' | 'postgres' | `postgres://${string}`;
  /**
   * Where image blocks live: 'local' (pack files in the data dir) or 's3' (a fresh bucket on a moto_server shared
   * by the test process). Default: FERRY_TEST_BLOCKS, else 'local'. Tests that read pack files pin 'local'.
   */
  blocks?: TestBlocks;
}

/** Test databases by data dir, so a Ferry restarted on the same data dir finds its state again. */
const postgresByDataDir = new Map<string, { url: string; drop(): Promise<void> }>();

async function storeFor(choice: TestFerryOptions['store'], dataDir: string): Promise<{ url?: string; drop?: () => Promise<void> }> {
  const wanted = choice ?? (process.env.FERRY_TEST_STORE as TestFerryOptions['store']) ?? 'sqlite';
  if (wanted === 'sqlite') return {};
  if (wanted !== 'postgres') return { url: wanted };
  if (!testPostgresUrl) throw new Error('a PostgreSQL store was asked for, but FERRY_TEST_PG_URL is not set (export FERRY_TEST_PG_URL=$(.ci/postgres))');
  let database = postgresByDataDir.get(dataDir);
  if (!database) {
    database = await createTestDatabase(testPostgresUrl);
    postgresByDataDir.set(dataDir, database);
  }
  const created = database;
  return { url: created.url, drop: () => (postgresByDataDir.delete(dataDir), created.drop()) };
}

/**
 * The state store and block storage a Ferry started outside `startTestFerry` on `dataDir` should use, as FERRY_STORE /
 * FERRY_BLOCKS / FERRY_S3_ENDPOINT (and moto's keys): what FERRY_TEST_STORE and FERRY_TEST_BLOCKS ask for ({} for
 * SQLite + local). The same data dir gets the same database and bucket again (a restart); `dispose` drops them.
 */
export async function testServerPlace(dataDir: string): Promise<{ env: Record<string, string>; dispose(): Promise<void> }> {
  const store = await storeFor(undefined, dataDir);
  const blocks = await blocksFor(undefined, dataDir);
  const env = { ...(store.url ? { FERRY_STORE: store.url } : {}), ...blocks?.env };
  // A CLI run on this data dir (ferryCli) reaches the same store and blocks.
  if (Object.keys(env).length > 0) registerTestStore(dataDir, env);
  return {
    env,
    async dispose() {
      forgetTestStore(dataDir);
      forgetBlocks(dataDir);
      await store.drop?.();
    },
  };
}

/**
 * Drops the database FERRY_TEST_STORE gave `dataDir` (spawnFerry, testServerPlace), if any, and forgets its store and
 * bucket: for a test that owns its data dir, once its last server on it is gone.
 */
export async function disposeTestServer(dataDir: string): Promise<void> {
  const database = postgresByDataDir.get(dataDir);
  forgetTestStore(dataDir);
  forgetBlocks(dataDir);
  await database?.drop();
}

/** The PostgreSQL URL FERRY_TEST_STORE asks for on `dataDir` (the same database again for a restart), if any. */
export async function testStoreUrl(dataDir: string): Promise<string | undefined> {
  return (await storeFor(undefined, dataDir)).url;
}

/** A launch URI that no daemon answers: what a host without libvirtd looks like to the launch subsystem. */
export const unreachableLaunch = (dataDir: string): LaunchConfig => ({
  uri: `qemu+unix:///system?socket=${join(dataDir, 'no-libvirtd-here.sock')}`,
  instancesDir: join(dataDir, 'instances'),
});

export async function startTestFerry(options: TestFerryOptions = {}): Promise<TestFerry> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'ferry-test-'));
  const store = await storeFor(options.store, dataDir);
  const blocks = await blocksFor(options.blocks, dataDir);
  const serverEnv = { ...(store.url ? { FERRY_STORE: store.url } : {}), ...blocks?.env };
  if (Object.keys(serverEnv).length > 0) registerTestStore(dataDir, serverEnv);
  const ferry = await startFerry({
    dataDir,
    ...(store.url ? { store: store.url } : {}),
    ...(blocks ? { blocks: blocks.blocks, s3Endpoint: blocks.s3Endpoint } : {}),
    clock: options.clock,
    policy: options.policy,
    log: createLogger(process.env.FERRY_TEST_LOG_LEVEL ?? 'silent'),
    env: {},
    ...(options.datastore ? { datastore: options.datastore } : {}),
    ...(options.compression ? { compression: options.compression } : {}),
    ...(options.connectorPollMs ? { connectorPollMs: options.connectorPollMs } : {}),
    ...(options.artifactLimits ? { artifactLimits: options.artifactLimits } : {}),
    instances: options.instances,
    artifacts: options.artifacts,
    ...(options.regions ? { regions: options.regions } : {}),
    ...(options.webhookUrls ? { webhookUrls: options.webhookUrls, webhookDelivery: { retryBaseMs: 100, retryMaxMs: 1000 } } : {}),
    // A lone test server on PostgreSQL is its cluster's launch node, as one on SQLite launches (domain/launchPlacement.ts).
    ...(store.url || options.nodeId ? { nodeId: options.nodeId ?? LONE_TEST_NODE } : {}),
    launch: { ...unreachableLaunch(dataDir), ...(store.url ? { node: LONE_TEST_NODE } : {}), ...options.launch },
  });
  // The test's own `after` may run after the hook that drops this process's databases: stop the server first then.
  const stopped = stopBeforeDropping(() => ferry.close());
  const clients: SMSClient[] = [];
  const client = (keys: { accessKeyId: string; secretAccessKey: string }, region = 'us-east-1') => {
    const sms = new SMSClient({
      region,
      endpoint: ferry.url,
      credentials: { accessKeyId: keys.accessKeyId, secretAccessKey: keys.secretAccessKey },
      maxAttempts: 1,
    });
    if (options.clock) {
      // Sign with the server's (injected) time so SigV4's 15-minute window holds while tests move the clock.
      const clock = options.clock;
      sms.middlewareStack.add(
        (next) => async (args) => {
          sms.config.systemClockOffset = clock.now() - Date.now();
          return next(args);
        },
        { step: 'initialize', name: 'ferryTestClock' },
      );
    }
    clients.push(sms);
    return sms;
  };
  return {
    ferry,
    dataDir,
    ...(store.url ? { storeUrl: store.url } : {}),
    blocks: blocks ? 's3' : 'local',
    serverEnv,
    sms: client(ferry.root),
    client,
    createAccount: (name) => createAccount(ferry.core, ferry.secrets.accessKeys, name),
    async connector(tenant = {}) {
      const issued = await issueConnector(
        ferry.core,
        { accountId: tenant.accountId ?? ferry.root.accountId, region: tenant.region ?? 'us-east-1' },
        null,
      );
      return new TestConnector(ferry.url, issued.token, issued.connectorId);
    },
    async close() {
      stopped();
      for (const c of clients) c.destroy();
      await ferry.close();
      // A caller-owned data dir may be started again (a restart): its database stays with it.
      if (!options.dataDir) {
        rmSync(dataDir, { recursive: true, force: true });
        forgetTestStore(dataDir);
        forgetBlocks(dataDir);
        await store.drop?.();
      }
    },
  };
}

/** Whether `keys` sign in at `url`: 'ok', or the refusal's name (UnrecognizedClientException for an unknown or deleted key). */
export async function signInResult(url: string, keys: { accessKeyId: string; secretAccessKey: string }): Promise<string> {
  const sms = new SMSClient({ region: 'us-east-1', endpoint: url, credentials: keys, maxAttempts: 1 });
  try {
    await sms.send(new GetConnectorsCommand({}));
    return 'ok';
  } catch (error) {
    return (error as Error).name;
  } finally {
    sms.destroy();
  }
}
