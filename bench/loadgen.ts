/**
 * The load generator: a separate process (forked by api.bench.ts) so the load never shares the server's event
 * loop. It pre-signs every request it will send (SigV4 stays valid for 15 minutes), then drives `concurrency`
 * keep-alive connections with plain node:http and reports throughput and latency percentiles.
 */
import http from 'node:http';
import { signer, signSms, type Credentials, type SignedRequest } from './sigv4.ts';

export interface LoadSpec {
  host: string;
  port: number;
  operation: string;
  credentials: Credentials;
  /** Request bodies. `unique`: each is sent once (e.g. one CreateReplicationJob per server); otherwise they cycle. */
  bodies: string[];
  unique: boolean;
  concurrency: number;
  /** Timed mode: run `warmupMs`, then measure for `durationMs`. */
  warmupMs?: number;
  durationMs?: number;
  /** Counted mode: send `warmupCount`, then measure `count` requests. */
  warmupCount?: number;
  count?: number;
  /** Return every measured latency (ms), for percentiles over several runs. */
  keepLatencies?: boolean;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  errors: number;
  firstError?: string;
  /** Unique bodies ran out before the end of the timed window. */
  exhausted: boolean;
  responseBytes: number;
  /** Requests sent in all, warm-up included (for `unique` bodies: how many were used up). */
  sent: number;
  latencies?: number[];
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

async function run(spec: LoadSpec): Promise<LoadResult> {
  const sig = signer(spec.credentials);
  const signed: SignedRequest[] = [];
  for (const body of spec.bodies) signed.push(await signSms(sig, spec.host, spec.port, spec.operation, body));
  const agent = new http.Agent({ keepAlive: true, maxSockets: spec.concurrency });

  let next = 0;
  const take = (): SignedRequest | undefined => {
    if (spec.unique) return signed[next++];
    return signed[next++ % signed.length];
  };
  const send = (req: SignedRequest) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const r = http.request({ host: spec.host, port: spec.port, method: 'POST', path: '/', headers: req.headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      r.on('error', reject);
      r.end(req.body);
    });

  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let exhausted = false;
  let responseBytes = 0;
  const timed = spec.durationMs !== undefined;
  let measuring = false;
  let sent = 0;
  const warmupCount = spec.warmupCount ?? 0;
  const total = warmupCount + (spec.count ?? 0);
  let t0 = 0;
  let t1 = Infinity;
  if (timed) {
    const start = performance.now();
    t0 = start + (spec.warmupMs ?? 0);
    t1 = t0 + spec.durationMs!;
  }
  let measuredStart = 0;
  let measuredEnd = 0;

  async function worker(): Promise<void> {
    for (;;) {
      const now = performance.now();
      if (timed ? now >= t1 : sent >= total) return;
      const req = take();
      if (!req) {
        exhausted = true;
        return;
      }
      const index = sent++;
      const inMeasure = timed ? now >= t0 : index >= warmupCount;
      if (inMeasure && !measuring) {
        measuring = true;
        measuredStart = now;
      }
      const started = performance.now();
      let status = 0;
      let text = '';
      try {
        ({ status, text } = await send(req));
      } catch (thrown) {
        text = String(thrown);
      }
      const ended = performance.now();
      if (inMeasure && (!timed || ended <= t1)) {
        latencies.push(ended - started);
        measuredEnd = Math.max(measuredEnd, ended);
        responseBytes = Buffer.byteLength(text);
        if (status !== 200) {
          errors++;
          firstError ??= `${status} ${text.slice(0, 300)}`;
        }
      }
    }
  }
  await Promise.all(Array.from({ length: spec.concurrency }, worker));
  agent.destroy();
  // Timed runs divide by the window (or by the time until the bodies ran out); counted runs by the time they took.
  const seconds = timed && !exhausted ? spec.durationMs! / 1000 : (measuredEnd - measuredStart) / 1000;
  const sorted = Float64Array.from(latencies).sort();
  return {
    requests: latencies.length,
    seconds,
    rps: latencies.length / seconds,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    meanMs: latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length),
    errors,
    firstError,
    exhausted,
    responseBytes,
    sent,
    latencies: spec.keepLatencies ? latencies : undefined,
  };
}

process.on('message', (message: { id: number; spec: LoadSpec }) => {
  run(message.spec).then(
    (result) => process.send!({ id: message.id, result }),
    (thrown: unknown) => process.send!({ id: message.id, error: String((thrown as Error)?.stack ?? thrown) }),
  );
});
