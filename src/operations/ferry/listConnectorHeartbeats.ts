import type { Operation } from '../operation.ts';
import { epochDate } from '../../protocol/awsJson.ts';
import type { ConnectorHeartbeat, FerryInput, FerryOutput } from '../../api/ferryWire.ts';
import * as connectors from '../../store/connectors/index.ts';

/** The caller's associated connectors' heartbeat details, for the console's Connectors page. */
export const listConnectorHeartbeats: Operation<FerryInput<'ListConnectorHeartbeats'>, FerryOutput<'ListConnectorHeartbeats', Date>> = {
  input: {},
  async handle(_input, { core, tenant }) {
    const rows = await connectors.allAssociated(core.db, tenant);
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
