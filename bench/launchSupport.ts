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
      if (qemu.exitCode !== null) throw new Error('qemu exited before the marker');
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
