/**
 * The error rows of spec §6.2 and §6.6–§6.11 (the list operations and their page parameters, ImportServerCatalog,
 * DeleteServerCatalog, DisassociateConnector) through the real AWS SDK.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DeleteReplicationJobCommand,
  DeleteServerCatalogCommand,
  DisassociateConnectorCommand,
  GetConnectorsCommand,
  GetReplicationJobsCommand,
  GetReplicationRunsCommand,
  GetServersCommand,
  ImportServerCatalogCommand,
} from '@aws-sdk/client-sms';
import { startTestFerry } from '../helpers/ferry.ts';
import { vms } from '../helpers/testConnector.ts';
import { rejects, withCatalog, getJob, createJob } from '../helpers/errorCases.ts';

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

