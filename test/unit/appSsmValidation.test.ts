/**
 * App-level (SSM) validation rules (src/domain/appSsmValidation.ts): the guest command for a command, a script, or
 * both — the shell forms run here with busybox sh exactly as guest-exec would run them (`sh -c`, script on stdin) —
 * and how a result reads.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_STARTUP_SECONDS, DEFAULT_EXECUTION_TIMEOUT_SECONDS, scriptFileName, ssmInvocation, ssmOutcome, ssmOutputDocument } from '../../src/domain/appSsmValidation.ts';
import { findTool } from '../../src/lib/tools.ts';

describe('what an SSM validation runs in the guest', () => {
  test('a command alone, as is; the timeout as configured or SSM\'s hour; the agent of a just-booted guest is waited for', () => {
    assert.deepEqual(ssmInvocation({ scriptType: 'SHELL_SCRIPT', command: 'systemctl is-active nginx' }, undefined), {
      interpreter: 'sh',
      script: 'systemctl is-active nginx',
      timeoutSeconds: DEFAULT_EXECUTION_TIMEOUT_SECONDS,
      agentStartupSeconds: AGENT_STARTUP_SECONDS,
    });
    assert.equal(ssmInvocation({ scriptType: 'POWERSHELL_SCRIPT', command: 'Get-Service', executionTimeoutSeconds: 120 }, undefined).interpreter, 'powershell');
    assert.equal(ssmInvocation({ scriptType: 'SHELL_SCRIPT', command: 'true', executionTimeoutSeconds: 120 }, undefined).timeoutSeconds, 120);
  });

  test('file names from keys are taken literally by the shell', () => {
    assert.equal(scriptFileName('checks/web check.sh'), 'web_check.sh');
    assert.equal(scriptFileName("a/'; reboot; '"), '___reboot___');
    assert.equal(scriptFileName('../..'), 'validation-script');
    assert.equal(scriptFileName(undefined), 'validation-script');
  });

  test('a script on stdin is written to a private dir and run; with a command, the command runs beside it', (t) => {
    const busybox = findTool('busybox');
    if (!busybox) return t.skip('busybox is not installed');
    const dir = mkdtempSync(join(tmpdir(), 'ferry-ssmtest-'));
    try {
      const run = (invocation: ReturnType<typeof ssmInvocation>) =>
        spawnSync(busybox, ['sh', '-c', invocation.script], { input: invocation.input, encoding: 'utf8', env: { PATH: '/usr/bin:/bin', TMPDIR: dir } });
      const source = { bucket: 'sms-app-checks', key: 'checks/check.sh' };
      const direct = run(ssmInvocation({ scriptType: 'SHELL_SCRIPT', source }, Buffer.from('#!/bin/sh\necho "ran as $(basename "$0") in $(pwd | cut -c1-14)"\nexit 3\n')));
      assert.equal(direct.status, 3, direct.stderr);
      assert.equal(direct.stdout, 'ran as check.sh in /tmp/ferry-ssm\n');
      const plain = run(ssmInvocation({ scriptType: 'SHELL_SCRIPT', source }, Buffer.from('echo no shebang\n')));
      assert.deepEqual([plain.status, plain.stdout], [0, 'no shebang\n']);
      const withCommand = run(ssmInvocation({ scriptType: 'SHELL_SCRIPT', source, command: 'sh check.sh one && cat check.sh | wc -l' }, Buffer.from('echo "arg $1"\n')));
      assert.deepEqual([withCommand.status, withCommand.stdout.replace(/ +/g, '')], [0, 'argone\n1\n']);
      assert.equal(spawnSync(busybox, ['sh', '-c', 'ls /tmp | grep -c "^ferry-ssm\\." || true'], { encoding: 'utf8' }).stdout.trim(), '0', 'the temp dir is removed');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('PowerShell: the script travels base64-encoded inside the command', () => {
    const invocation = ssmInvocation({ scriptType: 'POWERSHELL_SCRIPT', source: { bucket: 'b-1', key: 'c.ps1' }, command: '.\\c.ps1 -Verbose' }, Buffer.from("Write-Output 'hi'"));
    assert.equal(invocation.interpreter, 'powershell');
    assert.ok(invocation.script.includes(Buffer.from("Write-Output 'hi'").toString('base64')));
    assert.match(invocation.script, /Set-Location \$d; \.\\c\.ps1 -Verbose$/);
  });
});

describe('how a result reads', () => {
  test('exit 0 is SUCCEEDED with the end of its output; anything else FAILED saying how it exited; messages fit 2,500', () => {
    assert.deepEqual(ssmOutcome({ exitCode: 0, stdout: 'active\n', stderr: '' }), { status: 'SUCCEEDED', message: 'active' });
    assert.deepEqual(ssmOutcome({ exitCode: 0, stdout: '', stderr: '' }), { status: 'SUCCEEDED', message: 'Exited with status 0.' });
    assert.deepEqual(ssmOutcome({ exitCode: 7, stdout: 'partial', stderr: 'curl: (7) refused' }), { status: 'FAILED', message: 'Exited with status 7: curl: (7) refused\npartial' });
    const long = ssmOutcome({ exitCode: 1, stdout: 'x'.repeat(10_000), stderr: '' });
    assert.equal(long.message.length, 2500);
    assert.ok(long.message.startsWith('Exited with status 1: x'));
    assert.equal(ssmOutcome({ exitCode: 0, stdout: 'y'.repeat(3000), stderr: '' }).message.length, 2500);
  });

  test('the output object says what ran where and holds all of it', () => {
    const text = ssmOutputDocument({ appId: 'app-1', validationId: 'val-1', instanceId: 'i-1', at: '2026-12-03T00:00:00.000Z', invocation: 'true', result: { exitCode: 0, stdout: 'out', stderr: 'err' } });
    assert.equal(text, 'app: app-1\nvalidation: val-1\ninstance: i-1\ntime: 2026-12-03T00:00:00.000Z\nran: true\nexit status: 0\n--- stdout ---\nout\n--- stderr ---\nerr\n');
    assert.match(ssmOutputDocument({ appId: 'a', validationId: 'v', instanceId: 'i', at: 't', invocation: 'x', error: 'no agent' }), /not run: no agent\n$/);
  });
});
