/**
 * Helpers for the launch tests: whether this machine can launch at all (root, a running libvirt, the tools), a
 * datastore holding only the sample's bootable VMs, a private instances dir QEMU can reach, and polls on instances
 * and on `virsh list`. Every wait has a deadline.
 */
import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { findTool } from '../../src/lib/tools.ts';
import { BOOTABLE_VMS, buildBootableVm, prepareBootAssets, type BootableVm } from '../../src/agent/sample/bootableVms.ts';
import type { Tenant } from '../../src/core/context.ts';
import type { Instance, InstanceService } from '../../src/launch/instanceService.ts';
import { waitFor } from './replication.ts';

export const LAUNCH_URI = 'qemu:///system';

let skipReason: string | undefined | null = null;

/** Why the launch tests cannot run here (undefined: they can). `.ci/run` installs and starts what they need. */
export function launchSkipReason(): string | undefined {
  if (skipReason !== null) return skipReason;
  skipReason = (() => {
    if (process.getuid?.() !== 0) return 'the launch tests use qemu:///system, which needs root (run them as root, as .ci/run does)';
    for (const [tool, pkg] of [
      ['virsh', 'libvirt-clients'],
      ['qemu-system-x86_64', 'qemu-system-x86'],
      ['genisoimage', 'genisoimage'],
      ['syslinux', 'syslinux'],
      ['busybox', 'busybox-static'],
    ] as const) {
      if (!findTool(tool)) return `${tool} is not installed (apt-get install ${pkg})`;
    }
    const probe = spawnSync(findTool('virsh')!, ['-c', LAUNCH_URI, 'version'], { encoding: 'utf8', timeout: 20_000 });
    if (probe.status !== 0) return `libvirt does not answer at ${LAUNCH_URI} (start it: virtlogd --daemon && libvirtd --daemon): ${probe.stderr.trim()}`;
    return undefined;
  })();
  return skipReason;
}

export function bootableVm(kind: BootableVm['kind']): BootableVm {
  return BOOTABLE_VMS.find((vm) => vm.kind === kind)!;
}

/** A datastore under /tmp with the given bootable sample VMs (kernels from the shared cache, downloaded once). */
export async function bootableDatastore(kinds: BootableVm['kind'][]): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join('/tmp', 'ferry-bootable-'));
  const assets = await prepareBootAssets();
  for (const kind of kinds) {
    const vm = bootableVm(kind);
    await buildBootableVm(join(dir, vm.folder), vm, assets);
  }
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** An instances dir QEMU (libvirt-qemu) can reach: /tmp/ferry-instances-XXXX (0711) / instances. */
export async function instancesDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const base = await mkdtemp(join('/tmp', 'ferry-instances-'));
  await chmod(base, 0o711);
  return { dir: join(base, 'instances'), cleanup: () => rm(base, { recursive: true, force: true }) };
}

export function waitForInstance(
  service: InstanceService,
  tenant: Tenant,
  instanceId: string,
  until: (instance: Instance) => boolean,
  timeoutMs = 180_000,
): Promise<Instance> {
  return waitFor(
    `instance ${instanceId}`,
    async () => {
      const instance = await service.get(tenant, instanceId);
      return instance && until(instance) ? instance : undefined;
    },
    { timeoutMs, intervalMs: 200 },
  );
}

/** Every domain libvirt has (running or not). */
export function virshListAll(): string[] {
  const out = spawnSync(findTool('virsh')!, ['-q', '-c', LAUNCH_URI, 'list', '--all', '--name'], { encoding: 'utf8', timeout: 30_000 });
  if (out.status !== 0) throw new Error(`virsh list failed: ${out.stderr}`);
  return out.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
}

export function virsh(...args: string[]): string {
  const out = spawnSync(findTool('virsh')!, ['-q', '-c', LAUNCH_URI, ...args], { encoding: 'utf8', timeout: 60_000 });
  if (out.status !== 0) throw new Error(`virsh ${args.join(' ')} failed: ${out.stderr}`);
  return out.stdout;
}

/** Removes a domain a failed test may have left (best effort, by its exact name). */
export function removeDomain(name: string): void {
  spawnSync(findTool('virsh')!, ['-q', '-c', LAUNCH_URI, 'destroy', name], { timeout: 30_000 });
  spawnSync(findTool('virsh')!, ['-q', '-c', LAUNCH_URI, 'undefine', name], { timeout: 30_000 });
}
