/**
 * `GET /health`: 200 with `status: ok` while this node can serve, for a load balancer to route by; 503 with
 * `status: unavailable` naming what it cannot reach. The state store and the block storage are probed separately
 * (a node that reaches PostgreSQL but not the bucket answers the API but cannot replicate or export), each with a
 * deadline, and concurrent checks share one probe, so a slow dependency never makes /health slow or piles up
 * probes. Unauthenticated like /metrics: it says what is unreachable and the error's code, never a URL or secret.
 */
import type { FastifyInstance } from 'fastify';
import { coerceError } from '../lib/errors.ts';

export interface HealthProbe {
  /** What is behind it: `sqlite` or `postgres`; `local` or `s3`. */
  kind: string;
  /** Resolves when the dependency answered. */
  check(): Promise<void>;
}

export interface HealthOptions {
  version: string;
  nodeId?: string;
  store?: HealthProbe;
  blocks?: HealthProbe;
  /** Whether this node leads the scheduler (undefined: not known yet). */
  schedulerLeading?: () => boolean | undefined;
  /** How long a probe may take before its dependency counts as unreachable (default 2 s). */
  probeTimeoutMs?: number;
}

export interface ProbeResult {
  kind: string;
  status: 'ok' | 'unreachable';
  ms: number;
  error?: string;
}

export function registerHealth(app: FastifyInstance, options: HealthOptions): void {
  const store = options.store && sharedProbe(options.store, options.probeTimeoutMs ?? 2000);
  const blocks = options.blocks && sharedProbe(options.blocks, options.probeTimeoutMs ?? 2000);
  app.get('/health', async (_request, reply) => {
    const [storeResult, blocksResult] = await Promise.all([store?.(), blocks?.()]);
    const reachable = storeResult?.status !== 'unreachable' && blocksResult?.status !== 'unreachable';
    const leading = options.schedulerLeading?.();
    reply.code(reachable ? 200 : 503);
    return {
      status: reachable ? 'ok' : 'unavailable',
      version: options.version,
      ...(options.nodeId !== undefined ? { node: options.nodeId } : {}),
      ...(storeResult ? { store: storeResult } : {}),
      ...(blocksResult ? { blocks: blocksResult } : {}),
      ...(leading !== undefined ? { scheduler: { leader: leading } } : {}),
    };
  });
}

/** One probe in flight at a time: concurrent health checks wait for the same answer. */
function sharedProbe(probe: HealthProbe, timeoutMs: number): () => Promise<ProbeResult> {
  let inFlight: Promise<ProbeResult> | undefined;
  return () => {
    inFlight ??= runProbe(probe, timeoutMs).finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
}

async function runProbe(probe: HealthProbe, timeoutMs: number): Promise<ProbeResult> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe.check(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(new Error('timed out'), { code: 'Timeout' })), timeoutMs);
      }),
    ]);
    return { kind: probe.kind, status: 'ok', ms: elapsed(started) };
  } catch (thrown) {
    const error = coerceError(thrown) as Error & { code?: unknown; Code?: unknown };
    return { kind: probe.kind, status: 'unreachable', ms: elapsed(started), error: String(error.code ?? error.Code ?? error.name) };
  } finally {
    clearTimeout(timer);
  }
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}
