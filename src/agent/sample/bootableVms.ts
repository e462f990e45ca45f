/**
 * The sample's bootable VMs: one VMware (VMDK + .vmx), one Hyper-V (VHDX) and one KVM (qcow2 + domain XML), each a
 * 32 MiB disk with an MBR, syslinux and one FAT partition holding a Debian kernel and a busybox initramfs whose
 * /init is described in guestInit.ts. Under software emulation they boot to `FERRY-BOOT-OK <hostname>` in a few
 * seconds; they stay up, print nothing more unless a seed's scripts do, and never write their disk (so a guest can
 * hash its own disk and get the image's hash).
 *
 * The VMware and Hyper-V guests carry Debian's generic kernel (AHCI, PIIX, LSI, PVSCSI, NVMe and virtio drivers)
 * because Ferry gives them SATA disks; the KVM guest carries the faster-booting cloud kernel (virtio) and the QEMU
 * guest agent.
 */
import { readFile } from 'node:fs/promises';
import { findTool } from '../../lib/tools.ts';
import { MiB, mbrSignatureBytes, type DiskSpec } from './diskBuilder.ts';
import { obtainKernel, type KernelFlavour, type KernelOptions, type SampleKernel } from './debianKernel.ts';
import { guestAgentEntries, GUEST_AGENT_PATH } from './guestAgentFiles.ts';
import { guestInitScript } from './guestInit.ts';
import { buildInitramfs, type InitramfsEntry } from './initramfs.ts';
import { buildHyperVVm, buildKvmVm, buildVmwareVm } from './vmBuilders.ts';

export interface BootableVm {
  folder: string;
  kind: 'vmware' | 'hyperv' | 'kvm';
  flavour: KernelFlavour;
  guestAgent: boolean;
  /** Fixed, so server ids stay the same whenever the sample is rebuilt. */
  uuid: string;
}

export const BOOTABLE_VMS: readonly BootableVm[] = [
  { folder: 'boot-vm01', kind: 'vmware', flavour: 'generic', guestAgent: false, uuid: '564d6a1e-7c0b-4a52-9d3e-0b1f5e2a7c11' },
  { folder: 'boot-hv01', kind: 'hyperv', flavour: 'generic', guestAgent: false, uuid: '8f2c4d6e-1a3b-4c5d-9e7f-0a1b2c3d4e11' },
  { folder: 'boot-kvm01', kind: 'kvm', flavour: 'cloud', guestAgent: true, uuid: '3b7e9f2a-6c1d-4e8b-a5f0-2d9c7b1e4a11' },
];

export const BOOT_DISK_BYTES = 32 * MiB;

/** What the builds need from outside: the kernels and the guest agent (downloaded or from the cache). */
export interface BootAssets {
  kernels: Map<KernelFlavour, SampleKernel>;
  busybox: Buffer;
  /** Absent when the agent could not be had; the KVM guest then boots without one. */
  guestAgent?: InitramfsEntry[];
  /** Why the agent is missing. */
  guestAgentMissing?: string;
}

/** True when the ELF file asks for a dynamic loader (PT_INTERP): a dynamic busybox cannot run alone in an initramfs. */
function isDynamicElf(elf: Buffer): boolean {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2) return true;
  const table = Number(elf.readBigUInt64LE(0x20));
  const size = elf.readUInt16LE(0x36);
  const count = elf.readUInt16LE(0x38);
  for (let i = 0; i < count; i++) if (elf.readUInt32LE(table + i * size) === 3) return true;
  return false;
}

/** Fetches (or finds in the cache) everything the bootable VMs need. Throws KernelUnavailableError with the reason. */
export async function prepareBootAssets(options: KernelOptions = {}): Promise<BootAssets> {
  const busyboxPath = findTool('busybox');
  if (!busyboxPath) throw new Error('busybox is not installed: apt-get install busybox-static');
  const busybox = await readFile(busyboxPath);
  if (isDynamicElf(busybox)) throw new Error(`${busyboxPath} is dynamically linked: apt-get install busybox-static`);
  const kernels = new Map<KernelFlavour, SampleKernel>();
  for (const flavour of new Set(BOOTABLE_VMS.map((vm) => vm.flavour))) kernels.set(flavour, await obtainKernel(flavour, options));
  try {
    return { kernels, busybox, guestAgent: await guestAgentEntries(options) };
  } catch (error) {
    return { kernels, busybox, guestAgentMissing: (error as Error).message };
  }
}

async function initramfsFor(vm: BootableVm, assets: BootAssets, diskSignature: string): Promise<Buffer> {
  const kernel = assets.kernels.get(vm.flavour)!;
  const agent = vm.guestAgent ? assets.guestAgent : undefined;
  const modules = kernel.modules.map((m) => `${m.name}.ko`);
  const entries: InitramfsEntry[] = [
    ...['bin', 'dev', 'lib', 'lib/modules', 'proc', 'root', 'run', 'sys', 'tmp'].map((path): InitramfsEntry => ({ path, type: 'dir' })),
    { path: 'bin/busybox', type: 'file', data: assets.busybox, mode: 0o755 },
    { path: 'init', type: 'file', mode: 0o755, data: guestInitScript({ hostname: vm.folder, diskSignature, modules, ...(agent ? { guestAgent: GUEST_AGENT_PATH } : {}) }) },
  ];
  for (const m of kernel.modules) entries.push({ path: `lib/modules/${m.name}.ko`, type: 'file', data: await readFile(m.path) });
  const listed = new Set(entries.map((e) => e.path));
  for (const entry of agent ?? []) {
    const path = entry.path.replace(/^\/+/, '');
    if (!listed.has(path)) entries.push({ ...entry, path });
    listed.add(path);
  }
  return await buildInitramfs(entries);
}

const SYSLINUX_CFG = ['SERIAL 0 115200', 'DEFAULT ferry', 'PROMPT 0', 'TIMEOUT 0', 'LABEL ferry', '  KERNEL /vmlinuz', '  INITRD /initrd.gz', '  APPEND console=ttyS0,115200 quiet panic=-1', ''].join('\n');

/** The boot disk's content: MBR + syslinux + one bootable FAT partition with the kernel and initramfs. */
async function bootDisk(vm: BootableVm, assets: BootAssets): Promise<Omit<DiskSpec, 'format'>> {
  const seed = `${vm.folder}:0`;
  const initrd = await initramfsFor(vm, assets, mbrSignatureBytes(seed).toString('hex'));
  return {
    sizeBytes: BOOT_DISK_BYTES,
    content: {
      type: 'partitioned',
      table: 'mbr',
      seed,
      bootloader: 'syslinux',
      partitions: [
        {
          fs: 'vfat',
          label: 'FERRYBOOT',
          bootable: true,
          files: { vmlinuz: await readFile(assets.kernels.get(vm.flavour)!.vmlinuz), 'initrd.gz': initrd, 'syslinux.cfg': SYSLINUX_CFG },
        },
      ],
    },
  };
}

/** Builds one bootable VM into `folder` in its hypervisor's layout. */
export async function buildBootableVm(folder: string, vm: BootableVm, assets: BootAssets): Promise<void> {
  const disk = await bootDisk(vm, assets);
  if (vm.kind === 'vmware') {
    await buildVmwareVm(folder, {
      name: vm.folder,
      uuidBios: vm.uuid,
      guestOS: 'debian12-64',
      controller: 'scsi',
      disks: [{ ...disk, vmdkSubformat: 'monolithicSparse' }],
      extraVmx: { 'serial0.present': 'TRUE', 'serial0.fileType': 'file', 'serial0.fileName': `${vm.folder}-serial.log` },
    });
  } else if (vm.kind === 'hyperv') {
    await buildHyperVVm(folder, {
      layout: 'hyperv',
      guid: vm.uuid,
      ferryVm: { vmName: vm.folder, osFamily: 'linux' },
      disks: [{ ...disk, format: 'vhdx' }],
    });
  } else {
    await buildKvmVm(folder, { name: vm.folder, uuid: vm.uuid, osinfoId: 'http://debian.org/debian/12', disks: [{ ...disk, format: 'qcow2' }] });
  }
}
