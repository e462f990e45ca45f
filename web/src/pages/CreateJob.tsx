/** "Create replication job": every CreateReplicationJob member, with the API's validation errors shown inline. */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { CreateReplicationJobCommand, type CreateReplicationJobRequest, type LicenseType } from '@aws-sdk/client-sms';
import { errorInfo, fieldOf } from '../api/errors.ts';
import { getCatalog } from '../api/sms.ts';
import { useApi } from '../context.ts';
import { useResource } from '../hooks.ts';
import { fromLocalInput, toLocalInput } from '../format.ts';
import { navigate } from '../router.ts';
import { ErrorMessage, Link, Loading, Page } from '../components/ui.tsx';
import { Checkbox, Field, parseIntField } from '../components/fields.tsx';

const FIELDS = [
  'serverId',
  'seedReplicationTime',
  'frequency',
  'runOnce',
  'licenseType',
  'roleName',
  'description',
  'numberOfRecentAmisToKeep',
  'encrypted',
  'kmsKeyId',
] as const;
type FieldName = (typeof FIELDS)[number];

export function CreateJobPage(props: { serverId: string }) {
  const { sms } = useApi();
  const catalog = useResource(() => getCatalog(sms), []);
  const [serverId, setServerId] = useState(props.serverId);
  const [seed, setSeed] = useState(() => toLocalInput(new Date()));
  const [frequency, setFrequency] = useState('12');
  const [runOnce, setRunOnce] = useState(false);
  const [licenseType, setLicenseType] = useState<'' | LicenseType>('');
  const [roleName, setRoleName] = useState('');
  const [description, setDescription] = useState('');
  const [keep, setKeep] = useState('');
  const [encrypted, setEncrypted] = useState(false);
  const [kmsKeyId, setKmsKeyId] = useState('');
  const [error, setError] = useState<{ code: string; message: string; field?: FieldName } | undefined>(undefined);
  const [busy, setBusy] = useState(false);

  useEffect(() => setServerId(props.serverId), [props.serverId]);
  const server = useMemo(() => catalog.data?.servers.find((s) => s.serverId === serverId), [catalog.data, serverId]);

  useEffect(() => {
    if (error?.field) document.getElementById(`job-${error.field}`)?.focus();
    else if (error) document.getElementById('create-job-error')?.focus();
  }, [error]);

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    const input: CreateReplicationJobRequest = {
      serverId,
      seedReplicationTime: fromLocalInput(seed),
      frequency: runOnce ? undefined : parseIntField(frequency),
      runOnce: runOnce || undefined,
      licenseType: licenseType || undefined,
      roleName: roleName.trim() || undefined,
      description: description.trim() || undefined,
      numberOfRecentAmisToKeep: parseIntField(keep),
      encrypted: encrypted || undefined,
      kmsKeyId: encrypted && kmsKeyId.trim() ? kmsKeyId.trim() : undefined,
    };
    try {
      const out = await sms.send(new CreateReplicationJobCommand(input));
      navigate(`/jobs/${out.replicationJobId}`);
    } catch (thrown) {
      const info = errorInfo(thrown);
      setError({ ...info, field: fieldOf(info.message, FIELDS) as FieldName | undefined });
    } finally {
      setBusy(false);
    }
  }

  const fieldError = (name: FieldName) => (error?.field === name ? `${error.code}: ${error.message}` : undefined);
  const name = server?.vmServer?.vmName ?? serverId;
  return (
    <Page title={`Create replication job for ${name}`}>
      <p>
        <Link to="/servers">← Back to servers</Link>
      </p>
      <ErrorMessage error={catalog.error} prefix="Could not load the catalog." />
      {catalog.loading && !catalog.data ? <Loading what="the catalog" /> : null}
      <form class="card form" onSubmit={submit} noValidate aria-labelledby="page-title">
        {error ? (
          <div id="create-job-error" class="alert error" role="alert" tabIndex={-1}>
            <strong>The job was not created.</strong> <span class="code">{error.code}</span>: {error.message}
          </div>
        ) : null}
        <fieldset>
          <legend>Server</legend>
          <Field id="job-serverId" label="Server" error={fieldError('serverId')} hint={server?.vmServer?.vmPath}>
            {(aria) => (
              <select {...aria} value={serverId} onChange={(e) => setServerId(e.currentTarget.value)}>
                {!catalog.data?.servers.some((s) => s.serverId === serverId) ? <option value={serverId}>{serverId}</option> : null}
                {catalog.data?.servers.map((s) => (
                  <option key={s.serverId} value={s.serverId}>
                    {s.vmServer?.vmName ?? s.serverId} ({s.serverId})
                  </option>
                ))}
              </select>
            )}
          </Field>
        </fieldset>
        <fieldset>
          <legend>Schedule</legend>
          <div class="grid">
            <Field
              id="job-seedReplicationTime"
              label="Seed replication time"
              hint="Your local time. The first run starts then (a past time means now; at most 30 days ahead)."
              error={fieldError('seedReplicationTime')}
            >
              {(aria) => <input {...aria} type="datetime-local" required value={seed} onInput={(e) => setSeed(e.currentTarget.value)} />}
            </Field>
            <Field id="job-frequency" label="Frequency (hours)" hint="1 to 24 hours between runs." error={fieldError('frequency')}>
              {(aria) => (
                <input
                  {...aria}
                  type="number"
                  inputMode="numeric"
                  min={1}
                  max={24}
                  step={1}
                  disabled={runOnce}
                  value={runOnce ? '' : frequency}
                  onInput={(e) => setFrequency(e.currentTarget.value)}
                />
              )}
            </Field>
          </div>
          <Checkbox
            id="job-runOnce"
            label="Run once"
            hint="One replication run, then the job ends COMPLETED (no frequency)."
            checked={runOnce}
            onChange={setRunOnce}
            error={fieldError('runOnce')}
          />
        </fieldset>
        <fieldset>
          <legend>Image</legend>
          <div class="grid">
            <Field id="job-licenseType" label="License type" error={fieldError('licenseType')} hint="For the AMI: AWS-provided or bring your own license.">
              {(aria) => (
                <select {...aria} value={licenseType} onChange={(e) => setLicenseType(e.currentTarget.value as '' | LicenseType)}>
                  <option value="">Not set</option>
                  <option value="AWS">AWS</option>
                  <option value="BYOL">BYOL</option>
                </select>
              )}
            </Field>
            <Field id="job-roleName" label="IAM role name" error={fieldError('roleName')} hint="Optional; kept with the job as in SMS.">
              {(aria) => <input {...aria} type="text" autocomplete="off" value={roleName} onInput={(e) => setRoleName(e.currentTarget.value)} />}
            </Field>
            <Field
              id="job-numberOfRecentAmisToKeep"
              label="Images to keep"
              hint="Keep the newest N images of this job (1 to 270); 0 or blank keeps them all."
              error={fieldError('numberOfRecentAmisToKeep')}
            >
              {(aria) => (
                <input {...aria} type="number" inputMode="numeric" min={0} max={270} step={1} value={keep} onInput={(e) => setKeep(e.currentTarget.value)} />
              )}
            </Field>
            <Field id="job-description" label="Description" error={fieldError('description')}>
              {(aria) => <input {...aria} type="text" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />}
            </Field>
          </div>
        </fieldset>
        <fieldset>
          <legend>Encryption</legend>
          <Checkbox
            id="job-encrypted"
            label="Encrypt the images"
            hint="Every stored block is sealed with AES-256-GCM under a KMS key."
            checked={encrypted}
            onChange={setEncrypted}
            error={fieldError('encrypted')}
          />
          <Field
            id="job-kmsKeyId"
            label="KMS key"
            hint={
              <>
                Key id, ARN or alias (<code>npx ferry kms create-key</code>); blank uses the default key.
              </>
            }
            error={fieldError('kmsKeyId')}
          >
            {(aria) => (
              <input {...aria} type="text" autocomplete="off" spellcheck={false} disabled={!encrypted} value={kmsKeyId} onInput={(e) => setKmsKeyId(e.currentTarget.value)} />
            )}
          </Field>
        </fieldset>
        <div class="form-actions">
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Creating…' : 'Create replication job'}
          </button>
          <Link to="/servers" class="button">
            Cancel
          </Link>
        </div>
      </form>
    </Page>
  );
}
