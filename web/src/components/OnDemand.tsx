/** Start an on-demand run, with the 2-per-24-hours quota shown before the user hits it. */
import { useState } from 'preact/hooks';
import { StartOnDemandReplicationRunCommand } from '@aws-sdk/client-sms';
import type { OnDemandQuota } from '../api/ferry.ts';
import { errorInfo } from '../api/errors.ts';
import { useBusy } from '../hooks.ts';
import { useApi } from '../context.ts';
import { formatTime, fromEpochSeconds } from '../format.ts';

export function quotaText(quota: OnDemandQuota | undefined): string {
  if (!quota) return '';
  const left = Math.max(0, quota.limit - quota.used);
  if (left > 0) return `${left} of ${quota.limit} on-demand runs left in the last ${quota.windowHours} h`;
  const next = fromEpochSeconds(quota.nextAvailableAt);
  return `On-demand limit reached (${quota.limit} per ${quota.windowHours} h)${next ? `; next possible ${formatTime(next)}` : ''}`;
}

export function OnDemandButton(props: {
  jobId: string;
  quota: OnDemandQuota | undefined;
  /** Why a run cannot start now (another run active, job closed), if so. */
  blockedBy?: string;
  withDescription?: boolean;
  onStarted: (runId: string) => void;
}) {
  const { sms } = useApi();
  const { busy, whileBusy } = useBusy();
  const [description, setDescription] = useState('');
  const [message, setMessage] = useState<{ kind: 'error' | 'ok'; text: string } | undefined>(undefined);
  const exhausted = props.quota !== undefined && props.quota.used >= props.quota.limit;
  const hintId = `ondemand-${props.jobId}-hint`;
  const descriptionId = `ondemand-${props.jobId}-description`;

  async function start(event: Event) {
    event.preventDefault();
    setMessage(undefined);
    await whileBusy(
      async () => {
        const out = await sms.send(
          new StartOnDemandReplicationRunCommand({ replicationJobId: props.jobId, description: description.trim() || undefined }),
        );
        setMessage({ kind: 'ok', text: `Started run ${out.replicationRunId}.` });
        setDescription('');
        props.onStarted(out.replicationRunId ?? '');
      },
      (thrown) => {
        const info = errorInfo(thrown);
        setMessage({ kind: 'error', text: `${info.code}: ${info.message}` });
      },
    );
  }

  return (
    <form class="ondemand" onSubmit={start}>
      {props.withDescription ? (
        <div class="field">
          <label for={descriptionId}>Run description (optional)</label>
          <input id={descriptionId} type="text" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
        </div>
      ) : null}
      <button type="submit" disabled={busy || exhausted || Boolean(props.blockedBy)} aria-describedby={hintId}>
        {busy ? 'Starting…' : 'Start on-demand run'}
      </button>
      <p class={`hint${exhausted ? ' warn-text' : ''}`} id={hintId}>
        {props.blockedBy ?? quotaText(props.quota)}
      </p>
      <p role="status" class={message?.kind === 'error' ? 'field-error' : 'ok-text'}>
        {message?.text ?? ''}
      </p>
    </form>
  );
}
