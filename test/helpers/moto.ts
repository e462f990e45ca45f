/**
 * moto_server (preinstalled in the machine's Python) as an independent CloudFormation implementation: templates
 * Ferry generates are created as stacks there with the real AWS CLI v2. moto checks that a template is well-formed
 * CloudFormation and that its references resolve (subnets, security groups, key pairs, instance profiles), not
 * AWS's semantics (../shared/research/launch.md).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AWS_CLI, awsEnv, freePort, run } from './process.ts';
import { waitFor } from './replication.ts';

export const MOTO_SERVER = '/root/.pyenv/shims/moto_server';

export function motoAvailable(): boolean {
  return existsSync(MOTO_SERVER) && existsSync(AWS_CLI);
}

export interface Moto {
  url: string;
  /** `aws --endpoint-url URL --region us-east-1 --output json ARGS…`; throws with stderr on failure. */
  aws(...args: string[]): Promise<Record<string, any>>;
  stop(): Promise<void>;
  /** Lets this process exit while moto_server runs (a server shared by a whole test process). */
  unref(): void;
  /** SIGKILL at once, for a process 'exit' handler (which cannot wait). */
  killNow(): void;
}

export async function startMoto(): Promise<Moto> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const home = mkdtempSync(join(tmpdir(), 'ferry-moto-home-'));
  const child: ChildProcess = spawn(MOTO_SERVER, ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const env = awsEnv({ accessKeyId: 'testing', secretAccessKey: 'testing' }, home);
  const aws = async (...args: string[]) => {
    const result = await run(AWS_CLI, ['--endpoint-url', url, '--region', 'us-east-1', '--output', 'json', ...args], { env, timeoutMs: 120_000 });
    if (result.code !== 0) throw new Error(`aws ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
    return result.stdout.trim() === '' ? {} : (JSON.parse(result.stdout) as Record<string, any>);
  };
  // moto loads its backends on the first request (several seconds on a busy machine).
  await waitFor('moto_server to answer', () => fetch(`${url}/moto-api/`).then((r) => (r.ok ? true : undefined), () => undefined), { timeoutMs: 60_000, intervalMs: 200 });
  return {
    url,
    aws,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(home, { recursive: true, force: true });
    },
    unref: () => child.unref(),
    killNow() {
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** Waits until the stack reaches a terminal status; returns it. */
export async function stackStatus(moto: Moto, stackName: string): Promise<{ StackStatus: string; StackStatusReason?: string }> {
  return waitFor(
    `stack ${stackName}`,
    async () => {
      const stack = (await moto.aws('cloudformation', 'describe-stacks', '--stack-name', stackName)).Stacks[0];
      return /_(COMPLETE|FAILED)$/.test(stack.StackStatus) ? stack : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
}
