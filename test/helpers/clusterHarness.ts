/**
 * A Ferry cluster for tests: N `ferry serve` nodes (each its own data dir and port) on one fresh PostgreSQL database
 * and one fresh moto_server bucket, sharing the master key, the root key and the webhook secret, with a webhook
 * receiver that records every event it is sent. Nodes can be SIGKILLed and started again on their data dir (as
 * systemd's Restart= would), and SMS clients or connectors reach them through failover fronts (failoverProxy.ts).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMSClient } from '@aws-sdk/client-sms';
import { ferryCli, freePort, spawnFerry, type FerryProcess } from './process.ts';
import { startTestBucket, type TestBucket } from './s3.ts';
import { createTestDatabase } from './stores.ts';
import { startFailoverProxy, type FailoverProxy } from './failoverProxy.ts';
import { waitFor } from './replication.ts';

export const CLUSTER_ROOT = { accessKeyId: 'AKIACLUSTERTEST00001', secretAccessKey: 'cluster-test-secret-0123456789abcdef' };

export interface ClusterNode {
  name: string;
  dataDir: string;
  port: number;
  process: FerryProcess | undefined;
  /** Which processes ran as this node (a restart adds one), for their logs. */
  history: FerryProcess[];
}

export interface WebhookEvent {
  id: string;
  type: string;
  detail: Record<string, string | null>;
}

export interface Cluster {
  nodes: ClusterNode[];
  /** The environment every node (and `ferry` admin commands against the cluster) gets. */
  env: Record<string, string>;
  bucket: TestBucket;
  /** Every webhook event received, in arrival order (duplicates included: the test looks for them). */
  events: WebhookEvent[];
  /** Called for each event as it arrives. */
  onEvent: ((event: WebhookEvent) => void) | undefined;
  start(node: ClusterNode): Promise<void>;
  /** SIGKILL. */
  kill(node: ClusterNode): Promise<void>;
  /** SIGTERM every running node and wait for it to exit (they seal what they hold open). */
  stopAll(): Promise<void>;
  /** The node that leads the scheduler now, asked of every running node's /health (fails on two leaders). */
  leader(): Promise<ClusterNode | undefined>;
  /** A front over the nodes in this order of preference. */
  front(preference: ClusterNode[]): Promise<FailoverProxy>;
  sms(url: string): SMSClient;
  /** `ferry connectors register --json` through the cluster's store: the token for a standalone connector. */
  registerConnector(label: string): Promise<{ connectorId: string; token: string }>;
  close(): Promise<void>;
}

/** What every node of a test cluster shares: the database, the bucket, and one master key, root key and webhook secret. */
export function clusterNodeEnv(bucket: TestBucket, databaseUrl: string, webhookReceiver: Server): Record<string, string> {
  const address = webhookReceiver.address();
  return {
    ...bucket.env,
    FERRY_STORE: databaseUrl,
    FERRY_BLOCKS: `s3://${bucket.bucket}/cluster`,
    FERRY_S3_ENDPOINT: bucket.endpoint,
    // One master key, root key and webhook secret for every node: they seal and sign for one another.
    FERRY_MASTER_KEY: randomBytes(32).toString('hex'),
    FERRY_ROOT_ACCESS_KEY_ID: CLUSTER_ROOT.accessKeyId,
    FERRY_ROOT_SECRET_ACCESS_KEY: CLUSTER_ROOT.secretAccessKey,
    FERRY_WEBHOOK_SECRET: 'cluster-webhook-secret',
    FERRY_WEBHOOK_URLS: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/events`,
    FERRY_STORE_POOL_SIZE: '4',
  };
}

export async function startCluster(options: { nodes: number; adminUrl: string; extraEnv?: Record<string, string> }): Promise<Cluster> {
  const bucket = await startTestBucket();
  const database = await createTestDatabase(options.adminUrl);
  const events: WebhookEvent[] = [];
  const proxies: FailoverProxy[] = [];
  const clients: SMSClient[] = [];
  const receiver: Server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      const parsed = JSON.parse(body) as { id: string; 'detail-type': string; detail: Record<string, string | null> };
      const event = { id: parsed.id, type: parsed['detail-type'], detail: parsed.detail };
      events.push(event);
      response.writeHead(200).end();
      cluster.onEvent?.(event);
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const env: Record<string, string> = { ...clusterNodeEnv(bucket, database.url, receiver), ...options.extraEnv };
  const nodes: ClusterNode[] = [];
  for (let i = 1; i <= options.nodes; i++) {
    nodes.push({ name: `node-${i}`, dataDir: mkdtempSync(join(tmpdir(), `ferry-node-${i}-`)), port: await freePort(), process: undefined, history: [] });
  }
  const health = async (node: ClusterNode): Promise<Record<string, any> | undefined> => {
    if (!node.process) return undefined;
    try {
      return (await (await fetch(`http://127.0.0.1:${node.port}/health`)).json()) as Record<string, any>;
    } catch {
      return undefined;
    }
  };
  const cluster: Cluster = {
    nodes,
    env,
    bucket,
    events,
    onEvent: undefined,
    async start(node) {
      node.process = await spawnFerry({ dataDir: node.dataDir, port: node.port, env: { ...env, FERRY_NODE_ID: node.name }, timeoutMs: 120_000 });
      node.history.push(node.process);
    },
    async kill(node) {
      await node.process?.kill();
      node.process = undefined;
    },
    async stopAll() {
      for (const node of nodes) {
        if (!node.process) continue;
        node.process.child.kill('SIGTERM');
        await node.process.exited;
        node.process = undefined;
      }
    },
    async leader() {
      const answers = await Promise.all(nodes.map(health));
      const leaders = answers.filter((h) => h?.scheduler?.leader === true).map((h) => h!.node as string);
      if (leaders.length > 1) throw new Error(`two scheduler leaders at once: ${leaders.join(', ')}`);
      return nodes.find((n) => n.name === leaders[0]);
    },
    async front(preference) {
      const proxy = await startFailoverProxy(preference.map((n) => `127.0.0.1:${n.port}`));
      proxies.push(proxy);
      return proxy;
    },
    sms(url) {
      const client = new SMSClient({ region: 'us-east-1', endpoint: url, credentials: CLUSTER_ROOT, maxAttempts: 1 });
      clients.push(client);
      return client;
    },
    async registerConnector(label) {
      return JSON.parse(await ferryCli(['connectors', 'register', '--label', label, '--json', '--data-dir', nodes[0]!.dataDir], env)) as { connectorId: string; token: string };
    },
    async close() {
      for (const client of clients) client.destroy();
      for (const proxy of proxies) await proxy.close();
      for (const node of nodes) await node.process?.kill();
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
      await bucket.stop();
      await database.drop();
      for (const node of nodes) rmSync(node.dataDir, { recursive: true, force: true });
    },
  };
  // The first node migrates the empty database; the others start together on it.
  await cluster.start(nodes[0]!);
  await Promise.all(nodes.slice(1).map((n) => cluster.start(n)));
  await waitFor('one scheduler leader', () => cluster.leader(), { timeoutMs: 60_000, intervalMs: 200 });
  return cluster;
}
