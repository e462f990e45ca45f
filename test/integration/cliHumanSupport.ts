/**
 * Shared by the cliHuman*.test.ts files: the real `ferry` CLI as a child process whose output a test can wait on
 * while it drives a scripted connector, in a pipe (not a TTY) or in a pseudo-terminal made by util-linux's
 * `script` (Debian's bsdutils, an Essential package).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { CreateReplicationJobCommand, GetServersCommand, ImportServerCatalogCommand } from '@aws-sdk/client-sms';
import type { TestFerry } from '../helpers/ferry.ts';
import { vms, type TestConnector } from '../helpers/testConnector.ts';
import { FERRY_CLI, NODE, REPO_ROOT, type RunResult } from '../helpers/process.ts';

export const MiB = 2 ** 20;
export const SCRIPT = '/usr/bin/script';
export const scriptAvailable = (): boolean => existsSync(SCRIPT);

export interface LiveCli {
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout (or `stream`) contains `text`; rejects after `timeoutMs` or if the CLI exits first. */
  waitFor(text: string | RegExp, options?: { timeoutMs?: number; stream?: 'stdout' | 'stderr' }): Promise<void>;
  exit: Promise<RunResult>;
  kill(signal?: NodeJS.Signals): void;
}

/** An environment with only what the CLI needs: no AWS_* or FERRY_* from the developer's shell. */
export function cliEnv(t: TestFerry | undefined, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    LANG: 'C.UTF-8',
    SHELL: '/bin/sh',
    ...(t
      ? { FERRY_ENDPOINT: t.ferry.url, AWS_ACCESS_KEY_ID: t.ferry.root.accessKeyId, AWS_SECRET_ACCESS_KEY: t.ferry.root.secretAccessKey }
      : {}),
    ...extra,
  };
}

function live(command: string, args: readonly string[], env: NodeJS.ProcessEnv): LiveCli {
  const child = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let exited = false;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const exit = new Promise<RunResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      exited = true;
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return {
    stdout: () => stdout,
    stderr: () => stderr,
    exit,
    kill: (signal = 'SIGTERM') => void child.kill(signal),
    async waitFor(text, options = {}) {
      // A liveness bound, not a speed check: a Node start-up took over 10 s at load 20 (the whole suite on PostgreSQL + S3
      // beside five other sessions).
      const deadline = Date.now() + (options.timeoutMs ?? 30_000);
      const has = () => {
        const out = options.stream === 'stderr' ? stderr : stdout;
        return typeof text === 'string' ? out.includes(text) : text.test(out);
      };
      while (!has()) {
        if (exited) throw new Error(`the CLI exited before printing ${String(text)}:\nstdout: ${stdout}\nstderr: ${stderr}`);
        if (Date.now() > deadline) throw new Error(`the CLI did not print ${String(text)} in time:\nstdout: ${stdout}\nstderr: ${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
  };
}

/** `ferry <args>` with pipes for stdout and stderr (so not a TTY). */
export function startCli(args: readonly string[], env: NodeJS.ProcessEnv): LiveCli {
  return live(NODE, [FERRY_CLI, ...args], env);
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * `ferry <args>` in a pseudo-terminal `columns` wide: `script -qfec CMD /dev/null` (quiet, flush, exit with the
 * command's status).
 * Everything the command writes, stdout and stderr, arrives on the child's stdout, with terminal line endings.
 */
export function startCliInTty(args: readonly string[], env: NodeJS.ProcessEnv, columns = 120): LiveCli {
  // A new pty has no size (0 columns); give it one, as a terminal window would.
  const command = `stty cols ${columns} rows 40 2>/dev/null; exec ${[NODE, FERRY_CLI, ...args].map(shellQuote).join(' ')}`;
  return live(SCRIPT, ['-qfec', command, '/dev/null'], env);
}

/** Removes terminal control sequences (colours, cursor moves, line clears) and carriage returns. */
export function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]|\r/g, '');
}

/**
 * A registered scripted connector, an imported catalog of `count` VMs (vm0, vm1, …) and a 12-hourly job on each
 * VM named in `jobs` (seeded now unless a seed is given).
 */
export async function setupJobs(
  t: TestFerry,
  jobs: { vm: string; seed?: Date }[],
  count = 2,
): Promise<{ connector: TestConnector; jobIds: string[] }> {
  const connector = await t.connector();
  await connector.register();
  await t.sms.send(new ImportServerCatalogCommand({}));
  await connector.inventory(vms(count));
  const servers: { serverId?: string; vmServer?: { vmName?: string } }[] = [];
  let nextToken: string | undefined;
  do {
    const page = await t.sms.send(new GetServersCommand({ nextToken }));
    servers.push(...(page.serverList ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  const jobIds: string[] = [];
  for (const job of jobs) {
    const serverId = servers.find((s) => s.vmServer?.vmName === job.vm)!.serverId!;
    const created = await t.sms.send(new CreateReplicationJobCommand({ serverId, seedReplicationTime: job.seed ?? new Date(), frequency: 12 }));
    jobIds.push(created.replicationJobId!);
  }
  return { connector, jobIds };
}
