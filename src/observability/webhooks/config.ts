/**
 * Webhook configuration: URLs from `ferry serve --webhook URL` (repeatable) or else FERRY_WEBHOOK_URLS
 * (comma-separated); the signing secret from FERRY_WEBHOOK_SECRET or else `<data-dir>/webhook-secret` (0600),
 * generated there on first use. The secret is never logged.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const SECRET_FILE = 'webhook-secret';

export interface WebhookConfig {
  urls: string[];
  secret: string;
  /** Where the secret came from (for the start-up log line; never the secret itself). */
  secretSource: { kind: 'env' } | { kind: 'file'; path: string; generated: boolean };
}

/** Validates and de-duplicates webhook URLs (http or https, no credentials in the URL's authority). */
export function parseWebhookUrls(values: readonly string[], source: string): string[] {
  const urls: string[] = [];
  for (const raw of values.flatMap((v) => v.split(','))) {
    const text = raw.trim();
    if (text === '') continue;
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new Error(`${source}: ${JSON.stringify(text)} is not a URL.`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${source}: webhook URLs must be http or https; got ${url.protocol}//…`);
    if (url.username || url.password) throw new Error(`${source}: put no credentials in a webhook URL; receivers verify the X-Ferry-Signature header instead.`);
    if (!urls.includes(url.href)) urls.push(url.href);
  }
  return urls;
}

/** The secret from the environment, or the data dir's file (created, 0600, when missing). */
export function loadWebhookSecret(dataDir: string, env: NodeJS.ProcessEnv): { secret: string; source: WebhookConfig['secretSource'] } {
  const fromEnv = env.FERRY_WEBHOOK_SECRET;
  if (fromEnv !== undefined && fromEnv !== '') return { secret: fromEnv, source: { kind: 'env' } };
  const path = join(dataDir, SECRET_FILE);
  if (!existsSync(path)) {
    try {
      writeFileSync(path, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
      return { secret: readSecretFile(path), source: { kind: 'file', path, generated: true } };
    } catch (error) {
      // Another process wrote it first: use theirs.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  return { secret: readSecretFile(path), source: { kind: 'file', path, generated: false } };
}

function readSecretFile(path: string): string {
  const secret = readFileSync(path, 'utf8').trim();
  if (secret === '') throw new Error(`${path} is empty: delete it to have a new webhook secret generated, or set FERRY_WEBHOOK_SECRET.`);
  return secret;
}

/** Undefined when no webhook URL is configured (then nothing is staged, signed or sent). */
export function resolveWebhookConfig(options: { urls?: readonly string[]; dataDir: string; env: NodeJS.ProcessEnv }): WebhookConfig | undefined {
  const urls =
    options.urls && options.urls.length > 0 ? parseWebhookUrls(options.urls, '--webhook') : parseWebhookUrls([options.env.FERRY_WEBHOOK_URLS ?? ''], 'FERRY_WEBHOOK_URLS');
  if (urls.length === 0) return undefined;
  const { secret, source } = loadWebhookSecret(options.dataDir, options.env);
  return { urls, secret, secretSource: source };
}
