/** Servers: the catalog's status, import / re-import / delete, and per server its replication job. */
import { useState } from 'preact/hooks';
import { DeleteServerCatalogCommand, ImportServerCatalogCommand, type ReplicationJob } from '@aws-sdk/client-sms';
import { getCatalog, listJobs, LIVE_JOB_STATES, type Catalog } from '../api/sms.ts';
import { useApi } from '../context.ts';
import { useBusy, useResource } from '../hooks.ts';
import { formatTime } from '../format.ts';
import { Badge, ConfirmButton, ErrorMessage, Link, LoadState, Page } from '../components/ui.tsx';
import { DataTable } from '../components/DataTable.tsx';

interface Data {
  catalog: Catalog;
  jobsByServer: Map<string, ReplicationJob>;
}

export function ServersPage() {
  const { sms } = useApi();
  const [actionError, setActionError] = useState<unknown>(undefined);
  const { busy, whileBusy } = useBusy();
  const [pollFast, setPollFast] = useState(false);
  const data = useResource<Data>(
    async () => {
      const [catalog, jobs] = await Promise.all([getCatalog(sms), listJobs(sms)]);
      const jobsByServer = new Map<string, ReplicationJob>();
      // Prefer the server's live job; else its most recent one.
      for (const job of jobs) {
        const seen = jobsByServer.get(job.serverId ?? '');
        if (!seen || (!LIVE_JOB_STATES.has(seen.state ?? '') && LIVE_JOB_STATES.has(job.state ?? ''))) jobsByServer.set(job.serverId ?? '', job);
      }
      // Poll every second while an import runs, so the status and the servers appear without a reload.
      setPollFast(catalog.status === 'IMPORTING');
      return { catalog, jobsByServer };
    },
    [],
    pollFast ? 1000 : 10_000,
  );
  const status = data.data?.catalog.status;
  const importing = status === 'IMPORTING';

  async function importCatalog() {
    setActionError(undefined);
    await whileBusy(
      async () => {
        await sms.send(new ImportServerCatalogCommand({}));
        await data.reload();
      },
      (thrown) => setActionError(thrown),
    );
  }

  async function deleteCatalog() {
    setActionError(undefined);
    try {
      await sms.send(new DeleteServerCatalogCommand({}));
      await data.reload();
    } catch (thrown) {
      setActionError(thrown);
    }
  }

  const imported = status === 'AVAILABLE' || (data.data?.catalog.servers.length ?? 0) > 0;
  return (
    <Page
      title="Servers"
      actions={
        data.data ? (
          <>
            <button type="button" class="primary" onClick={importCatalog} disabled={busy || importing}>
              {importing ? 'Importing…' : imported ? 'Re-import catalog' : 'Import catalog'}
            </button>
            <ConfirmButton
              label="Delete catalog"
              question="Delete the server catalog? Servers disappear until the next import."
              confirmLabel="Yes, delete catalog"
              disabled={importing || status === 'DELETED' || status === 'NOT_IMPORTED'}
              onConfirm={deleteCatalog}
            />
          </>
        ) : null
      }
    >
      <section aria-labelledby="catalog-heading" class="card catalog">
        <h2 id="catalog-heading">Server catalog</h2>
        <p aria-live="polite" aria-atomic="true">
          Status: <Badge value={status ?? (data.loading ? 'LOADING' : undefined)} />
          {data.data?.catalog.lastModifiedOn ? <span class="muted"> · last changed {formatTime(data.data.catalog.lastModifiedOn)}</span> : null}
          {importing ? <span class="muted"> · waiting for every healthy connector to upload its inventory</span> : null}
        </p>
      </section>
      <ErrorMessage error={actionError} />
      <LoadState of={data} what="servers" failed="Could not load the servers." />
      {data.data && data.data.catalog.servers.length === 0 ? (
        <p class="empty">{imported ? 'The catalog has no servers.' : 'No servers yet: import the catalog to see the VMs your connectors report.'}</p>
      ) : null}
      {data.data && data.data.catalog.servers.length > 0 ? (
        <DataTable caption="Servers in the catalog" columns={['Server', 'Path', 'VM manager', 'Replication job']} actions>
          {data.data.catalog.servers.map((server) => {
            const job = data.data!.jobsByServer.get(server.serverId ?? '');
            const live = job && LIVE_JOB_STATES.has(job.state ?? '');
            const name = server.vmServer?.vmName ?? server.serverId;
            return (
              <tr key={server.serverId}>
                <th scope="row" data-label="Server">
                  {name}
                  <div class="sub">
                    <code>{server.serverId}</code>
                  </div>
                </th>
                <td data-label="Path" class="wrap">
                  {server.vmServer?.vmPath ?? '—'}
                </td>
                <td data-label="VM manager">
                  {server.vmServer?.vmManagerName ?? '—'}
                  <div class="sub">{server.vmServer?.vmManagerType}</div>
                </td>
                <td data-label="Replication job">
                  {job ? (
                    <>
                      <Badge value={job.state} />
                      <div class="sub">
                        <Link to={`/jobs/${job.replicationJobId}`}>{job.replicationJobId}</Link>
                      </div>
                    </>
                  ) : (
                    <span class="muted">none</span>
                  )}
                </td>
                <td data-label="Actions" class="actions">
                  {live ? (
                    <Link to={`/jobs/${job.replicationJobId}`} class="button" aria-label={`View the replication job of ${name}`}>
                      View job
                    </Link>
                  ) : (
                    <Link to={`/servers/${server.serverId}/create-job`} class="button" aria-label={`Create a replication job for ${name}`}>
                      Create replication job
                    </Link>
                  )}
                </td>
              </tr>
            );
          })}
        </DataTable>
      ) : null}
    </Page>
  );
}
