/**
 * What the devices of an instance's domain cost its boot, with no Ferry in the path: the KVM sample (32 MiB) booted
 * by libvirt from a qcow2 overlay over a local copy of its disk, with the domain XML Ferry writes (src/launch/domainXml.ts)
 * with that XML plus what it leaves out on purpose (libvirt's default USB controller, the NIC's option ROM), and by
 * a bare `qemu-system-x86_64` as the by-hand baseline of bench:launch boots it, in turns (A B C A B C …) so that all
 * see the same load. Timed: `virsh start` (libvirt's own start), start → the
 * boot marker on the serial console, and the CPU time the domain's QEMU process used until then (user + system, from
 * /proc: on a busy machine the wall time is mostly waiting for a core, the CPU time is what the devices cost).
 *
 *   node bench/launchDomainXml.ts [--rounds 3] [--devices] [--flat] [--cgroup] [--parallel 1]
 *
 * `--flat` adds Ferry's XML with every PCI device placed on the root complex itself (integrated endpoints on
 * pcie.0) instead of behind the one PCIe root port each that libvirt gives it: fewer bridges for the firmware and the
 * guest's kernel to enumerate.
 * `--devices` adds variants that each leave one device of the instance out (the seed's SCSI controller, the NIC, the
 * guest agent's channel): what each costs the boot. `--cgroup` adds Ferry's XML with the domain's QEMU moved, once
 * started, out of libvirt's /machine group into the root of cgroup v1's cpu hierarchy, where the bare QEMU runs: on
 * cgroup v1 every domain together weighs as much as one ordinary process (/machine has cpu.shares 1024, like a task).
 * `--parallel N` boots N guests at once in each variant (as bench:launch's three-server app and its baseline do).
 *
 * Needs root and a running libvirt (qemu:///system) (the `ferry-default` network is made as Ferry makes it).
 */
import { spawn } from 'node:child_process';
import { chmod, copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildBootableVm, prepareBootAssets } from '../src/agent/sample/bootableVms.ts';
import { BOOT_MARKER } from '../src/domain/instanceConsole.ts';
import { deviceLayout } from '../src/domain/instanceDevices.ts';
import { runTool } from '../src/agent/sample/diskBuilder.ts';
import { domainXml } from '../src/launch/domainXml.ts';
import { DEFAULT_NETWORK, ensureDefaultNetwork } from '../src/launch/networks.ts';
import { writeSeedIso } from '../src/launch/noCloudSeed.ts';
import { Virsh } from '../src/launch/virsh.ts';
import { bootableVm, launchSkipReason, LAUNCH_URI, removeDomain } from '../test/helpers/launch.ts';
import { sampleIdle } from './launchSupport.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, devices: { type: 'boolean', default: false }, flat: { type: 'boolean', default: false }, cgroup: { type: 'boolean', default: false }, parallel: { type: 'string', default: '1' }, seed: { type: 'boolean', default: false } } });
const ROUNDS = Math.max(1, Number(values.rounds));
const PARALLEL = Math.max(1, Number(values.parallel));

/** The XML with what Ferry leaves out put back: libvirt's default USB controller and the NIC's option ROM. */
function withDefaults(xml: string): string {
  return xml.replace(/\n\s*<controller type='usb' model='none'\/>/, '').replace(/\n\s*<rom enabled='no'\/>/, '');
}

/** The XML without one of its elements (its whole line, or its block up to the closing tag). */
function without(element: RegExp): (xml: string) => string {
  return (xml) => xml.replace(element, '');
}

/** The XML with each PCI device given an address on pcie.0 (slots from 5 up), so libvirt adds no root port for it. */
function onRootComplex(xml: string): string {
  let slot = 5;
  const address = () => `<address type='pci' domain='0x0000' bus='0x00' slot='0x${(slot++).toString(16).padStart(2, '0')}' function='0x0'/>`;
  return xml
    .replace(/<target dev='[^']+' bus='virtio'\/>/g, (target) => `${target}\n      ${address()}`)
    .replace(/(<controller type='scsi'[^>]*)\/>/, (_, open: string) => `${open}>${address()}</controller>`)
    .replace(/<model type='[^']+'\/>/, (model) => `${model}\n      ${address()}`)
    .replace(/(\n\s*<channel type='unix'>)/, (channel) => `\n    <controller type='virtio-serial' index='0'>${address()}</controller>${channel}`);
}

/** The seed's CD-ROM on virtio-scsi turned into a read-only virtio disk (vdb), and no SCSI controller. */
function seedOnVirtioBlk(xml: string): string {
  return without(/\n\s*<controller type='scsi'[^>]*\/>/)(xml).replace(/<disk type='file' device='cdrom'>([\s\S]*?)<target dev='[^']+' bus='scsi'\/>/, "<disk type='file' device='disk'>$1<target dev='vdb' bus='virtio'/>");
}

/** Each variant is Ferry's XML with one change; `--devices` adds the ones that each drop a device of the instance. */
const VARIANTS: Record<string, (xml: string) => string> = {
  'Ferry (lean)': (xml) => xml,
  'with USB + NIC ROM': withDefaults,
  ...(values.flat ? { 'devices on pcie.0': onRootComplex } : {}),
  ...(values.seed
    ? {
        'seed as a virtio disk': seedOnVirtioBlk,
        'no seed, no SCSI': (xml: string) => without(/\n\s*<controller type='scsi'[^>]*\/>/)(xml).replace(/\n\s*<disk type='file' device='cdrom'>[\s\S]*?<\/disk>/, ''),
      }
    : {}),
  ...(values.devices
    ? {
        'no SCSI controller': without(/\n\s*<controller type='scsi'[^>]*\/>/),
        'no NIC': without(/\n\s*<interface type='network'>[\s\S]*?<\/interface>/),
        'no agent channel': without(/\n\s*<channel type='unix'>[\s\S]*?<\/channel>/),
        'disk + serial only': (xml) =>
          [/\n\s*<controller type='scsi'[^>]*\/>/, /\n\s*<interface type='network'>[\s\S]*?<\/interface>/, /\n\s*<channel type='unix'>[\s\S]*?<\/channel>/].reduce((x, e) => x.replace(e, ''), xml),
      }
    : {}),
};

/** User + system CPU time of process `pid` so far (ms; clock ticks of 10 ms). */
async function cpuMsOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10; // utime, stime (fields 14 and 15 of proc(5))
}

interface Boot {
  startMs: number;
  /** QEMU's CPU time when `virsh start` returned: its own start-up and libvirt's set-up over QMP, before the guest runs. */
  cpuAtStartMs: number;
  markerMs: number;
  cpuMs: number;
  idle: number;
}

/** cgroup v1's cpu hierarchy, where libvirt puts each domain under /machine (see --cgroup). */
const CPU_CGROUP_ROOT = '/sys/fs/cgroup/cpu/cgroup.procs';

async function bootOnce(virsh: Virsh, dir: string, base: string, name: string, variant: (xml: string) => string, rootCgroup = false, seed: string | null = null): Promise<Boot> {
  const overlay = join(dir, `${name}.qcow2`);
  const consoleLog = join(dir, `${name}.log`);
  await runTool('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', base, overlay]);
  const xml = domainXml({
    name,
    virtType: 'qemu',
    vcpus: 1,
    memoryMiB: 512,
    layout: deviceLayout('virtio', 1),
    disks: [overlay],
    seed,
    network: { name: DEFAULT_NETWORK },
    consoleLog,
    metadata: { owner: 'bench', instanceId: name, accountId: 'bench', region: 'bench', appId: null, serverId: 'bench', amiId: 'bench', labels: {} },
  });
  const file = join(dir, `${name}.xml`);
  await writeFile(file, variant(xml));
  await virsh.define(file);
  try {
    const idle = await sampleIdle();
    const started = performance.now();
    await virsh.start(name);
    const startMs = performance.now() - started;
    const pid = Number((await readFile(`/run/libvirt/qemu/${name}.pid`, 'utf8')).trim());
    const cpuAtStartMs = await cpuMsOf(pid);
    // Writing the pid to cgroup.procs moves every thread of the process (vCPU threads included).
    if (rootCgroup) await writeFile(CPU_CGROUP_ROOT, String(pid));
    for (;;) {
      if ((await readFile(consoleLog, 'utf8').catch(() => '')).includes(BOOT_MARKER)) break;
      if (performance.now() - started > 300_000) throw new Error(`${name}: no marker within 300 s`);
      await sleep(20);
    }
    return { startMs, cpuAtStartMs, markerMs: performance.now() - started, cpuMs: await cpuMsOf(pid), idle: await idle() };
  } finally {
    removeDomain(name);
    await rm(overlay, { force: true });
    await rm(consoleLog, { force: true });
  }
}

/** The by-hand baseline (launchSupport.ts bootByHand's command line) over the same kind of overlay. */
async function bootBare(dir: string, base: string, name: string): Promise<Boot> {
  const overlay = join(dir, `${name}.qcow2`);
  const consoleLog = join(dir, `${name}.log`);
  await runTool('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', base, overlay]);
  const idle = await sampleIdle();
  const started = performance.now();
  const qemu = spawn('qemu-system-x86_64', ['-machine', 'q35,accel=tcg', '-m', '512', '-nographic', '-no-reboot', '-monitor', 'none', '-nic', 'none', '-serial', `file:${consoleLog}`, '-drive', `file=${overlay},format=qcow2,if=virtio`], { stdio: 'ignore' });
  try {
    for (;;) {
      if ((await readFile(consoleLog, 'utf8').catch(() => '')).includes(BOOT_MARKER)) break;
      if (qemu.exitCode !== null || performance.now() - started > 300_000) throw new Error('bare qemu: no marker');
      await sleep(20);
    }
    return { startMs: 0, cpuAtStartMs: 0, markerMs: performance.now() - started, cpuMs: await cpuMsOf(qemu.pid!), idle: await idle() };
  } finally {
    qemu.kill('SIGKILL');
    await rm(overlay, { force: true });
    await rm(consoleLog, { force: true });
  }
}

async function main(): Promise<void> {
  const skip = launchSkipReason();
  if (skip) {
    console.log(`skipped: ${skip}`);
    return;
  }
  const dir = await mkdtemp(join('/tmp', 'ferry-domain-xml-'));
  await chmod(dir, 0o711); // QEMU runs as libvirt-qemu and must reach the files
  try {
    const vm = bootableVm('kvm');
    await buildBootableVm(join(dir, vm.folder), vm, await prepareBootAssets());
    const base = join(dir, 'base.qcow2');
    await copyFile(join(dir, vm.folder, `${vm.folder}.qcow2`), base);
    await chmod(base, 0o644);
    const virsh = new Virsh(LAUNCH_URI);
    await ensureDefaultNetwork(virsh);
    const seed = values.seed ? join(dir, 'seed.iso') : null;
    if (seed) {
      await writeSeedIso(seed, { instanceId: 'i-bench', hostname: 'bench', userData: null, sshPublicKey: null, vendorData: null });
      await chmod(seed, 0o644);
    }
    const results = new Map<string, Boot[]>();
    for (let round = 0; round < ROUNDS; round++) {
      const cgroupVariant = values.cgroup ? [['Ferry (lean), QEMU moved to the root cpu cgroup', 'root-cgroup'] as const] : [];
      for (const [label, variant] of [...Object.entries(VARIANTS), ...cgroupVariant, ['bare qemu (by hand)', null] as const]) {
        const boot = (name: string) =>
          variant === null ? bootBare(dir, base, name) : variant === 'root-cgroup' ? bootOnce(virsh, dir, base, name, (xml) => xml, true, seed) : bootOnce(virsh, dir, base, name, variant, false, seed);
        // With --parallel N, N guests boot at once: the slowest start and marker, and the CPU of all.
        const boots = await Promise.all(Array.from({ length: PARALLEL }, (_, i) => boot(`ferry-bench-xml-${process.pid}-${i}`)));
        const result: Boot = {
          startMs: Math.max(...boots.map((b) => b.startMs)),
          cpuAtStartMs: boots.reduce((sum, b) => sum + b.cpuAtStartMs, 0),
          markerMs: Math.max(...boots.map((b) => b.markerMs)),
          cpuMs: boots.reduce((sum, b) => sum + b.cpuMs, 0),
          idle: boots[0]!.idle,
        };
        results.set(label, [...(results.get(label) ?? []), result]);
        console.log(`round ${round + 1} ${label}: start ${Math.round(result.startMs)} ms, marker ${Math.round(result.markerMs)} ms, QEMU CPU ${result.cpuMs} ms (${result.cpuAtStartMs} of it before the guest ran), idle ${Math.round(result.idle * 100)} %`);
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
    console.log(`\nmedians of ${ROUNDS} rounds:`);
    for (const [label, runs] of results) {
      console.log(`  ${label.padEnd(20)} start ${median(runs.map((r) => r.startMs)).toFixed(0).padStart(5)} ms, marker ${median(runs.map((r) => r.markerMs)).toFixed(0).padStart(6)} ms, QEMU CPU to marker ${median(runs.map((r) => r.cpuMs)).toFixed(0).padStart(5)} ms (${median(runs.map((r) => r.cpuAtStartMs)).toFixed(0)} before the guest ran)`);
    }
    console.log(`(software emulation; load average ${(await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')})`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.log(`failed: ${(error as Error).stack ?? error}`);
  process.exitCode = 1;
});
