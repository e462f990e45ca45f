/** GetAppValidationOutput, polled while the page is open: each validation's latest status and message. */
import { GetAppValidationOutputCommand, type ValidationOutput } from '@aws-sdk/client-sms';
import { useApi } from '../../context.ts';
import { useResource } from '../../hooks.ts';
import { formatTime } from '../../format.ts';
import { Badge, LoadState } from '../ui.tsx';
import type { AppServerRef } from './appServers.ts';
import { DataTable } from '../DataTable.tsx';

const RUNNING = new Set(['PENDING', 'IN_PROGRESS']);

export function ValidationResults(props: { appId: string; servers: AppServerRef[]; version: number }) {
  const { sms } = useApi();
  const results = useResource<ValidationOutput[]>(
    async () => (await sms.send(new GetAppValidationOutputCommand({ appId: props.appId }))).validationOutputList ?? [],
    [props.appId, props.version],
    3000,
  );
  const list = results.data ?? [];
  const serverName = (id: string | undefined) => props.servers.find((s) => s.serverId === id)?.name ?? id;
  return (
    <section class="card" aria-labelledby="val-results-heading">
      <h2 id="val-results-heading">Validation results</h2>
      <LoadState of={results} what="validation results" failed="Could not load the validation results." />
      {results.data && list.length === 0 ? <p class="empty">No validations are configured.</p> : null}
      {list.length > 0 ? (
        <DataTable caption="The latest result of each validation" columns={['Validation', 'Of', 'Status', 'Message', 'When']} testId="validation-results">
          {list.map((v) => (
            <tr key={v.validationId}>
              <th scope="row" data-label="Validation">
                {v.name}
                <div class="sub">
                  <code>{v.validationId}</code>
                </div>
              </th>
              <td data-label="Of">{v.serverValidationOutput ? `server ${serverName(v.serverValidationOutput.server?.serverId)}` : 'the app'}</td>
              <td data-label="Status">
                <Badge value={v.status} />
                {RUNNING.has(v.status ?? '') ? <span class="visually-hidden"> (running)</span> : null}
              </td>
              <td data-label="Message" class="wrap">
                {v.statusMessage ? <pre class="message">{v.statusMessage}</pre> : '—'}
                {v.appValidationOutput?.ssmOutput?.s3Location ? (
                  <div class="sub">
                    output <code>s3://{v.appValidationOutput.ssmOutput.s3Location.bucket}/{v.appValidationOutput.ssmOutput.s3Location.key}</code>
                  </div>
                ) : null}
              </td>
              <td data-label="When">{formatTime(v.latestValidationTime)}</td>
            </tr>
          ))}
        </DataTable>
      ) : null}
    </section>
  );
}
