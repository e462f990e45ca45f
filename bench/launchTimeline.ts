/**
 * Where one launch's time goes: a one-server app of the KVM sample (32 MiB disk, a USERDATA validation) launched
 * with LaunchApp on real libvirt, with every step of the launch path stamped as it happens (the runner's phases,
 * src/launch/launchPhases.ts, and the instance's state events), from LaunchApp sent to the instance hydrated.
 * With `--runs N` the app is launched N times (a new app each time) and the median of each step is printed beside
 * the fastest and slowest run. The machine's idle share over each launch and the load average are printed with it.
 * With `--servers 3` the app is bench:launch's three-server one (KVM, VMware and Hyper-V samples, one launch group,
 * each with its validation), and each instance's steps are printed under its server's name.
 *
 *   node bench/launchTimeline.ts [--runs 3] [--servers 3] [--pull-at-start | --pull-at-boot | --pull-after-boots] [--alternate]
 *
 * `--pull-at-start`, `--pull-at-boot` and `--pull-after-boots` are experiments: the bench itself starts each
 * instance's block pull (`virsh blockpull`) as soon as `virsh start` has returned, as soon as that guest has booted
 * (what Ferry did before it held hydration while a guest of its was booting), or once every guest of the app has
 * booted (what Ferry did before it also held hydration while a guest ran its validations), instead of leaving it to
 * Ferry (which then waits for that job): what does hydrating during the boots and validations cost them?
 * `--alternate` makes every other run one with the experiment, so both are measured under the same load.
 *
 * Needs root and a running libvirt (qemu:///system), like `npm run bench:launch`.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import {
  CreateAppCommand,
  DeleteAppCommand,
  GetAppCommand,
  GetAppValidationOutputCommand,
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
import { domainNameOf } from '../src/domain/instance.ts';
import type { Virsh } from '../src/launch/virsh.ts';
import { cpuByPart, cpuSpent, sampleIdle, waitValidated } from './launchSupport.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '1' },
    servers: { type: 'string', default: '1' },
    'pull-at-start': { type: 'boolean', default: false },
    'pull-at-boot': { type: 'boolean', default: false },
    'pull-after-boots': { type: 'boolean', default: false },
    alternate: { type: 'boolean', default: false },
  },
});
const RUNS = Math.max(1, Number(values.runs));
const KINDS = Number(values.servers) >= 3 ? (['kvm', 'vmware', 'hyperv'] as const) : (['kvm'] as const);
const EXPERIMENT = values['pull-at-start'] ? 'virsh start returned' : values['pull-at-boot'] ? 'boot marker seen' : values['pull-after-boots'] ? 'every guest booted' : undefined;
const VALIDATED = 'validated (GetAppValidationOutput, asked on each instance event)';

/** Starts a block pull of each of the domain's disks that still reads through a backing file (the bench's experiment). */
async function pullEveryDisk(virsh: Virsh, domain: string): Promise<void> {
  const xml = await virsh.dumpXml(domain);
  for (const disk of xml.match(/<disk\b[\s\S]*?<\/disk>/g) ?? []) {
    const target = /<target\s[^>]*dev=['"]([^'"]+)['"]/.exec(disk)?.[1];
    if (target && /<backingStore\s+[^/>]*type=/.test(disk)) await virsh.blockPull(domain, target);
  }
}

type Timeline = Map<string, number>;

async function waitApp(sms: SMSClient, appId: string, until: (s: Record<string, any>) => boolean): Promise<void> {
  await waitFor(`app ${appId}`, async () => {
    const s = (await sms.send(new GetAppCommand({ appId }))).appSummary as Record<string, any>;
    if (/FAILED$/.test(s.launchStatus ?? '') || /FAILED$/.test(s.replicationStatus ?? '')) throw new Error(`app ${appId}: ${s.launchStatus} ${s.launchStatusMessage ?? s.replicationStatusMessage}`);
    return until(s) ? true : undefined;
  }, { timeoutMs: 600_000, intervalMs: 100 });
}

/** A replicated app of the servers (one launch group) with a launch and a validation configuration, ready for LaunchApp. */
async function readyApp(t: TestFerry, serverIds: readonly string[], run: number): Promise<string> {
  const sms = t.sms;
  const servers = serverIds.map((serverId) => ({ serverId }));
  const created = await sms.send(new CreateAppCommand({ name: `timeline-${run}`, serverGroups: [{ name: 'all', serverList: servers }] }));
  const appId = created.appSummary!.appId!;
  const serverGroupId = created.serverGroups![0]!.serverGroupId!;
  await sms.send(new PutAppReplicationConfigurationCommand({
    appId,
    serverGroupReplicationConfigurations: [{ serverGroupId, serverReplicationConfigurations: servers.map((server) => ({ server, serverReplicationParameters: { runOnce: true, seedTime: new Date(Date.now() - 1000) } })) }],
  }));
  await sms.send(new StartAppReplicationCommand({ appId }));
  await waitApp(sms, appId, (s) => s.replicationStatus === 'REPLICATED');
  await sms.send(new PutAppLaunchConfigurationCommand({ appId, serverGroupLaunchConfigurations: [{ serverGroupId, launchOrder: 1, serverLaunchConfigurations: servers.map((server) => ({ server, instanceType: 't2.nano' })) }] }));
  await sms.send(new PutAppValidationConfigurationCommand({
    appId,
    serverGroupValidationConfigurations: [{
      serverGroupId,
      serverValidationConfigurations: servers.map((server, i) => ({ server, name: `up-${i}`, serverValidationStrategy: 'USERDATA', userDataValidationParameters: { source: { s3Location: { bucket: 'sms-timeline', key: 'up.sh' } }, scriptType: 'SHELL_SCRIPT' } })),
    }],
  }));
  return appId;
}

interface Run {
  steps: Timeline;
  idle: number;
  experiment: boolean;
  /** CPU seconds from LaunchApp to validated, by part (launchSupport.ts cpuByPart). */
  cpu: Record<string, number>;
}

/**
 * Launches the app once and returns each step's time (ms after LaunchApp was sent; with several servers each step is
 * named after its server: `boot-vm01: boot marker seen`) and the idle share meanwhile.
 */
async function timeline(t: TestFerry, appId: string, names: ReadonlyMap<string, string>, experiment: boolean): Promise<Run> {
  const sms = t.sms;
  const steps: Timeline = new Map();
  const serverOf = new Map<string, string>();
  let started = 0;
  const mark = (name: string, at = performance.now()) => {
    if (!steps.has(name)) steps.set(name, at - started);
  };
  const named = (instanceId: string, step: string) => (names.size > 1 ? `${serverOf.get(instanceId) ?? instanceId}: ${step}` : step);
  let hydrated = 0;
  const offEvents = t.ferry.core.events.subscribe((e) => {
    // The app's launch statuses as the coordinator writes them (src/core/apps): what happens before an instance row.
    if (e.type === 'app.state' && e.appId === appId && e.launchStatus !== e.previous?.launchStatus) mark(`app ${e.launchStatus}`);
    if (e.type !== 'instance.state' || e.appId !== appId) return;
    serverOf.set(e.instanceId, names.get(e.serverId) ?? e.serverId);
    if (e.state === 'pending') mark(named(e.instanceId, 'instance row created (pending)'));
  });
  const booted = new Set<string>();
  const pull = (instanceId: string) =>
    // Ferry's hydration finds the jobs running (or done) and waits for them.
    pullEveryDisk(t.ferry.instances.virsh, domainNameOf(instanceId)).then(
      () => mark(named(instanceId, 'block pull started by the bench')),
      (error: unknown) => console.log(`blockpull: ${(error as Error).message}`),
    );
  const offPhases = t.ferry.instances.onPhase((instanceId, phase, at) => {
    mark(named(instanceId, phase), at);
    if (phase === 'hydrated') hydrated++;
    if (phase === 'booted (running)') booted.add(instanceId);
    if (!experiment) return;
    if (phase === EXPERIMENT) void pull(instanceId);
    if (EXPERIMENT === 'every guest booted' && phase === 'booted (running)' && booted.size === names.size) for (const id of booted) void pull(id);
  });
  await writeFile('/proc/sys/vm/drop_caches', '3').catch(() => undefined);
  const idle = await sampleIdle();
  const cpuBefore = await cpuByPart();
  started = performance.now();
  try {
    await sms.send(new LaunchAppCommand({ appId }));
    mark('LaunchApp answered');
    await waitValidated(t.ferry.core.events, async () => (await sms.send(new GetAppValidationOutputCommand({ appId }))).validationOutputList ?? [], appId, names.size);
    mark(VALIDATED);
    const cpu = cpuSpent(cpuBefore, await cpuByPart([...serverOf.keys()].map(domainNameOf)));
    await waitFor('hydrated', async () => {
      if (hydrated >= names.size) return true;
      const failed = (await t.ferry.instances.list({ accountId: t.ferry.root.accountId, region: 'us-east-1' }, { appId })).find((i) => i.hydration === 'failed');
      if (failed) throw new Error(`${failed.instanceId}: ${failed.hydrationMessage}`);
      return undefined;
    }, { timeoutMs: 1_200_000, intervalMs: 100 });
    mark('every instance hydrated');
    return { steps, idle: await idle(), experiment, cpu };
  } finally {
    offPhases();
    offEvents();
    await sms.send(new TerminateAppCommand({ appId }));
    await waitApp(sms, appId, (s) => s.launchStatus === 'TERMINATED');
    await sms.send(new DeleteAppCommand({ appId, forceStopAppReplication: true }));
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

/** Steps in the order of their median; a step some run did not see (e.g. a defined domain reused) is left blank. */
function printRuns(title: string, runs: readonly Run[]): void {
  const names = [...new Set(runs.flatMap((r) => [...r.steps.keys()]))];
  const rows = names
    .map((name) => ({ name, times: runs.map((r) => r.steps.get(name)).filter((x): x is number => x !== undefined) }))
    .map((r) => ({ ...r, median: median(r.times) }))
    .sort((a, b) => a.median - b.median);
  const many = runs.length > 1;
  console.log(`\n${title}: ms after LaunchApp was sent, ${runs.length} run(s)`);
  console.log(`${'median'.padStart(7)} ${'+step'.padStart(6)}  ${many ? `${'min'.padStart(6)} ${'max'.padStart(6)}  ` : ''}step`);
  let previous = 0;
  for (const row of rows) {
    const range = many ? `${String(Math.round(Math.min(...row.times))).padStart(6)} ${String(Math.round(Math.max(...row.times))).padStart(6)}  ` : '';
    console.log(`${String(Math.round(row.median)).padStart(7)} ${`+${Math.round(row.median - previous)}`.padStart(6)}  ${range}${row.name}`);
    previous = row.median;
  }
  console.log(`(idle during the launches ${runs.map((r) => `${Math.round(r.idle * 100)} %`).join(', ')})`);
  console.log('CPU seconds from LaunchApp to validated (median of the runs):');
  for (const part of Object.keys(runs[0]!.cpu)) console.log(`  ${median(runs.map((r) => r.cpu[part]!)).toFixed(2).padStart(7)}  ${part}`);
}

async function main(): Promise<void> {
  const skip = launchSkipReason();
  if (skip) {
    console.log(`launch timeline skipped: ${skip}`);
    return;
  }
  const folders = KINDS.map((kind) => bootableVm(kind).folder);
  const datastore = await bootableDatastore([...KINDS]);
  const launch = await realLaunch();
  const t = await startTestFerry({ datastore: datastore.dir, connectorPollMs: 200, launch: launch.launch });
  const runs: Run[] = [];
  try {
    await putArtifact(t, 'sms-timeline', 'up.sh', '#!/bin/sh\necho up\n');
    const catalog = await importCatalog(t.sms, folders, 120_000);
    const names = new Map(folders.map((folder) => [catalog.get(folder)!.serverId!, folder]));
    for (let run = 1; run <= RUNS; run++) {
      const appId = await readyApp(t, [...names.keys()], run);
      const experiment = EXPERIMENT !== undefined && (!values.alternate || run % 2 === 0);
      runs.push(await timeline(t, appId, names, experiment));
      const last = runs.at(-1)!;
      console.log(`run ${run}/${RUNS}${experiment ? ` (block pull at ${EXPERIMENT})` : ''}: validated at ${Math.round(last.steps.get(VALIDATED)!)} ms, every instance hydrated at ${Math.round(last.steps.get('every instance hydrated')!)} ms, idle ${Math.round(last.idle * 100)} %`);
    }
  } finally {
    await removeLaunchedDomains(t.ferry.core);
    await t.close();
    await datastore.cleanup();
    await launch.cleanup();
  }

  const app = `${folders.length === 1 ? 'One-server app' : `${folders.length}-server app (one launch group)`} of ${folders.join(' + ')} (32 MiB each, t2.nano, one USERDATA validation each)`;
  for (const experiment of [false, true]) {
    const these = runs.filter((r) => r.experiment === experiment);
    if (these.length > 0) printRuns(`${app}${experiment ? `, block pull started by the bench at ${EXPERIMENT}` : ''}`, these);
  }
  // bench:launch's one-server figure is the first launch of its process: what that one pays is shown apart.
  if (runs.length > 1) printRuns(`${app}, the first launch of this process alone`, runs.slice(0, 1));
  const cpus = (await readFile('/proc/cpuinfo', 'utf8')).split('\n').filter((l) => l.startsWith('processor')).length;
  const load = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
  console.log(`(software emulation; ${cpus} CPUs; load average ${load})`);
}

main().catch((error: unknown) => {
  console.log(`launch timeline failed: ${(error as Error).stack ?? error}`);
  process.exitCode = 1;
});
