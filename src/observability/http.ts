/** `GET /metrics` and the per-request observation, on the API's own port. */
import type { FastifyInstance } from 'fastify';
import type { FerryMetrics } from './metrics.ts';

export const METRICS_PATH = '/metrics';

export function registerMetrics(app: FastifyInstance, metrics: FerryMetrics): void {
  app.addHook('onResponse', (request, reply, done) => {
    metrics.observeRequest(request, reply);
    done();
  });
  // Unauthenticated on purpose: every series is an aggregate over all accounts, with no tenant data in any label.
  app.get(METRICS_PATH, async (_request, reply) => {
    reply.header('content-type', metrics.contentType).header('cache-control', 'no-store');
    return metrics.metrics();
  });
}
