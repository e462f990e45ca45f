/**
 * Put/Get/DeleteAppReplicationConfiguration: each server's replication parameters (SMS's ServerReplicationParameters),
 * the same for every server or set per server, in the fields the job forms use. An error about one server's member
 * shows at that field.
 */
import { useEffect, useState } from 'preact/hooks';
import {
  DeleteAppReplicationConfigurationCommand,
  GetAppReplicationConfigurationCommand,
  PutAppReplicationConfigurationCommand,
  type GetAppResponse,
  type ServerReplicationParameters,
} from '@aws-sdk/client-sms';
import { errorInfo } from '../../api/errors.ts';
import { configErrorPath, fieldMessage, memberOf, serverOfConfigError } from '../../api/errorPaths.ts';
import { useApi } from '../../context.ts';
import { useBusy, useFocusOnProblem, useResource } from '../../hooks.ts';
import { fromLocalInput } from '../../format.ts';
import { ErrorMessage, LoadState } from '../ui.tsx';
import { Checkbox } from '../fields.tsx';
import { EMPTY_JOB_SETTINGS, JobSettingsFields, replicationParameters, settingsOf, useJobSettings, type JobSettings } from '../JobSettingsFields.tsx';
import { appServers } from './appServers.ts';
import { ConfigActions, deleteConfiguration } from './ConfigActions.tsx';

const MEMBERS = ['seedTime', 'frequency', 'runOnce', 'licenseType', 'numberOfRecentAmisToKeep', 'encrypted', 'kmsKeyId'];

interface Problem {
  code: string;
  message: string;
  serverId?: string;
  member?: string;
}

const sameSettings = (a: JobSettings, b: JobSettings) => JSON.stringify(a) === JSON.stringify(b);

export function ReplicationConfigForm(props: { app: GetAppResponse; onSaved: () => void }) {
  const { sms } = useApi();
  const appId = props.app.appSummary!.appId!;
  const servers = appServers(props.app);
  const loaded = useResource(() => sms.send(new GetAppReplicationConfigurationCommand({ appId })), [appId]);
  const [same, setSame] = useState(true);
  const { settings: shared, setSettings: setShared, bind: bindShared } = useJobSettings(EMPTY_JOB_SETTINGS);
  const [perServer, setPerServer] = useState<Record<string, JobSettings>>({});
  const [problem, setProblem] = useState<Problem | undefined>(undefined);
  const [saved, setSaved] = useState('');
  const { busy, whileBusy } = useBusy();

  // Start from what is configured: one set when every server has the same, else one per server.
  useEffect(() => {
    if (!loaded.data) return;
    const configured = new Map<string, JobSettings>();
    for (const group of loaded.data.serverGroupReplicationConfigurations ?? []) {
      for (const entry of group.serverReplicationConfigurations ?? []) {
        const params: ServerReplicationParameters = entry.serverReplicationParameters ?? {};
        configured.set(entry.server!.serverId!, settingsOf(params, params.seedTime));
      }
    }
    const each: Record<string, JobSettings> = {};
    for (const s of servers) each[s.serverId] = configured.get(s.serverId) ?? EMPTY_JOB_SETTINGS;
    const values = Object.values(each);
    const uniform = values.every((v) => sameSettings(v, values[0]!));
    setSame(uniform);
    setShared(values[0] ?? EMPTY_JOB_SETTINGS);
    setPerServer(each);
  }, [loaded.data]);

  const settingsFor = (serverId: string) => (same ? shared : (perServer[serverId] ?? EMPTY_JOB_SETTINGS));

  useFocusOnProblem(
    problem,
    (problem) => {
      const index = servers.findIndex((s) => s.serverId === problem.serverId);
      const prefix = same || index < 0 ? 'repl' : `repl-${index}`;
      return problem.member ? `${prefix}-${problem.member}` : undefined;
    },
    'repl-error',
  );

  async function submit(event: Event) {
    event.preventDefault();
    setProblem(undefined);
    setSaved('');
    const groups = props.app.serverGroups ?? [];
    const request = groups.map((group) => ({
      serverGroupId: group.serverGroupId,
      serverReplicationConfigurations: (group.serverList ?? []).map((server) => {
        const settings = settingsFor(server.serverId!);
        return { server: { serverId: server.serverId }, serverReplicationParameters: { seedTime: fromLocalInput(settings.time), ...replicationParameters(settings) } };
      }),
    }));
    await whileBusy(
      async () => {
        await sms.send(new PutAppReplicationConfigurationCommand({ appId, serverGroupReplicationConfigurations: request }));
        setSaved('The replication configuration was saved. Start replication from the overview.');
        props.onSaved();
      },
      (thrown) => {
        const info = errorInfo(thrown);
        const path = configErrorPath(info.message);
        setProblem({ ...info, serverId: serverOfConfigError(path, groups).serverId, member: path ? memberOf(path, MEMBERS) : undefined });
      },
    );
  }

  const remove = () =>
    deleteConfiguration({ setProblem, setSaved }, 'replication configuration', () => sms.send(new DeleteAppReplicationConfigurationCommand({ appId })), async () => {
      props.onSaved();
      await loaded.reload();
    });

  const errorOf = (serverId: string | undefined) => (member: string) =>
    problem && problem.member === member && (serverId === undefined || problem.serverId === serverId) ? fieldMessage(problem) : undefined;
  const timeField = { member: 'seedTime', label: 'Seed time', hint: 'Optional, your local time: the first run starts then; blank starts it when you start replication.' };

  return (
    <section class="card" aria-labelledby="repl-heading">
      <h2 id="repl-heading">Replication configuration</h2>
      <LoadState of={loaded} what="the replication configuration" failed="Could not load the replication configuration." />
      {servers.length === 0 ? <p class="empty">Add servers to the application first.</p> : null}
      {loaded.data && servers.length > 0 ? (
        <form class="form" onSubmit={submit} noValidate aria-labelledby="repl-heading">
          <ErrorMessage id="repl-error" focusable error={problem} prefix="The configuration was not saved." />
          <Checkbox
            id="repl-same"
            label="The same settings for every server"
            hint={`Applies to all ${servers.length} server${servers.length === 1 ? '' : 's'}; clear it to set each server's own.`}
            checked={same}
            onChange={(value) => {
              // Going per server starts every server from the shared settings.
              if (!value) setPerServer(Object.fromEntries(servers.map((s) => [s.serverId, shared])));
              setSame(value);
            }}
          />
          {same ? (
            <JobSettingsFields idPrefix="repl" {...bindShared} errorOf={errorOf(undefined)} time={timeField} />
          ) : (
            servers.map((server, index) => (
              <div class="per-server" key={server.serverId}>
                <h3>
                  {server.name} <code class="muted">{server.serverId}</code>
                </h3>
                <JobSettingsFields
                  idPrefix={`repl-${index}`}
                  legendPrefix={server.name}
                  values={settingsFor(server.serverId)}
                  onChange={(patch) => setPerServer((c) => ({ ...c, [server.serverId]: { ...settingsFor(server.serverId), ...patch } }))}
                  errorOf={errorOf(server.serverId)}
                  time={timeField}
                />
              </div>
            ))
          )}
          <ConfigActions
            busy={busy}
            what="replication configuration"
            deletable={props.app.appSummary?.replicationConfigurationStatus === 'CONFIGURED'}
            deleteQuestion="Delete the replication configuration?"
            onDelete={remove}
            saved={saved}
          />
        </form>
      ) : null}
    </section>
  );
}
