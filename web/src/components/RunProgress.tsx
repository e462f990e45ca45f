/** The active run's stage and live byte progress: a role=progressbar with percent, bytes, throughput and ETA. */
import type { RunProgress } from '../api/ferry.ts';
import { formatBytes, formatDuration, formatRate } from '../format.ts';

export const STAGES = ['Validating', 'Snapshotting', 'Uploading', 'Converting', 'Creating AMI'] as const;

/** Percent done, from the bytes while uploading, else from the stage's own "NN%" text; undefined when unknown. */
export function percentOf(progress: Pick<RunProgress, 'stage' | 'stageProgress' | 'bytesDone' | 'bytesTotal'>): number | undefined {
  const stageIndex = STAGES.indexOf(progress.stage as (typeof STAGES)[number]);
  if (stageIndex > STAGES.indexOf('Uploading')) return 100;
  if (progress.bytesTotal && progress.bytesDone !== undefined) {
    return Math.max(0, Math.min(100, Math.floor((progress.bytesDone / progress.bytesTotal) * 100)));
  }
  const match = /(\d+(?:\.\d+)?)\s*%/.exec(progress.stageProgress ?? '');
  return match ? Math.min(100, Math.floor(Number(match[1]))) : undefined;
}

export function RunProgressView(props: { progress: RunProgress }) {
  const p = props.progress;
  const percent = percentOf(p);
  const stageIndex = STAGES.indexOf(p.stage as (typeof STAGES)[number]);
  const valueText =
    percent === undefined
      ? `${p.stage ?? 'Starting'}`
      : `${percent}%${p.bytesTotal ? `, ${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)}` : ''}`;
  return (
    <div class="run-progress">
      <ol class="stages" aria-label="Run stages">
        {STAGES.map((stage, i) => (
          <li key={stage} class={i < stageIndex ? 'done' : i === stageIndex ? 'current' : 'todo'} aria-current={i === stageIndex ? 'step' : undefined}>
            <span class="visually-hidden">{i < stageIndex ? 'Done: ' : i === stageIndex ? 'Current stage: ' : 'To do: '}</span>
            {stage}
          </li>
        ))}
      </ol>
      <p id="progress-label" class="progress-label">
        <strong>{p.stage ?? 'Waiting for the connector'}</strong>
        {p.stageProgress ? <span> — {p.stageProgress}</span> : null}
      </p>
      <div
        class={`progressbar${percent === undefined ? ' indeterminate' : ''}`}
        role="progressbar"
        aria-labelledby="progress-label"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent}
        aria-valuetext={valueText}
      >
        <div class="progressbar-fill" style={{ width: `${percent ?? 0}%` }} />
      </div>
      <dl class="progress-stats">
        <div>
          <dt>Done</dt>
          <dd data-testid="progress-percent">{percent === undefined ? '—' : `${percent}%`}</dd>
        </div>
        <div>
          <dt>Bytes</dt>
          <dd>
            {formatBytes(p.bytesDone)} of {formatBytes(p.bytesTotal)}
          </dd>
        </div>
        <div>
          <dt>Throughput</dt>
          <dd>{formatRate(p.bytesPerSecond)}</dd>
        </div>
        <div>
          <dt>Time left</dt>
          <dd>{p.etaSeconds === undefined ? '—' : formatDuration(p.etaSeconds)}</dd>
        </div>
      </dl>
    </div>
  );
}
