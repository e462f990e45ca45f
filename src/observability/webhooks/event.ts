/**
 * The body of a webhook delivery: a state change shaped like the CloudWatch (EventBridge) events AWS SMS emitted,
 * so that receivers written for `aws.sms` events need little change. Job state changes are
 * "Server Migration Job State Change", run state changes "Server Migration Run State Change", an app's statuses
 * "Server Migration App State Change"; a launched instance's state or hydration "Ferry Instance State Change"
 * (source `ferry.launch`: SMS had no instances of its own) (docs/events.md).
 */
import type { FerryEvent } from '../../core/events.ts';

export const JOB_DETAIL_TYPE = 'Server Migration Job State Change';
export const RUN_DETAIL_TYPE = 'Server Migration Run State Change';
export const APP_DETAIL_TYPE = 'Server Migration App State Change';
export const INSTANCE_DETAIL_TYPE = 'Ferry Instance State Change';

export type StateEvent = Extract<FerryEvent, { type: 'job.state' } | { type: 'run.state' } | { type: 'app.state' } | { type: 'instance.state' }>;

/** The events delivered: every job, run and app change; an instance's only when its state or hydration changed. */
export function isStateEvent(event: FerryEvent): event is StateEvent {
  if (event.type === 'instance.state') return !event.previous || event.previous.state !== event.state || event.previous.hydration !== event.hydration;
  return event.type === 'job.state' || event.type === 'run.state' || event.type === 'app.state';
}

/** Deliveries with the same key go out in order: a job's (and its runs'), an app's (and its instances'). */
export function orderingKey(event: StateEvent): string {
  if (event.type === 'app.state') return event.appId;
  if (event.type === 'instance.state') return event.appId ?? event.instanceId;
  return event.replicationJobId;
}

/**
 * The state a run leaves, where its new state implies it (a DELETED run was PENDING or ACTIVE: unknown).
 * Runs are created PENDING, claimed ACTIVE, and end COMPLETED or FAILED from ACTIVE, MISSED from PENDING.
 */
const RUN_PREVIOUS_STATE: Record<string, string | null> = { PENDING: null, ACTIVE: 'PENDING', COMPLETED: 'ACTIVE', FAILED: 'ACTIVE', MISSED: 'PENDING' };

export interface CloudWatchEvent {
  version: '0';
  id: string;
  'detail-type': string;
  source: 'aws.sms' | 'ferry.launch';
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: Record<string, string | null>;
}

const arn = (event: StateEvent, resource: string, service = 'sms'): string => `arn:aws:${service}:${event.tenant.region}:${event.tenant.accountId}:${resource}`;

/** CloudWatch writes times to the second: 2026-01-01T00:00:00Z. */
export function eventTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function toCloudWatchEvent(event: StateEvent, meta: { id: string; time: number; amiId?: string | null }): CloudWatchEvent {
  // Keys in CloudWatch's order: version, id, detail-type, source, account, time, region, resources, detail.
  const envelope = (detailType: string, resources: string[], detail: Record<string, string | null>, source: CloudWatchEvent['source'] = 'aws.sms'): CloudWatchEvent => ({
    version: '0',
    id: meta.id,
    'detail-type': detailType,
    source,
    account: event.tenant.accountId,
    time: eventTime(meta.time),
    region: event.tenant.region,
    resources,
    detail,
  });
  if (event.type === 'app.state') {
    return envelope(APP_DETAIL_TYPE, [arn(event, `app/${event.appId}`)], {
      appId: event.appId,
      status: event.status,
      replicationStatus: event.replicationStatus,
      launchStatus: event.launchStatus,
      previousStatus: event.previous?.status ?? null,
      previousReplicationStatus: event.previous?.replicationStatus ?? null,
      previousLaunchStatus: event.previous?.launchStatus ?? null,
    });
  }
  if (event.type === 'instance.state') {
    const resources = [arn(event, `instance/${event.instanceId}`, 'ec2')];
    if (event.appId) resources.push(arn(event, `app/${event.appId}`));
    return envelope(
      INSTANCE_DETAIL_TYPE,
      resources,
      {
        instanceId: event.instanceId,
        appId: event.appId,
        serverId: event.serverId,
        state: event.state,
        previousState: event.previous?.state ?? null,
        hydration: event.hydration,
        previousHydration: event.previous?.hydration ?? null,
        statusMessage: event.message,
      },
      'ferry.launch',
    );
  }
  const jobArn = arn(event, `replication-job/${event.replicationJobId}`);
  if (event.type === 'job.state') {
    return envelope(JOB_DETAIL_TYPE, [jobArn], {
      replicationJobId: event.replicationJobId,
      state: event.state,
      previousState: event.previousState,
      statusMessage: event.statusMessage ?? null,
    });
  }
  const previous = 'previousState' in event && typeof event.previousState === 'string' ? event.previousState : (RUN_PREVIOUS_STATE[event.state] ?? null);
  const detail: Record<string, string | null> = {
    replicationJobId: event.replicationJobId,
    replicationRunId: event.replicationRunId,
    runType: event.runType,
    state: event.state,
    previousState: previous,
    statusMessage: event.statusMessage ?? null,
  };
  if (meta.amiId) detail.amiId = meta.amiId;
  return envelope(RUN_DETAIL_TYPE, [jobArn, arn(event, `replication-run/${event.replicationRunId}`)], detail);
}
