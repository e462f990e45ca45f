/** Sign-in: checks the keys with a real signed GetConnectors call before keeping them for this tab. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { GetConnectorsCommand } from '@aws-sdk/client-sms';
import { signInMessage } from '../api/errors.ts';
import { REGIONS, type Session } from '../api/session.ts';
import { smsClient } from '../api/sms.ts';
import { useTitle } from '../hooks.ts';

export function SignIn(props: { onSignedIn: (session: Session) => void; notice?: string }) {
  useTitle('Sign in');
  const [accessKeyId, setAccessKeyId] = useState('');
  const [secretAccessKey, setSecretAccessKey] = useState('');
  const [region, setRegion] = useState('us-east-1');
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => first.current?.focus(), []);

  async function submit(event: Event) {
    event.preventDefault();
    const session: Session = { accessKeyId: accessKeyId.trim(), secretAccessKey: secretAccessKey.trim(), region };
    if (!session.accessKeyId || !session.secretAccessKey) {
      setError('Sign-in failed: enter both the access key id and the secret access key.');
      return;
    }
    setBusy(true);
    setError(undefined);
    const sms = smsClient(session);
    try {
      await sms.send(new GetConnectorsCommand({ maxResults: 1 }));
      props.onSignedIn(session);
    } catch (thrown) {
      setError(signInMessage(thrown));
    } finally {
      sms.destroy();
      setBusy(false);
    }
  }

  return (
    <main id="main" class="signin">
      <form class="card signin-card" onSubmit={submit} aria-labelledby="signin-title" aria-describedby={error ? 'signin-error' : undefined} noValidate>
        <h1 id="signin-title">Sign in to Ferry</h1>
        <p class="muted">
          Use an access key of a Ferry account. On the Ferry host, <code>npx ferry credentials</code> prints the root keys and{' '}
          <code>npx ferry accounts create NAME</code> makes an account with its own.
        </p>
        {props.notice ? (
          <p class="alert info" role="status">
            {props.notice}
          </p>
        ) : null}
        <div class="field">
          <label for="accessKeyId">Access key id</label>
          <input
            id="accessKeyId"
            name="accessKeyId"
            ref={first}
            autocomplete="username"
            spellcheck={false}
            autoCapitalize="off"
            required
            aria-invalid={error ? true : undefined}
            value={accessKeyId}
            onInput={(e) => setAccessKeyId(e.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="secretAccessKey">Secret access key</label>
          <input
            id="secretAccessKey"
            name="secretAccessKey"
            type="password"
            autocomplete="current-password"
            required
            aria-invalid={error ? true : undefined}
            value={secretAccessKey}
            onInput={(e) => setSecretAccessKey(e.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="region">Region</label>
          <select id="region" name="region" value={region} onChange={(e) => setRegion(e.currentTarget.value)}>
            {REGIONS.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
          <p class="hint" id="region-hint">
            Each region of an account is a separate catalog, as in SMS.
          </p>
        </div>
        {error ? (
          <p id="signin-error" class="alert error" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p class="hint">The keys stay in this browser tab only (session storage) and sign every request; they are never sent.</p>
      </form>
    </main>
  );
}
