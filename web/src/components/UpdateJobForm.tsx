/** UpdateReplicationJob: sends only the members the user changed, and shows the API's errors inline. */
import { useEffect, useState } from 'preact/hooks';
import { UpdateReplicationJobCommand, type ReplicationJob, type UpdateReplicationJobRequest } from '@aws-sdk/client-sms';
import { useApi } from '../context.ts';
import { useBusy, useFocusOnProblem, useFormError } from '../hooks.ts';
import { fromLocalInput } from '../format.ts';
import { JOB_DETAIL_MEMBERS, JobSettingsFields, replicationParameters, settingsOf, useJobSettings } from './JobSettingsFields.tsx';
import { ErrorMessage } from './ui.tsx';

const FIELDS = ['frequency', 'nextReplicationRunStartTime', ...JOB_DETAIL_MEMBERS] as const;
type FieldName = (typeof FIELDS)[number];

export function UpdateJobForm(props: { job: ReplicationJob; onUpdated: () => void }) {
  const { sms } = useApi();
  const job = props.job;
  const { settings, setSettings, bind } = useJobSettings(() => settingsOf(job));
  const { error, clear: clearError, fail, fieldError } = useFormError(FIELDS);
  const [saved, setSaved] = useState('');
  const { busy, whileBusy } = useBusy();

  // Start from the job's values; the time field (the next run's start) stays blank unless the user sets one.
  const reset = () => setSettings(settingsOf(job));
  useEffect(reset, [job.replicationJobId]);

  useFocusOnProblem(error, (error) => (error.field ? `update-${error.field}` : undefined));

  async function submit(event: Event) {
    event.preventDefault();
    clearError();
    setSaved('');
    const input: UpdateReplicationJobRequest = { replicationJobId: job.replicationJobId };
    const { frequency, runOnce: _runOnce, licenseType, numberOfRecentAmisToKeep, encrypted, kmsKeyId } = replicationParameters(settings);
    if (!job.runOnce && frequency !== job.frequency) input.frequency = frequency;
    const next = fromLocalInput(settings.time);
    if (next) input.nextReplicationRunStartTime = next;
    if (licenseType && licenseType !== job.licenseType) input.licenseType = licenseType;
    if (settings.roleName.trim() !== (job.roleName ?? '')) input.roleName = settings.roleName.trim();
    if (settings.description.trim() !== (job.description ?? '')) input.description = settings.description.trim();
    if (numberOfRecentAmisToKeep !== undefined && numberOfRecentAmisToKeep !== job.numberOfRecentAmisToKeep) input.numberOfRecentAmisToKeep = numberOfRecentAmisToKeep;
    if ((encrypted === true) !== (job.encrypted === true)) input.encrypted = encrypted === true;
    if (kmsKeyId && kmsKeyId !== (job.kmsKeyId ?? '')) input.kmsKeyId = kmsKeyId;
    if (Object.keys(input).length === 1) {
      setSaved('Nothing changed.');
      return;
    }
    await whileBusy(
      async () => {
        await sms.send(new UpdateReplicationJobCommand(input));
        setSaved('The job was updated.');
        setSettings((current) => ({ ...current, time: '' }));
        props.onUpdated();
      },
      (thrown) => fail(thrown),
    );
  }

  return (
    <form class="form" onSubmit={submit} noValidate aria-labelledby="update-heading">
      <ErrorMessage error={error} prefix="The job was not updated." />
      <JobSettingsFields
        idPrefix="update"
        {...bind}
        errorOf={(member) => fieldError(member as FieldName)}
        time={{
          member: 'nextReplicationRunStartTime',
          label: 'Next run start time',
          hint: 'Optional, your local time: moves the next automatic run (also resumes a paused job).',
        }}
        existingJob={{ runOnce: job.runOnce === true }}
        withJobDetails
      />
      <div class="form-actions">
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Saving…' : 'Update job'}
        </button>
        <button type="button" onClick={() => { reset(); clearError(); setSaved(''); }}>
          Reset
        </button>
        <span role="status" class="ok-text">
          {saved}
        </span>
      </div>
    </form>
  );
}
