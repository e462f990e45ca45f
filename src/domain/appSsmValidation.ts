/**
 * App-level validation (`appValidationStrategy` SSM) as pure rules: what Ferry runs in the guest through the QEMU
 * guest agent (Ferry has no SSM agent; guest-exec plays its part), how the result reads, and the output object.
 *
 * - `command` alone runs as is (`/bin/sh -c`, or PowerShell for POWERSHELL_SCRIPT).
 * - `source` alone: the script is passed on stdin, written to a private temp dir under its key's base name and run —
 *   directly when it starts with `#!`, else with `sh`.
 * - both: the script is written the same way and `command` runs in that directory (SSM's "the command to run the
 *   validation script", e.g. `python3 check.py`).
 * Exit status 0 is SUCCEEDED; anything else FAILED. The message is the end of what the command printed (SMS shows at
 * most 2,500 characters); the whole output goes to the output bucket.
 */
/** The parts of an SSM validation's configuration (core/apps/storedConfig.ts StoredAppValidation) these rules read. */
export interface SsmParameters {
  scriptType: 'SHELL_SCRIPT' | 'POWERSHELL_SCRIPT';
  command?: string;
  executionTimeoutSeconds?: number;
  source?: { bucket: string; key: string };
}

/** Run when ExecutionTimeoutSeconds is not given (SSM's own default for a command). */
export const DEFAULT_EXECUTION_TIMEOUT_SECONDS = 3600;
export const MAX_STATUS_MESSAGE = 2500;

/**
 * A validation runs as soon as its app has launched, which is when the guest's console says it booted; the guest agent
 * that runs the command starts a little later. SSM likewise waits for an instance's agent to come online. A guest that
 * booted longer ago than this and has no agent answering fails its validation at once.
 */
export const AGENT_STARTUP_SECONDS = 120;

export interface GuestInvocation {
  interpreter: 'sh' | 'powershell';
  script: string;
  input?: Buffer;
  timeoutSeconds: number;
  agentStartupSeconds: number;
}

/** A file name the shell and PowerShell take literally: the key's last segment, reduced to safe characters. */
export function scriptFileName(key: string | undefined): string {
  const base = (key ?? '').split('/').pop() ?? '';
  const safe = base.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[.-]+/, '');
  return safe.length > 0 ? safe.slice(0, 100) : 'validation-script';
}

export function ssmInvocation(config: SsmParameters, script: Buffer | undefined): GuestInvocation {
  const timeoutSeconds = config.executionTimeoutSeconds ?? DEFAULT_EXECUTION_TIMEOUT_SECONDS;
  const name = scriptFileName(config.source?.key);
  if (config.scriptType === 'POWERSHELL_SCRIPT') {
    if (script === undefined) return { interpreter: 'powershell', script: config.command ?? '', timeoutSeconds, agentStartupSeconds: AGENT_STARTUP_SECONDS };
    const write = `$d = Join-Path $env:TEMP ('ferry-' + [guid]::NewGuid()); New-Item -ItemType Directory -Path $d | Out-Null; [IO.File]::WriteAllBytes((Join-Path $d '${name}'), [Convert]::FromBase64String('${script.toString('base64')}')); Set-Location $d`;
    return { interpreter: 'powershell', script: `${write}; ${config.command ?? `& (Join-Path $d '${name}')`}`, timeoutSeconds, agentStartupSeconds: AGENT_STARTUP_SECONDS };
  }
  if (script === undefined) return { interpreter: 'sh', script: config.command ?? '', timeoutSeconds, agentStartupSeconds: AGENT_STARTUP_SECONDS };
  const run = config.command ?? `if [ "$(head -c 2 './${name}')" = '#!' ]; then './${name}'; else sh './${name}'; fi`;
  return {
    interpreter: 'sh',
    input: script,
    script: [
      'umask 077',
      "ferry_dir=$(mktemp -d /tmp/ferry-ssm.XXXXXX) || exit 1",
      `cat > "$ferry_dir/${name}" && chmod 700 "$ferry_dir/${name}" && cd "$ferry_dir" || exit 1`,
      `( ${run}\n) < /dev/null`,
      'ferry_rc=$?',
      'cd / && rm -rf "$ferry_dir"',
      'exit $ferry_rc',
    ].join('\n'),
    timeoutSeconds,
    agentStartupSeconds: AGENT_STARTUP_SECONDS,
  };
}

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

function tail(text: string, max: number): string {
  return text.length <= max ? text : text.slice(text.length - max);
}

/** SUCCEEDED on exit 0 (message: the end of stdout); FAILED otherwise, saying how it exited. */
export function ssmOutcome(result: CommandResult): { status: 'SUCCEEDED' | 'FAILED'; message: string } {
  if (result.exitCode === 0) {
    const out = result.stdout.trim() || result.stderr.trim();
    return { status: 'SUCCEEDED', message: out ? tail(out, MAX_STATUS_MESSAGE) : 'Exited with status 0.' };
  }
  const prefix = `Exited with status ${result.exitCode}`;
  const out = [result.stderr.trim(), result.stdout.trim()].filter(Boolean).join('\n');
  return { status: 'FAILED', message: out ? `${prefix}: ${tail(out, MAX_STATUS_MESSAGE - prefix.length - 2)}` : `${prefix}.` };
}

/** The object written to the output bucket: what ran where, and everything it printed. */
export function ssmOutputDocument(input: { appId: string; validationId: string; instanceId: string; at: string; invocation: string; result?: CommandResult; error?: string }): string {
  const lines = [`app: ${input.appId}`, `validation: ${input.validationId}`, `instance: ${input.instanceId}`, `time: ${input.at}`, `ran: ${input.invocation}`];
  if (input.result) {
    lines.push(`exit status: ${input.result.exitCode}`, '--- stdout ---', input.result.stdout, '--- stderr ---', input.result.stderr);
  } else {
    lines.push(`not run: ${input.error ?? 'unknown error'}`);
  }
  return `${lines.join('\n')}\n`;
}
