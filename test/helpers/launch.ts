/**
 * Helpers for the launch tests: whether this machine can launch at all (root, a running libvirt, the tools), a
 * datastore holding only the sample's bootable VMs, a private instances dir QEMU can reach, and polls on instances
 * and on `virsh list`. Every wait has a deadline.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findTool } from '../../src/lib/tools.ts';
import { BOOTABLE_VMS, buildBootableVm, prepareBootAssets, type BootableVm } from '../../src/agent/sample/bootableVms.ts';
import type { Tenant } from '../../src/domain/tenant.ts';
import type { Instance, InstanceService } from '../../src/apps/instances.ts';
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

/**
 * Ferry's domains whose definition mentions `text` (an app id, say). Tests run side by side, so a domain listed a
 * moment ago may be gone when its XML is read: it is skipped, it was not the caller's (whose domains are checked
 * against this list, so one of theirs going missing still fails).
 */
export function ferryDomainsMentioning(text: string): string[] {
  return virshListAll().filter((name) => {
    if (!name.startsWith('ferry-i-')) return false;
    const out = spawnSync(findTool('virsh')!, ['-q', '-c', LAUNCH_URI, 'dumpxml', name], { encoding: 'utf8', timeout: 60_000 });
    if (out.status !== 0) {
      if (/failed to get domain|Domain not found/i.test(out.stderr)) return false;
      throw new Error(`virsh dumpxml ${name} failed: ${out.stderr}`);
    }
    return out.stdout.includes(text);
  });
}

/** Removes a domain a failed test may have left (best effort, by its exact name). */
export function removeDomain(name: string): void {
  spawnSync(findTool('virsh')!, ['-q', '-c', LAUNCH_URI, 'destroy', name], { timeout: 30_000 });
  spawnSync(findTool('virsh')!, ['-q', '-c', LAUNCH_URI, 'undefine', name], { timeout: 30_000 });
}

/** A Ferry's launch settings for tests that really launch: qemu:///system and a private instances dir. */
export async function realLaunch(extra: { bootTimeoutMs?: number; hydrationBandwidthMiB?: number } = {}): Promise<{
  launch: { uri: string; instancesDir: string; bootTimeoutMs?: number; hydrationBandwidthMiB?: number };
  cleanup: () => Promise<void>;
}> {
  const dir = await instancesDir();
  return { launch: { uri: LAUNCH_URI, instancesDir: dir.dir, ...extra }, cleanup: dir.cleanup };
}

/**
 * Removes every domain of the instances a test Ferry launched (by their exact names, read from its store), so a
 * failed test leaves nothing running; other domains on the host are never touched.
 */
export async function removeLaunchedDomains(core: { db: unknown }): Promise<void> {
  const db = core.db as import('kysely').Kysely<{ instances: { domain_name: string } }>;
  for (const row of await db.selectFrom('instances').select('domain_name').execute().catch(() => [])) removeDomain(row.domain_name);
}

export interface TestNetwork {
  vpc: string;
  subnet: string;
  securityGroup: string;
  cleanup(): void;
}

/**
 * A libvirt network with one portgroup and a network filter, under the given names (default: random ones), for the
 * `vpc` / `subnet` / `securityGroup` of a launch configuration. An isolated bridge: no NAT, no DHCP.
 */
export async function testNetwork(names: Partial<Pick<TestNetwork, 'vpc' | 'subnet' | 'securityGroup'>> = {}): Promise<TestNetwork> {
  const suffix = randomBytes(4).toString('hex');
  const vpc = names.vpc ?? `vpc-t${suffix}`;
  const subnet = names.subnet ?? `subnet-t${suffix}`;
  const securityGroup = names.securityGroup ?? `sg-t${suffix}`;
  const dir = await mkdtemp(join(tmpdir(), 'ferry-net-'));
  try {
    await writeFile(join(dir, 'net.xml'), `<network><name>${vpc}</name><bridge stp='on' delay='0'/><portgroup name='${subnet}'/></network>`);
    await writeFile(join(dir, 'filter.xml'), `<filter name='${securityGroup}' chain='root'><filterref filter='allow-arp'/></filter>`);
    virsh('net-define', join(dir, 'net.xml'));
    virsh('net-start', vpc);
    virsh('nwfilter-define', join(dir, 'filter.xml'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return {
    vpc,
    subnet,
    securityGroup,
    cleanup() {
      for (const args of [['net-destroy', vpc], ['net-undefine', vpc], ['nwfilter-undefine', securityGroup]]) {
        spawnSync(findTool('virsh')!, ['-q', '-c', LAUNCH_URI, ...args], { timeout: 30_000 });
      }
    },
  };
}
