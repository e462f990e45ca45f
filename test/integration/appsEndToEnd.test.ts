/**
 * Issue 9's end-to-end check, driven by the AWS CLI v2 (/usr/bin/aws) alone, on real libvirt (qemu:///system,
 * software emulation here): an app of the three bootable sample servers (KVM, VMware, Hyper-V) in two launch groups →
 * replication → REPLICATED → user data, configure scripts and validation scripts uploaded with `aws s3 cp` → launch
 * and validation configuration → LaunchApp → LAUNCHED, every boot check, USERDATA validation (run after the user
 * data and the configure script) and SSM validation SUCCEEDED, group 2 launched only after group 1 booted →
 * GenerateTemplate and GenerateChangeSet (downloaded with `aws s3 cp`; both accepted by moto_server when it is
 * installed) → TerminateApp → TERMINATED, no domain left. Then what goes wrong: a server cannot join two apps, an SSM
 * validation on a guest without an agent is FAILED saying so, a failing validation script shows FAILED with its
 * message, and a guest that never boots fails the launch after its timeout (PARTIALLY_LAUNCHED, naming the server)
 * while the next launch group never starts.
 *
 * The test reads instance timestamps through Ferry's own ListInstances (the SMS API has none) and `virsh list --all`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { AWS_CLI, awsCliAvailable, awsEnv, FERRY_CLI, ferryCli, NODE, run } from '../helpers/process.ts';
import { waitFor } from '../helpers/replication.ts';
import { bootableDatastore, bootableVm, launchSkipReason, realLaunch, removeLaunchedDomains, virshListAll } from '../helpers/launch.ts';
import { motoAvailable, startMoto, stackStatus, type Moto } from '../helpers/moto.ts';
import { buildKvmVm } from '../../src/agent/sample/vmBuilders.ts';
import { FerryClient } from '../../src/client/ferryClient.ts';
import type { CfnTemplate } from '../../src/domain/appTemplate.ts';
import type { ChangeSetDocument } from '../../src/domain/appChangeSet.ts';

const MiB = 1024 * 1024;
const SKIP = launchSkipReason() ?? (awsCliAvailable() ? false : `${AWS_CLI} (AWS CLI v2) is not installed`);
const KVM = bootableVm('kvm').folder;
const VMWARE = bootableVm('vmware').folder;
const HYPERV = bootableVm('hyperv').folder;
const NOBOOT = 'noboot01';

type Json = Record<string, any>;

/** One Ferry (in process, real libvirt), the CLI pointed at it, and the app's servers by folder. */
class Cli {
  readonly servers = new Map<string, string>();
  readonly t: TestFerry;
  readonly home: string;
  constructor(t: TestFerry, home: string) {
    this.t = t;
    this.home = home;
  }

  async raw(...args: string[]) {
    return run(AWS_CLI, ['--endpoint-url', this.t.ferry.url, '--region', 'us-east-1', '--output', 'json', ...args], { env: awsEnv(this.t.ferry.root, this.home), timeoutMs: 120_000 });
  }
  async ok(...args: string[]): Promise<Json> {
    const result = await this.raw(...args);
    assert.equal(result.code, 0, `aws ${args.join(' ')}: ${result.stderr}`);
    return result.stdout.trim() ? (JSON.parse(result.stdout) as Json) : {};
  }
  /** `aws s3 mb s3://bucket` (its output is a line of text). */
  async makeBucket(bucket: string): Promise<void> {
    const result = await this.raw('s3', 'mb', `s3://${bucket}`);
    assert.equal(result.code, 0, result.stderr);
  }
  async fails(code: string, message: RegExp, ...args: string[]): Promise<void> {
    const result = await this.raw(...args);
    assert.equal(result.code, 254, `aws ${args.join(' ')} should fail with ${code}: ${result.stdout}`);
    assert.match(result.stderr, new RegExp(`\\(${code}\\)`));
    assert.match(result.stderr, message);
  }
  /** `aws s3 cp` of a local file (written from `body`) to s3://bucket/key. */
  async upload(bucket: string, key: string, body: string): Promise<void> {
    const file = join(this.home, key.replace(/\//g, '_'));
    await writeFile(file, body);
    const result = await this.raw('s3', 'cp', file, `s3://${bucket}/${key}`);
    assert.equal(result.code, 0, result.stderr);
  }
  /** `aws s3 cp` of s3://bucket/key to a local file; returns its text. */
  async download(location: { bucket: string; key: string }): Promise<string> {
    const file = join(this.home, `download-${Date.now()}`);
    const result = await this.raw('s3', 'cp', `s3://${location.bucket}/${location.key}`, file);
    assert.equal(result.code, 0, result.stderr);
    return readFile(file, 'utf8');
  }
  app(appId: string): Promise<Json> {
    return this.ok('sms', 'get-app', '--app-id', appId);
  }
  async waitApp(appId: string, what: string, until: (summary: Json) => boolean, timeoutMs: number): Promise<Json> {
    let last: Json = {};
    return waitFor(`${what} (last: ${JSON.stringify(last)})`, async () => {
      last = (await this.app(appId)).appSummary;
      if (/FAILED$/.test(last.launchStatus) && !until(last)) throw new Error(`app ${appId} is ${last.launchStatus}: ${last.launchStatusMessage}`);
      return until(last) ? last : undefined;
    }, { timeoutMs, intervalMs: 1000 });
  }
  async outputs(appId: string): Promise<Json[]> {
    return (await this.ok('sms', 'get-app-validation-output', '--app-id', appId)).validationOutputList as Json[];
  }

  /** Imports the catalog and replicates `folders` as an app's servers would be (create-app, configure, start). */
  async importCatalog(folders: string[]): Promise<void> {
    await this.ok('sms', 'import-server-catalog');
    await waitFor('the catalog', async () => {
      const list = (await this.ok('sms', 'get-servers')).serverList as Json[];
      for (const folder of folders) {
        const server = list.find((s) => String(s.vmServer?.vmPath ?? '').endsWith(`/${folder}`));
        if (server) this.servers.set(folder, server.serverId);
      }
      return folders.every((f) => this.servers.has(f)) ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 1000 });
  }

  async replicate(appId: string, groups: { serverGroupId: string; serverList: { serverId: string }[] }[]): Promise<void> {
    await this.ok('sms', 'put-app-replication-configuration', '--app-id', appId, '--server-group-replication-configurations', JSON.stringify(groups.map((g) => ({
      serverGroupId: g.serverGroupId,
      serverReplicationConfigurations: g.serverList.map((s) => ({ server: { serverId: s.serverId }, serverReplicationParameters: { runOnce: true, seedTime: Math.floor(Date.now() / 1000) - 5 } })),
    }))));
    await this.ok('sms', 'start-app-replication', '--app-id', appId);
    await this.waitApp(appId, 'REPLICATED', (s) => s.replicationStatus === 'REPLICATED', 180_000);
  }

  instances(appId: string) {
    return new FerryClient({ endpoint: this.t.ferry.url, region: 'us-east-1', credentials: this.t.ferry.root }).listInstances(appId);
  }
}

/** A webhook receiver on 127.0.0.1 that accepts and keeps every event body. */
async function webhookReceiver(): Promise<{ url: string; events: { 'detail-type': string; detail: Record<string, string | null> }[]; close(): Promise<void> }> {
  const events: { 'detail-type': string; detail: Record<string, string | null> }[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      events.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hooks`, events, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

const USER_DATA = '#!/bin/sh\necho "user-data $(hostname)" > /run/e2e-order\n';
const CONFIGURE = '#!/bin/sh\necho "configure $(hostname)" >> /run/e2e-order\n';
const CHECK = '#!/bin/sh\ncat /run/e2e-order\ngrep -q "^configure" /run/e2e-order\n';

describe('the migration loop, end to end, with the AWS CLI alone', { skip: SKIP }, () => {
  let datastore: { dir: string; cleanup: () => Promise<void> };
  let home: string;
  let moto: Promise<Moto | undefined>;

  before(async () => {
    moto = motoAvailable() ? startMoto() : Promise.resolve(undefined);
    moto.catch(() => undefined);
    datastore = await bootableDatastore(['kvm', 'vmware', 'hyperv']);
    // A disk with no boot sector: SeaBIOS finds nothing to boot, so the guest never signals a boot.
    await buildKvmVm(join(datastore.dir, NOBOOT), { name: NOBOOT, disks: [{ format: 'qcow2', sizeBytes: 8 * MiB, content: { type: 'pattern', seed: NOBOOT, regions: [{ offset: MiB, length: 64 * 1024 }] } }] });
    home = await mkdtemp(join(tmpdir(), 'ferry-e2e-'));
  });
  after(async () => {
    await (await moto.catch(() => undefined))?.stop();
    await datastore?.cleanup();
    if (home) await rm(home, { recursive: true, force: true });
  });

  test('three sample servers, two launch groups: replicated, launched in order, validated, templated, terminated', async (tt) => {
    const launch = await realLaunch({ bootTimeoutMs: 300_000 });
    const hooks = await webhookReceiver();
    const t = await startTestFerry({ datastore: datastore.dir, connectorPollMs: 200, launch: launch.launch, webhookUrls: [hooks.url] });
    const cli = new Cli(t, home);
    try {
      await cli.importCatalog([KVM, VMWARE, HYPERV]);
      const [kvm, vmware, hyperv] = [cli.servers.get(KVM)!, cli.servers.get(VMWARE)!, cli.servers.get(HYPERV)!];
      const created = await cli.ok('sms', 'create-app', '--name', 'shop', '--client-token', 'shop-1', '--server-groups', JSON.stringify([
        { name: 'db', serverList: [{ serverId: kvm }] },
        { name: 'web', serverList: [{ serverId: vmware }, { serverId: hyperv }] },
      ]));
      const appId = created.appSummary.appId as string;
      const [db, web] = created.serverGroups as { serverGroupId: string; serverList: { serverId: string }[] }[];
      await cli.fails('InvalidParameterException', new RegExp(`Server ${kvm} already belongs to app ${appId}`), 'sms', 'create-app', '--name', 'other', '--server-groups', JSON.stringify([{ name: 'g', serverList: [{ serverId: kvm }] }]));

      await cli.replicate(appId, [db!, web!]);

      await cli.makeBucket('sms-app-shop-scripts');
      await cli.upload('sms-app-shop-scripts', 'user-data.sh', USER_DATA);
      await cli.upload('sms-app-shop-scripts', 'configure.sh', CONFIGURE);
      await cli.upload('sms-app-shop-scripts', 'check.sh', CHECK);
      await rm(join(home, 'ops'), { force: true });
      await rm(join(home, 'ops.pub'), { force: true });
      execFileSync('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ops@e2e', '-f', join(home, 'ops')]);
      await ferryCli(['key-pairs', 'import', 'ops', '--public-key-file', join(home, 'ops.pub'), '--data-dir', t.dataDir]);
      const scripts = (key: string) => ({ bucket: 'sms-app-shop-scripts', key });
      const server = (serverId: string, instanceType: string, extra: Json = {}) => ({
        server: { serverId },
        instanceType,
        userData: { s3Location: scripts('user-data.sh') },
        configureScript: scripts('configure.sh'),
        configureScriptType: 'SHELL_SCRIPT',
        ...extra,
      });
      const launchConfig = (dbType: string) => JSON.stringify([
        { serverGroupId: db!.serverGroupId, launchOrder: 1, serverLaunchConfigurations: [server(kvm, dbType, { logicalId: 'Database', ec2KeyName: 'ops' })] },
        { serverGroupId: web!.serverGroupId, launchOrder: 2, serverLaunchConfigurations: [server(vmware, 't2.nano', { logicalId: 'Web' }), server(hyperv, 't2.nano', { logicalId: 'Api' })] },
      ]);
      await cli.ok('sms', 'put-app-launch-configuration', '--app-id', appId, '--role-name', 'sms-launch', '--server-group-launch-configurations', launchConfig('t2.nano'));
      const userdataValidations = [[db!, kvm, 'val-00000000000000e21'], [web!, vmware, 'val-00000000000000e22'], [web!, hyperv, 'val-00000000000000e23']] as const;
      const serverValidations = JSON.stringify(userdataValidations.map(([group, serverId, validationId]) => ({
        serverGroupId: group.serverGroupId,
        serverValidationConfigurations: [{ server: { serverId }, validationId, name: 'configured', serverValidationStrategy: 'USERDATA', userDataValidationParameters: { source: { s3Location: scripts('check.sh') }, scriptType: 'SHELL_SCRIPT' } }],
      })));
      const ssm = { validationId: 'val-00000000000000e31', name: 'app-check', appValidationStrategy: 'SSM', ssmValidationParameters: { command: 'cat /run/e2e-order && test -s /root/.ssh/authorized_keys && echo key-installed', scriptType: 'SHELL_SCRIPT', executionTimeoutSeconds: 60, outputS3BucketName: 'sms-app-shop-validation' } };
      await cli.ok('sms', 'put-app-validation-configuration', '--app-id', appId, '--app-validation-configurations', JSON.stringify([ssm]), '--server-group-validation-configurations', serverValidations);
      assert.equal((await cli.app(appId)).appSummary.launchStatus, 'READY_FOR_LAUNCH');

      // Launch, followed by `ferry apps watch` (piped: a line per change) until nothing is under way.
      await cli.ok('sms', 'launch-app', '--app-id', appId);
      const watch = run(NODE, [FERRY_CLI, 'apps', 'watch', appId, '--endpoint', t.ferry.url, '--data-dir', t.dataDir, '--interval', '0.5'], { env: { ...process.env, FERRY_LOG_LEVEL: 'warn' }, timeoutMs: 900_000 });
      const launched = await cli.waitApp(appId, 'LAUNCHED', (s) => s.launchStatus === 'LAUNCHED', 600_000);
      assert.match(launched.launchDetails.stackName, /^sms-app-[0-9a-f]{17}$/);
      const instances = (await cli.instances(appId)).instances;
      assert.equal(instances.length, 3);
      const of = (serverId: string) => instances.find((i) => i.serverId === serverId)!;
      for (const i of instances) assert.equal(i.state, 'running', `${i.serverId}: ${i.stateMessage}`);
      const dbBooted = of(kvm).bootedAt!;
      for (const serverId of [vmware, hyperv]) assert.ok(of(serverId).launchedAt >= dbBooted, `group 2 (${serverId}) launched ${of(serverId).launchedAt} before group 1 booted at ${dbBooted}`);
      const took = (i: { launchedAt: number; bootedAt?: number }) => `${(i.bootedAt! - i.launchedAt).toFixed(1)} s`;
      tt.diagnostic(`launch → booted: db ${took(of(kvm))}; web ${took(of(vmware))}, ${took(of(hyperv))}`);

      // Validations: USERDATA after the user data and the configure script; SSM through the KVM guest's agent.
      const outputs = await waitFor('every validation to finish', async () => {
        const list = await cli.outputs(appId);
        return list.every((o) => o.status === 'SUCCEEDED' || o.status === 'FAILED') ? list : undefined;
      }, { timeoutMs: 300_000, intervalMs: 2000 });
      for (const [, serverId, validationId] of userdataValidations) {
        const output = outputs.find((o) => o.validationId === validationId)!;
        const instanceId = of(serverId).instanceId;
        assert.deepEqual([output.status, output.statusMessage], ['SUCCEEDED', `user-data ${instanceId}\nconfigure ${instanceId}`]);
        assert.equal(output.serverValidationOutput.server.serverId, serverId);
      }
      const watched = await watch;
      assert.equal(watched.code, 0, watched.stderr);
      for (const i of instances) {
        assert.match(watched.stdout, new RegExp(`^\\d\\d:\\d\\d:\\d\\d ${i.serverId} .*instance ${i.instanceId} running \\(booted in [\\d.]+ s\\)`, 'm'));
        assert.match(watched.stdout, new RegExp(`instance ${i.instanceId} running .*hydrated in [\\d.]+ s: independent of the image store`));
      }
      assert.match(watched.stdout, /launch LAUNCHED/);
      assert.match(watched.stdout, /validation app-check \(app\): SUCCEEDED/);
      assert.match(watched.stdout, /Nothing is under way for app-[0-9a-f]{17}: replication REPLICATED, launch LAUNCHED\.\n$/);
      tt.diagnostic(`ferry apps watch printed ${watched.stdout.split('\n').length - 1} lines`);
      const ssmOutput = outputs.find((o) => o.validationId === ssm.validationId)!;
      assert.equal(ssmOutput.status, 'SUCCEEDED', ssmOutput.statusMessage);
      assert.equal(ssmOutput.statusMessage, `user-data ${of(kvm).instanceId}\nconfigure ${of(kvm).instanceId}\nkey-installed`);
      const ssmText = await cli.download(ssmOutput.appValidationOutput.ssmOutput.s3Location);
      assert.match(ssmText, new RegExp(`^instance: ${of(kvm).instanceId}$[\\s\\S]*^exit status: 0$[\\s\\S]*^key-installed$`, 'm'));

      // SSM on demand: putting the configuration again runs the app-level validations again; a guest without an agent fails saying so.
      const noAgent = { ...ssm, validationId: 'val-00000000000000e32', name: 'no-agent', ssmValidationParameters: { command: 'true', scriptType: 'SHELL_SCRIPT', instanceId: of(vmware).instanceId } };
      await cli.ok('sms', 'put-app-validation-configuration', '--app-id', appId, '--app-validation-configurations', JSON.stringify([ssm, noAgent]), '--server-group-validation-configurations', serverValidations);
      const again = await waitFor('the SSM validations to run again', async () => {
        const list = await cli.outputs(appId);
        const done = list.filter((o) => o.validationId.startsWith('val-00000000000000e3') && (o.status === 'SUCCEEDED' || o.status === 'FAILED'));
        return done.length === 2 && new Date(list.find((o) => o.validationId === ssm.validationId)!.latestValidationTime) > new Date(ssmOutput.latestValidationTime) ? list : undefined;
      }, { timeoutMs: 120_000, intervalMs: 1000 });
      const failed = again.find((o) => o.validationId === noAgent.validationId)!;
      assert.equal(failed.status, 'FAILED');
      assert.match(failed.statusMessage, new RegExp(`Instance ${of(vmware).instanceId} has no QEMU guest agent answering`));
      assert.equal(again.find((o) => o.validationId === ssm.validationId)!.status, 'SUCCEEDED');
      assert.equal(again.filter((o) => o.status === 'SUCCEEDED').length, 4, 'the USERDATA results are kept');

      // Metrics of the launched app and its instances.
      const metrics = await (await fetch(`${t.ferry.url}/metrics`)).text();
      for (const line of ['ferry_instances{state="running"} 3', 'ferry_apps_by_launch_status{status="LAUNCHED"} 1', 'ferry_instances_by_hydration{hydration="hydrated"} 3', 'ferry_instance_boot_seconds_count 3', 'ferry_instance_hydration_seconds_count 3', 'ferry_app_status_changes_total{kind="launch",status="LAUNCHED"} 1']) {
        assert.ok(metrics.split('\n').includes(line), `${line} in /metrics`);
      }

      // Templates: downloaded with aws s3 cp.
      const templateAt = (await cli.ok('sms', 'generate-template', '--app-id', appId, '--template-format', 'YAML')).s3Location;
      const template = parseYaml(await cli.download(templateAt)) as CfnTemplate;
      assert.deepEqual(Object.keys(template.Resources), ['Database', 'Web', 'Api']);
      assert.deepEqual(template.Resources.Web!.DependsOn, ['Database']);
      assert.equal(template.Resources.Database!.Properties.KeyName, 'ops');
      const launchedTemplate = await cli.download((await cli.ok('sms', 'generate-template', '--app-id', appId, '--template-format', 'JSON')).s3Location);
      await cli.ok('sms', 'put-app-launch-configuration', '--app-id', appId, '--server-group-launch-configurations', launchConfig('t3.micro'));
      const changeSet = JSON.parse(await cli.download((await cli.ok('sms', 'generate-change-set', '--app-id', appId)).s3Location)) as ChangeSetDocument;
      assert.equal(changeSet.StackName, launched.launchDetails.stackName);
      assert.deepEqual(changeSet.Changes.map((c) => [c.ResourceChange.Action, c.ResourceChange.LogicalResourceId, c.ResourceChange.PhysicalResourceId]), [['Modify', 'Database', of(kvm).instanceId]]);
      const cfn = await moto;
      if (cfn) {
        await cfn.aws('ec2', 'import-key-pair', '--key-name', 'ops', '--public-key-material', `fileb://${join(home, 'ops.pub')}`);
        await writeFile(join(home, 'launched.json'), launchedTemplate);
        await writeFile(join(home, 'changeset.json'), JSON.stringify(changeSet.TemplateBody));
        await cfn.aws('cloudformation', 'create-stack', '--stack-name', 'sms-app-e2e', '--template-body', `file://${join(home, 'launched.json')}`);
        assert.equal((await stackStatus(cfn, 'sms-app-e2e')).StackStatus, 'CREATE_COMPLETE');
        await cfn.aws('cloudformation', 'create-change-set', '--stack-name', 'sms-app-e2e', '--change-set-name', 'ferry', '--template-body', `file://${join(home, 'changeset.json')}`);
        await cfn.aws('cloudformation', 'execute-change-set', '--stack-name', 'sms-app-e2e', '--change-set-name', 'ferry');
        assert.match((await stackStatus(cfn, 'sms-app-e2e')).StackStatus, /^(UPDATE|CREATE)_COMPLETE$/);
      } else {
        tt.diagnostic('moto_server is not installed: the templates were not created as stacks');
      }

      // Terminate: nothing left.
      await cli.ok('sms', 'terminate-app', '--app-id', appId);
      await cli.waitApp(appId, 'TERMINATED', (s) => s.launchStatus === 'TERMINATED', 180_000);
      const domains = virshListAll();
      for (const i of instances) assert.ok(!domains.includes(`ferry-${i.instanceId}`), `${i.instanceId} left in virsh list --all`);
      await cli.ok('sms', 'delete-app', '--app-id', appId, '--force-stop-app-replication');
      assert.deepEqual((await cli.ok('sms', 'list-apps')).apps, []);

      // Webhooks: the app's launch statuses and every instance's states and hydration, signed and in order.
      await waitFor('the webhook deliveries', () => (hooks.events.some((e) => e.detail.launchStatus === 'TERMINATED') && hooks.events.filter((e) => e.detail.state === 'terminated').length === 3 ? true : undefined), { timeoutMs: 30_000 });
      const launches = hooks.events.filter((e) => e['detail-type'] === 'Server Migration App State Change' && e.detail.launchStatus !== e.detail.previousLaunchStatus).map((e) => e.detail.launchStatus);
      assert.deepEqual(launches.filter((l) => ['READY_FOR_LAUNCH', 'LAUNCHED', 'TERMINATE_IN_PROGRESS', 'TERMINATED'].includes(l!)), ['READY_FOR_LAUNCH', 'LAUNCHED', 'TERMINATE_IN_PROGRESS', 'TERMINATED']);
      for (const i of instances) {
        const mine = hooks.events.filter((e) => e['detail-type'] === 'Ferry Instance State Change' && e.detail.instanceId === i.instanceId);
        assert.deepEqual([...new Set(mine.map((e) => e.detail.state))], ['pending', 'starting', 'booting', 'running', 'terminating', 'terminated'], i.instanceId);
        assert.ok(mine.some((e) => e.detail.hydration === 'hydrated' && e.detail.previousHydration === 'hydrating'), `${i.instanceId} hydrated`);
      }
    } finally {
      await removeLaunchedDomains(t.ferry.core);
      await t.close();
      await hooks.close();
      await launch.cleanup();
    }
  });

  test('a failing validation shows FAILED with its message; a guest that never boots fails the launch after its timeout, and the next group never starts', async () => {
    const launch = await realLaunch({ bootTimeoutMs: 60_000 });
    const t = await startTestFerry({ datastore: datastore.dir, connectorPollMs: 200, launch: launch.launch });
    const cli = new Cli(t, home);
    try {
      await cli.importCatalog([KVM, NOBOOT, VMWARE]);
      const [kvm, noboot, vmware] = [cli.servers.get(KVM)!, cli.servers.get(NOBOOT)!, cli.servers.get(VMWARE)!];
      const created = await cli.ok('sms', 'create-app', '--name', 'broken', '--server-groups', JSON.stringify([
        { name: 'first', serverList: [{ serverId: kvm }, { serverId: noboot }] },
        { name: 'second', serverList: [{ serverId: vmware }] },
      ]));
      const appId = created.appSummary.appId as string;
      const [first, second] = created.serverGroups as { serverGroupId: string; serverList: { serverId: string }[] }[];
      await cli.replicate(appId, [first!, second!]);
      await cli.makeBucket('sms-app-broken');
      await cli.upload('sms-app-broken', 'check.sh', '#!/bin/sh\necho "nothing listens on :80" >&2\nexit 3\n');
      await cli.ok('sms', 'put-app-launch-configuration', '--app-id', appId, '--server-group-launch-configurations', JSON.stringify([
        { serverGroupId: first!.serverGroupId, launchOrder: 1, serverLaunchConfigurations: [{ server: { serverId: kvm }, instanceType: 't2.nano' }, { server: { serverId: noboot }, instanceType: 't2.nano' }] },
        { serverGroupId: second!.serverGroupId, launchOrder: 2, serverLaunchConfigurations: [{ server: { serverId: vmware }, instanceType: 't2.nano' }] },
      ]));
      await cli.ok('sms', 'put-app-validation-configuration', '--app-id', appId, '--server-group-validation-configurations', JSON.stringify([{
        serverGroupId: first!.serverGroupId,
        serverValidationConfigurations: [{ server: { serverId: kvm }, validationId: 'val-00000000000000bad', name: 'http', serverValidationStrategy: 'USERDATA', userDataValidationParameters: { source: { s3Location: { bucket: 'sms-app-broken', key: 'check.sh' } }, scriptType: 'SHELL_SCRIPT' } }],
      }]));
      const started = Date.now();
      await cli.ok('sms', 'launch-app', '--app-id', appId);
      const partial = await cli.waitApp(appId, 'PARTIALLY_LAUNCHED', (s) => s.launchStatus === 'PARTIALLY_LAUNCHED', 300_000);
      assert.ok(Date.now() - started >= 60_000, 'failed only after its boot timeout');
      assert.match(partial.launchStatusMessage, new RegExp(`^1 of 3 instances running; failed: ${noboot}: The guest did not boot within 60 s`));
      const instances = (await cli.instances(appId)).instances;
      assert.deepEqual(instances.map((i) => i.serverId).sort(), [kvm, noboot].sort(), 'the second group never launched');
      const output = await waitFor('the validation result', async () => (await cli.outputs(appId)).find((o) => o.status === 'FAILED'), { timeoutMs: 120_000, intervalMs: 1000 });
      assert.deepEqual([output.validationId, output.statusMessage], ['val-00000000000000bad', 'nothing listens on :80']);

      await cli.ok('sms', 'terminate-app', '--app-id', appId);
      await cli.waitApp(appId, 'TERMINATED', (s) => s.launchStatus === 'TERMINATED', 120_000);
      const domains = virshListAll();
      for (const i of instances) assert.ok(!domains.includes(`ferry-${i.instanceId}`));
    } finally {
      await removeLaunchedDomains(t.ferry.core);
      await t.close();
      await launch.cleanup();
    }
  });
});
