/**
 * Which output of a validation GetAppValidationOutput shows: the one stored (a caller's NotifyAppValidationOutput
 * or an app-level SSM run) or the one a launched instance reported at boot, whichever is newer. A validation that
 * has neither is READY_FOR_VALIDATION. Pure: the caller reads both sources and shapes the answer.
 */

export interface ReportedOutput {
  status: string;
  message: string | null;
  /** When it was reported (epoch ms); an instance result without a time counts as oldest. */
  at: number | null;
}

export interface LatestOutput {
  status: string;
  statusMessage?: string;
  latestValidationTime?: number;
  /** Where it came from: the store, the instance, or nowhere yet. */
  source: 'stored' | 'instance' | 'none';
}

/** SMS caps a validation's status message at 2500 characters; an instance's console line can be longer. */
export const STATUS_MESSAGE_MAX = 2500;

/**
 * A script's output as the message: without the line breaks it ends with (`echo` adds one; the AWS CLI's text
 * output would show it as an empty line), cut to the service's limit.
 */
function instanceMessage(output: string): string {
  let end = output.length;
  while (end > 0 && (output[end - 1] === '\n' || output[end - 1] === '\r')) end -= 1;
  return output.slice(0, Math.min(end, STATUS_MESSAGE_MAX));
}

export function latestValidationOutput(stored: ReportedOutput | undefined, fromInstance: ReportedOutput | undefined): LatestOutput {
  const instanceIsNewer = fromInstance !== undefined && (stored === undefined || (fromInstance.at ?? 0) > (stored.at ?? 0));
  const chosen = instanceIsNewer ? fromInstance : stored;
  if (!chosen) return { status: 'READY_FOR_VALIDATION', source: 'none' };
  const output: LatestOutput = { status: chosen.status, source: instanceIsNewer ? 'instance' : 'stored' };
  if (chosen.message !== null) output.statusMessage = instanceIsNewer ? instanceMessage(chosen.message) : chosen.message;
  if (chosen.at !== null) output.latestValidationTime = chosen.at;
  return output;
}
