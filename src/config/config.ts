/** Service configuration: command-line flags win over environment variables, which win over the embedded defaults. */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export interface ServeConfig {
  host: string;
  port: number;
  dataDir: string;
  datastore: string | undefined;
  logLevel: string;
  /** The embedded connector's upload limit in bytes per second (undefined: none). */
  maxBandwidth: number | undefined;
  /** The state store: a `postgres://` URL, or undefined for SQLite in the data dir (--store, FERRY_STORE). */
  store: string | undefined;
  /** PostgreSQL pool size (FERRY_STORE_POOL_SIZE; undefined: the store's default). */
  storePoolSize: number | undefined;
  /** Where image blocks live: undefined/`local` (pack files in the data dir) or s3://bucket/prefix (src/images/blocks/blocksUrl.ts). */
  blocks?: string;
  /** The S3-compatible endpoint for `blocks` (undefined: AWS). */
  s3Endpoint?: string;
  /** This node's name in metrics, health and the scheduler lease (FERRY_NODE_ID; default: the host name). */
  nodeId?: string;
}

export interface ServeFlags {
  host?: string;
  port?: string;
  dataDir?: string;
  datastore?: string;
  maxBandwidth?: string;
  store?: string;
  blocks?: string;
  s3Endpoint?: string;
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
    ...resolveStoreSetting(flags.store, env),
    // Present only when set, so the default configuration reads as before.
    ...optional('blocks', flags.blocks ?? (env.FERRY_BLOCKS || undefined)),
    ...optional('s3Endpoint', flags.s3Endpoint ?? (env.FERRY_S3_ENDPOINT || undefined)),
    ...optional('nodeId', env.FERRY_NODE_ID || undefined),
  };
}

function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: string };
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

// ── The state store (src/store): SQLite in the data dir, or PostgreSQL for N nodes ───────────────────────────────

/** `--store URL` wins over FERRY_STORE; only `postgres://` (or `postgresql://`) URLs are accepted. */
export function resolveStoreSetting(flag: string | undefined, env: NodeJS.ProcessEnv): { store: string | undefined; storePoolSize: number | undefined } {
  const store = flag ?? (env.FERRY_STORE || undefined);
  if (store !== undefined && !/^postgres(ql)?:\/\//i.test(store)) {
    throw new Error(`${flag !== undefined ? '--store' : 'FERRY_STORE'} must be a postgres:// URL (leave it unset for SQLite in the data dir); got a value starting ${JSON.stringify(store.slice(0, 12))}.`);
  }
  const poolText = env.FERRY_STORE_POOL_SIZE;
  let storePoolSize: number | undefined;
  if (poolText !== undefined && poolText !== '') {
    storePoolSize = Number(poolText);
    if (!/^[0-9]+$/.test(poolText.trim()) || storePoolSize < 1) throw new Error(`FERRY_STORE_POOL_SIZE must be a positive integer; got ${JSON.stringify(poolText)}.`);
  }
  return { store, storePoolSize };
}

// ── Launch (src/launch): where instances run and where their files live ─────────────────────────────────────────

export const DEFAULT_LAUNCH_URI = 'qemu:///system';

export interface LaunchConfig {
  /** The libvirt URI instances are launched through (`--launch-uri`, FERRY_LAUNCH_URI). */
  uri: string;
  /** Overlays, seeds, NBD sockets and consoles (`--instances-dir`, FERRY_INSTANCES_DIR); see src/launch/instanceFiles.ts. */
  instancesDir: string;
  /** Caps how fast an instance's disks are pulled from the image store, in MiB/s (FERRY_HYDRATION_MIBPS); none by default. */
  hydrationBandwidthMiB?: number;
  /** How long a guest may take to signal its boot before its launch fails (FERRY_BOOT_TIMEOUT_SECONDS; default 5 min). */
  bootTimeoutMs?: number;
  /** In a cluster, the FERRY_NODE_ID of the one node that launches instances (FERRY_LAUNCH_NODE; domain/launchPlacement.ts). */
  node?: string;
}

/** /var/lib/ferry/instances for root; ~/.local/share/ferry/instances (XDG_DATA_HOME) for anyone else. */
export function defaultInstancesDir(env: NodeJS.ProcessEnv): string {
  if (process.getuid?.() === 0) return '/var/lib/ferry/instances';
  return join(env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'ferry', 'instances');
}

export function resolveLaunchConfig(flags: { launchUri?: string; instancesDir?: string }, env: NodeJS.ProcessEnv): LaunchConfig {
  const uri = flags.launchUri ?? (env.FERRY_LAUNCH_URI || DEFAULT_LAUNCH_URI);
  if (!/^[a-z][a-z0-9+.-]*:\/\/[^\s]*$/i.test(uri)) throw new Error(`${flags.launchUri !== undefined ? '--launch-uri' : 'FERRY_LAUNCH_URI'} must be a libvirt URI such as qemu:///system; got ${JSON.stringify(uri)}.`);
  const hydration = env.FERRY_HYDRATION_MIBPS;
  if (hydration !== undefined && hydration !== '' && !/^[1-9][0-9]{0,5}$/.test(hydration)) throw new Error(`FERRY_HYDRATION_MIBPS must be a whole number of MiB/s; got ${JSON.stringify(hydration)}.`);
  const bootTimeout = env.FERRY_BOOT_TIMEOUT_SECONDS;
  if (bootTimeout !== undefined && bootTimeout !== '' && !/^[1-9][0-9]{0,5}$/.test(bootTimeout)) {
    throw new Error(`FERRY_BOOT_TIMEOUT_SECONDS must be a whole number of seconds; got ${JSON.stringify(bootTimeout)}.`);
  }
  return {
    uri,
    instancesDir: resolve(flags.instancesDir ?? (env.FERRY_INSTANCES_DIR || defaultInstancesDir(env))),
    ...(hydration ? { hydrationBandwidthMiB: Number(hydration) } : {}),
    ...(bootTimeout ? { bootTimeoutMs: Number(bootTimeout) * 1000 } : {}),
    ...(env.FERRY_LAUNCH_NODE ? { node: env.FERRY_LAUNCH_NODE } : {}),
  };
}
