/**
 * Child processes for tests: the real `ferry` CLI and service, the AWS CLI and python3/boto3. Everything here is
 * asynchronous, so an in-process Ferry keeps answering while a child talks to it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Node 24 from devDependencies (the system node is too old to run .ts). */
export const NODE = process.execPath;
export const FERRY_CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion without blocking the event loop. */
export function run(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd ?? REPO_ROOT, stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/**
 * Where the test servers running on PostgreSQL or S3 keep their state, by data dir (test/helpers/ferry.ts registers
 * them): a CLI run given `--data-dir D` must open D's server's store and blocks, as `FERRY_STORE` and `FERRY_BLOCKS`
 * tell the real CLI, not D's SQLite file and pack files.
 */
const testServerEnvs = new Map<string, Record<string, string>>();

/** `env`: FERRY_STORE, FERRY_BLOCKS, FERRY_S3_ENDPOINT, as far as the server at `dataDir` uses them. */
export function registerTestStore(dataDir: string, env: Record<string, string>): void {
  testServerEnvs.set(dataDir, env);
}

export function forgetTestStore(dataDir: string): void {
  testServerEnvs.delete(dataDir);
}

/** FERRY_STORE (and FERRY_BLOCKS…) for a CLI run with these arguments: those registered for its `--data-dir`, if any. */
export function storeEnvFor(args: readonly string[]): Record<string, string> {
  const at = args.indexOf('--data-dir');
  return (at >= 0 ? testServerEnvs.get(args[at + 1] ?? '') : undefined) ?? {};
}

/** Runs `ferry <args>` and returns its stdout; throws with stderr when it fails. An `env` FERRY_STORE wins. */
export async function ferryCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const result = await run(NODE, [FERRY_CLI, ...args], { env: { ...process.env, FERRY_LOG_LEVEL: 'warn', ...storeEnvFor(args), ...env } });
  if (result.code !== 0) throw new Error(`ferry ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return result.stdout;
}

/** A port that was free a moment ago (listen on 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface FerryProcess {
  child: ChildProcess;
  url: string;
  port: number;
  /** Everything the service wrote to stderr so far (warnings and errors at FERRY_LOG_LEVEL=warn). */
  stderr(): string;
  /** Everything the service wrote to stdout so far (its JSON log lines). */
  stdout(): string;
  /** Resolves once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL: no shutdown hooks, no flush, like a power cut for the process (not for the disk). */
  kill(): Promise<void>;
}

/**
 * Starts `ferry serve` as a child process and waits until GET /health answers. Without `datastore` it runs only
 * the control plane (--no-embedded-connector); with one, its embedded connector serves that directory.
 */
/** The node id of a test server that runs alone on a PostgreSQL store: it launches (FERRY_LAUNCH_NODE). */
export const LONE_TEST_NODE = 'lone-test-node';

export async function spawnFerry(options: {
  dataDir: string;
  port?: number;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  datastore?: string;
}): Promise<FerryProcess> {
  const port = options.port ?? (await freePort());
  // FERRY_TEST_BLOCKS=s3 puts a spawned server's blocks in a bucket too, unless the test chose its own.
  // (Imported when used: testBlocks.ts reaches this module back through moto.ts.)
  const blocks = options.env?.FERRY_BLOCKS === undefined ? await (await import('./testBlocks.ts')).blocksFor(undefined, options.dataDir) : undefined;
  // FERRY_TEST_STORE=postgres: the data dir's database (kept for a restart on it), unless the test chose its own store.
  const storeUrl = options.env?.FERRY_STORE === undefined ? await (await import('./ferry.ts')).testStoreUrl(options.dataDir) : undefined;
  // Alone on that database, the server is its cluster's launch node (as it would launch on SQLite).
  const storeEnv: Record<string, string> = storeUrl ? { FERRY_STORE: storeUrl, FERRY_NODE_ID: LONE_TEST_NODE, FERRY_LAUNCH_NODE: LONE_TEST_NODE } : {};
  if (blocks || storeUrl) registerTestStore(options.dataDir, { ...storeEnvFor(['--data-dir', options.dataDir]), ...storeEnv, ...blocks?.env });
  const connectorArgs = options.datastore ? ['--datastore', options.datastore] : ['--no-embedded-connector'];
  const child = spawn(NODE, [FERRY_CLI, 'serve', ...connectorArgs, '--port', String(port), '--data-dir', options.dataDir], {
    cwd: REPO_ROOT,
    env: { ...process.env, FERRY_LOG_LEVEL: 'warn', ...storeEnv, ...blocks?.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  let exitedEarly = false;
  void exited.then(() => (exitedEarly = true));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    if (exitedEarly) throw new Error(`ferry serve exited before it was ready:\n${stderr}`);
    try {
      const response = await fetch(`${url}/health`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`ferry serve did not answer /health within the timeout:\n${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return {
    child,
    url,
    port,
    stderr: () => stderr,
    stdout: () => stdout,
    exited,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** The AWS CLI v2 from Debian (a pip aws-cli v1 without `sms` may come first on PATH). */
export const AWS_CLI = '/usr/bin/aws';
/** The system python, whose python3-boto3 still ships the sms model. */
export const SYSTEM_PYTHON = '/usr/bin/python3';

export function awsCliAvailable(): boolean {
  if (!existsSync(AWS_CLI)) return false;
  const probe = spawnSync(AWS_CLI, ['--version'], { encoding: 'utf8', timeout: 20_000 });
  return probe.status === 0 && /aws-cli\/2\./.test(probe.stdout + probe.stderr);
}

export function boto3Available(): boolean {
  if (!existsSync(SYSTEM_PYTHON)) return false;
  const probe = spawnSync(SYSTEM_PYTHON, ['-c', 'import boto3; boto3.session.Session().get_available_services().index("sms")'], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  return probe.status === 0;
}

/**
 * A clean environment for the AWS CLI and boto3: only these keys, no profile or config files, no retries, no
 * pager, no instance-metadata lookups.
 */
export function awsEnv(keys: { accessKeyId: string; secretAccessKey: string }, home: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    LANG: 'C.UTF-8',
    AWS_ACCESS_KEY_ID: keys.accessKeyId,
    AWS_SECRET_ACCESS_KEY: keys.secretAccessKey,
    AWS_MAX_ATTEMPTS: '1',
    AWS_RETRY_MODE: 'standard',
    AWS_PAGER: '',
    AWS_CONFIG_FILE: '/nonexistent/aws-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}
