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
import { DEFAULT_DELIVERY, defaultLeaseMs } from '../../src/observability/webhooks/dispatcher.ts';
import { ATTEMPT_HEADER } from '../../src/observability/webhooks/sign.ts';

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
  /** The delivery attempt the sender numbered it (its X-Ferry-Delivery-Attempt header). */
  attempt: number;
  /** When it arrived (the test's clock). */
  receivedAt: number;
}

export interface WebhookReceiver {
  server: Server;
  /** Every event received, in arrival order (repeats included: the tests look for them). */
  events: WebhookEvent[];
  /** Called for each event as it arrives. */
  onEvent: ((event: WebhookEvent) => void) | undefined;
  close(): Promise<void>;
}

/** A webhook receiver on a free local port that records every event it is sent and answers 200. */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const events: WebhookEvent[] = [];
  const server: Server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      const parsed = JSON.parse(body) as { id: string; 'detail-type': string; detail: Record<string, string | null> };
      const attempt = Number(request.headers[ATTEMPT_HEADER]);
      const event = { id: parsed.id, type: parsed['detail-type'], detail: parsed.detail, attempt, receivedAt: Date.now() };
      events.push(event);
      response.writeHead(200).end();
      receiver.onEvent?.(event);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const receiver: WebhookReceiver = { server, events, onEvent: undefined, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  return receiver;
}

/**
 * The events as a receiver that drops repeats of an event id keeps them (the contract: dispatcher.ts), after checking
 * that every repeat is what the contract allows and nothing else: the redelivery of an event a SIGKILLed node had
 * sent but not yet marked delivered. Such a repeat carries the first copy's attempt number (the claim lapsed; no
 * attempt failed), arrives after a kill that came after the first copy, and no sooner than the dead node's claim
 * could lapse (its lease less the attempt's timeout after the first copy). Fails on any other repeat.
 */
export function eachEventOnce(events: readonly WebhookEvent[], killedAt: readonly number[]): WebhookEvent[] {
  const lapse = defaultLeaseMs(DEFAULT_DELIVERY.timeoutMs) - DEFAULT_DELIVERY.timeoutMs;
  const first = new Map<string, WebhookEvent>();
  const repeats: string[] = [];
  for (const event of events) {
    const earlier = first.get(event.id);
    if (!earlier) {
      first.set(event.id, event);
      continue;
    }
    const explained =
      event.attempt === earlier.attempt &&
      killedAt.some((kill) => earlier.receivedAt <= kill && kill <= event.receivedAt) &&
      event.receivedAt - earlier.receivedAt >= lapse &&
      events.filter((e) => e.id === event.id).length === 2;
    if (!explained) {
      repeats.push(`${event.id} (${event.type} ${JSON.stringify(event.detail)}): attempt ${earlier.attempt} at ${earlier.receivedAt}, again attempt ${event.attempt} at ${event.receivedAt}; nodes killed at ${killedAt.join(', ') || 'none'}`);
    }
  }
  if (repeats.length > 0) throw new Error(`events delivered twice, not by a killed node's lapsed claim:\n${repeats.join('\n')}`);
  return [...first.values()];
}

export interface Cluster {
  nodes: ClusterNode[];
  /** The environment every node (and `ferry` admin commands against the cluster) gets. */
  env: Record<string, string>;
  bucket: TestBucket;
  /** The receiver every node sends its webhook events to. */
  webhooks: WebhookReceiver;
  /** When each SIGKILL of a node was sent (eachEventOnce allows their in-flight deliveries to repeat). */
  killedAt: number[];
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
  const proxies: FailoverProxy[] = [];
  const clients: SMSClient[] = [];
  const receiver = await startWebhookReceiver();
  const env: Record<string, string> = { ...clusterNodeEnv(bucket, database.url, receiver.server), ...options.extraEnv };
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
    webhooks: receiver,
    killedAt: [],
    async start(node) {
      node.process = await spawnFerry({ dataDir: node.dataDir, port: node.port, env: { ...env, FERRY_NODE_ID: node.name }, timeoutMs: 120_000 });
      node.history.push(node.process);
    },
    async kill(node) {
      if (node.process) cluster.killedAt.push(Date.now());
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
      await receiver.close();
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
