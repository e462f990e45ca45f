/**
 * What an operator does to a whole app: start, repeat or stop its replication; launch or terminate it; delete it.
 * Buttons are offered from the app's statuses, and the API decides: its answer (or error) shows beside them.
 */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import {
  DeleteAppCommand,
  LaunchAppCommand,
  StartAppReplicationCommand,
  StartOnDemandAppReplicationCommand,
  StopAppReplicationCommand,
  TerminateAppCommand,
  type AppSummary,
} from '@aws-sdk/client-sms';
import { useApi } from '../../context.ts';
import { navigate } from '../../router.ts';
import { ConfirmButton, ErrorMessage, Link } from '../ui.tsx';
import { Checkbox } from '../fields.tsx';

/** Replication statuses with the app's jobs surely there (Start is pointless), and those where they may be (Stop helps). */
const REPLICATING = /^(REPLICATION_PENDING|REPLICATION_IN_PROGRESS|REPLICATED|PARTIALLY_REPLICATED|DELTA_.*|REPLICATION_STOPPING)$/;
const MAY_HAVE_JOBS = /^(REPLICATION_FAILED|REPLICATION_STOP_FAILED)$/;
/** Launch statuses with instances surely up or coming (Launch is pointless), and those where some may be (Terminate helps). */
const LAUNCHED = /^(LAUNCH_PENDING|LAUNCH_IN_PROGRESS|LAUNCHED|PARTIALLY_LAUNCHED|DELTA_LAUNCH_IN_PROGRESS|TERMINATE_IN_PROGRESS)$/;
const MAY_HAVE_INSTANCES = /^(LAUNCH_FAILED|DELTA_LAUNCH_FAILED|TERMINATE_FAILED)$/;

export function AppActions(props: { summary: AppSummary; onChanged: () => void }) {
  const { sms } = useApi();
  const s = props.summary;
  const appId = s.appId!;
  const [busy, setBusy] = useState<string | undefined>(undefined);
  const [done, setDone] = useState('');
  const [error, setError] = useState<unknown>(undefined);
  const [description, setDescription] = useState('');
  const [forceStop, setForceStop] = useState(false);
  const [forceTerminate, setForceTerminate] = useState(false);

  /** Runs one call; true when it succeeded. */
  async function act(what: string, call: () => Promise<unknown>, doneText: string): Promise<boolean> {
    setBusy(what);
    setError(undefined);
    setDone('');
    try {
      await call();
      setDone(doneText);
      props.onChanged();
      return true;
    } catch (thrown) {
      setError(thrown);
      return false;
    } finally {
      setBusy(undefined);
    }
  }

  const replicating = REPLICATING.test(s.replicationStatus ?? '');
  const stoppable = replicating || MAY_HAVE_JOBS.test(s.replicationStatus ?? '');
  const launched = LAUNCHED.test(s.launchStatus ?? '');
  const terminable = launched || MAY_HAVE_INSTANCES.test(s.launchStatus ?? '');
  const replicationConfigured = s.replicationConfigurationStatus === 'CONFIGURED';
  const launchConfigured = s.launchConfigurationStatus === 'CONFIGURED';
  const base = `/apps/${encodeURIComponent(appId)}`;

  return (
    <section class="card" aria-labelledby="app-actions-heading">
      <h2 id="app-actions-heading">Actions</h2>
      <ErrorMessage error={error} prefix="The request failed." />
      <div class="action-groups">
        <StartAndStop
          heading="Replication"
          configure={replicationConfigured ? undefined : { to: `${base}/replication`, text: 'Configure replication' }}
          start={{
            label: 'Start replication',
            busyLabel: 'Starting…',
            busy: busy === 'start',
            disabled: busy !== undefined || !replicationConfigured || replicating,
            primary: replicationConfigured && !replicating,
            onClick: () => act('start', () => sms.send(new StartAppReplicationCommand({ appId })), 'Replication started: one replication job per server.'),
          }}
          stop={{
            label: 'Stop replication',
            question: "Stop replication? Each server's replication job is deleted; its images are kept.",
            confirmLabel: 'Yes, stop replication',
            disabled: busy !== undefined || !stoppable,
            onConfirm: () => act('stop', () => sms.send(new StopAppReplicationCommand({ appId })), 'Replication is stopping.'),
          }}
        >
          <form
            class="inline-form"
            onSubmit={(e) => {
              e.preventDefault();
              void act(
                'ondemand',
                () => sms.send(new StartOnDemandAppReplicationCommand({ appId, description: description.trim() || undefined })),
                'An on-demand run was started for every server.',
              ).then((ok) => ok && setDescription(''));
            }}
          >
            <label for="app-ondemand-description">Run description (optional)</label>
            <input id="app-ondemand-description" type="text" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
            <button type="submit" disabled={busy !== undefined || !replicating}>
              {busy === 'ondemand' ? 'Starting…' : 'Replicate now'}
            </button>
          </form>
        </StartAndStop>
        <StartAndStop
          heading="Launch"
          configure={launchConfigured ? undefined : { to: `${base}/launch`, text: 'Configure the launch' }}
          start={{
            label: 'Launch',
            busyLabel: 'Launching…',
            busy: busy === 'launch',
            disabled: busy !== undefined || !launchConfigured || launched,
            primary: launchConfigured && !launched,
            onClick: () => act('launch', () => sms.send(new LaunchAppCommand({ appId })), 'Launch started: the server groups boot in launch order.'),
          }}
          stop={{
            label: 'Terminate',
            question: "Terminate the app's instances? Their virtual machines and disks are removed; images are kept.",
            confirmLabel: 'Yes, terminate',
            disabled: busy !== undefined || !terminable,
            onConfirm: () => act('terminate', () => sms.send(new TerminateAppCommand({ appId })), 'Termination started.'),
          }}
        />
        <div class="action-group">
          <h3>Delete</h3>
          <Checkbox id="app-force-stop" label="Also stop its replication" checked={forceStop} onChange={setForceStop} />
          <Checkbox id="app-force-terminate" label="Also terminate its instances" checked={forceTerminate} onChange={setForceTerminate} />
          <ConfirmButton
            label="Delete application"
            question="Delete this application? Its servers return to the catalog."
            confirmLabel="Yes, delete"
            disabled={busy !== undefined}
            onConfirm={async () => {
              const deleted = await act(
                'delete',
                () => sms.send(new DeleteAppCommand({ appId, forceStopAppReplication: forceStop || undefined, forceTerminateApp: forceTerminate || undefined })),
                'The application is being deleted.',
              );
              if (deleted) navigate('/apps');
            }}
          />
        </div>
      </div>
      <p role="status" class="ok-text">
        {done}
      </p>
    </section>
  );
}

/**
 * One of the app's start-and-stop pairs (replication, launch): a heading, a pointer to the configuration while there
 * is none, the start button, the confirmed stop, and anything else the group offers (`children`).
 */
function StartAndStop(props: {
  heading: string;
  /** Where to configure first, while the app has no configuration for this. */
  configure: { to: string; text: string } | undefined;
  start: { label: string; busyLabel: string; busy: boolean; disabled: boolean; primary: boolean; onClick: () => void };
  stop: { label: string; question: string; confirmLabel: string; disabled: boolean; onConfirm: () => Promise<unknown> };
  children?: ComponentChildren;
}) {
  const { configure, start, stop } = props;
  return (
    <div class="action-group">
      <h3>{props.heading}</h3>
      {configure ? (
        <p class="hint">
          <Link to={configure.to}>{configure.text}</Link> first.
        </p>
      ) : null}
      <div class="button-row">
        <button type="button" class={start.primary ? 'primary' : undefined} disabled={start.disabled} onClick={start.onClick}>
          {start.busy ? start.busyLabel : start.label}
        </button>
        <ConfirmButton
          label={stop.label}
          question={stop.question}
          confirmLabel={stop.confirmLabel}
          disabled={stop.disabled}
          onConfirm={async () => {
            await stop.onConfirm();
          }}
        />
      </div>
      {props.children}
    </div>
  );
}
