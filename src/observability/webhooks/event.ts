/**
 * The body of a webhook delivery: a state change shaped like the CloudWatch (EventBridge) events AWS SMS emitted,
 * so that receivers written for `aws.sms` events need little change. Job state changes are
 * "Server Migration Job State Change"; run state changes "Server Migration Run State Change" (docs/events.md).
 */
import type { FerryEvent } from '../../core/events.ts';

export const JOB_DETAIL_TYPE = 'Server Migration Job State Change';
export const RUN_DETAIL_TYPE = 'Server Migration Run State Change';

export type StateEvent = Extract<FerryEvent, { type: 'job.state' } | { type: 'run.state' }>;

export function isStateEvent(event: FerryEvent): event is StateEvent {
  return event.type === 'job.state' || event.type === 'run.state';
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
  source: 'aws.sms';
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: Record<string, string | null>;
}

const arn = (event: StateEvent, resource: string): string => `arn:aws:sms:${event.tenant.region}:${event.tenant.accountId}:${resource}`;

/** CloudWatch writes times to the second: 2026-01-01T00:00:00Z. */
export function eventTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function toCloudWatchEvent(event: StateEvent, meta: { id: string; time: number; amiId?: string | null }): CloudWatchEvent {
  // Keys in CloudWatch's order: version, id, detail-type, source, account, time, region, resources, detail.
  const envelope = (detailType: string, resources: string[], detail: Record<string, string | null>): CloudWatchEvent => ({
    version: '0',
    id: meta.id,
    'detail-type': detailType,
    source: 'aws.sms',
    account: event.tenant.accountId,
    time: eventTime(meta.time),
    region: event.tenant.region,
    resources,
    detail,
  });
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
