import type { Operation } from '../operation.ts';
import { epochDate } from '../../protocol/awsJson.ts';
import type { ConnectorHeartbeat, FerryInput, FerryOutput } from '../../api/ferryWire.ts';

/** The caller's associated connectors' heartbeat details, for the console's Connectors page. */
export const listConnectorHeartbeats: Operation<FerryInput<'ListConnectorHeartbeats'>, FerryOutput<'ListConnectorHeartbeats', Date>> = {
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
        const out: ConnectorHeartbeat<Date> = { connectorId: row.connector_id };
        if (row.last_heartbeat_at !== null) out.lastHeartbeatAt = epochDate(row.last_heartbeat_at);
        if (row.reported_status !== null) out.reportedStatus = row.reported_status;
        if (row.status_message !== null) out.statusMessage = row.status_message;
        if (row.last_inventory_at !== null) out.lastInventoryAt = epochDate(row.last_inventory_at);
        return out;
      }),
    };
  },
};
