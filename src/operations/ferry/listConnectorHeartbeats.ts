import type { Operation } from '../../api/operation.ts';
import { epochDate } from '../../protocol/awsJson.ts';

export interface ConnectorHeartbeat {
  connectorId: string;
  /** When the connector last sent a heartbeat (GetConnectors' shape has no member for it). */
  lastHeartbeatAt?: Date;
  /** What the connector itself last reported (HEALTHY / UNHEALTHY) and why. */
  reportedStatus?: string;
  statusMessage?: string;
  /** When it last uploaded its inventory (a catalog import). */
  lastInventoryAt?: Date;
}

/** The caller's associated connectors' heartbeat details, for the console's Connectors page. */
export const listConnectorHeartbeats: Operation<Record<string, never>, { connectors: ConnectorHeartbeat[] }> = {
  input: {},
  async handle(_input, { core, tenant }) {
    const rows = await core.db
      .selectFrom('connectors')
      .select(['connector_id', 'last_heartbeat_at', 'reported_status', 'status_message', 'last_inventory_at'])
      .where('account_id', '=', tenant.accountId)
      .where('region', '=', tenant.region)
      .where('registered_at', 'is not', null)
      .where('disassociated_at', 'is', null)
      .orderBy('seq', 'asc')
      .execute();
    return {
      connectors: rows.map((row) => {
        const out: ConnectorHeartbeat = { connectorId: row.connector_id };
        if (row.last_heartbeat_at !== null) out.lastHeartbeatAt = epochDate(row.last_heartbeat_at);
        if (row.reported_status !== null) out.reportedStatus = row.reported_status;
        if (row.status_message !== null) out.statusMessage = row.status_message;
        if (row.last_inventory_at !== null) out.lastInventoryAt = epochDate(row.last_inventory_at);
        return out;
      }),
    };
  },
};
