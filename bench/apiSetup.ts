/**
 * Pieces of `npm run bench` (bench/api.bench.ts) that need none of its state: summarising load runs, and setting up
 * the CreateReplicationJob instance through the connector API and the SMS API, as production does.
 */
import { smsCall, type Credentials } from './sigv4.ts';
import { VM_MANAGER } from './seed.ts';
import type { LoadResult } from './loadgen.ts';

export type Measured = LoadResult & { serverCpuMs?: number };

export interface Summary {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  errors: number;
  firstError?: string;
  exhausted: boolean;
  responseBytes: number;
  /** Server CPU per request (ms), over every request sent in the runs. */
  cpuPerRequest: number;
}

export function percentile(values: number[], p: number): number {
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

export function summarise(results: Measured[]): Summary {
  const latencies = results.flatMap((r) => r.latencies ?? []);
  const requests = results.reduce((a, r) => a + r.requests, 0);
  const seconds = results.reduce((a, r) => a + r.seconds, 0);
  return {
    rps: requests / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    requests,
    errors: results.reduce((a, r) => a + r.errors, 0),
    firstError: results.find((r) => r.firstError)?.firstError,
    exhausted: results.some((r) => r.exhausted),
    responseBytes: results.at(-1)?.responseBytes ?? 0,
    cpuPerRequest: results.reduce((a, r) => a + (r.serverCpuMs ?? NaN), 0) / results.reduce((a, r) => a + r.sent, 0),
  };
}

export async function connectorCall(url: string, token: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`${url}/ferry/connector/v1${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const payload = (await response.json()) as Record<string, unknown>;
  if (!response.ok) throw new Error(`connector ${path}: ${response.status} ${JSON.stringify(payload)}`);
  return payload;
}

export async function sms(url: string, credentials: Credentials, operation: string, input: unknown): Promise<Record<string, unknown>> {
  const response = await smsCall(url, credentials, operation, input);
  if (response.status !== 200) throw new Error(`${operation}: ${response.status} ${response.text}`);
  return response.json;
}

/** register → heartbeat → ImportServerCatalog → inventory, all over HTTP; returns the catalog's server ids. */
export async function seedServersThroughApi(
  url: string,
  credentials: Credentials,
  token: string,
  count: number,
  log: (message: string) => void,
): Promise<string[]> {
  await connectorCall(url, token, '/register', {
    ...VM_MANAGER,
    version: '1.0.0',
    capabilities: ['VSPHERE', 'SMS_OPTIMIZED'],
    ipAddress: '10.0.0.5',
    macAddress: '00:50:56:00:00:01',
  });
  await connectorCall(url, token, '/heartbeat', { status: 'HEALTHY' });
  await sms(url, credentials, 'ImportServerCatalog', {});
  const vms = Array.from({ length: count }, (_, i) => ({
    vmId: `vm-${1000 + i}`,
    vmName: `app-server-${String(i).padStart(6, '0')}`,
    vmPath: `/Datacenters/DC1/vm/production/app-server-${String(i).padStart(6, '0')}`,
  }));
  let inventory: Record<string, unknown> | undefined;
  for (let attempt = 1; !inventory; attempt++) {
    try {
      inventory = await connectorCall(url, token, '/inventory', { vms });
    } catch (thrown) {
      // Server ids are 8 random hex digits and the inventory does not retry a collision (see README): try again.
      if (attempt >= 3) throw thrown;
      log(`inventory failed (${(thrown as Error).message.slice(0, 120)}); retrying`);
    }
  }
  if (inventory.status !== 'AVAILABLE') throw new Error(`catalog is ${String(inventory.status)} after the inventory`);
  const ids: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sms(url, credentials, 'GetServers', { maxResults: 1000, nextToken });
    for (const server of page.serverList as { serverId: string }[]) ids.push(server.serverId);
    nextToken = page.nextToken as string | undefined;
  } while (nextToken);
  return ids;
}

