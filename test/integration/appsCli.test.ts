/**
 * The App operations from the AWS CLI v2 (/usr/bin/aws, its own signing, JSON parsing and ListApps paginator), and
 * Ferry's own commands around them: `ferry key-pairs` (the ec2KeyName store) and `ferry apps catalog` (what
 * ImportAppCatalog imports), run against the data dir of a running Ferry.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AWS_CLI, awsCliAvailable, awsEnv, ferryCli, run } from '../helpers/process.ts';
import { ferryWithServers, type CatalogFerry } from '../helpers/apps.ts';

const SKIP_AWS = awsCliAvailable() ? false : `skipped: ${AWS_CLI} (AWS CLI v2) is not installed; install Debian's awscli package (CI does, see .ci/run)`;

let f: CatalogFerry;
let home: string;
before(async () => {
  f = await ferryWithServers(4);
  home = mkdtempSync(join(tmpdir(), 'ferry-apps-cli-'));
});
after(async () => {
  await f.t.close();
  rmSync(home, { recursive: true, force: true });
});

async function aws(...args: string[]): Promise<{ code: number | null; json: Record<string, any>; stderr: string }> {
  const result = await run(AWS_CLI, ['--endpoint-url', f.t.ferry.url, '--region', 'us-east-1', '--output', 'json', 'sms', ...args], { env: awsEnv(f.t.ferry.root, home) });
  return { code: result.code, json: result.code === 0 && result.stdout.trim() ? (JSON.parse(result.stdout) as Record<string, any>) : {}, stderr: result.stderr };
}
async function ok(...args: string[]): Promise<Record<string, any>> {
  const result = await aws(...args);
  assert.equal(result.code, 0, `aws sms ${args.join(' ')}: ${result.stderr}`);
  return result.json;
}

describe('AWS CLI v2', { skip: SKIP_AWS }, () => {
  test('create-app … replication … launch and validation configuration … delete-app', async () => {
    const created = await ok('create-app', '--name', 'cli-shop', '--client-token', 'cli-1', '--role-name', 'sms', '--server-groups', JSON.stringify([{ name: 'db', serverList: [{ serverId: f.servers[0] }] }, { name: 'web', serverList: [{ serverId: f.servers[1] }] }]), '--tags', 'key=team,value=web');
    const appId = created.appSummary.appId as string;
    assert.match(appId, /^app-[0-9a-f]{17}$/);
    assert.match(String(created.appSummary.creationTime), /^\d{4}-\d\d-\d\dT/);
    assert.equal((await ok('create-app', '--name', 'cli-shop', '--client-token', 'cli-1', '--role-name', 'sms', '--server-groups', JSON.stringify([{ name: 'db', serverList: [{ serverId: f.servers[0] }] }, { name: 'web', serverList: [{ serverId: f.servers[1] }] }]), '--tags', 'key=team,value=web')).appSummary.appId, appId, 'idempotent');
    const [db, web] = created.serverGroups as { serverGroupId: string }[];

    await ok('put-app-replication-configuration', '--app-id', appId, '--server-group-replication-configurations', JSON.stringify([
      { serverGroupId: db!.serverGroupId, serverReplicationConfigurations: [{ server: { serverId: f.servers[0] }, serverReplicationParameters: { runOnce: true, seedTime: Math.floor(Date.now() / 1000) - 5 } }] },
      { serverGroupId: web!.serverGroupId, serverReplicationConfigurations: [{ server: { serverId: f.servers[1] }, serverReplicationParameters: { frequency: 12, licenseType: 'BYOL' } }] },
    ]));
    const config = await ok('get-app-replication-configuration', '--app-id', appId);
    assert.equal(config.serverGroupReplicationConfigurations[1].serverReplicationConfigurations[0].serverReplicationParameters.licenseType, 'BYOL');
    await ok('start-app-replication', '--app-id', appId);
    assert.equal((await ok('get-app', '--app-id', appId)).appSummary.replicationStatus, 'REPLICATION_PENDING');
    for (let done = 0; done < 2; ) for (const run of await f.connector.claim(2)) done += (await f.connector.completeWithImage(run.replicationRunId)) ? 1 : 0;
    const replicated = await ok('get-app', '--app-id', appId);
    assert.equal(replicated.appSummary.replicationStatus, 'REPLICATED');

    await ok('put-app-launch-configuration', '--app-id', appId, '--role-name', 'cfn', '--no-auto-launch', '--server-group-launch-configurations', JSON.stringify([
      { serverGroupId: db!.serverGroupId, launchOrder: 1, serverLaunchConfigurations: [{ server: { serverId: f.servers[0] }, instanceType: 'm5.large' }] },
      { serverGroupId: web!.serverGroupId, launchOrder: 2, serverLaunchConfigurations: [{ server: { serverId: f.servers[1] }, instanceType: 't3.small', associatePublicIpAddress: true }] },
    ]));
    const launchConfig = await ok('get-app-launch-configuration', '--app-id', appId);
    assert.deepEqual(launchConfig.serverGroupLaunchConfigurations.map((g: { launchOrder: number }) => g.launchOrder), [1, 2]);
    assert.equal((await ok('get-app', '--app-id', appId)).appSummary.launchStatus, 'READY_FOR_LAUNCH');

    await ok('put-app-validation-configuration', '--app-id', appId, '--app-validation-configurations', JSON.stringify([{ validationId: 'val-0000000000000cafe', name: 'smoke', appValidationStrategy: 'SSM', ssmValidationParameters: { command: 'curl -fs http://web/', scriptType: 'SHELL_SCRIPT', executionTimeoutSeconds: 60 } }]));
    await ok('notify-app-validation-output', '--app-id', appId, '--notification-context', 'validationId=val-0000000000000cafe,status=SUCCEEDED,statusMessage=200 OK');
    const output = await ok('get-app-validation-output', '--app-id', appId);
    assert.deepEqual([output.validationOutputList[0].status, output.validationOutputList[0].statusMessage], ['SUCCEEDED', '200 OK']);

    const listed = await ok('list-apps');
    assert.deepEqual(listed.apps.map((a: { appId: string }) => a.appId), [appId]);
    await ok('update-app', '--app-id', appId, '--description', 'from the CLI');

    const missing = await aws('get-app', '--app-id', 'app-00000000000000000');
    assert.equal(missing.code, 254);
    assert.match(missing.stderr, /InvalidParameterException.*does not exist/);
    const launch = await aws('launch-app', '--app-id', appId);
    assert.equal(launch.code, 254);
    // This Ferry's launch URI reaches no libvirt daemon (test/helpers/ferry.ts): the one-line reason comes back.
    assert.match(launch.stderr, /OperationNotPermittedException.*LaunchApp is not possible: libvirt at qemu\+unix:\/\/\/system\?socket=\S+ does not answer/);
    const badPattern = await aws('get-app-validation-output', '--app-id', 'app-1');
    assert.equal(badPattern.code, 254);
    assert.match(badPattern.stderr, /InvalidParameterException/);

    await ok('stop-app-replication', '--app-id', appId);
    await ok('delete-app', '--app-id', appId, '--force-stop-app-replication', '--force-terminate-app');
    assert.deepEqual((await ok('list-apps')).apps, []);
  });
});

describe('ferry key-pairs', () => {
  test('import, list, delete; a bad key or a taken name is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-keys-'));
    try {
      execFileSync('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ops', '-f', join(dir, 'ops')]);
      const fingerprint = execFileSync('/usr/bin/ssh-keygen', ['-l', '-E', 'sha256', '-f', join(dir, 'ops.pub')], { encoding: 'utf8' }).split(' ')[1];
      const dataDir = ['--data-dir', f.t.dataDir];
      const imported = await ferryCli(['key-pairs', 'import', 'ops', '--public-key-file', join(dir, 'ops.pub'), ...dataDir]);
      assert.equal(imported, `Key pair ops (ed25519) ${fingerprint}\n`);
      const listed = JSON.parse(await ferryCli(['key-pairs', 'list', '--json', ...dataDir])) as { keyName: string; keyFingerprint: string }[];
      assert.deepEqual(listed.map((k) => [k.keyName, k.keyFingerprint]), [['ops', fingerprint]]);
      await assert.rejects(ferryCli(['key-pairs', 'import', 'ops', '--public-key-file', join(dir, 'ops.pub'), ...dataDir]), /already exists/);
      await assert.rejects(ferryCli(['key-pairs', 'import', 'private', '--public-key-file', join(dir, 'ops'), ...dataDir]), /Not a usable OpenSSH public key/);
      assert.equal(readFileSync(join(dir, 'ops'), 'utf8').includes('PRIVATE KEY'), true);
      // Another account does not see it.
      await ferryCli(['accounts', 'create', 'carol', ...dataDir]);
      assert.deepEqual(JSON.parse(await ferryCli(['key-pairs', 'list', '--json', '--account', 'carol', ...dataDir])), []);
      assert.equal(await ferryCli(['key-pairs', 'delete', 'ops', ...dataDir]), 'Deleted key pair ops\n');
      await assert.rejects(ferryCli(['key-pairs', 'delete', 'ops', ...dataDir]), /No key pair ops/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('ferry apps catalog', () => {
  test('load, then ImportAppCatalog imports it; list shows what the import did', async () => {
    const file = join(home, 'catalog.json');
    writeFileSync(file, JSON.stringify({ applications: [{ id: 'mh-crm', name: 'crm', description: 'CRM', servers: ['vm-2', f.servers[3], 'vm-404'] }] }));
    const dataDir = ['--data-dir', f.t.dataDir];
    assert.match(await ferryCli(['apps', 'catalog', 'load', file, ...dataDir]), /Loaded 1 application/);
    writeFileSync(join(home, 'bad.json'), JSON.stringify({ applications: [{ id: 'x' }] }));
    await assert.rejects(ferryCli(['apps', 'catalog', 'load', join(home, 'bad.json'), ...dataDir]), /applications\[0\]\.name/);
    const { ImportAppCatalogCommand, ListAppsCommand } = await import('@aws-sdk/client-sms');
    await f.t.sms.send(new ImportAppCatalogCommand({}));
    const apps = (await f.t.sms.send(new ListAppsCommand({}))).apps!;
    const crm = apps.find((a) => a.importedAppId === 'mh-crm')!;
    assert.equal(crm.totalServers, 2);
    const entries = JSON.parse(await ferryCli(['apps', 'catalog', 'list', '--json', ...dataDir])) as { id: string; importResult: string }[];
    assert.match(entries[0]!.importResult, new RegExp(`imported as ${crm.appId} with 2 server\\(s\\); skipped vm-404 \\(not in the server catalog\\)`));
  });
});
