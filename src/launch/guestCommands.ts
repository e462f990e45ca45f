/**
 * Commands run inside a guest through the QEMU guest agent (`guest-exec`, then `guest-exec-status` until it has
 * exited), over the `org.qemu.guest_agent.0` channel every Ferry domain has. A guest without an agent answers
 * nothing on that channel; libvirt then says the agent "is not connected", and Ferry says so plainly.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { notPermitted } from '../lib/errors.ts';
import { VirshError, type Virsh } from './virsh.ts';
import type { GuestCommand, GuestCommandResult } from '../apps/instances.ts';

/** Scripts are passed as one argument; bounded like an SSM document's command. */
export const MAX_COMMAND_BYTES = 64 * 1024;
/** Output kept per stream (the agent itself caps captured output at 16 MB). */
export const MAX_OUTPUT_BYTES = 64 * 1024;
/** SSM's ExecutionTimeoutSeconds goes up to 8 hours. */
export const MAX_COMMAND_SECONDS = 28_800;
/** The longest agent start-up a command may allow for. */
export const MAX_AGENT_STARTUP_SECONDS = 600;
/** The agent command travels as one argument of `virsh qemu-agent-command`, which Linux caps at 128 KiB. */
const MAX_AGENT_REQUEST_BYTES = 120 * 1024;

const POLL_MS = 250;

function decode(data: unknown): string {
  if (typeof data !== 'string') return '';
  const bytes = Buffer.from(data, 'base64');
  return bytes.subarray(Math.max(0, bytes.length - MAX_OUTPUT_BYTES)).toString('utf8');
}

/** What libvirt says when a domain's agent channel has no agent behind it (yet). */
const AGENT_ABSENT = /not connected|not responding|agent is not|unable to execute QEMU agent|Guest agent is not/i;

function errorText(error: unknown): string {
  return error instanceof VirshError ? error.stderr : String((error as Error).message ?? error);
}

function agentMissing(instanceId: string, error: unknown): Error {
  const text = errorText(error);
  if (AGENT_ABSENT.test(text)) {
    return notPermitted(
      `Instance ${instanceId} has no QEMU guest agent answering (${text.trim().replace(/^error:\s*/gm, '').replace(/\s*\n\s*/g, '; ')}): ` +
        'commands and SSM-style validation need qemu-guest-agent running in the guest.',
    );
  }
  return error instanceof Error ? error : new Error(text);
}

/** Pings the agent until it answers or `deadline` (epoch ms) has passed; the command that follows reports an agent still missing. */
async function waitForAgent(virsh: Virsh, domain: string, deadline: number, now: () => number, signal: AbortSignal | undefined): Promise<void> {
  while (now() < deadline) {
    signal?.throwIfAborted();
    try {
      await virsh.agentCommand(domain, { execute: 'guest-ping' }, 1);
      return;
    } catch (error) {
      // Only an agent that is not (yet) there is worth waiting for; anything else is the command's to report.
      if (!AGENT_ABSENT.test(errorText(error))) return;
    }
    await sleep(Math.min(1000, Math.max(0, deadline - now())), undefined, signal ? { signal } : {});
  }
}

/** The guest whose agent runs the command; `bootedAt` (epoch ms, null before the boot was seen) bounds the agent wait. */
export interface GuestTarget {
  domain: string;
  instanceId: string;
  bootedAt: number | null;
}

export async function runGuestCommand(virsh: Virsh, target: GuestTarget, command: GuestCommand, now: () => number): Promise<GuestCommandResult> {
  const { domain, instanceId } = target;
  if (Buffer.byteLength(command.script, 'utf8') > MAX_COMMAND_BYTES) throw notPermitted(`The command is longer than ${MAX_COMMAND_BYTES} bytes.`);
  if (!(command.timeoutSeconds >= 1 && command.timeoutSeconds <= MAX_COMMAND_SECONDS)) throw notPermitted(`timeoutSeconds must be between 1 and ${MAX_COMMAND_SECONDS}.`);
  const exec =
    command.interpreter === 'powershell'
      ? { path: 'powershell.exe', arg: ['-NoProfile', '-NonInteractive', '-Command', command.script] }
      : { path: '/bin/sh', arg: ['-c', command.script] };
  const request = { execute: 'guest-exec', arguments: { ...exec, 'capture-output': true, ...(command.input ? { 'input-data': command.input.toString('base64') } : {}) } };
  if (Buffer.byteLength(JSON.stringify(request)) > MAX_AGENT_REQUEST_BYTES) throw notPermitted(`The command and its input are larger than ${MAX_AGENT_REQUEST_BYTES / 1024} KiB together.`);
  const startup = command.agentStartupSeconds ?? 0;
  if (!(startup >= 0 && startup <= MAX_AGENT_STARTUP_SECONDS)) throw notPermitted(`agentStartupSeconds must be between 0 and ${MAX_AGENT_STARTUP_SECONDS}.`);
  const agentReadyBy = (target.bootedAt ?? now()) + startup * 1000;
  await waitForAgent(virsh, domain, agentReadyBy, now, command.signal);
  let pid: number;
  try {
    const started = (await virsh.agentCommand(domain, request, 10)) as { pid?: number };
    if (typeof started?.pid !== 'number') throw new Error('the guest agent started no process');
    pid = started.pid;
  } catch (error) {
    throw agentMissing(instanceId, error);
  }
  const deadline = now() + command.timeoutSeconds * 1000;
  // Each status poll is a virsh process: quick at first (most commands end within a second), then every 2 s.
  for (let poll = 0; ; poll++) {
    command.signal?.throwIfAborted();
    const status = (await virsh.agentCommand(domain, { execute: 'guest-exec-status', arguments: { pid } }, 10)) as {
      exited?: boolean;
      exitcode?: number;
      signal?: number;
      'out-data'?: string;
      'err-data'?: string;
    };
    if (status.exited) {
      return {
        exitCode: typeof status.exitcode === 'number' ? status.exitcode : 128 + (status.signal ?? 0),
        stdout: decode(status['out-data']),
        stderr: decode(status['err-data']),
      };
    }
    if (now() >= deadline) throw notPermitted(`The command in ${instanceId} did not finish within ${command.timeoutSeconds} s (guest process ${pid} may still run).`);
    await sleep(Math.min(POLL_MS * 2 ** Math.min(poll, 4), 2000), undefined, command.signal ? { signal: command.signal } : {});
  }
}
