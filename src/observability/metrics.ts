/**
 * Prometheus metrics for `GET /metrics`. Counters and histograms are fed by the request pipeline (onResponse), the
 * typed state-change events and the embedded connector; gauges are read at scrape time from the store (indexed
 * counts on the read-only connection, never the writer), the image store (stats() is a full scan of the block
 * index, so it is cached) and the scheduler's bookkeeping.
 *
 * Every series is an aggregate over all tenants: no label carries an account id, a job id or any other tenant
 * data, so the endpoint is served without authentication (docs/events.md). Label values come from bounded sets
 * (operation names, error codes, state names, route patterns) so that no caller can grow the series count.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, prometheusContentType } from 'prom-client';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Core } from '../core/context.ts';
import type { FerryEvent } from '../core/events.ts';
import { connectorStatus } from '../domain/connectorHealth.ts';
import { countByState, registeredConnectors, runTimes } from '../store/metrics/metricCounts.ts';
import { ReplicationJobState, ReplicationRunState } from '../domain/enums.ts';
import type { RunOutcome } from '../domain/runOutcome.ts';
import type { StoreStats } from '../images/types.ts';
import { registerAppMetrics } from './appMetrics.ts';

/** The data plane's block size: what one sent block carries before compression. */
const BLOCK_BYTES = 512 * 1024;
const RUN_STATES = Object.values(ReplicationRunState);
const JOB_STATES = Object.values(ReplicationJobState);
const FINISHED_RUN_STATES = new Set<string>(['COMPLETED', 'FAILED', 'MISSED', 'DELETED']);

/** Request latency buckets (seconds): list pages answer in well under a millisecond, a catalog import takes longer. */
const API_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Run duration buckets (seconds): a few seconds for a tiny disk to a day for a large seed. */
const RUN_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400];

/** What the metrics read from the scheduler (src/scheduler/scheduler.ts keeps these). */
export interface SchedulerStats {
  /** How late the last timer-driven tick started after it was due (ms). */
  readonly lastTickLagMs: number | undefined;
  readonly ticks: number;
  /** The clock time of the last tick. */
  readonly lastTickAt: number | undefined;
  /** Whether this node applied the scheduler's steps at its last tick (it holds the scheduler lease). */
  readonly leading?: boolean;
}

/** Webhook delivery state the metrics read (see webhooks/dispatcher.ts). */
export interface WebhookStats {
  /** Outbox rows still to deliver, and dead-lettered ones. */
  outboxCounts(): Promise<{ pending: number; dead: number }>;
}

export interface MetricsOptions {
  core: Core;
  /** How long ImageStore.stats() is reused (default 15 s; a completed or deleted image refreshes it sooner). */
  imageStatsTtlMs?: number;
  /** This node's name, in `ferry_node_info{node}` and `ferry_scheduler_leader{node}`. */
  nodeId?: string;
}

/** What the scrape-time gauges read; attached once each exists (a gauge whose source is missing is left out). */
export interface MetricsSources {
  images?: { stats(): Promise<StoreStats> };
  scheduler?: SchedulerStats;
  webhooks?: WebhookStats;
}

export type DeliveryOutcome = 'delivered' | 'failed' | 'dead';

let processRegistry: Registry | undefined;

/** Default process metrics (CPU, memory, event loop lag, GC) are process-wide: collected once, shared by every Ferry. */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** The image store's figures, one gauge each, read from one cached ImageStore.stats() scan. */
const IMAGE_STORE_GAUGES: [name: string, help: string, figure: 'storedBytes' | 'rawBytes' | 'blocks'][] = [
  ['ferry_image_store_bytes', 'Bytes the image store holds for its blocks (compressed and sealed, with record headers).', 'storedBytes'],
  ['ferry_image_store_raw_bytes', 'Bytes the image store blocks hold before compression (each distinct block once).', 'rawBytes'],
  ['ferry_image_store_blocks', 'Distinct blocks in the image store.', 'blocks'],
];

export class FerryMetrics {
  readonly registry = new Registry();
  readonly contentType: string = prometheusContentType;
  readonly #core: Core;
  readonly #options: MetricsOptions;
  readonly #unsubscribe: () => void;
  readonly #requests: Counter<'operation' | 'outcome'>;
  readonly #latency: Histogram<'operation'>;
  readonly #requestChildren = new Map<string, { inc(): void }>();
  readonly #latencyChildren = new Map<string, { observe(value: number): void }>();
  readonly #runsFinished: Counter<'outcome'>;
  readonly #runDuration: Histogram<'outcome'>;
  readonly #bytesRead: Counter;
  readonly #bytesSent: Counter;
  readonly #deliveries: Counter<'outcome'>;
  #imageStats: { at: number; value: Promise<StoreStats> } | undefined;
  readonly #sources: MetricsSources = {};

  constructor(options: MetricsOptions) {
    this.#core = options.core;
    this.#options = options;
    const registers = [this.registry];
    // Which node this is, as an info series (Prometheus' idiom: join on the scrape's `instance`), so the existing
    // series keep their labels; the node's role is labelled with it too.
    const node = options.nodeId ?? '';
    new Gauge({ name: 'ferry_node_info', help: 'This node (FERRY_NODE_ID, else the host name); always 1.', labelNames: ['node'], registers }).set({ node }, 1);
    this.#requests = new Counter({
      name: 'ferry_api_requests_total',
      help: 'API requests by operation (SMS operation, Ferry.* operation, or method and route) and outcome (success or the error code).',
      labelNames: ['operation', 'outcome'],
      registers,
    });
    this.#latency = new Histogram({
      name: 'ferry_api_request_duration_seconds',
      help: 'API request latency by operation, from the first byte received to the last byte sent.',
      labelNames: ['operation'],
      buckets: API_BUCKETS,
      registers,
    });

    const self = this;
    new Gauge({
      name: 'ferry_replication_runs',
      help: 'Replication runs by state (all accounts).',
      labelNames: ['state'],
      registers,
      async collect() {
        const counts = await self.#countByState('runs');
        for (const state of new Set([...RUN_STATES, ...counts.keys()])) this.set({ state }, counts.get(state) ?? 0);
      },
    });
    new Gauge({
      name: 'ferry_replication_jobs',
      help: 'Replication jobs by state (all accounts).',
      labelNames: ['state'],
      registers,
      async collect() {
        const counts = await self.#countByState('jobs');
        for (const state of new Set([...JOB_STATES, ...counts.keys()])) this.set({ state }, counts.get(state) ?? 0);
      },
    });
    this.#runsFinished = new Counter({
      name: 'ferry_runs_finished_total',
      help: 'Replication runs that reached an end state, by outcome (COMPLETED, FAILED, MISSED, DELETED), since this process started.',
      labelNames: ['outcome'],
      registers,
    });
    this.#runDuration = new Histogram({
      name: 'ferry_run_duration_seconds',
      help: 'Duration of replication runs that started, from start (claim) to their end state, by outcome.',
      labelNames: ['outcome'],
      buckets: RUN_BUCKETS,
      registers,
    });
    this.#bytesRead = new Counter({
      name: 'ferry_connector_bytes_read_total',
      help: 'Bytes the embedded connector read from source disks, counted when a run completes.',
      registers,
    });
    this.#bytesSent = new Counter({
      name: 'ferry_connector_bytes_sent_total',
      help: 'Bytes of blocks the embedded connector sent to the image store (before compression; deduplicated blocks are not sent), counted when a run completes.',
      registers,
    });
    for (const [name, help, figure] of IMAGE_STORE_GAUGES) {
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          const stats = await self.#stats();
          if (stats) this.set(stats[figure]);
        },
      });
    }
    new Gauge({
      name: 'ferry_connectors',
      help: 'Registered, associated connectors by status (HEALTHY: heartbeat within the timeout and reporting healthy).',
      labelNames: ['status'],
      registers,
      async collect() {
        const counts = await self.#connectorCounts();
        this.set({ status: 'HEALTHY' }, counts.HEALTHY);
        this.set({ status: 'UNHEALTHY' }, counts.UNHEALTHY);
      },
    });
    new Gauge({
      name: 'ferry_scheduler_lag_seconds',
      help: 'How late the scheduler started its last timer-driven tick after it was due.',
      registers,
      collect() {
        const lag = self.#sources.scheduler?.lastTickLagMs;
        if (lag !== undefined) this.set(lag / 1000);
      },
    });
    new Gauge({
      name: 'ferry_scheduler_leader',
      help: 'Whether this node leads the scheduler (1): it holds the scheduler lease, or its store is its own.',
      labelNames: ['node'],
      registers,
      collect() {
        const leading = self.#sources.scheduler?.leading;
        if (leading !== undefined) this.set({ node }, leading ? 1 : 0);
      },
    });
    new Gauge({
      name: 'ferry_scheduler_last_tick_age_seconds',
      help: 'Seconds since the scheduler last ticked (it sleeps at most 60 s when idle).',
      registers,
      collect() {
        const at = self.#sources.scheduler?.lastTickAt;
        if (at !== undefined) this.set(Math.max(0, self.#core.clock.now() - at) / 1000);
      },
    });
    new Counter({
      name: 'ferry_scheduler_ticks_total',
      help: 'Scheduler ticks since this process started.',
      registers,
      collect() {
        this.reset();
        this.inc(self.#sources.scheduler?.ticks ?? 0);
      },
    });
    this.#deliveries = new Counter({
      name: 'ferry_webhook_deliveries_total',
      help: 'Webhook delivery attempts by outcome: delivered (2xx), failed (retried later), dead (dead-lettered after the last attempt).',
      labelNames: ['outcome'],
      registers,
    });
    for (const outcome of ['delivered', 'failed', 'dead'] as const) this.#deliveries.inc({ outcome }, 0);
    new Gauge({
      name: 'ferry_webhook_outbox_events',
      help: 'Webhook outbox rows (one per event and URL) by status: pending (to deliver) or dead (dead-lettered).',
      labelNames: ['status'],
      registers,
      async collect() {
        const webhooks = self.#sources.webhooks;
        if (!webhooks) return;
        const counts = await webhooks.outboxCounts();
        this.set({ status: 'pending' }, counts.pending);
        this.set({ status: 'dead' }, counts.dead);
      },
    });
    for (const outcome of FINISHED_RUN_STATES) this.#runsFinished.inc({ outcome }, 0);
    // Applications and launched instances: appMetrics.ts.
    const unsubscribeApps = registerAppMetrics(this.registry, this.#core);
    const unsubscribeRuns = this.#core.events.subscribe((event) => this.#onEvent(event));
    this.#unsubscribe = () => {
      unsubscribeRuns();
      unsubscribeApps();
    };
  }

  /** The onResponse hook: one count and one latency observation per request. */
  observeRequest(request: FastifyRequest, reply: FastifyReply): void {
    const errorType = reply.getHeader('x-amzn-errortype');
    const operation = request.smsOperation ?? `${request.method} ${request.routeOptions.url ?? 'unmatched'}`;
    this.observe(operation, typeof errorType === 'string' ? errorType : undefined, reply.statusCode, reply.elapsedTime);
  }

  /** One request: its operation (or route), its error type if it failed with one, its status and its time. */
  observe(operation: string, errorType: string | undefined, statusCode: number, elapsedMs: number): void {
    const outcome = errorType ?? (statusCode < 400 ? 'success' : `http_${statusCode}`);
    // An unknown operation's name is whatever the caller sent: it must not become a label value.
    const label = outcome === 'UnknownOperationException' ? 'unknown' : operation;
    const key = `${label}\u0000${outcome}`;
    let counter = this.#requestChildren.get(key);
    if (!counter) {
      counter = this.#requests.labels(label, outcome);
      this.#requestChildren.set(key, counter);
    }
    counter.inc();
    let histogram = this.#latencyChildren.get(label);
    if (!histogram) {
      histogram = this.#latency.labels(label);
      this.#latencyChildren.set(label, histogram);
    }
    histogram.observe(elapsedMs / 1000);
  }

  /** The embedded connector's hook: what a run read and sent, when it completes. */
  readonly connectorRunFinished = (outcome: RunOutcome): void => {
    if (outcome.kind !== 'completed') return;
    this.#bytesRead.inc(outcome.totals.bytesRead);
    this.#bytesSent.inc(outcome.totals.blocksSent * BLOCK_BYTES);
  };

  /** The webhook dispatcher's hook. */
  readonly webhookDelivery = (outcome: DeliveryOutcome): void => {
    this.#deliveries.inc({ outcome });
  };

  attach(sources: MetricsSources): void {
    Object.assign(this.#sources, sources);
  }

  /** The exposition text: this instance's metrics, then the process's. */
  async metrics(): Promise<string> {
    const [own, process] = await Promise.all([this.registry.metrics(), processMetrics().metrics()]);
    return `${own}\n${process}`;
  }

  close(): void {
    this.#unsubscribe();
  }

  #onEvent(event: FerryEvent): void {
    if (event.type !== 'run.state' || !FINISHED_RUN_STATES.has(event.state)) return;
    this.#runsFinished.inc({ outcome: event.state });
    // A new image (or a deleted one) changes the store: the next scrape reads fresh stats.
    if (event.state === 'COMPLETED' || event.state === 'DELETED') this.#imageStats = undefined;
    void this.#observeDuration(event.replicationRunId, event.state).catch(() => {});
  }

  async #observeDuration(replicationRunId: string, outcome: string): Promise<void> {
    const row = await runTimes(this.#core, replicationRunId);
    if (!row || row.startedAt === null || row.completedAt === null) return;
    this.#runDuration.observe({ outcome }, Math.max(0, row.completedAt - row.startedAt) / 1000);
  }

  #countByState(table: 'runs' | 'jobs'): Promise<Map<string, number>> {
    return countByState(this.#core, table);
  }

  async #connectorCounts(): Promise<{ HEALTHY: number; UNHEALTHY: number }> {
    const counts = { HEALTHY: 0, UNHEALTHY: 0 };
    const now = this.#core.clock.now();
    for (const row of await registeredConnectors(this.#core)) counts[connectorStatus(row, now, this.#core.policy)]++;
    return counts;
  }

  /** ImageStore.stats() scans the block index: one scan at a time, reused for a while. */
  async #stats(): Promise<StoreStats | undefined> {
    const images = this.#sources.images;
    if (!images) return undefined;
    const now = Date.now();
    if (!this.#imageStats || now - this.#imageStats.at > (this.#options.imageStatsTtlMs ?? 15_000)) {
      const value = images.stats();
      this.#imageStats = { at: now, value };
      value.catch(() => {
        if (this.#imageStats?.value === value) this.#imageStats = undefined;
      });
    }
    return this.#imageStats.value.catch(() => undefined);
  }
}
