/**
 * Where one launch's time goes: a one-server app of the KVM sample (32 MiB disk, a USERDATA validation) launched
 * with LaunchApp on real libvirt, with every step of the launch path stamped as it happens (the runner's phases,
 * src/launch/launchPhases.ts, and the instance's state events), from LaunchApp sent to the instance hydrated.
 * With `--runs N` the app is launched N times (a new app each time) and the median of each step is printed beside
 * the fastest and slowest run. The machine's idle share over each launch and the load average are printed with it.
 *
 *   node bench/launchTimeline.ts [--runs 3] [--pull-at-start]
 *
 * `--pull-at-start` is an experiment: the bench itself starts the instance's block pull (`virsh blockpull`) as soon as
 * `virsh start` has returned, instead of Ferry starting it once the guest has booted (Ferry then waits for that job):
 * does hydrating during the boot slow the boot down, and by how much does it bring independence forward?
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
import { sampleIdle } from './launchSupport.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '1' }, 'pull-at-start': { type: 'boolean', default: false } } });
const RUNS = Math.max(1, Number(values.runs));

type Timeline = Map<string, number>;

async function waitApp(sms: SMSClient, appId: string, until: (s: Record<string, any>) => boolean): Promise<void> {
  await waitFor(`app ${appId}`, async () => {
    const s = (await sms.send(new GetAppCommand({ appId }))).appSummary as Record<string, any>;
    if (/FAILED$/.test(s.launchStatus ?? '') || /FAILED$/.test(s.replicationStatus ?? '')) throw new Error(`app ${appId}: ${s.launchStatus} ${s.launchStatusMessage ?? s.replicationStatusMessage}`);
    return until(s) ? true : undefined;
  }, { timeoutMs: 600_000, intervalMs: 100 });
}

/** A replicated one-server app with a launch and a validation configuration, ready for LaunchApp. */
async function readyApp(t: TestFerry, serverId: string, run: number): Promise<string> {
  const sms = t.sms;
  const created = await sms.send(new CreateAppCommand({ name: `timeline-${run}`, serverGroups: [{ name: 'all', serverList: [{ serverId }] }] }));
  const appId = created.appSummary!.appId!;
  const serverGroupId = created.serverGroups![0]!.serverGroupId!;
  const server = { serverId };
  await sms.send(new PutAppReplicationConfigurationCommand({
    appId,
    serverGroupReplicationConfigurations: [{ serverGroupId, serverReplicationConfigurations: [{ server, serverReplicationParameters: { runOnce: true, seedTime: new Date(Date.now() - 1000) } }] }],
  }));
  await sms.send(new StartAppReplicationCommand({ appId }));
  await waitApp(sms, appId, (s) => s.replicationStatus === 'REPLICATED');
  await sms.send(new PutAppLaunchConfigurationCommand({ appId, serverGroupLaunchConfigurations: [{ serverGroupId, launchOrder: 1, serverLaunchConfigurations: [{ server, instanceType: 't2.nano' }] }] }));
  await sms.send(new PutAppValidationConfigurationCommand({
    appId,
    serverGroupValidationConfigurations: [{
      serverGroupId,
      serverValidationConfigurations: [{ server, name: 'up', serverValidationStrategy: 'USERDATA', userDataValidationParameters: { source: { s3Location: { bucket: 'sms-timeline', key: 'up.sh' } }, scriptType: 'SHELL_SCRIPT' } }],
    }],
  }));
  return appId;
}

/** Launches the app once and returns each step's time (ms after LaunchApp was sent) and the idle share meanwhile. */
async function timeline(t: TestFerry, appId: string): Promise<{ steps: Timeline; idle: number }> {
  const sms = t.sms;
  const steps: Timeline = new Map();
  let started = 0;
  const mark = (name: string, at = performance.now()) => {
    if (!steps.has(name)) steps.set(name, at - started);
  };
  const offPhases = t.ferry.instances.onPhase((instanceId, phase, at) => {
    mark(phase, at);
    if (phase === 'virsh start returned' && values['pull-at-start']) {
      // The KVM sample's one disk is vda; Ferry's hydration finds the job running and waits for it.
      t.ferry.instances.virsh.blockPull(domainNameOf(instanceId), 'vda').then(() => mark('block pull started by the bench'), (error: unknown) => console.log(`blockpull: ${(error as Error).message}`));
    }
  });
  const offEvents = t.ferry.core.events.subscribe((e) => {
    if (e.type === 'instance.state' && e.appId === appId && e.state === 'pending') mark('instance row created (pending)');
  });
  await writeFile('/proc/sys/vm/drop_caches', '3').catch(() => undefined);
  const idle = await sampleIdle();
  started = performance.now();
  try {
    await sms.send(new LaunchAppCommand({ appId }));
    mark('LaunchApp answered');
    await waitFor('the validation', async () => {
      const list = (await sms.send(new GetAppValidationOutputCommand({ appId }))).validationOutputList ?? [];
      if (list.some((o) => o.status === 'FAILED')) throw new Error(`the validation failed: ${JSON.stringify(list)}`);
      return list.length === 1 && list[0]!.status === 'SUCCEEDED' ? true : undefined;
    }, { timeoutMs: 600_000, intervalMs: 50 });
    mark('validated (GetAppValidationOutput, polled every 50 ms)');
    await waitFor('hydrated', () => (steps.has('hydrated') ? true : undefined), { timeoutMs: 1_200_000, intervalMs: 50 });
    return { steps, idle: await idle() };
  } finally {
    offPhases();
    offEvents();
    await sms.send(new TerminateAppCommand({ appId }));
    await waitApp(sms, appId, (s) => s.launchStatus === 'TERMINATED');
    await sms.send(new DeleteAppCommand({ appId, forceStopAppReplication: true }));
  }
}

async function main(): Promise<void> {
  const skip = launchSkipReason();
  if (skip) {
    console.log(`launch timeline skipped: ${skip}`);
    return;
  }
  const kvm = bootableVm('kvm').folder;
  const datastore = await bootableDatastore(['kvm']);
  const launch = await realLaunch();
  const t = await startTestFerry({ datastore: datastore.dir, connectorPollMs: 200, launch: launch.launch });
  const runs: { steps: Timeline; idle: number }[] = [];
  try {
    await putArtifact(t, 'sms-timeline', 'up.sh', '#!/bin/sh\necho up\n');
    const serverId = (await importCatalog(t.sms, [kvm], 120_000)).get(kvm)!.serverId!;
    for (let run = 1; run <= RUNS; run++) {
      const appId = await readyApp(t, serverId, run);
      runs.push(await timeline(t, appId));
      console.log(`run ${run}/${RUNS}: validated at ${Math.round(runs.at(-1)!.steps.get('validated (GetAppValidationOutput, polled every 50 ms)')!)} ms, idle ${Math.round(runs.at(-1)!.idle * 100)} %`);
    }
  } finally {
    await removeLaunchedDomains(t.ferry.core);
    await t.close();
    await datastore.cleanup();
    await launch.cleanup();
  }

  // Steps in the order of their median; a step some run did not see (e.g. a defined domain reused) is left blank.
  const names = [...new Set(runs.flatMap((r) => [...r.steps.keys()]))];
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
  const rows = names
    .map((name) => ({ name, times: runs.map((r) => r.steps.get(name)).filter((x): x is number => x !== undefined) }))
    .map((r) => ({ ...r, median: median(r.times) }))
    .sort((a, b) => a.median - b.median);
  console.log(`\nOne-server app of ${kvm} (32 MiB, t2.nano, one USERDATA validation)${values['pull-at-start'] ? ', block pull started at virsh start' : ''}: ms after LaunchApp was sent, ${RUNS} run(s)`);
  console.log(`${'median'.padStart(7)} ${'+step'.padStart(6)}  ${RUNS > 1 ? `${'min'.padStart(6)} ${'max'.padStart(6)}  ` : ''}step`);
  let previous = 0;
  for (const row of rows) {
    const range = RUNS > 1 ? `${String(Math.round(Math.min(...row.times))).padStart(6)} ${String(Math.round(Math.max(...row.times))).padStart(6)}  ` : '';
    console.log(`${String(Math.round(row.median)).padStart(7)} ${`+${Math.round(row.median - previous)}`.padStart(6)}  ${range}${row.name}`);
    previous = row.median;
  }
  const cpus = (await readFile('/proc/cpuinfo', 'utf8')).split('\n').filter((l) => l.startsWith('processor')).length;
  const load = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
  console.log(`(software emulation; ${cpus} CPUs; idle during the launches ${runs.map((r) => `${Math.round(r.idle * 100)} %`).join(', ')}; load average ${load})`);
}

main().catch((error: unknown) => {
  console.log(`launch timeline failed: ${(error as Error).stack ?? error}`);
  process.exitCode = 1;
});
