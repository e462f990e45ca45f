/**
 * GenerateTemplate / GenerateChangeSet, then the object they wrote fetched from Ferry's S3 endpoint with a signed GET
 * and handed to the browser as a download (and shown, since templates are small text).
 */
import { useEffect, useState } from 'preact/hooks';
import { GenerateChangeSetCommand, GenerateTemplateCommand, type OutputFormat, type S3Location } from '@aws-sdk/client-sms';
import { useBusy } from '../../hooks.ts';
import { useApi } from '../../context.ts';
import { ErrorMessage } from '../ui.tsx';

interface Generated {
  what: 'template' | 'change set';
  location: S3Location;
  text: string;
  url: string;
  fileName: string;
}

/** The largest document shown inline (a template of 50 servers is far smaller). */
const MAX_PREVIEW = 256 * 1024;

export function Templates(props: { appId: string }) {
  const { sms, s3 } = useApi();
  const [format, setFormat] = useState<OutputFormat>('JSON');
  const { busy, whileBusy } = useBusy();
  const [error, setError] = useState<unknown>(undefined);
  const [generated, setGenerated] = useState<Generated | undefined>(undefined);

  // Object URLs hold the blob until revoked.
  useEffect(() => () => (generated ? URL.revokeObjectURL(generated.url) : undefined), [generated?.url]);

  async function generate(what: Generated['what']) {
    setError(undefined);
    await whileBusy(
      async () => {
        const out =
          what === 'template'
            ? await sms.send(new GenerateTemplateCommand({ appId: props.appId, templateFormat: format }))
            : await sms.send(new GenerateChangeSetCommand({ appId: props.appId, changesetFormat: format }));
        const location = out.s3Location ?? {};
        const object = await s3.getObject(location.bucket!, location.key!);
        const fileName = location.key!.split('/').pop() || `${what.replace(' ', '-')}.${format.toLowerCase()}`;
        const url = URL.createObjectURL(object.body);
        const text = object.body.size <= MAX_PREVIEW ? await object.body.text() : `(${object.body.size} bytes: too large to show; download it)`;
        setGenerated({ what, location, text, url, fileName });
        // Start the download at once; the link below stays for another copy.
        const link = document.createElement('a');
        link.href = url;
        link.download = fileName;
        document.body.append(link);
        link.click();
        link.remove();
      },
      (thrown) => setError(thrown),
    );
  }

  return (
    <section class="card" aria-labelledby="templates-heading">
      <h2 id="templates-heading">CloudFormation template</h2>
      <p class="hint">
        The launch configuration as a CloudFormation template (one instance per server, in launch order), or the change set from the latest launch
        to the current configuration. Ferry writes it to the account's artifact bucket; the console downloads it from there.
      </p>
      <div class="form-actions">
        <div class="field inline">
          <label for="template-format">Format</label>
          <select id="template-format" value={format} onChange={(e) => setFormat(e.currentTarget.value as OutputFormat)}>
            <option value="JSON">JSON</option>
            <option value="YAML">YAML</option>
          </select>
        </div>
        <button type="button" disabled={busy} onClick={() => void generate('template')}>
          Generate template
        </button>
        <button type="button" disabled={busy} onClick={() => void generate('change set')}>
          Generate change set
        </button>
      </div>
      <ErrorMessage error={error} prefix="No document was generated." />
      <p role="status" class="visually-hidden">
        {busy ? 'Generating…' : generated ? `The ${generated.what} was written to s3://${generated.location.bucket}/${generated.location.key}.` : ''}
      </p>
      {generated ? (
        <div data-testid="generated">
          <p>
            The {generated.what} is at <code data-testid="generated-location">s3://{generated.location.bucket}/{generated.location.key}</code>.{' '}
            <a href={generated.url} download={generated.fileName}>
              Download {generated.fileName}
            </a>
          </p>
          <details>
            <summary>Show the {generated.what}</summary>
            <pre class="document" data-testid="generated-text">
              {generated.text}
            </pre>
          </details>
        </div>
      ) : null}
    </section>
  );
}
