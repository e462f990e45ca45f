/** Service configuration: command-line flags win over environment variables, which win over the embedded defaults. */
import { resolve } from 'node:path';

export interface ServeConfig {
  host: string;
  port: number;
  dataDir: string;
  datastore: string | undefined;
  logLevel: string;
}

export interface ServeFlags {
  host?: string;
  port?: string;
  dataDir?: string;
  datastore?: string;
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
  };
}

export function resolveDataDir(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return resolve(flag ?? env.FERRY_DATA_DIR ?? DEFAULTS.dataDir);
}
