/**
 * `npm run bench:launch`: how fast a replicated application runs again, through the SMS App operations on real
 * libvirt (qemu:///system; software emulation where there is no /dev/kvm). From one run, on the same images:
 *
 *   1. a one-server app of the KVM sample (32 MiB disk);
 *   2. a one-server app of the same guest with 3 GiB of random data added to a 4 GiB disk (built by the bench);
 *   3. a three-server app of the KVM, VMware and Hyper-V samples (one launch group).
 *
 * For each: Ferry's LaunchApp → every USERDATA validation SUCCEEDED (GetAppValidationOutput), → booted, and → every
 * instance independent of the image store (hydrated); next to the baseline by hand — `ferry images export` of each
 * image to qcow2, then `qemu-system-x86_64` booting that file (same machine type, disk bus and memory) to the same
 * boot marker, the servers of an app exported and booted in parallel. Target: LaunchApp → validated ≤ 1.0× export +
 * boot (an instance must boot before a full copy would have finished). The page cache is dropped before each timed
 * step, and the machine's idle share is sampled during each. For the first app the steps of the launch path are
 * timed too. Needs root and a running libvirt. It reports and exits 0; a missed target is marked MISS.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CreateAppCommand,
  DeleteAppCommand,
  GetAppCommand,
  GetAppValidationOutputCommand,
  GetReplicationJobsCommand,
  LaunchAppCommand,
  PutAppLaunchConfigurationCommand,
  PutAppReplicationConfigurationCommand,
  PutAppValidationConfigurationCommand,
  StartAppReplicationCommand,
  TerminateAppCommand,
  type SMSClient,
} from '@aws-sdk/client-sms';
import { startTestFerry, type TestFerry } from '../test/helpers/ferry.ts';
import { putArtifact } from '../test/helpers/apps.ts';
import { bootableDatastore, bootableVm, launchSkipReason, realLaunch, removeLaunchedDomains } from '../test/helpers/launch.ts';
import { importCatalog, waitFor } from '../test/helpers/replication.ts';
import { bootByHand, buildLargeBootable, exportByHand, sampleIdle, timed, waitValidated } from './launchSupport.ts';

const BIG = 'boot-big01';
const MEMORY_MIB = 512; // t2.nano
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const percent = (share: number) => `${Math.round(share * 100)} %`;

async function dropCaches(): Promise<void> {
  await writeFile('/proc/sys/vm/drop_caches', '3').catch(() => undefined);
}

interface Scenario {
  label: string;
  folders: string[];
}

interface Result {
  label: string;
  byHand: { exportMs: number; bootMs: number; exportIdle: number; bootIdle: number };
  ferry: { validatedMs: number; bootedMs: number; hydratedMs: number; idle: number; hydrationIdle: number };
  steps?: [string, number][];
}

async function waitApp(sms: SMSClient, appId: string, until: (s: Record<string, any>) => boolean, timeoutMs = 900_000): Promise<Record<string, any>> {
  return waitFor(`app ${appId}`, async () => {
    const s = (await sms.send(new GetAppCommand({ appId }))).appSummary as Record<string, any>;
    if (/FAILED$/.test(s.launchStatus ?? '') || /FAILED$/.test(s.replicationStatus ?? '')) throw new Error(`app ${appId}: ${s.launchStatus} ${s.launchStatusMessage ?? s.replicationStatusMessage}`);
    return until(s) ? s : undefined;
  }, { timeoutMs, intervalMs: 100 });
}

async function measure(t: TestFerry, servers: Map<string, string>, scenario: Scenario, work: string): Promise<Result> {
  const sms = t.sms;
  const tenant = { accountId: t.ferry.root.accountId, region: 'us-east-1' };
  const ids = scenario.folders.map((f) => servers.get(f)!);
  const created = await sms.send(new CreateAppCommand({ name: scenario.label.replace(/\W+/g, '-'), serverGroups: [{ name: 'all', serverList: ids.map((serverId) => ({ serverId })) }] }));
  const appId = created.appSummary!.appId!;
  const groupId = created.serverGroups![0]!.serverGroupId!;
  await sms.send(new PutAppReplicationConfigurationCommand({
    appId,
    serverGroupReplicationConfigurations: [{ serverGroupId: groupId, serverReplicationConfigurations: ids.map((serverId) => ({ server: { serverId }, serverReplicationParameters: { runOnce: true, seedTime: new Date(Date.now() - 1000) } })) }],
  }));
  await sms.send(new StartAppReplicationCommand({ appId }));
  await waitApp(sms, appId, (s) => s.replicationStatus === 'REPLICATED');
  await sms.send(new PutAppLaunchConfigurationCommand({ appId, serverGroupLaunchConfigurations: [{ serverGroupId: groupId, launchOrder: 1, serverLaunchConfigurations: ids.map((serverId) => ({ server: { serverId }, instanceType: 't2.nano' })) }] }));
  await sms.send(new PutAppValidationConfigurationCommand({
    appId,
    serverGroupValidationConfigurations: [{
      serverGroupId: groupId,
      serverValidationConfigurations: ids.map((serverId, i) => ({ server: { serverId }, name: `up-${i}`, serverValidationStrategy: 'USERDATA', userDataValidationParameters: { source: { s3Location: { bucket: 'sms-app-bench', key: 'up.sh' } }, scriptType: 'SHELL_SCRIPT' } })),
    }],
  }));

  // By hand: export every image (in parallel), then boot every file (in parallel) to the marker.
  const groupOf = (f: string) => (bootableVm('kvm').folder === f || f === BIG ? 'virtio' : 'sata') as 'virtio' | 'sata';
  const amis = await Promise.all(
    (await sms.send(new GetAppCommand({ appId }))).serverGroups![0]!.serverList!.map(async (s) => (await sms.send(new GetReplicationJobsCommand({ replicationJobId: s.replicationJobId! }))).replicationJobList![0]!.latestAmiId!),
  );
  const files = scenario.folders.map((f) => join(work, `${f}.qcow2`));
  await dropCaches();
  const exported = await timed(() => Promise.all(amis.map((ami, i) => exportByHand(t.dataDir, ami, files[i]!))));
  await dropCaches();
  const booted = await timed(() => Promise.all(scenario.folders.map((f, i) => bootByHand(files[i]!, groupOf(f), MEMORY_MIB, join(work, `${f}.log`)))));
  for (const file of files) await rm(file, { force: true });

  // Ferry: LaunchApp → validated → hydrated, with the launch path's steps from the events.
  const marks = new Map<string, number>();
  const mark = (name: string, at = performance.now()) => {
    if (!marks.has(name)) marks.set(name, at);
  };
  const unsubscribe = t.ferry.core.events.subscribe((e) => {
    if (e.type === 'instance.state' && e.appId === appId) {
      mark(`instance ${e.state}`);
      if (e.hydration === 'hydrating') mark('hydration started');
    }
  });
  await dropCaches();
  const idle = await sampleIdle();
  const started = performance.now();
  const startedWall = Date.now();
  await sms.send(new LaunchAppCommand({ appId }));
  mark('LaunchApp answered');
  await waitValidated(t.ferry.core.events, async () => (await sms.send(new GetAppValidationOutputCommand({ appId }))).validationOutputList ?? [], appId, ids.length);
  const validatedAt = performance.now();
  const launchIdle = await idle();
  const instances = await t.ferry.instances.list(tenant, { appId });
  const bootedMs = Math.max(...instances.map((i) => i.bootedAt!)) - startedWall;
  const hydrationIdle = await sampleIdle();
  const hydrated = await waitFor('every instance hydrated', async () => {
    const list = await t.ferry.instances.list(tenant, { appId });
    if (list.some((i) => i.hydration === 'failed')) throw new Error('a hydration failed');
    return list.every((i) => i.hydration === 'hydrated') ? list : undefined;
  }, { timeoutMs: 1_800_000, intervalMs: 100 });
  const hydratedAt = performance.now();
  const independentIdle = await hydrationIdle();
  unsubscribe();
  void hydrated;

  await sms.send(new TerminateAppCommand({ appId }));
  await waitApp(sms, appId, (s) => s.launchStatus === 'TERMINATED');
  await sms.send(new DeleteAppCommand({ appId, forceStopAppReplication: true }));
  mark('validated', validatedAt);
  const steps = [...marks.entries()].sort((a, b) => a[1] - b[1]).map(([name, at]): [string, number] => [name, at - started]);
  return {
    label: scenario.label,
    byHand: { exportMs: exported.ms, bootMs: booted.ms, exportIdle: exported.idle, bootIdle: booted.idle },
    ferry: { validatedMs: validatedAt - started, bootedMs, hydratedMs: hydratedAt - started, idle: launchIdle, hydrationIdle: independentIdle },
    steps,
  };
}

async function main(): Promise<void> {
  const skip = launchSkipReason();
  if (skip) {
    console.log(`bench:launch skipped: ${skip}`);
    return;
  }
  const work = await mkdtemp(join('/tmp', 'ferry-bench-launch-'));
  const datastore = await bootableDatastore(['kvm', 'vmware', 'hyperv']);
  const kvm = bootableVm('kvm').folder;
  const built = await timed(() => buildLargeBootable(join(datastore.dir, kvm, `${kvm}.qcow2`), join(datastore.dir, BIG), BIG, 4, 3));
  console.log(`built ${BIG} (4 GiB disk, 3 GiB of random data) in ${seconds(built.ms)}`);
  const launch = await realLaunch();
  const t = await startTestFerry({ datastore: datastore.dir, connectorPollMs: 200, launch: launch.launch });
  const results: Result[] = [];
  try {
    await putArtifact(t, 'sms-app-bench', 'up.sh', '#!/bin/sh\necho up\n');
    const folders = [kvm, BIG, bootableVm('vmware').folder, bootableVm('hyperv').folder];
    const servers = new Map([...(await importCatalog(t.sms, folders, 120_000)).entries()].map(([f, s]) => [f, s.serverId!]));
    for (const scenario of [
      { label: `1 server, ${kvm} (32 MiB disk)`, folders: [kvm] },
      { label: `1 server, ${BIG} (4 GiB disk, 3 GiB data)`, folders: [BIG] },
      { label: `3 servers, ${kvm} + ${bootableVm('vmware').folder} + ${bootableVm('hyperv').folder}`, folders: [kvm, bootableVm('vmware').folder, bootableVm('hyperv').folder] },
    ]) {
      console.log(`measuring: ${scenario.label} …`);
      results.push(await measure(t, servers, scenario, work));
    }
  } finally {
    await removeLaunchedDomains(t.ferry.core);
    await t.close();
    await datastore.cleanup();
    await launch.cleanup();
    await rm(work, { recursive: true, force: true });
  }

  const head = ['app', 'LaunchApp → validated', '→ booted', '→ independent (hydrated)', 'by hand: export + boot', 'validated / by hand (target ≤ 1.0×)', 'idle: Ferry launch | hydration | export | boot'];
  const rows = results.map((r) => {
    const byHand = r.byHand.exportMs + r.byHand.bootMs;
    const ratio = r.ferry.validatedMs / byHand;
    return [
      r.label,
      seconds(r.ferry.validatedMs),
      seconds(r.ferry.bootedMs),
      seconds(r.ferry.hydratedMs),
      `${seconds(r.byHand.exportMs)} + ${seconds(r.byHand.bootMs)} = ${seconds(byHand)}`,
      `${ratio.toFixed(2)}×${ratio <= 1 ? '' : '  MISS'}`,
      `${percent(r.ferry.idle)} | ${percent(r.ferry.hydrationIdle)} | ${percent(r.byHand.exportIdle)} | ${percent(r.byHand.bootIdle)}`,
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log('');
  console.log(line(head));
  for (const row of rows) console.log(line(row));
  console.log(`\nThe launch path of the first app (ms after LaunchApp was sent):`);
  for (const [name, ms] of results[0]?.steps ?? []) console.log(`  ${String(Math.round(ms)).padStart(6)}  ${name}`);
  console.log(`(software emulation; ${(await readFile('/proc/cpuinfo', 'utf8')).split('\n').filter((l) => l.startsWith('processor')).length} CPUs; load average ${(await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')})`);
}

main().catch((error: unknown) => {
  console.log(`bench failed: ${(error as Error).stack ?? error}`);
});
