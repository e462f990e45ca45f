/**
 * The settings a replication job has, as form fields: schedule, image and encryption. One component for the three
 * forms that edit them — Create replication job, Update job, and an app's replication configuration (per server,
 * SMS's ServerReplicationParameters) — so a field, its limits and its hint are written once.
 */
import { useState } from 'preact/hooks';
import type { LicenseType, ServerReplicationParameters } from '@aws-sdk/client-sms';
import { Checkbox, Field, parseIntField, IdentifierInput } from './fields.tsx';
import { toLocalInput } from '../format.ts';
import { JOB_SETTING_LIMITS } from '../../../src/domain/jobSettings.ts';

const { frequencyHours, recentAmisToKeep } = JOB_SETTING_LIMITS;

/** The API members these fields set that a job's create and update requests both name (the order errors are matched in). */
export const JOB_DETAIL_MEMBERS = ['licenseType', 'roleName', 'description', 'numberOfRecentAmisToKeep', 'encrypted', 'kmsKeyId'] as const;

/** The fields' values as typed (numbers stay text until sent, so the API judges what the user typed). */
export interface JobSettings {
  /** datetime-local: the seed time (create, app) or the next run's start (update). */
  time: string;
  frequency: string;
  runOnce: boolean;
  licenseType: '' | LicenseType;
  roleName: string;
  description: string;
  keep: string;
  encrypted: boolean;
  kmsKeyId: string;
}

export const EMPTY_JOB_SETTINGS: JobSettings = {
  time: '',
  frequency: '12',
  runOnce: false,
  licenseType: '',
  roleName: '',
  description: '',
  keep: '',
  encrypted: false,
  kmsKeyId: '',
};

/** The members CreateReplicationJob and an app's ServerReplicationParameters send alike; blanks are left out. */
export function replicationParameters(settings: JobSettings): Omit<ServerReplicationParameters, 'seedTime'> {
  return {
    frequency: settings.runOnce ? undefined : parseIntField(settings.frequency),
    runOnce: settings.runOnce || undefined,
    licenseType: settings.licenseType || undefined,
    numberOfRecentAmisToKeep: parseIntField(settings.keep),
    encrypted: settings.encrypted || undefined,
    kmsKeyId: settings.encrypted && settings.kmsKeyId.trim() ? settings.kmsKeyId.trim() : undefined,
  };
}

/** The fields' values for what a job or an app's server has (the time field is left to the form). */
export function settingsOf(
  from: Omit<ServerReplicationParameters, 'seedTime'> & { roleName?: string; description?: string },
  time?: Date,
): JobSettings {
  return {
    time: time ? toLocalInput(time) : '',
    frequency: from.frequency === undefined ? '' : String(from.frequency),
    runOnce: from.runOnce === true,
    licenseType: from.licenseType ?? '',
    roleName: from.roleName ?? '',
    description: from.description ?? '',
    keep: from.numberOfRecentAmisToKeep === undefined ? '' : String(from.numberOfRecentAmisToKeep),
    encrypted: from.encrypted === true,
    kmsKeyId: from.kmsKeyId ?? '',
  };
}

/**
 * A form's job settings: the state, and `bind`, the `values` and `onChange` props that wire JobSettingsFields to it
 * (a change patches the current settings, so quick edits never lose one another).
 */
export function useJobSettings(initial: JobSettings | (() => JobSettings)) {
  const [settings, setSettings] = useState<JobSettings>(initial);
  const bind = { values: settings, onChange: (patch: Partial<JobSettings>) => setSettings((current) => ({ ...current, ...patch })) };
  return { settings, setSettings, bind };
}

export interface JobSettingsFieldsProps {
  /** Field ids are `${idPrefix}-${member}` (the API member name), so an error can focus its field. */
  idPrefix: string;
  values: JobSettings;
  onChange: (patch: Partial<JobSettings>) => void;
  /** The inline error for a member, if the last answer was about it. */
  errorOf: (member: string) => string | undefined;
  /** The time field: its member, label and hint. */
  time: { member: string; label: string; hint: string; required?: boolean };
  /** A job being updated: its run-once choice is made (UpdateReplicationJob has no such member); one-time jobs have no frequency. */
  existingJob?: { runOnce: boolean };
  /** Role and description belong to a job (an app's per-server parameters have neither). */
  withJobDetails?: boolean;
  /** Per-server forms repeat these fields: a visible legend prefix tells them apart. */
  legendPrefix?: string;
}

export function JobSettingsFields(props: JobSettingsFieldsProps) {
  const { idPrefix, values, onChange, errorOf } = props;
  const id = (member: string) => `${idPrefix}-${member}`;
  const legend = (text: string) => (props.legendPrefix ? `${props.legendPrefix}: ${text.toLowerCase()}` : text);
  return (
    <>
      <fieldset>
        <legend>{legend('Schedule')}</legend>
        <div class="grid">
          <Field id={id(props.time.member)} label={props.time.label} hint={props.time.hint} error={errorOf(props.time.member)}>
            {(aria) => <input {...aria} type="datetime-local" required={props.time.required} value={values.time} onInput={(e) => onChange({ time: e.currentTarget.value })} />}
          </Field>
          <Field
            id={id('frequency')}
            label="Frequency (hours)"
            hint={props.existingJob?.runOnce ? 'A one-time job has no frequency.' : `${frequencyHours.min} to ${frequencyHours.max} hours between runs.`}
            error={errorOf('frequency')}
          >
            {(aria) => (
              <input
                {...aria}
                type="number"
                inputMode="numeric"
                min={frequencyHours.min}
                max={frequencyHours.max}
                step={1}
                disabled={values.runOnce}
                value={values.runOnce ? '' : values.frequency}
                onInput={(e) => onChange({ frequency: e.currentTarget.value })}
              />
            )}
          </Field>
        </div>
        {props.existingJob ? null : (
          <Checkbox
            id={id('runOnce')}
            label="Run once"
            hint="One replication run, then the job ends COMPLETED (no frequency)."
            checked={values.runOnce}
            onChange={(runOnce) => onChange({ runOnce })}
            error={errorOf('runOnce')}
          />
        )}
      </fieldset>
      <fieldset>
        <legend>{legend('Image')}</legend>
        <div class="grid">
          <Field id={id('licenseType')} label="License type" error={errorOf('licenseType')} hint="For the AMI: AWS-provided or bring your own license.">
            {(aria) => (
              <select {...aria} value={values.licenseType} onChange={(e) => onChange({ licenseType: e.currentTarget.value as '' | LicenseType })}>
                <option value="">Not set</option>
                <option value="AWS">AWS</option>
                <option value="BYOL">BYOL</option>
              </select>
            )}
          </Field>
          {props.withJobDetails ? (
            <Field id={id('roleName')} label="IAM role name" error={errorOf('roleName')} hint="Optional; kept with the job as in SMS.">
              {(aria) => <input {...aria} type="text" autocomplete="off" value={values.roleName} onInput={(e) => onChange({ roleName: e.currentTarget.value })} />}
            </Field>
          ) : null}
          <Field
            id={id('numberOfRecentAmisToKeep')}
            label="Images to keep"
            hint={`Keep the newest N images (1 to ${recentAmisToKeep.max}); 0 or blank keeps them all.`}
            error={errorOf('numberOfRecentAmisToKeep')}
          >
            {(aria) => (
              <input {...aria} type="number" inputMode="numeric" min={recentAmisToKeep.min} max={recentAmisToKeep.max} step={1} value={values.keep} onInput={(e) => onChange({ keep: e.currentTarget.value })} />
            )}
          </Field>
          {props.withJobDetails ? (
            <Field id={id('description')} label="Description" error={errorOf('description')}>
              {(aria) => <input {...aria} type="text" value={values.description} onInput={(e) => onChange({ description: e.currentTarget.value })} />}
            </Field>
          ) : null}
        </div>
      </fieldset>
      <fieldset>
        <legend>{legend('Encryption')}</legend>
        <Checkbox
          id={id('encrypted')}
          label="Encrypt the images"
          hint="Every stored block is sealed with AES-256-GCM under a KMS key."
          checked={values.encrypted}
          onChange={(encrypted) => onChange({ encrypted })}
          error={errorOf('encrypted')}
        />
        <Field
          id={id('kmsKeyId')}
          label="KMS key"
          hint={
            <>
              Key id, ARN or alias (<code>npx ferry kms create-key</code>); blank uses the default key.
            </>
          }
          error={errorOf('kmsKeyId')}
        >
          {(aria) => (
            <IdentifierInput aria={aria} value={values.kmsKeyId} onValue={(text) => onChange({ kmsKeyId: text })} disabled={!values.encrypted} />
          )}
        </Field>
      </fieldset>
    </>
  );
}
