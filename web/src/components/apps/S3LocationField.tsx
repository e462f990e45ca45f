/**
 * An S3 location (bucket and key) for user data and scripts, with an upload from the browser as a convenience: the
 * chosen file goes to that bucket of this account on Ferry's S3 endpoint (the bucket is created when it does not
 * exist yet). Larger files belong to `aws s3 cp`.
 */
import { useState } from 'preact/hooks';
import { errorInfo } from '../../api/errors.ts';
import { browserKeyProblem } from '../../api/s3.ts';
import { useBusy } from '../../hooks.ts';
import { useApi } from '../../context.ts';
import { formatBytes } from '../../format.ts';
import { Field, IdentifierInput } from '../fields.tsx';

export interface S3LocationValue {
  bucket: string;
  key: string;
}

/** What the API gets: undefined when both parts are blank, else both (so a half-filled one is the API's to refuse). */
export function toS3Location(value: S3LocationValue): { bucket: string; key: string } | undefined {
  const bucket = value.bucket.trim();
  const key = value.key.trim();
  return bucket || key ? { bucket, key } : undefined;
}

/** The account's buckets offered in a bucket field, and its artifact bucket (sms-app-…) once one exists. */
export interface BucketChoice {
  listId: string;
  account?: string;
}

export function bucketChoice(listId: string, names: string[] | undefined): BucketChoice {
  return { listId, account: names?.find((n) => n.startsWith('sms-app-')) };
}

/** Uploads from the console are small: user data and scripts. */
export const MAX_UPLOAD_BYTES = 16 * 1024 * 1024;

export function S3LocationField(props: {
  id: string;
  legend: string;
  value: S3LocationValue;
  onChange: (value: S3LocationValue) => void;
  error?: string;
  hint?: string;
  /** The account's buckets, suggested in the bucket field; an upload with no bucket goes to its artifact bucket. */
  buckets?: BucketChoice;
}) {
  const { s3 } = useApi();
  const [status, setStatus] = useState<{ kind: 'ok' | 'error'; text: string } | undefined>(undefined);
  const { busy, whileBusy } = useBusy();

  async function upload(file: File) {
    setStatus(undefined);
    const bucket = props.value.bucket.trim() || props.buckets?.account || '';
    const key = props.value.key.trim() || file.name;
    const problem = !bucket ? 'Enter the bucket to upload to.' : browserKeyProblem(key);
    if (problem) return setStatus({ kind: 'error', text: problem });
    if (file.size > MAX_UPLOAD_BYTES) {
      return setStatus({ kind: 'error', text: `${file.name} is ${formatBytes(file.size)}; the console uploads up to ${formatBytes(MAX_UPLOAD_BYTES)} (use aws s3 cp for more).` });
    }
    await whileBusy(
      async () => {
        const buckets = await s3.listBuckets();
        if (!buckets.includes(bucket)) await s3.createBucket(bucket);
        await s3.putObject(bucket, key, new Uint8Array(await file.arrayBuffer()), file.type);
        props.onChange({ bucket, key });
        setStatus({ kind: 'ok', text: `Uploaded ${file.name} (${formatBytes(file.size)}) to s3://${bucket}/${key}.` });
      },
      (thrown) => {
        const info = errorInfo(thrown);
        setStatus({ kind: 'error', text: `Upload failed: ${info.code}: ${info.message}` });
      },
    );
  }

  return (
    <fieldset class={`s3-location${props.error ? ' invalid' : ''}`}>
      <legend>{props.legend}</legend>
      {props.hint ? <p class="hint">{props.hint}</p> : null}
      <div class="grid">
        <Field id={`${props.id}-bucket`} label="Bucket" error={props.error}>
          {(aria) => (
            <IdentifierInput aria={aria} value={props.value.bucket} onValue={(text) => props.onChange({ ...props.value, bucket: text })} list={props.buckets?.listId} placeholder={props.buckets?.account} />
          )}
        </Field>
        <Field id={`${props.id}-key`} label="Key">
          {(aria) => (
            <IdentifierInput aria={aria} value={props.value.key} onValue={(text) => props.onChange({ ...props.value, key: text })} />
          )}
        </Field>
      </div>
      <div class="field inline">
        <label for={`${props.id}-file`}>Upload a file to this location</label>
        <input
          id={`${props.id}-file`}
          type="file"
          disabled={busy}
          onChange={(e) => {
            const file = e.currentTarget.files?.[0];
            e.currentTarget.value = '';
            if (file) void upload(file);
          }}
        />
      </div>
      <p role="status" class={status?.kind === 'error' ? 'field-error' : 'ok-text'}>
        {busy ? 'Uploading…' : (status?.text ?? '')}
      </p>
    </fieldset>
  );
}

/** A <datalist> of the account's buckets (none when the S3 endpoint cannot be read). */
export function BucketList(props: { id: string; buckets: string[] | undefined }) {
  return (
    <datalist id={props.id}>
      {(props.buckets ?? []).map((b) => (
        <option key={b} value={b} />
      ))}
    </datalist>
  );
}
