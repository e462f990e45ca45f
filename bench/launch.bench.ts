/**
 * `npm run bench:launch`: how fast a replicated server runs again, at the instance level (the App operations drive
 * the same InstanceService). For each bootable sample VM (KVM virtio guest, VMware and Hyper-V SATA guests), in one
 * run and on the same image:
 *   - Ferry: InstanceService.launch → booted (FERRY-BOOT-OK on the console), and from the domain's definition
 *     (`starting`) → booted, → hydrated (independent of the image store), through libvirt qemu:///system;
 *   - by hand, the baseline: `ferry images export` of the disk to qcow2, then `qemu-system-x86_64` booting that
 *     file (same machine type and disk bus) to the same marker.
 * Target: launch → booted ≤ 1.0× export + boot (an instance must boot before a full copy would have finished).
 * Needs root and a running libvirt (see README). It reports and exits 0; a missed target is marked MISS.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestFerry } from '../test/helpers/ferry.ts';
import { bootableDatastore, bootableVm, instancesDir, LAUNCH_URI, launchSkipReason, waitForInstance } from '../test/helpers/launch.ts';
import { createJob, expectCompleted, importCatalog } from '../test/helpers/replication.ts';
import { BOOT_MARKER } from '../src/domain/instanceConsole.ts';
import type { BootableVm } from '../src/agent/sample/bootableVms.ts';

const KINDS: BootableVm['kind'][] = ['kvm', 'vmware', 'hyperv'];

/** Boots a qcow2 file under TCG like Ferry's domain would (q35, virtio or AHCI) and times it to the marker. */
async function bootByHand(file: string, bus: 'virtio' | 'sata', log: string): Promise<number> {
  const drive = bus === 'virtio' ? [`-drive`, `file=${file},format=qcow2,if=virtio`] : ['-drive', `file=${file},format=qcow2,if=none,id=d0`, '-device', 'ide-hd,drive=d0,bus=ide.0'];
  const started = performance.now();
  const qemu = spawn('qemu-system-x86_64', ['-machine', 'q35,accel=tcg', '-m', '256', '-nographic', '-no-reboot', '-monitor', 'none', '-nic', 'none', '-serial', `file:${log}`, ...drive], {
    stdio: 'ignore',
  });
  try {
    for (;;) {
      if ((await readFile(log, 'utf8').catch(() => '')).includes(BOOT_MARKER)) return performance.now() - started;
      if (qemu.exitCode !== null) throw new Error('qemu exited before the marker');
      if (performance.now() - started > 300_000) throw new Error('no marker within 300 s');
      await sleep(50);
    }
  } finally {
    qemu.kill('SIGKILL');
  }
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function main(): Promise<void> {
  const skip = launchSkipReason();
  if (skip) {
    console.log(`bench:launch skipped: ${skip}`);
    return;
  }
  const datastore = await bootableDatastore(KINDS);
  const instances = await instancesDir();
  const work = await mkdtemp(join('/tmp', 'ferry-bench-launch-'));
  const t = await startTestFerry({ datastore: datastore.dir, connectorPollMs: 200, launch: { uri: LAUNCH_URI, instancesDir: instances.dir } });
  const rows: string[][] = [];
  // When each instance reached `starting` (its files made, the domain about to be defined).
  const definingAt = new Map<string, number>();
  t.ferry.core.events.subscribe((e) => {
    if (e.type === 'instance.state' && e.state === 'starting' && !definingAt.has(e.instanceId)) definingAt.set(e.instanceId, Date.now());
  });
  try {
    const tenant = { accountId: t.ferry.root.accountId, region: 'us-east-1' };
    const folders = KINDS.map((k) => bootableVm(k).folder);
    const servers = await importCatalog(t.sms, folders);
    for (const kind of KINDS) {
      const folder = bootableVm(kind).folder;
      const serverId = servers.get(folder)!.serverId!;
      const { jobId, seedRunId } = await createJob(t.sms, serverId);
      const { amiId } = await expectCompleted(t.sms, jobId, seedRunId, 120_000);
      const bus = kind === 'kvm' ? 'virtio' : 'sata';

      const exportStarted = performance.now();
      const file = join(work, `${folder}.qcow2`);
      await t.ferry.plane.images.exportDisk(amiId, 0, 'qcow2', file);
      const exportMs = performance.now() - exportStarted;
      const bootMs = await bootByHand(file, bus, join(work, `${folder}.log`));

      const instance = await t.ferry.instances.launch({ tenant, appId: null, serverId, amiId, vcpus: 1, memoryMiB: 256, deviceModel: 'auto', bootTimeoutMs: 300_000 });
      const done = await waitForInstance(t.ferry.instances, tenant, instance.instanceId, (i) => i.state === 'failed' || (i.state === 'running' && (i.hydration === 'hydrated' || i.hydration === 'failed')), 400_000);
      if (done.state !== 'running' || done.hydration !== 'hydrated') throw new Error(`${folder}: ${done.state}/${done.hydration}: ${done.stateMessage ?? done.hydrationMessage}`);
      await t.ferry.instances.terminate(tenant, instance.instanceId);
      await waitForInstance(t.ferry.instances, tenant, instance.instanceId, (i) => i.state === 'terminated', 120_000);

      const booted = done.bootedAt! - done.launchedAt;
      const ratio = booted / (exportMs + bootMs);
      rows.push([
        `${folder} (${bus})`,
        seconds(booted),
        seconds(done.bootedAt! - (definingAt.get(instance.instanceId) ?? done.launchedAt)),
        seconds(done.hydratedAt! - done.launchedAt),
        `${seconds(exportMs)} + ${seconds(bootMs)}`,
        `${ratio.toFixed(2)}×${ratio <= 1 ? '' : '  MISS'}`,
      ]);
    }
  } finally {
    await t.close();
    await datastore.cleanup();
    await instances.cleanup();
    await rm(work, { recursive: true, force: true });
  }
  const head = ['sample VM', 'launch → booted', 'define+start → booted', 'launch → hydrated', 'by hand: export + boot', 'booted / by hand (target ≤ 1.0×)'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(line(head));
  for (const row of rows) console.log(line(row));
  console.log(`(software emulation; load average ${(await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')})`);
}

main().catch((error: unknown) => {
  console.log(`bench failed: ${(error as Error).stack ?? error}`);
});
