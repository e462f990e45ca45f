/**
 * A connector's health as GetConnectors, CreateReplicationJob's "a healthy connector" check and the metrics see
 * it: it heartbeat within the timeout and did not itself report UNHEALTHY.
 */
import type { Policy } from './policy.ts';

export interface ConnectorHeartbeat {
  last_heartbeat_at: number | null;
  reported_status: string | null;
}

export function connectorStatus(row: ConnectorHeartbeat, now: number, policy: Policy): 'HEALTHY' | 'UNHEALTHY' {
  const fresh = row.last_heartbeat_at !== null && now - row.last_heartbeat_at <= policy.connectorHeartbeatTimeoutMs;
  return fresh && row.reported_status !== 'UNHEALTHY' ? 'HEALTHY' : 'UNHEALTHY';
}
