/** One server validation (USERDATA) or one app validation (SSM) as fields, with a button to remove it. */
import type { ScriptType } from '@aws-sdk/client-sms';
import { Field, IdentifierInput } from '../fields.tsx';
import { S3LocationField, type BucketChoice, type S3LocationValue } from './S3LocationField.tsx';
import type { AppServerRef } from './appServers.ts';

export interface ServerValidationState {
  validationId?: string;
  serverId: string;
  name: string;
  script: S3LocationValue;
  scriptType: ScriptType;
}

export interface AppValidationState {
  validationId?: string;
  name: string;
  instanceId: string;
  scriptType: ScriptType;
  command: string;
  source: S3LocationValue;
  /** executionTimeoutSeconds, as typed. */
  timeout: string;
  outputBucket: string;
}

function ScriptTypeField(props: { id: string; value: ScriptType; onChange: (value: ScriptType) => void; error?: string }) {
  return (
    <Field id={props.id} label="Script type" error={props.error}>
      {(aria) => (
        <select {...aria} value={props.value} onChange={(e) => props.onChange(e.currentTarget.value as ScriptType)}>
          <option value="SHELL_SCRIPT">Shell script</option>
          <option value="POWERSHELL_SCRIPT">PowerShell script</option>
        </select>
      )}
    </Field>
  );
}

interface EntryProps<T> {
  idPrefix: string;
  index: number;
  value: T;
  onChange: (patch: Partial<T>) => void;
  onRemove: () => void;
  errorOf: (member: string) => string | undefined;
  buckets: BucketChoice;
}

export function ServerValidationFields(props: EntryProps<ServerValidationState> & { servers: AppServerRef[] }) {
  const { idPrefix, value, onChange, errorOf } = props;
  const id = (member: string) => `${idPrefix}-${member}`;
  return (
    <fieldset class="validation-entry">
      <legend>
        Server validation {props.index + 1}
        {value.validationId ? <code class="muted"> {value.validationId}</code> : null}
      </legend>
      <div class="grid">
        <Field id={id('server')} label="Server" error={errorOf('server')}>
          {(aria) => (
            <select {...aria} value={value.serverId} onChange={(e) => onChange({ serverId: e.currentTarget.value })}>
              {props.servers.map((s) => (
                <option key={s.serverId} value={s.serverId}>
                  {s.name} ({s.serverId})
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field id={id('name')} label="Name" hint="No spaces." error={errorOf('name')}>
          {(aria) => <input {...aria} type="text" autocomplete="off" value={value.name} onInput={(e) => onChange({ name: e.currentTarget.value })} />}
        </Field>
        <ScriptTypeField id={id('scriptType')} value={value.scriptType} onChange={(scriptType) => onChange({ scriptType })} error={errorOf('scriptType')} />
      </div>
      <S3LocationField
        id={id('source')}
        legend="Validation script"
        value={value.script}
        onChange={(script) => onChange({ script })}
        error={errorOf('source')}
        buckets={props.buckets}
      />
      <button type="button" onClick={props.onRemove} aria-label={`Remove server validation ${props.index + 1}`}>
        Remove
      </button>
    </fieldset>
  );
}

export function AppValidationFields(props: EntryProps<AppValidationState>) {
  const { idPrefix, value, onChange, errorOf } = props;
  const id = (member: string) => `${idPrefix}-${member}`;
  return (
    <fieldset class="validation-entry">
      <legend>
        App validation {props.index + 1}
        {value.validationId ? <code class="muted"> {value.validationId}</code> : null}
      </legend>
      <div class="grid">
        <Field id={id('name')} label="Name" hint="No spaces." error={errorOf('name')}>
          {(aria) => <input {...aria} type="text" autocomplete="off" value={value.name} onInput={(e) => onChange({ name: e.currentTarget.value })} />}
        </Field>
        <Field id={id('instanceId')} label="Instance id" hint="The launched instance it runs on (i-…)." error={errorOf('instanceId')}>
          {(aria) => <IdentifierInput aria={aria} value={value.instanceId} onValue={(text) => onChange({ instanceId: text })} />}
        </Field>
        <ScriptTypeField id={id('scriptType')} value={value.scriptType} onChange={(scriptType) => onChange({ scriptType })} error={errorOf('scriptType')} />
        <Field id={id('executionTimeoutSeconds')} label="Timeout (seconds)" hint="60 to 28800." error={errorOf('executionTimeoutSeconds')}>
          {(aria) => (
            <input {...aria} type="number" inputMode="numeric" min={60} max={28800} step={1} value={value.timeout} onInput={(e) => onChange({ timeout: e.currentTarget.value })} />
          )}
        </Field>
      </div>
      <Field id={id('command')} label="Command" hint="What runs in the guest; or give a script's S3 location below." error={errorOf('command')}>
        {(aria) => <textarea {...aria} rows={3} spellcheck={false} value={value.command} onInput={(e) => onChange({ command: e.currentTarget.value })} />}
      </Field>
      <S3LocationField
        id={id('source')}
        legend="Script (instead of a command)"
        value={value.source}
        onChange={(source) => onChange({ source })}
        error={errorOf('source')}
        buckets={props.buckets}
      />
      <Field id={id('outputS3BucketName')} label="Output bucket" hint="Optional: where the command's output is written." error={errorOf('outputS3BucketName')}>
        {(aria) => (
          <IdentifierInput aria={aria} value={value.outputBucket} onValue={(text) => onChange({ outputBucket: text })} list={props.buckets.listId} />
        )}
      </Field>
      <button type="button" onClick={props.onRemove} aria-label={`Remove app validation ${props.index + 1}`}>
        Remove
      </button>
    </fieldset>
  );
}
