/**
 * The HTTP server: request ids, body limits, access logs, health, and the APIs on one port — the SMS endpoint, the
 * connector protocol, the S3 endpoint for artifact buckets and the console, each a plugin that answers its own
 * errors from the one error table (server/errorTable.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { newRequestId } from '../lib/ids.ts';
import type { Core } from '../core/context.ts';
import type { SecretLookup } from '../protocol/sigv4.ts';
import type { DataPlane } from '../core/runImages.ts';
import type { InstanceService } from '../apps/instances.ts';
import { smsApi, smsFrameworkErrorHandler, smsNotFoundHandler } from './smsApi.ts';
import { smsPipeline } from './smsPipeline.ts';
import { smsFastPath } from './smsFastPath.ts';
import { connectorApi } from './connectorApi.ts';
import { CONNECTOR_API_PREFIX, MAX_PATH_PARAMETER_LENGTH } from '../protocol/connector/routes.ts';
// Web console (web/ → web/dist, served under /console/).
import { consoleUi } from './console.ts';
import { registerMetrics } from '../observability/http.ts';
import type { FerryMetrics } from '../observability/metrics.ts';
// Artifact buckets: the S3 REST endpoint (src/server/s3Api.ts), told apart from the rest by its signature's scope.
import { s3Api } from './s3Api.ts';
import type { ArtifactStore } from '../artifacts/artifactStore.ts';
import type { AppPorts } from '../apps/ports.ts';
import { registerHealth, type HealthOptions } from './health.ts';

/** SMS requests are small (the largest is a CreateReplicationJob of a few hundred bytes). */
export const SMS_BODY_LIMIT = 1024 * 1024;

export interface AppOptions {
  core: Core;
  log: Logger;
  secrets: SecretLookup;
  version: string;
  plane?: DataPlane;
  /** Launched instances, for Ferry's own instance operations. */
  instances?: InstanceService;
  /** Observability: counts and times every request, and serves GET /metrics. */
  metrics?: FerryMetrics;
  /** Artifact buckets, served over S3's REST API. */
  artifacts?: ArtifactStore;
  /** The launch subsystem and the artifact store, for the App operations (either may be absent). */
  ports?: AppPorts;
  /** Regions a credential may be scoped to (FERRY_REGIONS); by default any name of AWS's region pattern. */
  regions?: ReadonlySet<string>;
  /** What /health probes and reports besides the version: this node, its store and block storage, its scheduler role. */
  health?: Omit<HealthOptions, 'version'>;
}

/** A child of `log` for access-log lines only: the same destination, level and base fields, no redaction. */
export function accessLogOf(log: Logger): Logger {
  return log.child({}, { redact: [] });
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: options.log as FastifyBaseLogger,
    // One access-log line per request is written in onResponse (with the SMS operation), not Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: SMS_BODY_LIMIT,
    genReqId: () => newRequestId(),
    // A longer path parameter (a connector route's run id) must reach its route and be refused there, not fall
    // through to another route.
    routerOptions: { maxParamLength: MAX_PATH_PARAMETER_LENGTH },
    keepAliveTimeout: 65_000,
    // A URL Fastify cannot decode never reaches a route or a hook: answered like any error outside the APIs.
    frameworkErrors: (error, request, reply) => {
      reply.header('x-amzn-RequestId', String(request.id));
      smsFrameworkErrorHandler(error, request, reply);
    },
  });

  // Keep raw bytes for every body: SigV4 signs them exactly as sent.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-amzn-RequestId', String(request.id));
  });
  // The access log: its fields (request id, operation, status, time, account) never hold a secret, so its lines
  // skip the redaction every other line goes through (it cost more than the rest of writing the line).
  const accessLog = accessLogOf(options.log);
  app.addHook('onResponse', async (request, reply) => {
    accessLog.info(
      {
        reqId: request.id,
        op: request.smsOperation ?? request.routeOptions.url,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
        account: request.smsAccount,
      },
      'request',
    );
  });

  // What no API plugin serves (/health, /metrics, an unknown path) answers errors as the SMS endpoint does.
  app.setErrorHandler(smsFrameworkErrorHandler);
  app.setNotFoundHandler(smsNotFoundHandler);

  if (options.artifacts) {
    // At the root: S3 requests are told apart by their signature's scope, whatever their path.
    await app.register(s3Api, { artifacts: options.artifacts, secrets: options.secrets, clock: options.core.clock, regions: options.regions });
  }
  registerHealth(app, { ...options.health, version: options.version });
  if (options.metrics) registerMetrics(app, options.metrics);
  await app.register(consoleUi); // web console: GET /console/*, and GET / redirects to it
  await app.register(connectorApi, { core: options.core, plane: options.plane });
  const smsOptions = { core: options.core, secrets: options.secrets, plane: options.plane, ports: options.ports, regions: options.regions };
  await app.register(smsApi, smsOptions);

  // The common SMS request skips Fastify (server/smsFastPath.ts); every other request still reaches it as before.
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  const [fastifyListener] = app.server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
  if (fastifyListener) {
    app.server.removeListener('request', fastifyListener);
    const pipeline = smsPipeline(smsOptions);
    app.server.on('request', smsFastPath({ pipeline, log: options.log, accessLog, bodyLimit: SMS_BODY_LIMIT, metrics: options.metrics }, fastifyListener, () => closing));
  }
  return app;
}
