/**
 * The part Ferry adds to an instance's NoCloud user-data when the launch carries validation scripts (USERDATA
 * validation): the last part of the multipart user-data (seedUserData.ts), so it runs after the user's own user data
 * and the configure script — it checks what they set up. It is a `#!/bin/sh` script, run by cloud-init in its
 * scripts-user stage, and by the sample guests' /init. For each validation it:
 * - writes the script (embedded base64, so any bytes survive) to a private temp dir and runs it — directly when it
 *   starts with `#!`, else with `sh`; POWERSHELL_SCRIPT with `pwsh` when the guest has it, else FAILED saying so;
 * - bounds it with `timeout` (exit 124 = timed out), with no stdin and its output captured (never sent to the
 *   console as is);
 * - prints one result line (format and why it cannot be forged: src/domain/instanceConsole.ts): SUCCEEDED when the
 *   script exits 0, else FAILED; the message is the last 2,500 bytes of its output.
 * Needs only POSIX sh, base64, sha256sum, tail, mktemp and chmod (busybox or coreutils).
 */
import { MAX_VALIDATION_MESSAGE, VALIDATION_ID, VALIDATION_TAG } from '../domain/instanceConsole.ts';

export interface WrappedValidation {
  validationId: string;
  script: Buffer;
  scriptType: 'SHELL_SCRIPT' | 'POWERSHELL_SCRIPT';
}

/** How long one validation script may run in the guest. */
export const VALIDATION_SCRIPT_TIMEOUT_SECONDS = 600;

function base64Lines(data: Buffer): string {
  return (data.toString('base64').match(/.{1,76}/g) ?? []).join('\n');
}

export function validationWrapper(nonce: string, validations: readonly WrappedValidation[]): string {
  if (!/^[0-9a-f]{32,128}$/.test(nonce)) throw new Error('the console nonce must be hex');
  const runs = validations.map((v, i) => {
    if (!VALIDATION_ID.test(v.validationId)) throw new Error(`bad validation id ${v.validationId}`);
    const file = `"$ferry_dir/${i}${v.scriptType === 'POWERSHELL_SCRIPT' ? '.ps1' : '.sh'}"`;
    return [`base64 -d > ${file} <<'FERRY_SCRIPT_END'`, base64Lines(v.script), 'FERRY_SCRIPT_END', `ferry_run '${v.validationId}' ${file} ${v.scriptType}`].join('\n');
  });
  return `#!/bin/sh
# Ferry's validation wrapper (NoCloud vendor-data): runs each validation script and prints one result line per
# validation on the serial console. See src/launch/validationWrapper.ts and src/domain/instanceConsole.ts in Ferry.
FERRY_NONCE='${nonce}'
FERRY_TIMEOUT=${VALIDATION_SCRIPT_TIMEOUT_SECONDS}
# The serial console; FERRY_CONSOLE only for testing this script outside a guest.
ferry_out=\${FERRY_CONSOLE:-/dev/ttyS0}
[ -n "$FERRY_CONSOLE" ] || { [ -c "$ferry_out" ] && [ -w "$ferry_out" ]; } || ferry_out=/dev/console
umask 077
ferry_dir=$(mktemp -d /tmp/ferry-validation.XXXXXX) || exit 1

# Each program run here costs a small guest under software emulation tens of milliseconds, so what the shell can do
# itself it does: base64's line breaks are dropped by word splitting (base64 has no glob characters) and printf,
# and the digest is cut to 32 hex digits by stripping the other 32.
ferry_report() {
  if [ -s "$3" ]; then enc=$(tail -c ${MAX_VALIDATION_MESSAGE} "$3" | base64); enc=$(printf '%s' $enc); else enc=-; fi
  mac=$(printf '%s' "$FERRY_NONCE $1 $2 $enc" | sha256sum)
  mac=\${mac%%[!0-9a-f]*}
  mac=\${mac%????????????????????????????????}
  echo "${VALIDATION_TAG} $1 $2 $enc $mac" >> "$ferry_out"
}

ferry_run() {
  out="$2.out"
  first=
  IFS= read -r first < "$2" || :
  if [ "$3" = POWERSHELL_SCRIPT ]; then
    if ! command -v pwsh > /dev/null 2>&1; then
      echo "PowerShell (pwsh) is not installed in this guest, so this POWERSHELL_SCRIPT validation cannot run." > "$out"
      ferry_report "$1" FAILED "$out"
      return
    fi
    set -- "$1" pwsh -NoProfile -NonInteractive -File "$2"
  elif [ "\${first#\\#!}" != "$first" ]; then
    chmod 700 "$2"
    set -- "$1" "$2"
  else
    set -- "$1" sh "$2"
  fi
  id=$1
  shift
  if command -v timeout > /dev/null 2>&1; then
    timeout "$FERRY_TIMEOUT" "$@" > "$out" 2>&1 < /dev/null
  else
    "$@" > "$out" 2>&1 < /dev/null
  fi
  rc=$?
  if [ "$rc" -eq 0 ]; then
    ferry_report "$id" SUCCEEDED "$out"
  else
    if [ "$rc" -eq 124 ]; then echo "(stopped after $FERRY_TIMEOUT s)" >> "$out"; fi
    if [ ! -s "$out" ]; then echo "exited with status $rc" > "$out"; fi
    ferry_report "$id" FAILED "$out"
  fi
}

${runs.join('\n\n')}
rm -rf "$ferry_dir"
`;
}
