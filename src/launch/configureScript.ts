/**
 * The seed part that runs a launch configuration's `configureScript` in the guest, after the user data
 * (seedUserData.ts). A `#!/bin/sh` script that carries the configure script base64-encoded (any bytes survive), runs
 * it — directly when it starts with `#!`, else with `sh`; POWERSHELL_SCRIPT with `pwsh` when the guest has it — with
 * its output going where cloud-init sends script output (the console, and /var/log/cloud-init-output.log), then
 * prints one line on the serial console for the operator:
 *
 *   FERRY-CONFIGURE-SCRIPT exit <status>        (or: FERRY-CONFIGURE-SCRIPT FAILED <why>)
 *
 * Ferry reads nothing back from it: the line only shows, in GetInstanceConsoleOutput, that the script ran and how it
 * ended. Its exit status is the script's, which cloud-init reports as a failed part.
 */

export const CONFIGURE_TAG = 'FERRY-CONFIGURE-SCRIPT';

function base64Lines(data: Buffer): string {
  return (data.toString('base64').match(/.{1,76}/g) ?? []).join('\n');
}

export function configureScriptPart(script: Buffer, scriptType: 'SHELL_SCRIPT' | 'POWERSHELL_SCRIPT'): string {
  const file = scriptType === 'POWERSHELL_SCRIPT' ? '"$ferry_dir/configure.ps1"' : '"$ferry_dir/configure"';
  const run =
    scriptType === 'POWERSHELL_SCRIPT'
      ? `if command -v pwsh > /dev/null 2>&1; then
  pwsh -NoProfile -NonInteractive -File ${file} < /dev/null
  rc=$?
else
  echo "${CONFIGURE_TAG} FAILED PowerShell (pwsh) is not installed in this guest" >> "$ferry_out"
  rm -rf "$ferry_dir"
  exit 1
fi`
      : `if [ "$(head -c 2 ${file})" = '#!' ]; then ${file} < /dev/null; else sh ${file} < /dev/null; fi
rc=$?`;
  return `#!/bin/sh
# Ferry: runs the launch configuration's configureScript after the user data (src/launch/configureScript.ts).
ferry_out=\${FERRY_CONSOLE:-/dev/ttyS0}
[ -n "$FERRY_CONSOLE" ] || { [ -c "$ferry_out" ] && [ -w "$ferry_out" ]; } || ferry_out=/dev/console
umask 077
ferry_dir=$(mktemp -d /tmp/ferry-configure.XXXXXX) || exit 1
base64 -d > ${file} <<'FERRY_SCRIPT_END'
${base64Lines(script)}
FERRY_SCRIPT_END
chmod 700 ${file}
${run}
echo "${CONFIGURE_TAG} exit $rc" >> "$ferry_out"
rm -rf "$ferry_dir"
exit $rc
`;
}
