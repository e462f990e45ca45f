/**
 * What bench/launch.bench.ts measures besides Ferry: the machine's idle share over a timed step (/proc/stat), the
 * by-hand baseline (`ferry images export` to qcow2, then `qemu-system-x86_64` booting that file to the sample's boot
 * marker), and the realistically sized bootable image (the KVM sample with gigabytes of random data on its disk).
 */
import { spawn } from 'node:child_process';
import { randomFill } from 'node:crypto';
import { open, readFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BOOT_MARKER } from '../src/domain/instanceConsole.ts';
import { runTool } from '../src/agent/sample/diskBuilder.ts';
import { domainXml } from '../src/agent/sample/vmBuilders.ts';
import { FERRY_CLI, NODE, run } from '../test/helpers/process.ts';

// ── Idle share ───────────────────────────────────────────────────────────────────────────────────────────────

interface CpuTicks {
  idle: number;
  total: number;
}

async function cpuTicks(): Promise<CpuTicks> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!;
  const fields = line.trim().split(/\s+/).slice(1, 9).map(Number);
  // user nice system idle iowait irq softirq steal
  return { idle: fields[3]! + fields[4]!, total: fields.reduce((a, b) => a + b, 0) };
}

/** Times `step` and samples the whole machine's idle share (idle + iowait over all CPU time) while it runs. */
export async function timed<T>(step: () => Promise<T>): Promise<{ value: T; ms: number; idle: number }> {
  const before = await cpuTicks();
  const started = performance.now();
  const value = await step();
  const ms = performance.now() - started;
  const after = await cpuTicks();
  const total = after.total - before.total;
  return { value, ms, idle: total > 0 ? (after.idle - before.idle) / total : 1 };
}

/** Idle share between two samples taken by `sampleIdle()`. */
export async function sampleIdle(): Promise<() => Promise<number>> {
  const before = await cpuTicks();
  return async () => {
    const after = await cpuTicks();
    const total = after.total - before.total;
    return total > 0 ? (after.idle - before.idle) / total : 1;
  };
}

// ── The baseline by hand ─────────────────────────────────────────────────────────────────────────────────────

/** `ferry images export AMI --disk 0 --format qcow2 --output FILE`, as an operator types it against the data dir. */
export async function exportByHand(dataDir: string, amiId: string, file: string): Promise<void> {
  const result = await run(NODE, [FERRY_CLI, 'images', 'export', amiId, '--disk', '0', '--format', 'qcow2', '--output', file, '--data-dir', dataDir], {
    env: { ...process.env, FERRY_LOG_LEVEL: 'warn' },
    timeoutMs: 1_800_000,
  });
  if (result.code !== 0) throw new Error(`ferry images export failed: ${result.stderr}`);
}

/**
 * Boots a qcow2 file under TCG as Ferry's domain would (q35; virtio for KVM guests, AHCI for VMware/Hyper-V ones;
 * the same memory) and resolves when its console shows the boot marker.
 */
export async function bootByHand(file: string, bus: 'virtio' | 'sata', memoryMiB: number, log: string): Promise<void> {
  const drive = bus === 'virtio' ? ['-drive', `file=${file},format=qcow2,if=virtio`] : ['-drive', `file=${file},format=qcow2,if=none,id=d0`, '-device', 'ide-hd,drive=d0,bus=ide.0'];
  await rm(log, { force: true });
  const qemu = spawn('qemu-system-x86_64', ['-machine', 'q35,accel=tcg', '-m', String(memoryMiB), '-nographic', '-no-reboot', '-monitor', 'none', '-nic', 'none', '-serial', `file:${log}`, ...drive], {
    stdio: 'ignore',
  });
  const started = performance.now();
  try {
    for (;;) {
      if ((await readFile(log, 'utf8').catch(() => '')).includes(BOOT_MARKER)) return;
      if (qemu.exitCode !== null) throw new Error(`qemu exited before the marker; its console's last lines: ${(await readFile(log, 'utf8').catch(() => '')).trim().split('\n').slice(-4).join(' | ')}`);
      if (performance.now() - started > 600_000) throw new Error('no marker within 600 s');
      await sleep(20);
    }
  } finally {
    qemu.kill('SIGKILL');
  }
}

// ── A realistically sized bootable image ─────────────────────────────────────────────────────────────────────

const MiB = 1024 * 1024;

/**
 * A KVM VM folder whose disk is the KVM sample's (its first 32 MiB: MBR, syslinux, kernel, initramfs) grown to
 * `sizeGiB` with `dataGiB` of random data after it, so every block is distinct and incompressible: what a copy of a
 * real server's disk costs. The guest boots exactly as the sample does (it finds its disk by the MBR signature).
 */
export async function buildLargeBootable(sampleQcow2: string, folder: string, name: string, sizeGiB: number, dataGiB: number): Promise<void> {
  await mkdir(folder, { recursive: true });
  const raw = join(folder, `${name}.raw`);
  await runTool('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', sampleQcow2, raw]);
  const handle = await open(raw, 'r+');
  try {
    await handle.truncate(sizeGiB * 1024 * MiB);
    const chunk = Buffer.alloc(8 * MiB);
    for (let offset = 64 * MiB; offset < 64 * MiB + dataGiB * 1024 * MiB; offset += chunk.length) {
      await new Promise<void>((resolve, reject) => randomFill(chunk, (error) => (error ? reject(error) : resolve())));
      await handle.write(chunk, 0, chunk.length, offset);
    }
  } finally {
    await handle.close();
  }
  await runTool('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, join(folder, `${name}.qcow2`)]);
  await rm(raw);
  await writeFile(
    join(folder, `${name}.xml`),
    domainXml({ name, uuid: '6c1f3e2a-8d4b-4f0e-9a7c-5b2d1e0f4a22', osinfoId: 'http://debian.org/debian/12', disks: [{ file: `${name}.qcow2`, format: 'qcow2', dev: 'vda' }] }),
  );
}

// ── Where the CPU goes ───────────────────────────────────────────────────────────────────────────────────────

const TICKS_PER_S = 100; // USER_HZ on Linux

interface ProcTicks {
  pid: number;
  ppid: number;
  /** utime + stime */
  own: number;
  /** cutime + cstime: children it has reaped */
  reaped: number;
  cmdline: string;
}

async function procTicks(pid: number): Promise<ProcTicks | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // comm may hold spaces and parentheses: the fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replaceAll('\0', ' ');
    return { pid, ppid: fields[1]!, own: fields[11]! + fields[12]!, reaped: fields[13]! + fields[14]!, cmdline };
  } catch {
    return undefined; // gone meanwhile
  }
}

/**
 * CPU seconds used so far by each part of a launch on this host: the QEMU processes of the given domains, libvirtd, virtlogd, this Node process (Ferry runs in it in the benches) and the programs it ran
 * (virsh, qemu-img, genisoimage… through its launcher helper), and the whole machine. Differences of two samples
 * say where a launch's CPU went; `machine` minus the rest is everyone else's.
 */
export async function cpuByPart(domains: readonly string[] = []): Promise<Record<string, number>> {
  const { readdir } = await import('node:fs/promises');
  const all = (await Promise.all((await readdir('/proc')).filter((d) => /^\d+$/.test(d)).map((d) => procTicks(Number(d))))).filter((p): p is ProcTicks => p !== undefined);
  const self = all.find((p) => p.pid === process.pid)!;
  const descendants = new Set<number>([process.pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of all) if (!descendants.has(p.pid) && descendants.has(p.ppid)) grew = descendants.add(p.pid) !== undefined;
  }
  const sum = (ps: ProcTicks[], reaped = true) => ps.reduce((a, p) => a + p.own + (reaped ? p.reaped : 0), 0) / TICKS_PER_S;
  const machine = (await cpuTicks());
  return {
    'QEMU guests': sum(all.filter((p) => /qemu-system/.test(p.cmdline) && domains.some((d) => p.cmdline.includes(`guest=${d},`))), false),
    libvirtd: sum(all.filter((p) => /^\S*libvirtd\b/.test(p.cmdline))),
    virtlogd: sum(all.filter((p) => /^\S*virtlogd\b/.test(p.cmdline))),
    'Ferry + bench (node)': self.own / TICKS_PER_S,
    'programs Ferry ran': self.reaped / TICKS_PER_S + sum(all.filter((p) => p.pid !== process.pid && descendants.has(p.pid))),
    'machine (all CPUs)': (machine.total - machine.idle) / TICKS_PER_S,
  };
}

/** `after - before`, part by part (a part absent before counts from 0: the guests start after the first sample). */
export function cpuSpent(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([part, s]) => [part, s - (before[part] ?? 0)]));
}

// ── Waiting for the validations ──────────────────────────────────────────────────────────────────────────────

/**
 * Resolves when GetAppValidationOutput lists `count` validations of the app, all SUCCEEDED (rejects on a FAILED
 * one). It asks when Ferry announces a change of one of the app's instances (a validation result is announced as
 * one, src/core/events.ts) and every second besides, rather than every 50 ms: the benches run Ferry in their own
 * process, and twenty signed requests a second were CPU taken from the booting guests that the by-hand baseline,
 * polling a file, does not pay. The time taken is still that of the answer saying SUCCEEDED.
 */
export async function waitValidated(
  events: { subscribe(listener: (e: { type: string; appId?: string | null }) => void): () => void },
  listValidations: () => Promise<{ status?: string }[]>,
  appId: string,
  count: number,
  timeoutMs = 900_000,
): Promise<void> {
  let wake: (() => void) | undefined;
  const unsubscribe = events.subscribe((e) => {
    if (e.type === 'instance.state' && e.appId === appId) wake?.();
  });
  const deadline = performance.now() + timeoutMs;
  try {
    for (;;) {
      const changed = new Promise<void>((resolve) => (wake = resolve));
      const list = await listValidations();
      if (list.some((o) => o.status === 'FAILED')) throw new Error(`a validation failed: ${JSON.stringify(list)}`);
      if (list.length === count && list.every((o) => o.status === 'SUCCEEDED')) return;
      if (performance.now() > deadline) throw new Error(`the validations of ${appId} did not all succeed within ${timeoutMs / 1000} s`);
      await Promise.race([changed, sleep(1000)]);
    }
  } finally {
    unsubscribe();
  }
}
