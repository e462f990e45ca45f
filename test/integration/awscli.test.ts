/**
 * The second and third reference clients (spec §0): Debian's AWS CLI v2 (/usr/bin/aws) and boto3 on the system
 * python, driving a real Ferry over HTTP with their own SigV4 signing, JSON parsing, paginators and error mapping.
 * Both are skipped with a message when not installed (CI installs them: .ci/run).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetReplicationJobsCommand } from '@aws-sdk/client-sms';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { vms, type TestConnector } from '../helpers/testConnector.ts';
import { createKeyRecord } from '../../src/kms/keys.ts';
import { AWS_CLI, SYSTEM_PYTHON, awsCliAvailable, awsEnv, boto3Available, run, type RunResult } from '../helpers/process.ts';

const SKIP_AWS = awsCliAvailable()
  ? false
  : `skipped: ${AWS_CLI} (AWS CLI v2 with the sms commands) is not installed; install Debian's awscli package (CI does, see .ci/run)`;
const SKIP_BOTO3 = boto3Available()
  ? false
  : `skipped: boto3 with the sms model is not importable by ${SYSTEM_PYTHON}; install Debian's python3-boto3 (CI does, see .ci/run)`;

const SERVERS = 30;

/** An ISO-8601 time without fractions, `minutes` from now. */
function isoIn(minutes: number): string {
  return new Date(Math.floor(Date.now() / 1000) * 1000 + minutes * 60_000).toISOString().replace('.000Z', 'Z');
}

describe('AWS CLI v2', { skip: SKIP_AWS }, () => {
  let t: TestFerry;
  let connector: TestConnector;
  let home: string;
  let jobId: string;
  let serverIds: string[];

  async function aws(...args: string[]): Promise<RunResult & { json: Record<string, any> }> {
    const result = await run(AWS_CLI, ['--endpoint-url', t.ferry.url, '--region', 'us-east-1', '--output', 'json', 'sms', ...args], {
      env: awsEnv(t.ferry.root, home),
    });
    let json: Record<string, any> = {};
    if (result.code === 0 && result.stdout.trim() !== '') json = JSON.parse(result.stdout) as Record<string, any>;
    return { ...result, json };
  }

  async function ok(...args: string[]): Promise<Record<string, any>> {
    const result = await aws(...args);
    assert.equal(result.code, 0, `aws sms ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
    return result.json;
  }

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'ferry-awscli-home-'));
    t = await startTestFerry();
    connector = await t.connector();
    await connector.register();
  });

  after(async () => {
    await t?.close();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  test('get-connectors, import-server-catalog, get-servers (auto-paginated and --no-paginate)', async () => {
    const connectors = await ok('get-connectors');
    assert.equal(connectors.connectorList.length, 1);
    assert.equal(connectors.connectorList[0].connectorId, connector.connectorId);
    assert.equal(connectors.connectorList[0].status, 'HEALTHY');
    assert.deepEqual(connectors.connectorList[0].capabilityList, ['VSPHERE', 'SMS_OPTIMIZED']);
    assert.ok(!Number.isNaN(Date.parse(connectors.connectorList[0].associatedOn)), 'associatedOn is a timestamp the CLI can print');

    const imported = await aws('import-server-catalog');
    assert.equal(imported.code, 0, imported.stderr);
    assert.equal(imported.stdout.trim(), '', 'an empty output prints nothing');
    assert.equal((await connector.inventory(vms(SERVERS))).status, 'AVAILABLE');

    // Independent reads run side by side: the CLI's start-up dominates.
    const [merged, single, filtered] = await Promise.all([
      ok('get-servers'),
      ok('get-servers', '--no-paginate', '--max-results', '4'),
      ok('get-servers', '--vm-server-address-list', 'vmManagerId=vcenter-1,vmId=vm-7', 'vmId=vm-21'),
    ]);
    assert.equal(merged.serverList.length, SERVERS);
    serverIds = merged.serverList.map((s: { serverId: string }) => s.serverId);
    assert.deepEqual(
      merged.serverList.map((s: { vmServer: { vmServerAddress: { vmId: string } } }) => s.vmServer.vmServerAddress.vmId),
      vms(SERVERS).map((vm) => vm.vmId),
    );
    assert.equal(merged.nextToken, undefined);

    assert.equal(single.serverCatalogStatus, 'AVAILABLE');
    assert.ok(!Number.isNaN(Date.parse(single.lastModifiedOn)));
    assert.equal(single.serverList.length, 4);
    assert.equal(typeof single.nextToken, 'string');

    assert.deepEqual(
      filtered.serverList.map((s: { serverId: string }) => s.serverId),
      [serverIds[7], serverIds[21]],
    );
  });

  test("a multi-page listing with --page-size 7: five requests, tokens never repeat (botocore's guard stays quiet)", async () => {
    const [result, first] = await Promise.all([aws('get-servers', '--page-size', '7', '--debug'), ok('get-servers', '--page-size', '7', '--max-items', '10')]);
    assert.equal(result.code, 0, result.stderr.slice(-2000));
    assert.doesNotMatch(result.stderr, /same next token/i);
    const requests = result.stderr.match(/Making request for OperationModel\(name=GetServers\)/g) ?? [];
    assert.equal(requests.length, Math.ceil(SERVERS / 7), 'one request per page');
    const listed = (JSON.parse(result.stdout) as { serverList: { serverId: string }[] }).serverList.map((s) => s.serverId);
    assert.deepEqual(listed, serverIds, 'every server once, in order');

    // --max-items is client-side: the CLI resumes from its own token through ours.
    assert.equal(first.serverList.length, 10);
    assert.equal(typeof first.NextToken, 'string');
    const rest = await ok('get-servers', '--page-size', '7', '--starting-token', first.NextToken);
    assert.deepEqual([...first.serverList, ...rest.serverList].map((s: { serverId: string }) => s.serverId), serverIds);
  });

  test('create-replication-job with an ISO-8601 seed time, get-replication-jobs, start-on-demand-replication-run, get-replication-runs', async () => {
    const seed = isoIn(60);
    const nextRun = isoIn(120);
    const created = await ok(
      'create-replication-job',
      '--server-id', serverIds[0]!,
      '--seed-replication-time', seed,
      '--frequency', '12',
      '--license-type', 'BYOL',
      '--description', 'from the AWS CLI',
      '--number-of-recent-amis-to-keep', '3',
    );
    jobId = created.replicationJobId;
    assert.match(jobId, /^sms-job-[0-9a-f]{8}$/);

    const [jobs, servers] = await Promise.all([ok('get-replication-jobs'), ok('get-servers', '--vm-server-address-list', 'vmId=vm-0')]);
    assert.equal(jobs.replicationJobList.length, 1);
    const job = jobs.replicationJobList[0];
    assert.equal(job.replicationJobId, jobId);
    assert.equal(job.serverId, serverIds[0]);
    assert.equal(Date.parse(job.seedReplicationTime), Date.parse(seed));
    assert.equal(Date.parse(job.nextReplicationRunStartTime), Date.parse(seed));
    assert.equal(job.frequency, 12);
    assert.equal(job.licenseType, 'BYOL');
    assert.equal(job.numberOfRecentAmisToKeep, 3);
    assert.equal(job.encrypted, false);
    assert.equal(job.state, 'PENDING');
    assert.equal(job.description, 'from the AWS CLI');
    assert.equal(job.replicationRunList.length, 1);
    assert.equal(job.replicationRunList[0].type, 'AUTOMATIC');
    assert.equal(job.replicationRunList[0].state, 'PENDING');

    assert.equal(servers.serverList[0].replicationJobId, jobId);
    assert.equal(servers.serverList[0].replicationJobTerminated, false);

    const started = await ok('start-on-demand-replication-run', '--replication-job-id', jobId, '--description', 'right now');
    assert.match(started.replicationRunId, /^sms-run-[0-9a-f]{8}$/);

    const [runs, unmerged, updated] = await Promise.all([
      ok('get-replication-runs', '--replication-job-id', jobId),
      ok('get-replication-runs', '--replication-job-id', jobId, '--no-paginate'),
      aws('update-replication-job', '--replication-job-id', jobId, '--frequency', '6', '--next-replication-run-start-time', nextRun),
    ]);
    assert.deepEqual(
      runs.replicationRunList.map((r: { replicationRunId: string; type: string }) => r.type),
      ['ON_DEMAND', 'AUTOMATIC'],
      'newest first',
    );
    assert.equal(runs.replicationRunList[0].replicationRunId, started.replicationRunId);
    assert.equal(runs.replicationRunList[0].description, 'right now');
    assert.equal(runs.replicationJob, undefined, 'the merged output keeps only the list');
    assert.equal(unmerged.replicationJob.replicationJobId, jobId);
    assert.equal(unmerged.replicationRunList.length, 2);

    assert.equal(updated.code, 0, updated.stderr);
    const after = (await t.sms.send(new GetReplicationJobsCommand({ replicationJobId: jobId }))).replicationJobList![0]!;
    assert.equal(after.frequency, 6);
    assert.equal(after.nextReplicationRunStartTime?.getTime(), Date.parse(nextRun));
  });

  test('service errors: exit code 254 and the modelled error name', async () => {
    const [missing, queued, forged] = await Promise.all([
      aws('update-replication-job', '--replication-job-id', 'sms-job-00000000', '--frequency', '6'),
      // An on-demand run is already waiting to start.
      aws('start-on-demand-replication-run', '--replication-job-id', jobId),
      // Signed with the wrong secret.
      run(AWS_CLI, ['--endpoint-url', t.ferry.url, '--region', 'us-east-1', '--output', 'json', 'sms', 'delete-replication-job', '--replication-job-id', jobId], {
        env: awsEnv({ accessKeyId: t.ferry.root.accessKeyId, secretAccessKey: 'not-the-secret' }, home),
      }),
    ]);
    assert.equal(missing.code, 254);
    assert.match(
      missing.stderr,
      /An error occurred \(ReplicationJobNotFoundException\) when calling the UpdateReplicationJob operation( \(reached max retries: 0\))?: Replication job sms-job-00000000 does not exist\./,
    );
    assert.equal(queued.code, 254);
    assert.match(queued.stderr, /An error occurred \(OperationNotPermittedException\) when calling the StartOnDemandReplicationRun operation/);
    assert.equal(forged.code, 254);
    assert.match(forged.stderr, /InvalidSignatureException/);
    assert.equal(forged.stdout, '');

    // The forged delete changed nothing: the real one is the first.
    const deleted = await aws('delete-replication-job', '--replication-job-id', jobId);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(deleted.stdout.trim(), '');
    const gone = (await t.sms.send(new GetReplicationJobsCommand({ replicationJobId: jobId }))).replicationJobList![0]!;
    assert.match(gone.state!, /^DELET(ING|ED)$/);
  });
});

/** One boto3 session, driven step by step: each line on stdin is a JSON call, each answer a JSON line. */
const BOTO3_SCRIPT = String.raw`
import datetime, json, sys
import boto3, botocore.config, botocore.exceptions
endpoint, access_key, secret_key = sys.argv[1:4]
sms = boto3.client('sms', endpoint_url=endpoint, region_name='us-east-1', aws_access_key_id=access_key,
                   aws_secret_access_key=secret_key, config=botocore.config.Config(retries={'max_attempts': 0}))
def when(value):
    return value.isoformat() if isinstance(value, datetime.datetime) else str(value)
def answer(value):
    sys.stdout.write(json.dumps(value, default=when) + '\n')
    sys.stdout.flush()
for line in sys.stdin:
    call = json.loads(line)
    try:
        op, args = call['op'], call.get('args', {})
        if op == 'paginate':
            pages = list(sms.get_paginator(args.pop('operation')).paginate(**args))
            result = {'pages': [{k: v for k, v in p.items() if k != 'ResponseMetadata'} for p in pages]}
        else:
            if 'seedReplicationTime' in args:
                args['seedReplicationTime'] = datetime.datetime.fromisoformat(args['seedReplicationTime'])
            result = getattr(sms, op)(**args)
            result['requestId'] = result.pop('ResponseMetadata')['RequestId']
        answer({'ok': result})
    except botocore.exceptions.ClientError as error:
        answer({'error': error.response['Error']['Code'], 'message': error.response['Error']['Message'],
                'status': error.response['ResponseMetadata']['HTTPStatusCode']})
`;

describe('boto3', { skip: SKIP_BOTO3 }, () => {
  test('the core flow: connectors, catalog, servers (paginated), job, runs, on-demand run, errors', async () => {
    const t = await startTestFerry();
    const home = mkdtempSync(join(tmpdir(), 'ferry-boto3-home-'));
    try {
      const account = await t.createAccount('boto');
      const connector = await t.connector({ accountId: account.accountId });
      await connector.register({ vmManagerId: 'vcenter-boto' });

      // Calls are batched into one python process per step (python's startup dominates the cost).
      const boto3 = async (calls: { op: string; args?: Record<string, unknown> }[]) => {
        const result = await run(SYSTEM_PYTHON, ['-c', BOTO3_SCRIPT, t.ferry.url, account.accessKeyId, account.secretAccessKey], {
          env: awsEnv(account, home),
          input: calls.map((c) => JSON.stringify(c)).join('\n') + '\n',
        });
        assert.equal(result.code, 0, result.stderr);
        const answers = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { ok?: any; error?: string; message?: string; status?: number });
        assert.equal(answers.length, calls.length);
        return answers;
      };

      const [connectors, imported] = await boto3([{ op: 'get_connectors' }, { op: 'import_server_catalog' }]);
      assert.deepEqual(connectors!.ok.connectorList.map((c: { connectorId: string }) => c.connectorId), [connector.connectorId]);
      assert.equal(connectors!.ok.connectorList[0].vmManagerId, 'vcenter-boto');
      assert.match(imported!.ok.requestId, /^[0-9a-f-]{36}$/);
      assert.equal((await connector.inventory(vms(12))).status, 'AVAILABLE');

      const seed = isoIn(30);
      const [paged, single] = await boto3([
        { op: 'paginate', args: { operation: 'get_servers', PaginationConfig: { PageSize: 5 } } },
        { op: 'get_servers', args: { maxResults: 3 } },
      ]);
      const pages = paged!.ok.pages as { serverList: { serverId: string }[]; nextToken?: string; serverCatalogStatus: string }[];
      assert.deepEqual(pages.map((p) => p.serverList.length), [5, 5, 2]);
      assert.ok(pages.every((p) => p.serverCatalogStatus === 'AVAILABLE'), 'serverCatalogStatus on every page');
      assert.equal(pages[2]!.nextToken, undefined);
      const ids = pages.flatMap((p) => p.serverList.map((s) => s.serverId));
      assert.equal(new Set(ids).size, 12);
      assert.equal(single!.ok.serverList.length, 3);
      assert.ok(single!.ok.lastModifiedOn.endsWith('+00:00'), 'lastModifiedOn parses as an aware datetime');

      // kmsKeyId must name an existing key of the account (an unknown one is InvalidParameterException).
      await createKeyRecord(t.ferry.core.db, { accountId: account.accountId, region: 'us-east-1' }, { alias: 'alias/ferry' }, Date.now());
      const [created] = await boto3([{ op: 'create_replication_job', args: { serverId: ids[4], seedReplicationTime: seed, frequency: 24, encrypted: true, kmsKeyId: 'alias/ferry' } }]);
      const jobId = created!.ok.replicationJobId as string;
      assert.match(jobId, /^sms-job-[0-9a-f]{8}$/);

      const [jobs, onDemand, runs, missing, unknownRuns, badToken] = await boto3([
        { op: 'get_replication_jobs', args: { replicationJobId: jobId } },
        { op: 'start_on_demand_replication_run', args: { replicationJobId: jobId, description: 'boto3' } },
        { op: 'get_replication_runs', args: { replicationJobId: jobId } },
        { op: 'update_replication_job', args: { replicationJobId: 'sms-job-ffffffff', frequency: 2 } },
        { op: 'get_replication_runs', args: { replicationJobId: 'sms-job-ffffffff' } },
        { op: 'get_servers', args: { nextToken: 'garbage' } },
      ]);
      const job = jobs!.ok.replicationJobList[0];
      assert.equal(job.replicationJobId, jobId);
      assert.equal(job.serverId, ids[4]);
      assert.equal(Date.parse(job.seedReplicationTime), Date.parse(seed));
      assert.equal(job.encrypted, true);
      assert.equal(job.kmsKeyId, 'alias/ferry');
      assert.equal(job.state, 'PENDING');
      const runId = onDemand!.ok.replicationRunId as string;
      assert.match(runId, /^sms-run-[0-9a-f]{8}$/);
      assert.equal(runs!.ok.replicationJob.replicationJobId, jobId);
      assert.deepEqual(
        runs!.ok.replicationRunList.map((r: { replicationRunId: string; type: string; state: string }) => [r.type, r.state]),
        [['ON_DEMAND', 'PENDING'], ['AUTOMATIC', 'PENDING']],
      );
      assert.equal(runs!.ok.replicationRunList[0].replicationRunId, runId);
      assert.equal(runs!.ok.replicationRunList[0].encrypted, true);
      assert.deepEqual([missing!.error, missing!.status], ['ReplicationJobNotFoundException', 400]);
      assert.match(missing!.message!, /sms-job-ffffffff does not exist/);
      assert.deepEqual([unknownRuns!.error, unknownRuns!.status], ['InvalidParameterException', 400]);
      assert.deepEqual([badToken!.error, badToken!.status], ['InvalidParameterException', 400]);

      // The connector sees the on-demand run first, and boto3 sees it run.
      const [claimed] = await connector.claim();
      assert.equal(claimed?.replicationRunId, runId);
      await connector.progress(runId, 'Snapshotting', '10%');
      const [active] = await boto3([{ op: 'get_replication_runs', args: { replicationJobId: jobId, maxResults: 1 } }]);
      assert.equal(active!.ok.replicationRunList[0].state, 'ACTIVE');
      assert.deepEqual(active!.ok.replicationRunList[0].stageDetails, { stage: 'Snapshotting', stageProgress: '10%' });
      assert.equal(typeof active!.ok.nextToken, 'string');
    } finally {
      await t.close();
      rmSync(home, { recursive: true, force: true });
    }
  });
});
