/** Connectors: health, VM manager, version, last heartbeat; disassociate. */
import { useState } from 'preact/hooks';
import { DisassociateConnectorCommand, type Connector } from '@aws-sdk/client-sms';
import type { ConnectorHeartbeat } from '../api/ferry.ts';
import { listConnectors } from '../api/sms.ts';
import { useApi } from '../context.ts';
import { useNow, useResource } from '../hooks.ts';
import { formatRelative, formatTime, fromEpochSeconds } from '../format.ts';
import { Badge, ConfirmButton, ErrorMessage, LoadState, Page } from '../components/ui.tsx';
import { DataTable } from '../components/DataTable.tsx';

interface Row {
  connector: Connector;
  heartbeat?: ConnectorHeartbeat;
}

export function ConnectorsPage() {
  const { sms, ferry } = useApi();
  const now = useNow(1000);
  const [actionError, setActionError] = useState<unknown>(undefined);
  const [notice, setNotice] = useState<string>('');
  const rows = useResource<Row[]>(
    async () => {
      const [connectors, heartbeats] = await Promise.all([
        listConnectors(sms),
        ferry.listConnectorHeartbeats().catch(() => ({ connectors: [] as ConnectorHeartbeat[] })),
      ]);
      const byId = new Map(heartbeats.connectors.map((h) => [h.connectorId, h]));
      return connectors.map((connector) => ({ connector, heartbeat: byId.get(connector.connectorId ?? '') }));
    },
    [],
    5000,
  );

  async function disassociate(connectorId: string) {
    setActionError(undefined);
    try {
      await sms.send(new DisassociateConnectorCommand({ connectorId }));
      setNotice(`Connector ${connectorId} was disassociated.`);
      await rows.reload();
    } catch (thrown) {
      setActionError(thrown);
    }
  }

  return (
    <Page title="Connectors">
      <p class="muted">
        Connectors run near your VM managers and report their VMs. Register one on the Ferry host with <code>npx ferry connectors register</code>; it
        is healthy while it sends heartbeats.
      </p>
      <p class="visually-hidden" role="status">
        {notice}
      </p>
      <ErrorMessage error={actionError} prefix="Could not disassociate the connector." />
      <LoadState of={rows} what="connectors" failed="Could not load the connectors." />
      {rows.data && rows.data.length === 0 ? <p class="empty">No connector is associated with this account and region yet.</p> : null}
      {rows.data && rows.data.length > 0 ? (
        <DataTable caption="Associated connectors" columns={['Connector', 'Health', 'VM manager', 'Version', 'Last heartbeat', 'Associated']} actions>
          {rows.data.map(({ connector: c, heartbeat: h }) => {
            const last = fromEpochSeconds(h?.lastHeartbeatAt);
            return (
              <tr key={c.connectorId}>
                <th scope="row" data-label="Connector">
                  <code>{c.connectorId}</code>
                  {c.ipAddress ? <div class="sub">{c.ipAddress}</div> : null}
                </th>
                <td data-label="Health">
                  <Badge value={c.status} />
                  {h?.statusMessage ? <div class="sub">{h.statusMessage}</div> : null}
                </td>
                <td data-label="VM manager">
                  {c.vmManagerName ?? '—'}
                  <div class="sub">
                    {c.vmManagerType ?? ''} {c.vmManagerId ? <code>{c.vmManagerId}</code> : null}
                  </div>
                </td>
                <td data-label="Version">{c.version ?? '—'}</td>
                <td data-label="Last heartbeat">
                  {last ? <time dateTime={last.toISOString()} title={formatTime(last)}>{formatRelative(last, now)}</time> : 'never'}
                </td>
                <td data-label="Associated">{formatTime(c.associatedOn)}</td>
                <td data-label="Actions" class="actions">
                  <ConfirmButton
                    label="Disassociate"
                    question={`Disassociate ${c.connectorId}? It will no longer report VMs or replicate them.`}
                    confirmLabel="Yes, disassociate"
                    onConfirm={() => disassociate(c.connectorId!)}
                  />
                </td>
              </tr>
            );
          })}
        </DataTable>
      ) : null}
    </Page>
  );
}
