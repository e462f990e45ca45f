/** "Create replication job": every CreateReplicationJob member, with the API's validation errors shown inline. */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { CreateReplicationJobCommand, type CreateReplicationJobRequest } from '@aws-sdk/client-sms';
import { getCatalog } from '../api/sms.ts';
import { useApi } from '../context.ts';
import { useBusy, useFormError, useResource } from '../hooks.ts';
import { fromLocalInput, toLocalInput } from '../format.ts';
import { navigate } from '../router.ts';
import { BackLink, CreateActions, ErrorMessage, LoadState, Page } from '../components/ui.tsx';
import { Field } from '../components/fields.tsx';
import { EMPTY_JOB_SETTINGS, JOB_DETAIL_MEMBERS, JobSettingsFields, replicationParameters, useJobSettings } from '../components/JobSettingsFields.tsx';

const FIELDS = ['serverId', 'seedReplicationTime', 'frequency', 'runOnce', ...JOB_DETAIL_MEMBERS] as const;
type FieldName = (typeof FIELDS)[number];

export function CreateJobPage(props: { serverId: string }) {
  const { sms } = useApi();
  const catalog = useResource(() => getCatalog(sms), []);
  const [serverId, setServerId] = useState(props.serverId);
  const { settings, bind } = useJobSettings(() => ({ ...EMPTY_JOB_SETTINGS, time: toLocalInput(new Date()) }));
  const { error, clear: clearError, fail, fieldError } = useFormError(FIELDS, { idPrefix: 'job', errorId: 'create-job-error' });
  const { busy, whileBusy } = useBusy();

  useEffect(() => setServerId(props.serverId), [props.serverId]);
  const server = useMemo(() => catalog.data?.servers.find((s) => s.serverId === serverId), [catalog.data, serverId]);
  // A link to a server this account's catalog does not hold (another account's id, a removed or mistyped one) is not
  // offered as the job's server: the form asks for one of the account's own instead.
  const notInCatalog = catalog.data !== undefined && serverId !== '' && server === undefined;

  async function submit(event: Event) {
    event.preventDefault();
    clearError();
    const input: CreateReplicationJobRequest = {
      serverId,
      seedReplicationTime: fromLocalInput(settings.time),
      ...replicationParameters(settings),
      roleName: settings.roleName.trim() || undefined,
      description: settings.description.trim() || undefined,
    };
    await whileBusy(
      async () => {
        const out = await sms.send(new CreateReplicationJobCommand(input));
        navigate(`/jobs/${out.replicationJobId}`);
      },
      (thrown) => fail(thrown),
    );
  }

  const name = server?.vmServer?.vmName ?? serverId;
  return (
    <Page title={notInCatalog ? 'Create replication job' : `Create replication job for ${name}`}>
      <BackLink to="/servers">Back to servers</BackLink>
      <LoadState of={catalog} what="the catalog" failed="Could not load the catalog." />
      {notInCatalog ? (
        <p class="alert info" role="status">
          Server <code>{serverId}</code> is not in this account's server catalog. Choose one of its servers below.
        </p>
      ) : null}
      <form class="card form" onSubmit={submit} noValidate aria-labelledby="page-title">
        <ErrorMessage id="create-job-error" focusable error={error} prefix="The job was not created." />
        <fieldset>
          <legend>Server</legend>
          <Field id="job-serverId" label="Server" error={fieldError('serverId')} hint={server?.vmServer?.vmPath}>
            {(aria) => (
              <select {...aria} value={notInCatalog ? '' : serverId} onChange={(e) => setServerId(e.currentTarget.value)}>
                {notInCatalog || serverId === '' ? (
                  <option value="" disabled>
                    Choose a server
                  </option>
                ) : null}
                {catalog.data === undefined && serverId !== '' ? <option value={serverId}>{serverId}</option> : null}
                {catalog.data?.servers.map((s) => (
                  <option key={s.serverId} value={s.serverId}>
                    {s.vmServer?.vmName ?? s.serverId} ({s.serverId})
                  </option>
                ))}
              </select>
            )}
          </Field>
        </fieldset>
        <JobSettingsFields
          idPrefix="job"
          {...bind}
          errorOf={(member) => fieldError(member as FieldName)}
          time={{
            member: 'seedReplicationTime',
            label: 'Seed replication time',
            hint: 'Your local time. The first run starts then (a past time means now; at most 30 days ahead).',
            required: true,
          }}
          withJobDetails
        />
        <CreateActions busy={busy} label="Create replication job" cancelTo="/servers" />
      </form>
    </Page>
  );
}
