/**
 * Put/Get/DeleteAppLaunchConfiguration: the CloudFormation role and autoLaunch, each group's launch order, and per
 * server what its instance gets (ServerLaunchConfigurationFields.tsx). Ferry checks everything — instance types
 * against its table of EC2 sizes, network names against libvirt, S3 objects and key pairs — and an error about one
 * server's member shows at that field.
 */
import { useEffect, useState } from 'preact/hooks';
import {
  DeleteAppLaunchConfigurationCommand,
  GetAppLaunchConfigurationCommand,
  PutAppLaunchConfigurationCommand,
  type GetAppResponse,
  type ServerGroupLaunchConfiguration,
} from '@aws-sdk/client-sms';
import { errorInfo } from '../../api/errors.ts';
import { configErrorPath, fieldMessage, memberOf, serverOfConfigError } from '../../api/errorPaths.ts';
import { useApi } from '../../context.ts';
import { useBusy, useFocusOnProblem, useResource } from '../../hooks.ts';
import { ErrorMessage, LoadState } from '../ui.tsx';
import { Checkbox, Field, parseIntField } from '../fields.tsx';
import { BucketList, bucketChoice } from './S3LocationField.tsx';
import {
  InstanceTypeList,
  LAUNCH_MEMBERS,
  ServerLaunchConfigurationFields,
  serverLaunchState,
  toServerLaunchConfiguration,
  type ServerLaunchState,
} from './ServerLaunchConfigurationFields.tsx';
import { appServers } from './appServers.ts';
import { ConfigActions, deleteConfiguration } from './ConfigActions.tsx';

interface Problem {
  code: string;
  message: string;
  serverId?: string;
  serverGroupId?: string;
  member?: string;
}

export function LaunchConfigForm(props: { app: GetAppResponse; onSaved: () => void }) {
  const { sms, s3 } = useApi();
  const appId = props.app.appSummary!.appId!;
  const groups = props.app.serverGroups ?? [];
  const servers = appServers(props.app);
  const loaded = useResource(() => sms.send(new GetAppLaunchConfigurationCommand({ appId })), [appId]);
  const buckets = useResource(() => s3.listBuckets().catch(() => [] as string[]), []);
  const [roleName, setRoleName] = useState('');
  const [autoLaunch, setAutoLaunch] = useState(false);
  const [launchOrder, setLaunchOrder] = useState<Record<string, string>>({});
  const [perServer, setPerServer] = useState<Record<string, ServerLaunchState>>({});
  const [problem, setProblem] = useState<Problem | undefined>(undefined);
  const [saved, setSaved] = useState('');
  const { busy, whileBusy } = useBusy();

  useEffect(() => {
    if (!loaded.data) return;
    const configured = new Map((loaded.data.serverGroupLaunchConfigurations ?? []).map((g) => [g.serverGroupId!, g]));
    const orders: Record<string, string> = {};
    const each: Record<string, ServerLaunchState> = {};
    groups.forEach((group, index) => {
      const config = configured.get(group.serverGroupId!);
      orders[group.serverGroupId!] = config?.launchOrder !== undefined ? String(config.launchOrder) : String(index + 1);
      for (const server of group.serverList ?? []) {
        each[server.serverId!] = serverLaunchState(config?.serverLaunchConfigurations?.find((c) => c.server?.serverId === server.serverId));
      }
    });
    setRoleName(loaded.data.roleName ?? '');
    setAutoLaunch(loaded.data.autoLaunch === true);
    setLaunchOrder(orders);
    setPerServer(each);
  }, [loaded.data]);

  useFocusOnProblem(
    problem,
    (problem) => {
      const index = servers.findIndex((s) => s.serverId === problem.serverId);
      const groupIndex = groups.findIndex((g) => g.serverGroupId === problem.serverGroupId);
      if (problem.member === 'roleName' && !problem.serverGroupId) return 'launch-roleName';
      if (problem.member === 'launchOrder' && groupIndex >= 0) return `launch-group-${groupIndex}-launchOrder`;
      if (index >= 0 && problem.member) return `launch-${index}-${problem.member}${problem.member === 'userData' || problem.member === 'configureScript' ? '-bucket' : ''}`;
      return undefined;
    },
    'launch-error',
  );

  async function submit(event: Event) {
    event.preventDefault();
    setProblem(undefined);
    setSaved('');
    const request: ServerGroupLaunchConfiguration[] = groups.map((group) => ({
      serverGroupId: group.serverGroupId,
      launchOrder: parseIntField(launchOrder[group.serverGroupId!] ?? ''),
      serverLaunchConfigurations: (group.serverList ?? []).map((server) => toServerLaunchConfiguration(server.serverId!, perServer[server.serverId!] ?? serverLaunchState(undefined))),
    }));
    await whileBusy(
      async () => {
        await sms.send(
          new PutAppLaunchConfigurationCommand({ appId, roleName: roleName.trim() || undefined, autoLaunch, serverGroupLaunchConfigurations: request }),
        );
        setSaved('The launch configuration was saved.');
        props.onSaved();
      },
      (thrown) => {
        const info = errorInfo(thrown);
        const path = configErrorPath(info.message);
        const member = path ? memberOf(path, [...LAUNCH_MEMBERS, 'launchOrder']) : /\broleName\b/.test(info.message) ? 'roleName' : undefined;
        setProblem({ ...info, ...serverOfConfigError(path, groups), member });
      },
    );
  }

  const remove = () =>
    deleteConfiguration({ setProblem, setSaved }, 'launch configuration', () => sms.send(new DeleteAppLaunchConfigurationCommand({ appId })), async () => {
      props.onSaved();
      await loaded.reload();
    });

  const errorFor = (serverId: string) => (member: string) =>
    problem && problem.serverId === serverId && problem.member === member ? fieldMessage(problem) : undefined;
  const groupError = (serverGroupId: string) =>
    problem && problem.serverGroupId === serverGroupId && !problem.serverId && problem.member === 'launchOrder' ? fieldMessage(problem) : undefined;

  return (
    <section class="card" aria-labelledby="launch-heading">
      <h2 id="launch-heading">Launch configuration</h2>
      <LoadState of={loaded} what="the launch configuration" failed="Could not load the launch configuration." />
      {servers.length === 0 ? <p class="empty">Add servers to the application first.</p> : null}
      {loaded.data && servers.length > 0 ? (
        <form class="form" onSubmit={submit} noValidate aria-labelledby="launch-heading">
          <InstanceTypeList id="instance-types" />
          <BucketList id="launch-buckets" buckets={buckets.data} />
          <ErrorMessage id="launch-error" focusable error={problem} prefix="The configuration was not saved." />
          <fieldset>
            <legend>Application</legend>
            <div class="grid">
              <Field
                id="launch-roleName"
                label="CloudFormation role name"
                hint="Kept with the launch configuration, as SMS does."
                error={problem && !problem.serverGroupId && problem.member === 'roleName' ? fieldMessage(problem) : undefined}
              >
                {(aria) => <input {...aria} type="text" autocomplete="off" value={roleName} onInput={(e) => setRoleName(e.currentTarget.value)} />}
              </Field>
            </div>
            <Checkbox
              id="launch-autoLaunch"
              label="Launch automatically after the first complete replication"
              checked={autoLaunch}
              onChange={setAutoLaunch}
            />
          </fieldset>
          {groups.map((group, groupIndex) => (
            <fieldset class="launch-group" key={group.serverGroupId}>
              <legend>
                Group {group.name ?? group.serverGroupId} <code class="muted">{group.serverGroupId}</code>
              </legend>
              <Field
                id={`launch-group-${groupIndex}-launchOrder`}
                label="Launch order"
                hint="Groups start in ascending order; a group starts when every instance of the previous one has booted."
                error={groupError(group.serverGroupId!)}
                class="narrow"
              >
                {(aria) => (
                  <input
                    {...aria}
                    type="number"
                    inputMode="numeric"
                    min={1}
                    step={1}
                    value={launchOrder[group.serverGroupId!] ?? ''}
                    onInput={(e) => {
                      const value = e.currentTarget.value;
                      setLaunchOrder((c) => ({ ...c, [group.serverGroupId!]: value }));
                    }}
                  />
                )}
              </Field>
              {(group.serverList ?? []).map((server) => {
                const index = servers.findIndex((s) => s.serverId === server.serverId);
                return (
                  <ServerLaunchConfigurationFields
                    key={server.serverId}
                    idPrefix={`launch-${index}`}
                    name={servers[index]?.name ?? server.serverId!}
                    serverId={server.serverId!}
                    value={perServer[server.serverId!] ?? serverLaunchState(undefined)}
                    onChange={(patch) => setPerServer((c) => ({ ...c, [server.serverId!]: { ...(c[server.serverId!] ?? serverLaunchState(undefined)), ...patch } }))}
                    errorOf={errorFor(server.serverId!)}
                    buckets={bucketChoice('launch-buckets', buckets.data)}
                  />
                );
              })}
            </fieldset>
          ))}
          <ConfigActions
            busy={busy}
            what="launch configuration"
            deletable={props.app.appSummary?.launchConfigurationStatus === 'CONFIGURED'}
            deleteQuestion="Delete the launch configuration?"
            onDelete={remove}
            saved={saved}
          />
        </form>
      ) : null}
    </section>
  );
}
