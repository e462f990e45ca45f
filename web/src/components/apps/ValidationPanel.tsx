/**
 * Put/Get/DeleteAppValidationConfiguration and the results (GetAppValidationOutput, ValidationResults.tsx):
 * server validations (USERDATA: a script each launched server runs at boot through cloud-init) and app validations
 * (SSM: a command run through the guest agent of a launched instance). Validation ids are sent back unchanged, so
 * the results of validations that stay are kept.
 */
import { useEffect, useState } from 'preact/hooks';
import {
  DeleteAppValidationConfigurationCommand,
  GetAppValidationConfigurationCommand,
  PutAppValidationConfigurationCommand,
  type AppValidationConfiguration,
  type GetAppResponse,
  type ScriptType,
  type ServerGroupValidationConfiguration,
} from '@aws-sdk/client-sms';
import { errorInfo } from '../../api/errors.ts';
import { configErrorPath, fieldMessage, memberOf } from '../../api/errorPaths.ts';
import { useApi } from '../../context.ts';
import { useBusy, useFocusOnProblem, useResource } from '../../hooks.ts';
import { ErrorMessage, LoadState } from '../ui.tsx';
import { BucketList, bucketChoice, toS3Location, type S3LocationValue } from './S3LocationField.tsx';
import { AppValidationFields, ServerValidationFields, type AppValidationState, type ServerValidationState } from './ValidationFields.tsx';
import { ValidationResults } from './ValidationResults.tsx';
import { appServers } from './appServers.ts';
import { ConfigActions, deleteConfiguration } from './ConfigActions.tsx';
import { patchAt, removeAt } from '../../lists.ts';

const MEMBERS = ['name', 'server', 'source', 'scriptType', 'command', 'instanceId', 'executionTimeoutSeconds', 'outputS3BucketName'];

interface Problem {
  code: string;
  message: string;
  /** `server-N` or `app-N`: the entry the error is about. */
  entry?: string;
  member?: string;
}

const location = (l: { bucket?: string; key?: string } | undefined): S3LocationValue => ({ bucket: l?.bucket ?? '', key: l?.key ?? '' });
const text = (value: string) => value.trim() || undefined;

export function ValidationPanel(props: { app: GetAppResponse; onSaved: () => void }) {
  const { sms, s3 } = useApi();
  const appId = props.app.appSummary!.appId!;
  const servers = appServers(props.app);
  const loaded = useResource(() => sms.send(new GetAppValidationConfigurationCommand({ appId })), [appId]);
  const buckets = useResource(() => s3.listBuckets().catch(() => [] as string[]), []);
  const [serverValidations, setServerValidations] = useState<ServerValidationState[]>([]);
  const [appValidations, setAppValidations] = useState<AppValidationState[]>([]);
  const [problem, setProblem] = useState<Problem | undefined>(undefined);
  const [saved, setSaved] = useState('');
  const { busy, whileBusy } = useBusy();
  const [resultsVersion, setResultsVersion] = useState(0);

  useEffect(() => {
    if (!loaded.data) return;
    setServerValidations(
      (loaded.data.serverGroupValidationConfigurations ?? []).flatMap((g) =>
        (g.serverValidationConfigurations ?? []).map((v) => ({
          validationId: v.validationId,
          serverId: v.server?.serverId ?? '',
          name: v.name ?? '',
          script: location(v.userDataValidationParameters?.source?.s3Location),
          scriptType: v.userDataValidationParameters?.scriptType ?? 'SHELL_SCRIPT',
        })),
      ),
    );
    setAppValidations(
      (loaded.data.appValidationConfigurations ?? []).map((v) => ({
        validationId: v.validationId,
        name: v.name ?? '',
        instanceId: v.ssmValidationParameters?.instanceId ?? '',
        scriptType: v.ssmValidationParameters?.scriptType ?? 'SHELL_SCRIPT',
        command: v.ssmValidationParameters?.command ?? '',
        source: location(v.ssmValidationParameters?.source?.s3Location),
        timeout: v.ssmValidationParameters?.executionTimeoutSeconds === undefined ? '' : String(v.ssmValidationParameters.executionTimeoutSeconds),
        outputBucket: v.ssmValidationParameters?.outputS3BucketName ?? '',
      })),
    );
  }, [loaded.data]);

  useFocusOnProblem(problem, (problem) => `val-${problem.entry}${problem.member === 'source' ? '-source-bucket' : `-${problem.member}`}`, 'val-error');

  /** The request, and for each (group, entry) index pair of its server list the form's entry it came from. */
  function request(): { groups: ServerGroupValidationConfiguration[]; origin: number[][]; apps: AppValidationConfiguration[] } {
    const byGroup = new Map<string, number[]>();
    serverValidations.forEach((v, index) => {
      const groupId = servers.find((s) => s.serverId === v.serverId)?.serverGroupId ?? '';
      byGroup.set(groupId, [...(byGroup.get(groupId) ?? []), index]);
    });
    const origin = [...byGroup.values()];
    const groups = [...byGroup.entries()].map(([serverGroupId, indexes]) => ({
      serverGroupId: serverGroupId || undefined,
      serverValidationConfigurations: indexes.map((i) => {
        const v = serverValidations[i]!;
        const source = toS3Location(v.script);
        return {
          validationId: v.validationId,
          name: text(v.name),
          server: { serverId: text(v.serverId) },
          serverValidationStrategy: 'USERDATA' as const,
          userDataValidationParameters: { source: source ? { s3Location: source } : undefined, scriptType: v.scriptType },
        };
      }),
    }));
    const apps = appValidations.map((v) => {
      const source = toS3Location(v.source);
      return {
        validationId: v.validationId,
        name: text(v.name),
        appValidationStrategy: 'SSM' as const,
        ssmValidationParameters: {
          instanceId: text(v.instanceId),
          scriptType: v.scriptType,
          command: v.command.trim() ? v.command : undefined,
          source: source ? { s3Location: source } : undefined,
          executionTimeoutSeconds: v.timeout.trim() ? Number(v.timeout) : undefined,
          outputS3BucketName: text(v.outputBucket),
        },
      };
    });
    return { groups, origin, apps };
  }

  async function submit(event: Event) {
    event.preventDefault();
    setProblem(undefined);
    setSaved('');
    const { groups, origin, apps } = request();
    await whileBusy(
      async () => {
        await sms.send(new PutAppValidationConfigurationCommand({ appId, serverGroupValidationConfigurations: groups, appValidationConfigurations: apps }));
        setSaved('The validation configuration was saved.');
        props.onSaved();
        await loaded.reload();
        setResultsVersion((v) => v + 1);
      },
      (thrown) => {
        const info = errorInfo(thrown);
        const path = configErrorPath(info.message);
        let entry: string | undefined;
        if (path?.list === 'appValidationConfigurations') entry = `app-${path.group}`;
        else if (path?.list === 'serverGroupValidationConfigurations' && path.entry !== undefined) {
          const index = origin[path.group!]?.[path.entry];
          if (index !== undefined) entry = `server-${index}`;
        }
        setProblem({ ...info, entry, member: path ? memberOf(path, MEMBERS) : undefined });
      },
    );
  }

  const remove = () =>
    deleteConfiguration({ setProblem, setSaved }, 'validation configuration', () => sms.send(new DeleteAppValidationConfigurationCommand({ appId })), async () => {
      await loaded.reload();
      setResultsVersion((v) => v + 1);
    });

  const errorFor = (entry: string) => (member: string) => (problem && problem.entry === entry && problem.member === member ? fieldMessage(problem) : undefined);
  const configured = (loaded.data?.appValidationConfigurations?.length ?? 0) + (loaded.data?.serverGroupValidationConfigurations?.length ?? 0) > 0;

  return (
    <>
      <ValidationResults appId={appId} servers={servers} version={resultsVersion} />
      <section class="card" aria-labelledby="val-heading">
        <h2 id="val-heading">Validation configuration</h2>
        <LoadState of={loaded} what="the validation configuration" failed="Could not load the validation configuration." />
        {loaded.data ? (
          <form class="form" onSubmit={submit} noValidate aria-labelledby="val-heading">
            <BucketList id="val-buckets" buckets={buckets.data} />
            <ErrorMessage id="val-error" focusable error={problem} prefix="The configuration was not saved." />
            <h3>Server validations (user data)</h3>
            <p class="hint">A script the launched server runs at boot; its exit status and output become the validation's result.</p>
            {serverValidations.map((v, index) => (
              <ServerValidationFields
                key={index}
                idPrefix={`val-server-${index}`}
                index={index}
                servers={servers}
                value={v}
                onChange={(patch) => setServerValidations(patchAt(index, patch))}
                onRemove={() => setServerValidations(removeAt(index))}
                errorOf={errorFor(`server-${index}`)}
                buckets={bucketChoice('val-buckets', buckets.data)}
              />
            ))}
            <button
              type="button"
              onClick={() =>
                setServerValidations((c) => [...c, { serverId: servers[0]?.serverId ?? '', name: `boot-check-${c.length + 1}`, script: { bucket: '', key: '' }, scriptType: 'SHELL_SCRIPT' as ScriptType }])
              }
            >
              Add a server validation
            </button>
            <h3>App validations (SSM)</h3>
            <p class="hint">A command run on an instance of the launched app through its guest agent (instances without one report FAILED).</p>
            {appValidations.map((v, index) => (
              <AppValidationFields
                key={index}
                idPrefix={`val-app-${index}`}
                index={index}
                value={v}
                onChange={(patch) => setAppValidations(patchAt(index, patch))}
                onRemove={() => setAppValidations(removeAt(index))}
                errorOf={errorFor(`app-${index}`)}
                buckets={bucketChoice('val-buckets', buckets.data)}
              />
            ))}
            <button
              type="button"
              onClick={() =>
                setAppValidations((c) => [
                  ...c,
                  { name: `app-check-${c.length + 1}`, instanceId: '', scriptType: 'SHELL_SCRIPT', command: '', source: { bucket: '', key: '' }, timeout: '', outputBucket: '' },
                ])
              }
            >
              Add an app validation
            </button>
            <ConfigActions
              busy={busy}
              what="validation configuration"
              deletable={configured}
              deleteQuestion="Delete every validation of this app?"
              deleteConfirmLabel="Yes, delete them"
              onDelete={remove}
              saved={saved}
            />
          </form>
        ) : null}
      </section>
    </>
  );
}
