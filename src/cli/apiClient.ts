/**
 * How the human-facing CLI commands (`ferry status`, `ferry runs watch`) reach a running Ferry over its API, and
 * how they report failures: one line on stderr (`ferry: …`), exit code 1, never a stack trace.
 *
 *   endpoint     --endpoint URL, else FERRY_ENDPOINT, else http://127.0.0.1:7676
 *   region       --region, else AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1
 *   credentials  AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN), else FERRY_ROOT_ACCESS_KEY_ID +
 *                FERRY_ROOT_SECRET_ACCESS_KEY, else <data-dir>/root-credentials.json (--data-dir, FERRY_DATA_DIR,
 *                ./ferry-data) — the root account's keys, readable on the service's own host.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { SMSClient, SMSServiceException } from '@aws-sdk/client-sms';
import { resolveDataDir } from '../config/config.ts';
import { FerryApiError, FerryClient } from '../client/ferryClient.ts';
import { oneLine } from './format.ts';

export const DEFAULT_ENDPOINT = 'http://127.0.0.1:7676';
export const DEFAULT_REGION = 'us-east-1';

export interface ApiFlags {
  endpoint?: string;
  region?: string;
  dataDir?: string;
}

export interface Api {
  endpoint: string;
  region: string;
  /** Where the credentials came from, for error messages ("AWS_ACCESS_KEY_ID", "…/root-credentials.json"). */
  credentialSource: string;
  sms: SMSClient;
  ferry: FerryClient;
  close(): void;
}

/** An error the CLI reports as one line (`ferry: <message>`) with `exitCode`. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** Adds --endpoint, --region and --data-dir to a command that talks to the API. */
export function addApiOptions(command: Command): Command {
  return command
    .addOption(new Option('--endpoint <url>', `Ferry's URL (env FERRY_ENDPOINT, default ${DEFAULT_ENDPOINT})`))
    .addOption(new Option('--region <region>', `region (env AWS_REGION or AWS_DEFAULT_REGION, default ${DEFAULT_REGION})`))
    .addOption(
      new Option(
        '--data-dir <dir>',
        'data directory whose root-credentials.json is used when AWS_ACCESS_KEY_ID is unset (env FERRY_DATA_DIR, default ./ferry-data)',
      ),
    );
}

export function resolveEndpoint(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  const text = flag ?? (env.FERRY_ENDPOINT || undefined) ?? DEFAULT_ENDPOINT;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CliError(`${flag !== undefined ? '--endpoint' : 'FERRY_ENDPOINT'} must be a URL such as ${DEFAULT_ENDPOINT}; got ${JSON.stringify(text)}.`, 2);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError(`${flag !== undefined ? '--endpoint' : 'FERRY_ENDPOINT'} must be an http:// or https:// URL; got ${JSON.stringify(text)}.`, 2);
  }
  return text.replace(/\/+$/, '');
}

export function resolveRegion(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return flag ?? (env.AWS_REGION || undefined) ?? (env.AWS_DEFAULT_REGION || undefined) ?? DEFAULT_REGION;
}

export interface ResolvedCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  source: string;
}

export function resolveCredentials(dataDirFlag: string | undefined, env: NodeJS.ProcessEnv): ResolvedCredentials {
  if (env.AWS_ACCESS_KEY_ID || env.AWS_SECRET_ACCESS_KEY) {
    if (!env.AWS_ACCESS_KEY_ID || !env.AWS_SECRET_ACCESS_KEY) {
      throw new CliError(`${env.AWS_ACCESS_KEY_ID ? 'AWS_ACCESS_KEY_ID' : 'AWS_SECRET_ACCESS_KEY'} is set but ${env.AWS_ACCESS_KEY_ID ? 'AWS_SECRET_ACCESS_KEY' : 'AWS_ACCESS_KEY_ID'} is not.`);
    }
    return {
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
      source: 'AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY',
    };
  }
  if (env.FERRY_ROOT_ACCESS_KEY_ID && env.FERRY_ROOT_SECRET_ACCESS_KEY) {
    return { accessKeyId: env.FERRY_ROOT_ACCESS_KEY_ID, secretAccessKey: env.FERRY_ROOT_SECRET_ACCESS_KEY, source: 'FERRY_ROOT_ACCESS_KEY_ID/FERRY_ROOT_SECRET_ACCESS_KEY' };
  }
  const file = join(resolveDataDir(dataDirFlag, env), 'root-credentials.json');
  if (!existsSync(file)) {
    throw new CliError(`no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (e.g. eval "$(ferry credentials)"), or point --data-dir at the service's data directory (${file} does not exist).`);
  }
  let parsed: { accessKeyId?: unknown; secretAccessKey?: unknown };
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as typeof parsed;
  } catch (error) {
    throw new CliError(`cannot read ${file}: ${oneLine((error as Error).message)}`);
  }
  if (typeof parsed.accessKeyId !== 'string' || typeof parsed.secretAccessKey !== 'string') {
    throw new CliError(`${file} holds no accessKeyId and secretAccessKey.`);
  }
  return { accessKeyId: parsed.accessKeyId, secretAccessKey: parsed.secretAccessKey, source: file };
}

/** Resolves endpoint, region and credentials, and makes the SMS and Ferry clients. */
export function connect(flags: ApiFlags, env: NodeJS.ProcessEnv = process.env): Api {
  const endpoint = resolveEndpoint(flags.endpoint, env);
  const region = resolveRegion(flags.region, env);
  const { source, ...credentials } = resolveCredentials(flags.dataDir, env);
  // One attempt: a human is waiting, and a refused connection should say so at once (`runs watch` retries itself).
  const sms = new SMSClient({ endpoint, region, credentials, maxAttempts: 1 });
  const ferry = new FerryClient({ endpoint, region, credentials });
  return { endpoint, region, credentialSource: source, sms, ferry, close: () => sms.destroy() };
}

const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EPIPE: 'connection closed',
  UND_ERR_SOCKET: 'connection closed',
  UND_ERR_CONNECT_TIMEOUT: 'timed out',
};

/** The network error code (ECONNREFUSED, …) behind `error`, looking through `cause` and AggregateError. */
export function networkCode(error: unknown, depth = 0): string | undefined {
  if (!error || typeof error !== 'object' || depth > 5) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && code in NETWORK_CODES) return code;
  for (const inner of (error as { errors?: unknown[] }).errors ?? []) {
    const found = networkCode(inner, depth + 1);
    if (found) return found;
  }
  return networkCode((error as { cause?: unknown }).cause, depth + 1);
}

const CREDENTIAL_ERRORS = new Set(['UnrecognizedClientException', 'InvalidSignatureException', 'IncompleteSignatureException', 'MissingAuthenticationTokenException']);

/** What went wrong, in one line (without the `ferry: ` prefix). */
export function describeError(error: unknown, api?: Pick<Api, 'endpoint' | 'credentialSource'>): string {
  if (error instanceof CliError) return oneLine(error.message);
  const code = networkCode(error);
  if (code && api) {
    const hint = code === 'ECONNREFUSED' ? ' (is `ferry serve` running?)' : '';
    return `cannot reach Ferry at ${api.endpoint}: ${NETWORK_CODES[code]}${hint}`;
  }
  if (error instanceof SMSServiceException || error instanceof FerryApiError) {
    const name = error instanceof FerryApiError ? error.code : error.name;
    const message = oneLine(error.message || '');
    const hint = api && CREDENTIAL_ERRORS.has(name) ? ` (credentials from ${api.credentialSource})` : '';
    return `${name}: ${message}${hint}`;
  }
  if (error instanceof SyntaxError && api) return `unexpected answer from ${api.endpoint}: is it a Ferry endpoint?`;
  if (error instanceof Error) {
    const name = error.name && error.name !== 'Error' && error.name !== 'TypeError' ? `${error.name}: ` : '';
    return oneLine(`${name}${error.message}`) || 'unknown error';
  }
  return oneLine(String(error));
}

/** The exit code for `error`: CliError's own, else 1. */
export function exitCodeOf(error: unknown): number {
  return error instanceof CliError ? error.exitCode : 1;
}

/** Reports `error` as one line on stderr and sets the exit code; never prints a stack trace. */
export function reportError(error: unknown, api?: Pick<Api, 'endpoint' | 'credentialSource'>): void {
  process.stderr.write(`ferry: ${describeError(error, api)}\n`);
  process.exitCode = exitCodeOf(error);
}

/**
 * Usage errors (unknown option, missing argument, bad option value) exit 2 instead of commander's default 1;
 * help and version still exit 0. Commander has already printed the message when this runs.
 */
export function usageErrorsExit2(command: Command): Command {
  return command.exitOverride((err: CommanderError) => {
    if (err.exitCode === 0) process.exit(0);
    process.exit(err.code === 'commander.executeSubCommandAsync' ? err.exitCode : 2);
  });
}

/** A commander argParser for a positive number of seconds. */
export function parseSeconds(value: string): number {
  const seconds = Number(value);
  if (!/^\s*\d+(\.\d+)?\s*$/.test(value) || !Number.isFinite(seconds) || seconds < 0.05) {
    throw new InvalidArgumentError('expected a number of seconds (at least 0.05), e.g. 1 or 0.5.');
  }
  return seconds;
}

/** Collects every page of a paginated call (`nextToken`). */
export async function allPages<Page extends { nextToken?: string }>(fetchPage: (nextToken: string | undefined) => Promise<Page>): Promise<Page[]> {
  const pages: Page[] = [];
  let token: string | undefined;
  do {
    const page = await fetchPage(token);
    pages.push(page);
    token = page.nextToken || undefined;
  } while (token);
  return pages;
}
