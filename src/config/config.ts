/** Service configuration: command-line flags win over environment variables, which win over the embedded defaults. */
import { resolve } from 'node:path';

export interface ServeConfig {
  host: string;
  port: number;
  dataDir: string;
  datastore: string | undefined;
  logLevel: string;
  /** The embedded connector's upload limit in bytes per second (undefined: none). */
  maxBandwidth: number | undefined;
}

export interface ServeFlags {
  host?: string;
  port?: string;
  dataDir?: string;
  datastore?: string;
  maxBandwidth?: string;
}

export const DEFAULTS = { host: '127.0.0.1', port: 7676, dataDir: './ferry-data' } as const;

export function parsePort(value: string, source: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`${source} must be a port number (0–65535); got ${JSON.stringify(value)}.`);
  return port;
}

export function resolveServeConfig(flags: ServeFlags, env: NodeJS.ProcessEnv): ServeConfig {
  const portText = flags.port ?? env.FERRY_PORT;
  const datastore = flags.datastore ?? env.FERRY_DATASTORE;
  return {
    host: flags.host ?? env.FERRY_HOST ?? DEFAULTS.host,
    port: portText === undefined ? DEFAULTS.port : parsePort(portText, flags.port !== undefined ? '--port' : 'FERRY_PORT'),
    dataDir: resolve(flags.dataDir ?? env.FERRY_DATA_DIR ?? DEFAULTS.dataDir),
    datastore: datastore ? resolve(datastore) : undefined,
    logLevel: env.FERRY_LOG_LEVEL ?? 'info',
    maxBandwidth: bandwidthSetting(flags.maxBandwidth, env.FERRY_MAX_BANDWIDTH),
  };
}

/** `100M`, `1.5G`, `500k`, or bytes: per second. */
export function parseBandwidth(text: string, source = '--max-bandwidth'): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?(?:\/s)?$/i.exec(text.trim());
  if (!match) throw new Error(`${source} must be bytes per second such as 50M or 1G; got ${JSON.stringify(text)}.`);
  const unit = { '': 1, k: 1e3, m: 1e6, g: 1e9 }[match[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  const value = Number(match[1]) * unit;
  if (!(value > 0)) throw new Error(`${source} must be positive.`);
  return value;
}

function bandwidthSetting(flag: string | undefined, env: string | undefined): number | undefined {
  if (flag !== undefined) return parseBandwidth(flag);
  if (env !== undefined && env !== '') return parseBandwidth(env, 'FERRY_MAX_BANDWIDTH');
  return undefined;
}

export function resolveDataDir(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return resolve(flag ?? env.FERRY_DATA_DIR ?? DEFAULTS.dataDir);
}
