/**
 * Every error row of spec §6.1–§6.11, driven through the real AWS SDK against a real Ferry: the exception name the
 * SDK surfaces, a message a person can act on, and — where the spec says a refused call commits nothing — that the
 * state it would have changed is untouched.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateReplicationJobCommand,
  DeleteReplicationJobCommand,
  DeleteServerCatalogCommand,
  DisassociateConnectorCommand,
  GetConnectorsCommand,
  GetReplicationJobsCommand,
  GetReplicationRunsCommand,
  GetServersCommand,
  ImportServerCatalogCommand,
  StartOnDemandReplicationRunCommand,
  UpdateReplicationJobCommand,
  type CreateReplicationJobRequest,
  type LicenseType,
  type ReplicationJob,
} from '@aws-sdk/client-sms';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { vms, type TestConnector, type Vm } from '../helpers/testConnector.ts';
import type { Policy } from '../../src/domain/policy.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

interface SdkError extends Error {
  $metadata?: { httpStatusCode?: number };
}

/** Awaits a call that must fail with `name` (as the SDK maps it) and a meaningful message; returns the error. */
async function rejects(call: Promise<unknown>, name: string, message?: RegExp): Promise<SdkError> {
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

interface Setup {
  t: TestFerry;
  connector: TestConnector;
  /** vmId → serverId */
  servers: Map<string, string>;
}

/** A Ferry with one registered connector (vcenter-1) whose inventory `list` is imported into an AVAILABLE catalog. */
async function withCatalog(list: Vm[] = vms(3), policy?: Partial<Policy>): Promise<Setup> {
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

async function serverIds(t: TestFerry): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let nextToken: string | undefined;
  do {
    const page = await t.sms.send(new GetServersCommand({ nextToken }));
    for (const s of page.serverList ?? []) out.set(s.vmServer!.vmServerAddress!.vmId!, s.serverId!);
    nextToken = page.nextToken;
  } while (nextToken);
  return out;
}

async function allJobs(t: TestFerry): Promise<ReplicationJob[]> {
  const out: ReplicationJob[] = [];
  let nextToken: string | undefined;
  do {
    const page = await t.sms.send(new GetReplicationJobsCommand({ nextToken }));
    out.push(...(page.replicationJobList ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return out;
}

async function getJob(t: TestFerry, replicationJobId: string): Promise<ReplicationJob> {
  return (await t.sms.send(new GetReplicationJobsCommand({ replicationJobId }))).replicationJobList![0]!;
}

async function server(t: TestFerry, serverId: string) {
  const { serverList } = await t.sms.send(new GetServersCommand({ maxResults: 1000 }));
  return serverList!.find((s) => s.serverId === serverId);
}

async function createJob(t: TestFerry, serverId: string, extra: Partial<CreateReplicationJobRequest> = {}): Promise<string> {
  const { replicationJobId } = await t.sms.send(
    new CreateReplicationJobCommand({ serverId, seedReplicationTime: new Date(), frequency: 12, ...extra }),
  );
  return replicationJobId!;
}

/** A refused CreateReplicationJob commits nothing: no job exists and the server is not tied to one. */
async function assertNoJobFor(t: TestFerry, serverId: string): Promise<void> {
  assert.equal((await allJobs(t)).filter((j) => j.serverId === serverId).length, 0);
  const s = await server(t, serverId);
  // Servers of a deleted catalog are no longer listed; those listed must not point at a job.
  if (s) assert.equal(s.replicationJobId, undefined);
}

// ---------------------------------------------------------------------------------------------------------------
// §6.1 CreateReplicationJob
// ---------------------------------------------------------------------------------------------------------------

test('CreateReplicationJob: missing serverId → MissingRequiredParameterException naming the member', async () => {
  const { t } = await withCatalog();
  try {
    await rejects(
      t.sms.send(new CreateReplicationJobCommand({ serverId: undefined, seedReplicationTime: new Date(), frequency: 12 })),
      'MissingRequiredParameterException',
      /serverId/,
    );
    // An empty string is as absent as a missing member (spec §6.1 "absent/empty").
    await rejects(
      t.sms.send(new CreateReplicationJobCommand({ serverId: '', seedReplicationTime: new Date(), frequency: 12 })),
      'MissingRequiredParameterException',
      /serverId/,
    );
    assert.deepEqual(await allJobs(t), []);
  } finally {
    await t.close();
  }
});

test('CreateReplicationJob: missing seedReplicationTime → MissingRequiredParameterException (the JS SDK sends it anyway)', async () => {
  const { t, servers } = await withCatalog();
  try {
    const serverId = servers.get('vm-0')!;
    await rejects(
      t.sms.send(new CreateReplicationJobCommand({ serverId, seedReplicationTime: undefined, frequency: 12 })),
      'MissingRequiredParameterException',
      /seedReplicationTime/,
    );
    await assertNoJobFor(t, serverId);
  } finally {
    await t.close();
  }
});

test('CreateReplicationJob: frequency missing while runOnce is not true → MissingRequiredParameterException', async () => {
  const { t, servers } = await withCatalog();
  try {
    const serverId = servers.get('vm-0')!;
    await rejects(
      t.sms.send(new CreateReplicationJobCommand({ serverId, seedReplicationTime: new Date() })),
      'MissingRequiredParameterException',
      /frequency/,
    );
    await rejects(
      t.sms.send(new CreateReplicationJobCommand({ serverId, seedReplicationTime: new Date(), runOnce: false })),
      'MissingRequiredParameterException',
      /frequency/,
    );
    await assertNoJobFor(t, serverId);
    // The contrast: a one-time job needs no frequency.
    const id = await createJob(t, serverId, { frequency: undefined, runOnce: true });
    const job = await getJob(t, id);
    assert.equal(job.runOnce, true);
    assert.equal(job.frequency, undefined);
  } finally {
    await t.close();
  }
});

test('CreateReplicationJob: checks run in the order of spec §3.4 (required, then values, then existence)', async () => {
  const { t } = await withCatalog();
  try {
    // Missing serverId wins over an out-of-range frequency.
    await rejects(
      t.sms.send(new CreateReplicationJobCommand({ serverId: undefined, seedReplicationTime: new Date(), frequency: 99 })),
      'MissingRequiredParameterException',
    );
    // An out-of-range value is reported before the (unknown) server is looked up.
    await rejects(createJob(t, 's-00000000', { frequency: 99 }), 'InvalidParameterException', /frequency/);
  } finally {
    await t.close();
  }
});

test('CreateReplicationJob: frequency outside 1–24 → InvalidParameterException', async () => {
  const { t, servers } = await withCatalog();
  try {
    const serverId = servers.get('vm-0')!;
    for (const frequency of [0, 25, -3]) {
      await rejects(createJob(t, serverId, { frequency }), 'InvalidParameterException', /frequency.*1.*24/);
    }
    await assertNoJobFor(t, serverId);
    // Both bounds are inclusive.
    await createJob(t, serverId, { frequency: 24 });
    await createJob(t, servers.get('vm-1')!, { frequency: 1 });
  } finally {
    await t.close();
  }
});

test('CreateReplicationJob: numberOfRecentAmisToKeep outside 0–270 → InvalidParameterException', async () => {
  const { t, servers } = await withCatalog();
  try {
    const serverId = servers.get('vm-0')!;
    for (const numberOfRecentAmisToKeep of [271, -1]) {
      await rejects(createJob(t, serverId, { numberOfRecentAmisToKeep }), 'InvalidParameterException', /numberOfRecentAmisToKeep/);
    }
    await assertNoJobFor(t, serverId);
    const id = await createJob(t, serverId, { numberOfRecentAmisToKeep: 270 });
    assert.equal((await getJob(t, id)).numberOfRecentAmisToKeep, 270);
  } finally {
    await t.close();
  }
});

test('CreateReplicationJob: licenseType outside the model enum → InvalidParameterException listing the allowed values', async () => {
  const { t, servers } = await withCatalog();
  try {
    const serverId = servers.get('vm-0')!;
    for (const licenseType of ['GPL', 'aws', '']) {
      await rejects(
        createJob(t, serverId, { licenseType: licenseType as LicenseType }),
        'InvalidParameterException',
        /licenseType.*AWS.*BYOL/,
      );
    }
    await assertNoJobFor(t, serverId);
  } finally {
    await t.close();
  }
});

test('CreateReplicationJob: seedReplicationTime more than 30 days ahead → InvalidParameterException', async () => {
  const { t, servers } = await withCatalog();
  try {
    const serverId = servers.get('vm-0')!;
    await rejects(
      createJob(t, serverId, { seedReplicationTime: new Date(Date.now() + 31 * DAY_MS) }),
      'InvalidParameterException',
      /seedReplicationTime.*30 days/,
    );
    await assertNoJobFor(t, serverId);
    // 29 days ahead is accepted, and a past seed means "start now" (spec §9.6).
    const id = await createJob(t, serverId, { seedReplicationTime: new Date(Date.now() + 29 * DAY_MS) });
    assert.equal((await getJob(t, id)).state, 'PENDING');
    await createJob(t, servers.get('vm-1')!, { seedReplicationTime: new Date(Date.now() - 3 * DAY_MS) });
  } finally {
    await t.close();
  }
});

test('CreateReplicationJob: unknown serverId → InvalidParameterException naming the server', async () => {
  const { t } = await withCatalog();
  try {
    await rejects(createJob(t, 's-00000000'), 'InvalidParameterException', /s-00000000/);
    // Ids are opaque: a malformed one is simply unknown (spec §3.1).
    await rejects(createJob(t, 'not-a-server'), 'InvalidParameterException', /not-a-server/);
    assert.deepEqual(await allJobs(t), []);
  } finally {
    await t.close();
  }
});

test('CreateReplicationJob: a VM the connector reported replicable:false → ServerCannotBeReplicatedException with its reason', async () => {
  const { t, servers } = await withCatalog([
    { vmId: 'vm-ok', vmName: 'ok', vmPath: '/DC1/vm/ok' },
    { vmId: 'vm-uefi', vmName: 'uefi', vmPath: '/DC1/vm/uefi', replicable: false, reason: 'UEFI boot is not supported.' },
  ]);
  try {
    const serverId = servers.get('vm-uefi')!;
    await rejects(createJob(t, serverId), 'ServerCannotBeReplicatedException', /UEFI boot is not supported/);
    await assertNoJobFor(t, serverId);
    await createJob(t, servers.get('vm-ok')!);
  } finally {
    await t.close();
  }
});

test('CreateReplicationJob: server whose connector was disassociated → ServerCannotBeReplicatedException', async () => {
  const t = await startTestFerry();
  try {
    const a = await t.connector();
    const b = await t.connector();
    await a.register({ vmManagerId: 'vcenter-1', vmManagerName: 'vc1.test' });
    await b.register({ vmManagerId: 'vcenter-2', vmManagerName: 'vc2.test' });
    await t.sms.send(new ImportServerCatalogCommand({}));
    assert.equal((await a.inventory(vms(1, 'a'))).status, 'IMPORTING', 'the import waits for every healthy connector');
    assert.equal((await b.inventory(vms(2, 'b'))).status, 'AVAILABLE');
    const servers = await serverIds(t);

    // While B serves a job it cannot be disassociated (spec §6.11).
    const jobOnB = await createJob(t, servers.get('b-0')!);
    await rejects(t.sms.send(new DisassociateConnectorCommand({ connectorId: b.connectorId })), 'OperationNotPermittedException', new RegExp(jobOnB));
    await t.sms.send(new DeleteReplicationJobCommand({ replicationJobId: jobOnB }));
    await t.sms.send(new DisassociateConnectorCommand({ connectorId: b.connectorId }));

    const serverId = servers.get('b-1')!;
    await rejects(createJob(t, serverId), 'ServerCannotBeReplicatedException', new RegExp(`${serverId}.*${b.connectorId}.*disassociated`));
    await assertNoJobFor(t, serverId);
    // Servers of the connector that is still associated are unaffected.
    await createJob(t, servers.get('a-0')!);
  } finally {
    await t.close();
  }
});

test('CreateReplicationJob: server that already has a non-terminal job → ReplicationJobAlreadyExistsException', async () => {
  const { t, servers } = await withCatalog();
  try {
    const serverId = servers.get('vm-0')!;
    const first = await createJob(t, serverId, { description: 'first' });
    const err = await rejects(createJob(t, serverId, { description: 'second' }), 'ReplicationJobAlreadyExistsException', new RegExp(first));
    assert.match(err.message, new RegExp(serverId));
    const jobs = (await allJobs(t)).filter((j) => j.serverId === serverId);
    assert.deepEqual(jobs.map((j) => j.replicationJobId), [first]);
    assert.equal(jobs[0]!.description, 'first');
    assert.equal((await server(t, serverId))?.replicationJobId, first);
  } finally {
    await t.close();
  }
});

test('CreateReplicationJob: connector heartbeat UNHEALTHY → NoConnectorsAvailableException', async () => {
  const { t, connector, servers } = await withCatalog();
  try {
    await connector.heartbeat('UNHEALTHY');
    const { connectorList } = await t.sms.send(new GetConnectorsCommand({}));
    assert.equal(connectorList![0]!.status, 'UNHEALTHY');
    const serverId = servers.get('vm-0')!;
    await rejects(createJob(t, serverId), 'NoConnectorsAvailableException', /vcenter-1/);
    await assertNoJobFor(t, serverId);
    // Healthy again → accepted.
    await connector.heartbeat('HEALTHY');
    await createJob(t, serverId);
  } finally {
    await t.close();
  }
});

test('CreateReplicationJob: catalog not AVAILABLE (deleted, or being re-imported) → OperationNotPermittedException', async () => {
  const { t, servers } = await withCatalog();
  try {
    const serverId = servers.get('vm-0')!;
    await t.sms.send(new ImportServerCatalogCommand({}));
    assert.equal((await t.sms.send(new GetServersCommand({}))).serverCatalogStatus, 'IMPORTING');
    await rejects(createJob(t, serverId), 'OperationNotPermittedException', /catalog is IMPORTING/);

    const t2 = await withCatalog();
    try {
      const serverId2 = t2.servers.get('vm-0')!;
      await t2.t.sms.send(new DeleteServerCatalogCommand({}));
      await rejects(createJob(t2.t, serverId2), 'OperationNotPermittedException', /catalog is DELETED.*ImportServerCatalog/);
      assert.deepEqual(await allJobs(t2.t), []);
    } finally {
      await t2.t.close();
    }
    assert.deepEqual(await allJobs(t), []);
  } finally {
    await t.close();
  }
});

test('CreateReplicationJob: at the non-terminal job limit (policy 3) → OperationNotPermittedException; a slot frees when a job ends', async () => {
  const { t, connector, servers } = await withCatalog(vms(5), { maxNonTerminalJobsPerAccount: 3 });
  try {
    const ids = [];
    for (const vm of ['vm-0', 'vm-1', 'vm-2']) ids.push(await createJob(t, servers.get(vm)!, { frequency: undefined, runOnce: true }));
    await rejects(createJob(t, servers.get('vm-3')!), 'OperationNotPermittedException', /3 replication jobs.*limit is 3/);
    await assertNoJobFor(t, servers.get('vm-3')!);
    assert.equal((await allJobs(t)).length, 3);

    // A one-time job whose run completes is COMPLETED (terminal) and no longer counts.
    const run = await connector.claimWhenDue();
    await connector.completeWithImage(run.replicationRunId);
    assert.equal((await getJob(t, run.replicationJobId)).state, 'COMPLETED');
    await createJob(t, servers.get('vm-3')!);
    await rejects(createJob(t, servers.get('vm-4')!), 'OperationNotPermittedException', /limit is 3/);
  } finally {
    await t.close();
  }
});

test('CreateReplicationJob: the default limit is 50 non-terminal jobs per account', async () => {
  const { t, servers } = await withCatalog(vms(51));
  try {
    for (let i = 0; i < 50; i++) await createJob(t, servers.get(`vm-${i}`)!);
    await rejects(createJob(t, servers.get('vm-50')!), 'OperationNotPermittedException', /50 replication jobs.*limit is 50/);
    assert.equal((await allJobs(t)).length, 50);
    await assertNoJobFor(t, servers.get('vm-50')!);
  } finally {
    await t.close();
  }
});

// ---------------------------------------------------------------------------------------------------------------
// §6.3 UpdateReplicationJob
// ---------------------------------------------------------------------------------------------------------------

test('UpdateReplicationJob: unknown job → ReplicationJobNotFoundException', async () => {
  const { t } = await withCatalog();
  try {
    await rejects(
      t.sms.send(new UpdateReplicationJobCommand({ replicationJobId: 'sms-job-00000000', frequency: 6 })),
      'ReplicationJobNotFoundException',
      /sms-job-00000000/,
    );
  } finally {
    await t.close();
  }
});

test('UpdateReplicationJob: missing replicationJobId → MissingRequiredParameterException', async () => {
  const { t } = await withCatalog();
  try {
    await rejects(
      t.sms.send(new UpdateReplicationJobCommand({ replicationJobId: undefined, frequency: 6 })),
      'MissingRequiredParameterException',
      /replicationJobId/,
    );
  } finally {
    await t.close();
  }
});

test('UpdateReplicationJob: a deleted job → OperationNotPermittedException, and nothing changes', async () => {
  const { t, servers } = await withCatalog();
  try {
    const id = await createJob(t, servers.get('vm-0')!, { description: 'before' });
    await t.sms.send(new DeleteReplicationJobCommand({ replicationJobId: id }));
    const before = await getJob(t, id);
    assert.match(before.state!, /^DELET(ING|ED)$/);
    await rejects(
      t.sms.send(new UpdateReplicationJobCommand({ replicationJobId: id, description: 'after', frequency: 6 })),
      'OperationNotPermittedException',
      new RegExp(`${id} is DELET(ING|ED)`),
    );
    const after = await getJob(t, id);
    assert.equal(after.description, 'before');
    assert.equal(after.frequency, 12);
  } finally {
    await t.close();
  }
});

test('UpdateReplicationJob: frequency on a runOnce job → InvalidParameterException', async () => {
  const { t, servers } = await withCatalog();
  try {
    const id = await createJob(t, servers.get('vm-0')!, { frequency: undefined, runOnce: true });
    await rejects(t.sms.send(new UpdateReplicationJobCommand({ replicationJobId: id, frequency: 6 })), 'InvalidParameterException', /runOnce/);
    const job = await getJob(t, id);
    assert.equal(job.frequency, undefined);
    assert.equal(job.runOnce, true);
  } finally {
    await t.close();
  }
});

test('UpdateReplicationJob: out-of-range values → InvalidParameterException, and the job keeps its settings', async () => {
  const { t, servers } = await withCatalog();
  try {
    const id = await createJob(t, servers.get('vm-0')!, { numberOfRecentAmisToKeep: 5, licenseType: 'BYOL', description: 'orig' });
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ frequency: 0 }, /frequency/],
      [{ frequency: 25 }, /frequency/],
      [{ numberOfRecentAmisToKeep: 271 }, /numberOfRecentAmisToKeep/],
      [{ numberOfRecentAmisToKeep: -1 }, /numberOfRecentAmisToKeep/],
      [{ licenseType: 'FREE' }, /licenseType/],
      [{ nextReplicationRunStartTime: new Date(Date.now() + 31 * DAY_MS) }, /nextReplicationRunStartTime.*30 days/],
    ];
    const before = await getJob(t, id);
    for (const [change, message] of cases) {
      // Each bad member comes with a good one: a refused update must not apply even the valid part.
      await rejects(
        t.sms.send(new UpdateReplicationJobCommand({ replicationJobId: id, description: 'changed', ...change })),
        'InvalidParameterException',
        message,
      );
    }
    const after = await getJob(t, id);
    assert.equal(after.description, 'orig');
    assert.equal(after.frequency, 12);
    assert.equal(after.numberOfRecentAmisToKeep, 5);
    assert.equal(after.licenseType, 'BYOL');
    assert.deepEqual(after.nextReplicationRunStartTime, before.nextReplicationRunStartTime);
  } finally {
    await t.close();
  }
});

test('UpdateReplicationJob: the job\'s server became unreplicable (re-import flags it) → ServerCannotBeReplicatedException', async () => {
  const { t, connector, servers } = await withCatalog();
  try {
    const serverId = servers.get('vm-0')!;
    const id = await createJob(t, serverId, { description: 'orig' });
    await t.sms.send(new ImportServerCatalogCommand({}));
    const reimport = vms(3);
    reimport[0] = { ...reimport[0]!, replicable: false, reason: 'More than 22 volumes.' };
    assert.equal((await connector.inventory(reimport)).status, 'AVAILABLE');
    assert.equal((await serverIds(t)).get('vm-0'), serverId, 'server ids are stable across re-imports');
    await rejects(
      t.sms.send(new UpdateReplicationJobCommand({ replicationJobId: id, description: 'changed' })),
      'ServerCannotBeReplicatedException',
      /More than 22 volumes/,
    );
    assert.equal((await getJob(t, id)).description, 'orig');
  } finally {
    await t.close();
  }
});

// ---------------------------------------------------------------------------------------------------------------
// §6.4 DeleteReplicationJob
// ---------------------------------------------------------------------------------------------------------------

test('DeleteReplicationJob: unknown job → ReplicationJobNotFoundException; missing id → MissingRequiredParameterException', async () => {
  const { t } = await withCatalog();
  try {
    await rejects(
      t.sms.send(new DeleteReplicationJobCommand({ replicationJobId: 'sms-job-deadbeef' })),
      'ReplicationJobNotFoundException',
      /sms-job-deadbeef/,
    );
    await rejects(t.sms.send(new DeleteReplicationJobCommand({ replicationJobId: undefined })), 'MissingRequiredParameterException', /replicationJobId/);
  } finally {
    await t.close();
  }
});

test('DeleteReplicationJob: a job already DELETING/DELETED → OperationNotPermittedException', async () => {
  const { t, servers } = await withCatalog();
  try {
    const serverId = servers.get('vm-0')!;
    const id = await createJob(t, serverId);
    await t.sms.send(new DeleteReplicationJobCommand({ replicationJobId: id }));
    await rejects(t.sms.send(new DeleteReplicationJobCommand({ replicationJobId: id })), 'OperationNotPermittedException', new RegExp(`${id} is already DELET`));
    // The scheduler finishes the deletion; deleting again is still refused.
    const deadline = Date.now() + 3000;
    while ((await getJob(t, id)).state !== 'DELETED') {
      assert.ok(Date.now() < deadline, 'the job never reached DELETED');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    await rejects(t.sms.send(new DeleteReplicationJobCommand({ replicationJobId: id })), 'OperationNotPermittedException', /already DELETED/);
    assert.equal((await server(t, serverId))?.replicationJobTerminated, true);
  } finally {
    await t.close();
  }
});

// ---------------------------------------------------------------------------------------------------------------
// §6.5 StartOnDemandReplicationRun
// ---------------------------------------------------------------------------------------------------------------

async function runIds(t: TestFerry, replicationJobId: string): Promise<string[]> {
  const { replicationRunList } = await t.sms.send(new GetReplicationRunsCommand({ replicationJobId }));
  return replicationRunList!.map((r) => r.replicationRunId!);
}

test('StartOnDemandReplicationRun: unknown job → InvalidParameterException; missing id → MissingRequiredParameterException', async () => {
  const { t } = await withCatalog();
  try {
    await rejects(
      t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: 'sms-job-00000000' })),
      'InvalidParameterException',
      /sms-job-00000000/,
    );
    await rejects(
      t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: undefined })),
      'MissingRequiredParameterException',
      /replicationJobId/,
    );
  } finally {
    await t.close();
  }
});

test('StartOnDemandReplicationRun: while a run of the job is ACTIVE → OperationNotPermittedException, no run added', async () => {
  const { t, connector, servers } = await withCatalog();
  try {
    // Seed a day ahead so only the on-demand run is claimable.
    const id = await createJob(t, servers.get('vm-0')!, { seedReplicationTime: new Date(Date.now() + DAY_MS) });
    const { replicationRunId } = await t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: id }));
    const claimed = await connector.claimWhenDue();
    assert.equal(claimed.replicationRunId, replicationRunId);
    const before = await runIds(t, id);
    await rejects(
      t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: id })),
      'OperationNotPermittedException',
      new RegExp(`${replicationRunId}.*active`),
    );
    assert.deepEqual(await runIds(t, id), before);
  } finally {
    await t.close();
  }
});

test('StartOnDemandReplicationRun: a third on-demand run within 24 h → ReplicationRunLimitExceededException', async () => {
  const { t, connector, servers } = await withCatalog();
  try {
    const id = await createJob(t, servers.get('vm-0')!, { seedReplicationTime: new Date(Date.now() + DAY_MS) });
    for (let i = 1; i <= 2; i++) {
      const { replicationRunId } = await t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: id, description: `od-${i}` }));
      const run = await connector.claimWhenDue();
      assert.equal(run.replicationRunId, replicationRunId);
      assert.equal(run.type, 'ON_DEMAND');
      await connector.completeWithImage(run.replicationRunId);
    }
    const runs = (await t.sms.send(new GetReplicationRunsCommand({ replicationJobId: id }))).replicationRunList!;
    assert.equal(runs.filter((r) => r.type === 'ON_DEMAND' && r.state === 'COMPLETED').length, 2, 'no on-demand run is still active');
    const before = await runIds(t, id);
    await rejects(
      t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: id, description: 'od-3' })),
      'ReplicationRunLimitExceededException',
      /2 on-demand runs in the last 24 hours/,
    );
    assert.deepEqual(await runIds(t, id), before);
  } finally {
    await t.close();
  }
});

test('StartOnDemandReplicationRun: a deleted or completed job → OperationNotPermittedException', async () => {
  const { t, connector, servers } = await withCatalog();
  try {
    const deleted = await createJob(t, servers.get('vm-0')!, { seedReplicationTime: new Date(Date.now() + DAY_MS) });
    await t.sms.send(new DeleteReplicationJobCommand({ replicationJobId: deleted }));
    const runsOfDeleted = await runIds(t, deleted);
    await rejects(
      t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: deleted })),
      'OperationNotPermittedException',
      new RegExp(`${deleted} is DELET(ING|ED)`),
    );
    assert.deepEqual(await runIds(t, deleted), runsOfDeleted);

    const once = await createJob(t, servers.get('vm-1')!, { frequency: undefined, runOnce: true });
    const run = await connector.claimWhenDue();
    await connector.completeWithImage(run.replicationRunId);
    assert.equal((await getJob(t, once)).state, 'COMPLETED');
    await rejects(t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: once })), 'OperationNotPermittedException', /COMPLETED/);
    assert.deepEqual(await runIds(t, once), [run.replicationRunId]);
  } finally {
    await t.close();
  }
});

// ---------------------------------------------------------------------------------------------------------------
// §6.2 / §6.6 GetReplicationJobs, GetReplicationRuns
// ---------------------------------------------------------------------------------------------------------------

test('GetReplicationJobs: unknown id, maxResults 0 and a garbage nextToken → InvalidParameterException', async () => {
  const { t, servers } = await withCatalog();
  try {
    await createJob(t, servers.get('vm-0')!);
    await rejects(t.sms.send(new GetReplicationJobsCommand({ replicationJobId: 'sms-job-00000000' })), 'InvalidParameterException', /sms-job-00000000/);
    await rejects(t.sms.send(new GetReplicationJobsCommand({ maxResults: 0 })), 'InvalidParameterException', /maxResults/);
    await rejects(t.sms.send(new GetReplicationJobsCommand({ maxResults: -5 })), 'InvalidParameterException', /maxResults/);
    await rejects(t.sms.send(new GetReplicationJobsCommand({ nextToken: 'garbage!!' })), 'InvalidParameterException', /nextToken/);
  } finally {
    await t.close();
  }
});

test('GetReplicationJobs: a token from another operation or filter → InvalidParameterException', async () => {
  const { t, servers } = await withCatalog();
  try {
    await createJob(t, servers.get('vm-0')!);
    await createJob(t, servers.get('vm-1')!);
    const page = await t.sms.send(new GetServersCommand({ maxResults: 1 }));
    assert.ok(page.nextToken);
    await rejects(t.sms.send(new GetReplicationJobsCommand({ nextToken: page.nextToken })), 'InvalidParameterException', /nextToken/);
  } finally {
    await t.close();
  }
});

test('GetReplicationRuns: unknown id, missing id, maxResults 0, garbage nextToken', async () => {
  const { t, servers } = await withCatalog();
  try {
    const id = await createJob(t, servers.get('vm-0')!);
    await rejects(t.sms.send(new GetReplicationRunsCommand({ replicationJobId: 'sms-job-00000000' })), 'InvalidParameterException', /sms-job-00000000/);
    await rejects(t.sms.send(new GetReplicationRunsCommand({ replicationJobId: undefined })), 'MissingRequiredParameterException', /replicationJobId/);
    await rejects(t.sms.send(new GetReplicationRunsCommand({ replicationJobId: id, maxResults: 0 })), 'InvalidParameterException', /maxResults/);
    await rejects(t.sms.send(new GetReplicationRunsCommand({ replicationJobId: id, nextToken: 'AAAA' })), 'InvalidParameterException', /nextToken/);
  } finally {
    await t.close();
  }
});

// ---------------------------------------------------------------------------------------------------------------
// §6.8 / §6.9 ImportServerCatalog, DeleteServerCatalog; §6.7 / §6.10 page parameters
// ---------------------------------------------------------------------------------------------------------------

test('ImportServerCatalog: no connector at all → NoConnectorsAvailableException; catalog stays NOT_IMPORTED', async () => {
  const t = await startTestFerry();
  try {
    await rejects(t.sms.send(new ImportServerCatalogCommand({})), 'NoConnectorsAvailableException', /connector/i);
    // A connector issued but never registered is not associated either.
    await t.connector();
    await rejects(t.sms.send(new ImportServerCatalogCommand({})), 'NoConnectorsAvailableException', /connector/i);
    const servers = await t.sms.send(new GetServersCommand({}));
    assert.equal(servers.serverCatalogStatus, 'NOT_IMPORTED');
    assert.deepEqual(servers.serverList, []);
  } finally {
    await t.close();
  }
});

test('ImportServerCatalog: only an UNHEALTHY connector → NoConnectorsAvailableException; an AVAILABLE catalog stays AVAILABLE', async () => {
  const { t, connector } = await withCatalog();
  try {
    const before = await t.sms.send(new GetServersCommand({}));
    await connector.heartbeat('UNHEALTHY');
    await rejects(t.sms.send(new ImportServerCatalogCommand({})), 'NoConnectorsAvailableException', /healthy connector/i);
    const after = await t.sms.send(new GetServersCommand({}));
    assert.equal(after.serverCatalogStatus, 'AVAILABLE');
    assert.deepEqual(after.lastModifiedOn, before.lastModifiedOn);
    assert.equal(after.serverList!.length, 3);
  } finally {
    await t.close();
  }
});

test('DeleteServerCatalog: while IMPORTING → OperationNotPermittedException; the import continues', async () => {
  const t = await startTestFerry();
  try {
    const connector = await t.connector();
    await connector.register();
    await t.sms.send(new ImportServerCatalogCommand({}));
    await rejects(t.sms.send(new DeleteServerCatalogCommand({})), 'OperationNotPermittedException', /being imported/);
    assert.equal((await t.sms.send(new GetServersCommand({}))).serverCatalogStatus, 'IMPORTING');
    assert.equal((await connector.inventory(vms(2))).status, 'AVAILABLE');
    assert.equal((await t.sms.send(new GetServersCommand({}))).serverList!.length, 2);
    // Once the import is over, deleting works.
    await t.sms.send(new DeleteServerCatalogCommand({}));
    assert.equal((await t.sms.send(new GetServersCommand({}))).serverCatalogStatus, 'DELETED');
  } finally {
    await t.close();
  }
});

test('GetServers / GetConnectors: maxResults 0 and a garbage nextToken → InvalidParameterException', async () => {
  const { t } = await withCatalog();
  try {
    await rejects(t.sms.send(new GetServersCommand({ maxResults: 0 })), 'InvalidParameterException', /maxResults/);
    await rejects(t.sms.send(new GetServersCommand({ nextToken: 'nope' })), 'InvalidParameterException', /nextToken/);
    await rejects(t.sms.send(new GetConnectorsCommand({ maxResults: 0 })), 'InvalidParameterException', /maxResults/);
    await rejects(t.sms.send(new GetConnectorsCommand({ nextToken: 'nope' })), 'InvalidParameterException', /nextToken/);
  } finally {
    await t.close();
  }
});

test('GetServers: a vmServerAddressList over 500 entries → InvalidParameterException (not a 5xx); 500 work', async () => {
  const { t } = await withCatalog();
  try {
    const list = (n: number) => Array.from({ length: n }, (_, i) => ({ vmManagerId: 'vcenter-1', vmId: `vm-${i}` }));
    const ok = await t.sms.send(new GetServersCommand({ vmServerAddressList: list(500) }));
    assert.equal(ok.serverList!.length, 3);
    await rejects(t.sms.send(new GetServersCommand({ vmServerAddressList: list(501) })), 'InvalidParameterException', /vmServerAddressList.*500/);
    await rejects(t.sms.send(new GetServersCommand({ vmServerAddressList: list(5000) })), 'InvalidParameterException', /vmServerAddressList.*500/);
  } finally {
    await t.close();
  }
});

test('list operations honour any large maxResults instead of failing with a 5xx', async () => {
  const { t, servers } = await withCatalog();
  try {
    const id = await createJob(t, servers.get('vm-0')!);
    for (const maxResults of [2 ** 31, 1e15, 1e300]) {
      assert.equal((await t.sms.send(new GetReplicationJobsCommand({ maxResults }))).replicationJobList!.length, 1);
      assert.equal((await t.sms.send(new GetReplicationRunsCommand({ replicationJobId: id, maxResults }))).replicationRunList!.length, 1);
      assert.equal((await t.sms.send(new GetServersCommand({ maxResults }))).serverList!.length, 3);
      assert.equal((await t.sms.send(new GetConnectorsCommand({ maxResults }))).connectorList!.length, 1);
    }
  } finally {
    await t.close();
  }
});

// ---------------------------------------------------------------------------------------------------------------
// §6.11 DisassociateConnector
// ---------------------------------------------------------------------------------------------------------------

test('DisassociateConnector: unknown id → InvalidParameterException; missing id → MissingRequiredParameterException', async () => {
  const { t } = await withCatalog();
  try {
    await rejects(
      t.sms.send(new DisassociateConnectorCommand({ connectorId: 'c-00000000000000000' })),
      'InvalidParameterException',
      /c-00000000000000000/,
    );
    await rejects(t.sms.send(new DisassociateConnectorCommand({ connectorId: undefined })), 'MissingRequiredParameterException', /connectorId/);
    await rejects(t.sms.send(new DisassociateConnectorCommand({ connectorId: '' })), 'MissingRequiredParameterException', /connectorId/);
    assert.equal((await t.sms.send(new GetConnectorsCommand({}))).connectorList!.length, 1);
  } finally {
    await t.close();
  }
});

test('DisassociateConnector: a connector serving an active job → OperationNotPermittedException; it stays associated', async () => {
  const { t, connector, servers } = await withCatalog();
  try {
    const id = await createJob(t, servers.get('vm-0')!);
    const run = await connector.claimWhenDue();
    assert.equal(run.replicationJobId, id);
    assert.equal((await getJob(t, id)).state, 'ACTIVE');
    await rejects(
      t.sms.send(new DisassociateConnectorCommand({ connectorId: connector.connectorId })),
      'OperationNotPermittedException',
      new RegExp(`${connector.connectorId}.*${id}`),
    );
    const { connectorList } = await t.sms.send(new GetConnectorsCommand({}));
    assert.deepEqual(connectorList!.map((c) => c.connectorId), [connector.connectorId]);
    // The connector keeps working: its run can still complete.
    const image = await connector.completeWithImage(run.replicationRunId);
    assert.equal((await getJob(t, id)).latestAmiId, image);
    // A disassociated connector is gone; disassociating it again is an unknown id.
    await t.sms.send(new DeleteReplicationJobCommand({ replicationJobId: id }));
    await t.sms.send(new DisassociateConnectorCommand({ connectorId: connector.connectorId }));
    assert.deepEqual((await t.sms.send(new GetConnectorsCommand({}))).connectorList, []);
    await rejects(t.sms.send(new DisassociateConnectorCommand({ connectorId: connector.connectorId })), 'InvalidParameterException', /not associated/);
  } finally {
    await t.close();
  }
});
