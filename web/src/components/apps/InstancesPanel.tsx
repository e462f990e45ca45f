/**
 * The app's instances (Ferry's ListInstances): state, hydration (whether the disk still reads from the image store),
 * boot and validation results, and each live instance's serial console (GetInstanceConsoleOutput), refreshed while
 * the page is visible. Terminated instances are listed below, without a console.
 */
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { GetAppResponse } from '@aws-sdk/client-sms';
import type { FerryInstance, InstanceConsoleOutput } from '../../api/ferry.ts';
import { useApi } from '../../context.ts';
import { useResource } from '../../hooks.ts';
import { formatTime, fromEpochSeconds } from '../../format.ts';
import { Badge, Details, LoadState } from '../ui.tsx';
import { appServers } from './appServers.ts';

const SETTLED = new Set(['running', 'failed', 'terminated']);
/** The console's newest bytes shown (the API's default is 64 KiB). */
const CONSOLE_BYTES = 32 * 1024;

function SerialConsole(props: { instanceId: string; live: boolean }) {
  const { ferry } = useApi();
  const output = useResource<InstanceConsoleOutput>(() => ferry.getInstanceConsoleOutput(props.instanceId, CONSOLE_BYTES), [props.instanceId], props.live ? 2000 : undefined);
  const pre = useRef<HTMLPreElement>(null);
  const following = useRef(true);
  // Keep the newest line in view, unless the reader scrolled up to read.
  useLayoutEffect(() => {
    const el = pre.current;
    if (el && following.current) el.scrollTop = el.scrollHeight;
  }, [output.data?.output]);
  const label = `Serial console of ${props.instanceId}`;
  return (
    <div class="serial">
      <h4 id={`console-${props.instanceId}`}>
        Serial console{' '}
        <span class="sub">
          {output.data ? `as of ${formatTime(fromEpochSeconds(output.data.timestamp))}` : ''}
          {props.live ? ' · refreshed every 2 s' : ''}
        </span>
      </h4>
      <LoadState of={output} what="the serial console" failed="Could not read the serial console." />
      {output.data ? (
        <pre
          ref={pre}
          class="console"
          tabIndex={0}
          aria-label={label}
          data-testid="serial-console"
          onScroll={(e) => {
            const el = e.currentTarget;
            following.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
          }}
        >
          {output.data.output || '(nothing written yet)'}
        </pre>
      ) : null}
    </div>
  );
}

function InstanceCard(props: { instance: FerryInstance; serverName: string }) {
  const i = props.instance;
  return (
    <article class="card instance" aria-labelledby={`instance-${i.instanceId}`} data-testid="instance">
      <h3 id={`instance-${i.instanceId}`}>
        <code>{i.instanceId}</code> <span class="sub">{props.serverName}</span>
      </h3>
      <Details
        items={[
          ['State', <><Badge value={i.state} />{i.stateMessage ? <div class="sub">{i.stateMessage}</div> : null}</>],
          ['Disk', <><Badge value={i.hydration} />{i.hydrationMessage ? <div class="sub">{i.hydrationMessage}</div> : i.hydration === 'hydrated' ? <div class="sub">independent of the image store</div> : null}</>],
          ['Image', <code>{i.amiId}</code>],
          ['libvirt domain', <code>{i.domainName}</code>],
          ['Launched', formatTime(fromEpochSeconds(i.launchedAt))],
          ['Booted', formatTime(fromEpochSeconds(i.bootedAt))],
          ['Hydrated', formatTime(fromEpochSeconds(i.hydratedAt))],
          ...(i.terminatedAt ? [['Terminated', formatTime(fromEpochSeconds(i.terminatedAt))] as [string, string]] : []),
        ]}
      />
      {i.validations.length > 0 ? (
        <>
          <h4>Validations on this instance</h4>
          <ul class="plain">
            {i.validations.map((v) => (
              <li key={v.validationId}>
                <Badge value={v.status} /> {v.name} <code class="muted">{v.validationId}</code>
                {v.message ? <pre class="message">{v.message}</pre> : null}
              </li>
            ))}
          </ul>
        </>
      ) : null}
      <SerialConsole instanceId={i.instanceId} live={i.state !== 'terminated'} />
    </article>
  );
}

export function InstancesPanel(props: { app: GetAppResponse }) {
  const { ferry } = useApi();
  const appId = props.app.appSummary!.appId!;
  const servers = appServers(props.app);
  const [moving, setMoving] = useState(false);
  const list = useResource<FerryInstance[]>(
    async () => {
      const out = await ferry.listInstances(appId);
      setMoving(out.instances.some((i) => !SETTLED.has(i.state) || i.hydration === 'hydrating'));
      return [...out.instances].sort((a, b) => b.launchedAt - a.launchedAt);
    },
    [appId],
    moving ? 2000 : 5000,
  );
  // A launch started from another tab shows up here without a reload.
  useEffect(() => void list.reload(), [props.app.appSummary?.launchStatus]);
  const nameOf = (serverId: string) => servers.find((s) => s.serverId === serverId)?.name ?? serverId;
  const current = (list.data ?? []).filter((i) => i.state !== 'terminated');
  const past = (list.data ?? []).filter((i) => i.state === 'terminated');
  return (
    <section aria-labelledby="instances-heading">
      <h2 id="instances-heading">Instances</h2>
      <LoadState of={list} what="instances" failed="Could not list the instances." />
      {list.data && current.length === 0 ? <p class="empty">No instance of this application is running. Launch it from the overview.</p> : null}
      <div class="instance-list">
        {current.map((i) => (
          <InstanceCard key={i.instanceId} instance={i} serverName={nameOf(i.serverId)} />
        ))}
      </div>
      {past.length > 0 ? (
        <details class="card">
          <summary>Terminated instances ({past.length})</summary>
          <ul class="plain">
            {past.map((i) => (
              <li key={i.instanceId}>
                <code>{i.instanceId}</code> {nameOf(i.serverId)} — launched {formatTime(fromEpochSeconds(i.launchedAt))}, terminated{' '}
                {formatTime(fromEpochSeconds(i.terminatedAt))}
                {i.stateMessage ? <span class="muted"> ({i.stateMessage})</span> : null}
              </li>
            ))}
          </ul>
        </details>
      ) : null}
    </section>
  );
}
