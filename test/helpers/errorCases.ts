/**
 * What the error tests of spec §6 share (test/integration/errors*.test.ts): a Ferry with an imported catalog, the
 * check that a call fails as the spec says (the SDK's exception name, a message a person can act on, a 400), and
 * reads of the jobs and servers a refused call must leave untouched.
 */
import assert from 'node:assert/strict';
import {
  CreateReplicationJobCommand,
  GetReplicationJobsCommand,
  GetServersCommand,
  ImportServerCatalogCommand,
  type CreateReplicationJobRequest,
  type ReplicationJob,
} from '@aws-sdk/client-sms';
import { startTestFerry, type TestFerry } from './ferry.ts';
import { vms, type TestConnector, type Vm } from './testConnector.ts';
import type { Policy } from '../../src/domain/policy.ts';

export const DAY_MS = 24 * 60 * 60 * 1000;

export interface SdkError extends Error {
  $metadata?: { httpStatusCode?: number };
}

/** Awaits a call that must fail with `name` (as the SDK maps it) and a meaningful message; returns the error. */
export async function rejects(call: Promise<unknown>, name: string, message?: RegExp): Promise<SdkError> {
  let caught: unknown;
  try {
    await call;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof Error, `expected ${name}, but the call succeeded`);
  const err = caught as SdkError;
  assert.equal(err.name, name, `expected ${name}, got ${err.name}: ${err.message}`);
  // The SDK substitutes "UnknownError" when the body has no message; a real one names what went wrong.
  assert.notEqual(err.message, 'UnknownError');
  assert.ok(err.message.length >= 15, `message too thin: ${JSON.stringify(err.message)}`);
  if (message) assert.match(err.message, message);
  assert.equal(err.$metadata?.httpStatusCode, 400, 'client faults are 400 so that clients do not retry them');
  return err;
}

export interface Setup {
  t: TestFerry;
  connector: TestConnector;
  /** vmId → serverId */
  servers: Map<string, string>;
}

/** A Ferry with one registered connector (vcenter-1) whose inventory `list` is imported into an AVAILABLE catalog. */
export async function withCatalog(list: Vm[] = vms(3), policy?: Partial<Policy>): Promise<Setup> {
  const t = await startTestFerry({ policy });
  try {
    const connector = await t.connector();
    await connector.register();
    await t.sms.send(new ImportServerCatalogCommand({}));
    const imported = await connector.inventory(list);
    assert.equal(imported.status, 'AVAILABLE');
    return { t, connector, servers: await serverIds(t) };
  } catch (err) {
    await t.close();
    throw err;
  }
}

export async function serverIds(t: TestFerry): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let nextToken: string | undefined;
  do {
    const page = await t.sms.send(new GetServersCommand({ nextToken }));
    for (const s of page.serverList ?? []) out.set(s.vmServer!.vmServerAddress!.vmId!, s.serverId!);
    nextToken = page.nextToken;
  } while (nextToken);
  return out;
}

export async function allJobs(t: TestFerry): Promise<ReplicationJob[]> {
  const out: ReplicationJob[] = [];
  let nextToken: string | undefined;
  do {
    const page = await t.sms.send(new GetReplicationJobsCommand({ nextToken }));
    out.push(...(page.replicationJobList ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return out;
}

export async function getJob(t: TestFerry, replicationJobId: string): Promise<ReplicationJob> {
  return (await t.sms.send(new GetReplicationJobsCommand({ replicationJobId }))).replicationJobList![0]!;
}

export async function server(t: TestFerry, serverId: string) {
  const { serverList } = await t.sms.send(new GetServersCommand({ maxResults: 1000 }));
  return serverList!.find((s) => s.serverId === serverId);
}

export async function createJob(t: TestFerry, serverId: string, extra: Partial<CreateReplicationJobRequest> = {}): Promise<string> {
  const { replicationJobId } = await t.sms.send(
    new CreateReplicationJobCommand({ serverId, seedReplicationTime: new Date(), frequency: 12, ...extra }),
  );
  return replicationJobId!;
}

/** A refused CreateReplicationJob commits nothing: no job exists and the server is not tied to one. */
export async function assertNoJobFor(t: TestFerry, serverId: string): Promise<void> {
  assert.equal((await allJobs(t)).filter((j) => j.serverId === serverId).length, 0);
  const s = await server(t, serverId);
  // Servers of a deleted catalog are no longer listed; those listed must not point at a job.
  if (s) assert.equal(s.replicationJobId, undefined);
}

