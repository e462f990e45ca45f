/** UpdateReplicationJob: sends only the members the user changed, and shows the API's errors inline. */
import { useEffect, useState } from 'preact/hooks';
import { UpdateReplicationJobCommand, type LicenseType, type ReplicationJob, type UpdateReplicationJobRequest } from '@aws-sdk/client-sms';
import { errorInfo, fieldOf } from '../api/errors.ts';
import { useApi } from '../context.ts';
import { fromLocalInput, toLocalInput } from '../format.ts';
import { Checkbox, Field, parseIntField } from './fields.tsx';

const FIELDS = [
  'frequency',
  'nextReplicationRunStartTime',
  'licenseType',
  'roleName',
  'description',
  'numberOfRecentAmisToKeep',
  'encrypted',
  'kmsKeyId',
] as const;
type FieldName = (typeof FIELDS)[number];

export function UpdateJobForm(props: { job: ReplicationJob; onUpdated: () => void }) {
  const { sms } = useApi();
  const job = props.job;
  const [frequency, setFrequency] = useState('');
  const [nextRun, setNextRun] = useState('');
  const [licenseType, setLicenseType] = useState<'' | LicenseType>('');
  const [roleName, setRoleName] = useState('');
  const [description, setDescription] = useState('');
  const [keep, setKeep] = useState('');
  const [encrypted, setEncrypted] = useState(false);
  const [kmsKeyId, setKmsKeyId] = useState('');
  const [error, setError] = useState<{ code: string; message: string; field?: FieldName } | undefined>(undefined);
  const [saved, setSaved] = useState('');
  const [busy, setBusy] = useState(false);

  // Start from the job's values (again after each successful update).
  const reset = () => {
    setFrequency(job.frequency === undefined ? '' : String(job.frequency));
    setNextRun('');
    setLicenseType(job.licenseType ?? '');
    setRoleName(job.roleName ?? '');
    setDescription(job.description ?? '');
    setKeep(job.numberOfRecentAmisToKeep === undefined ? '' : String(job.numberOfRecentAmisToKeep));
    setEncrypted(job.encrypted === true);
    setKmsKeyId(job.kmsKeyId ?? '');
  };
  useEffect(reset, [job.replicationJobId]);

  useEffect(() => {
    if (error?.field) document.getElementById(`update-${error.field}`)?.focus();
  }, [error]);

  async function submit(event: Event) {
    event.preventDefault();
    setError(undefined);
    setSaved('');
    const input: UpdateReplicationJobRequest = { replicationJobId: job.replicationJobId };
    const freq = parseIntField(frequency);
    if (!job.runOnce && freq !== job.frequency) input.frequency = freq;
    const next = fromLocalInput(nextRun);
    if (next) input.nextReplicationRunStartTime = next;
    if ((licenseType || undefined) !== job.licenseType && licenseType) input.licenseType = licenseType;
    if (roleName.trim() !== (job.roleName ?? '')) input.roleName = roleName.trim();
    if (description.trim() !== (job.description ?? '')) input.description = description.trim();
    const amis = parseIntField(keep);
    if (amis !== undefined && amis !== job.numberOfRecentAmisToKeep) input.numberOfRecentAmisToKeep = amis;
    if (encrypted !== (job.encrypted === true)) input.encrypted = encrypted;
    if (encrypted && kmsKeyId.trim() !== (job.kmsKeyId ?? '') && kmsKeyId.trim()) input.kmsKeyId = kmsKeyId.trim();
    if (Object.keys(input).length === 1) {
      setSaved('Nothing changed.');
      return;
    }
    setBusy(true);
    try {
      await sms.send(new UpdateReplicationJobCommand(input));
      setSaved('The job was updated.');
      setNextRun('');
      props.onUpdated();
    } catch (thrown) {
      const info = errorInfo(thrown);
      setError({ ...info, field: fieldOf(info.message, FIELDS) as FieldName | undefined });
    } finally {
      setBusy(false);
    }
  }

  const fieldError = (name: FieldName) => (error?.field === name ? `${error.code}: ${error.message}` : undefined);
  return (
    <form class="form" onSubmit={submit} noValidate aria-labelledby="update-heading">
      {error ? (
        <div class="alert error" role="alert">
          <strong>The job was not updated.</strong> <span class="code">{error.code}</span>: {error.message}
        </div>
      ) : null}
      <div class="grid">
        <Field
          id="update-frequency"
          label="Frequency (hours)"
          hint={job.runOnce ? 'A one-time job has no frequency.' : '1 to 24 hours between runs.'}
          error={fieldError('frequency')}
        >
          {(aria) => (
            <input
              {...aria}
              type="number"
              inputMode="numeric"
              min={1}
              max={24}
              step={1}
              disabled={job.runOnce === true}
              value={frequency}
              onInput={(e) => setFrequency(e.currentTarget.value)}
            />
          )}
        </Field>
        <Field
          id="update-nextReplicationRunStartTime"
          label="Next run start time"
          hint="Optional, your local time: moves the next automatic run (also resumes a paused job)."
          error={fieldError('nextReplicationRunStartTime')}
        >
          {(aria) => <input {...aria} type="datetime-local" value={nextRun} onInput={(e) => setNextRun(e.currentTarget.value)} />}
        </Field>
        <Field id="update-licenseType" label="License type" error={fieldError('licenseType')}>
          {(aria) => (
            <select {...aria} value={licenseType} onChange={(e) => setLicenseType(e.currentTarget.value as '' | LicenseType)}>
              <option value="">Not set</option>
              <option value="AWS">AWS</option>
              <option value="BYOL">BYOL</option>
            </select>
          )}
        </Field>
        <Field id="update-roleName" label="IAM role name" error={fieldError('roleName')}>
          {(aria) => <input {...aria} type="text" autocomplete="off" value={roleName} onInput={(e) => setRoleName(e.currentTarget.value)} />}
        </Field>
        <Field id="update-numberOfRecentAmisToKeep" label="Images to keep" hint="The newest N (1 to 270); 0 keeps them all." error={fieldError('numberOfRecentAmisToKeep')}>
          {(aria) => <input {...aria} type="number" inputMode="numeric" min={0} max={270} step={1} value={keep} onInput={(e) => setKeep(e.currentTarget.value)} />}
        </Field>
        <Field id="update-description" label="Description" error={fieldError('description')}>
          {(aria) => <input {...aria} type="text" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />}
        </Field>
      </div>
      <Checkbox id="update-encrypted" label="Encrypt the images" checked={encrypted} onChange={setEncrypted} error={fieldError('encrypted')} />
      <Field id="update-kmsKeyId" label="KMS key" hint="Key id, ARN or alias; blank uses the default key." error={fieldError('kmsKeyId')}>
        {(aria) => (
          <input {...aria} type="text" autocomplete="off" spellcheck={false} disabled={!encrypted} value={kmsKeyId} onInput={(e) => setKmsKeyId(e.currentTarget.value)} />
        )}
      </Field>
      <div class="form-actions">
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Saving…' : 'Update job'}
        </button>
        <button type="button" onClick={() => { reset(); setError(undefined); setSaved(''); }}>
          Reset
        </button>
        <span role="status" class="ok-text">
          {saved}
        </span>
      </div>
    </form>
  );
}
