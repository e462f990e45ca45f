/**
 * Every error row of spec §6.1 (CreateReplicationJob), driven through the real AWS SDK against a real Ferry: the
 * exception name the SDK surfaces, a message a person can act on, and that a refused call commits nothing. §6.2–§6.11:
 * errorsJobs.test.ts and errorsCatalog.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateReplicationJobCommand,
  DeleteReplicationJobCommand,
  DeleteServerCatalogCommand,
  DisassociateConnectorCommand,
  GetConnectorsCommand,
  GetServersCommand,
  ImportServerCatalogCommand,
  type LicenseType,
} from '@aws-sdk/client-sms';
import { startTestFerry } from '../helpers/ferry.ts';
import { vms } from '../helpers/testConnector.ts';
import { DAY_MS, rejects, withCatalog, serverIds, allJobs, getJob, server, createJob, assertNoJobFor } from '../helpers/errorCases.ts';

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

