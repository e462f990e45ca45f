/** An app's AppSummary as a details list: every status with its message, times, launch details and tags. */
import type { ComponentChildren } from 'preact';
import type { AppSummary, Tag } from '@aws-sdk/client-sms';
import { formatTime } from '../../format.ts';
import { Badge, Details } from '../ui.tsx';

export function AppSummaryCard(props: { summary: AppSummary; tags: Tag[] }) {
  const s = props.summary;
  return (
    <section class="card" aria-labelledby="app-summary-heading">
      <h2 id="app-summary-heading">Summary</h2>
      <Details
        items={[
          ['App id', <code>{s.appId}</code>],
          ['Status', <><Badge value={s.status} />{s.statusMessage ? <div class="sub">{s.statusMessage}</div> : null}</>],
          ['Replication configuration', <Badge value={s.replicationConfigurationStatus} />],
          [
            'Replication status',
            <span data-testid="replication-status">
              <Badge value={s.replicationStatus} />
              {s.replicationStatusMessage ? <div class="sub">{s.replicationStatusMessage}</div> : null}
            </span>,
          ],
          ['Latest replication', formatTime(s.latestReplicationTime)],
          ['Launch configuration', <Badge value={s.launchConfigurationStatus} />],
          [
            'Launch status',
            <span data-testid="launch-status">
              <Badge value={s.launchStatus} />
              {s.launchStatusMessage ? <div class="sub">{s.launchStatusMessage}</div> : null}
            </span>,
          ],
          ['Latest launch', formatTime(s.launchDetails?.latestLaunchTime)],
          ['Stack', s.launchDetails?.stackName ? <><code>{s.launchDetails.stackName}</code>{s.launchDetails.stackId ? <div class="sub"><code>{s.launchDetails.stackId}</code></div> : null}</> : undefined],
          ['Servers', `${s.totalServers ?? 0} in ${s.totalServerGroups ?? 0} group${s.totalServerGroups === 1 ? '' : 's'}`],
          ['IAM role', s.roleName],
          ['Created', formatTime(s.creationTime)],
          ['Last modified', formatTime(s.lastModified)],
          ['Description', s.description],
          ['Tags', props.tags.length > 0 ? props.tags.map((t) => `${t.key}=${t.value ?? ''}`).join(', ') : undefined],
          ...(s.importedAppId ? [['Imported from', <code>{s.importedAppId}</code>] as [string, ComponentChildren]] : []),
        ]}
      />
    </section>
  );
}
