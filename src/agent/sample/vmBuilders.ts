/**
 * Writes whole VM folders in the layouts docs/datastore.md describes: VMware (NAME.vmx + VMDKs), KVM/libvirt
 * (NAME.xml + qcow2/raw) and Hyper-V (Virtual Machines/<GUID>.vmcx + Virtual Hard Disks/*.vhdx, or a flat folder
 * with ferry-vm.json). Used by the sample datastore and by the tests' VM factory.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { normaliseUuid } from '../inventory/identity.ts';
import { buildDisk, MiB, type BuiltDisk, type BuilderTools, type DiskSpec } from './diskBuilder.ts';

export interface BuiltVm {
  folder: string;
  /** The defining file (.vmx, domain XML, .vmcx or ferry-vm.json), if any. */
  definition?: string;
  disks: BuiltDisk[];
}

type DiskOf<F extends DiskSpec['format']> = Omit<DiskSpec, 'format'> & { format?: F; fileName?: string };

// ---------------------------------------------------------------------------------------------------------------
// VMware

export type VmxController = 'scsi' | 'sata' | 'ide' | 'nvme';

/** `56 4d 9a 7b 1c 2e 3f 40-51 62 73 84 95 a6 b7 c8`, the spelling of uuid.bios in .vmx files. */
export function uuidToVmx(uuid: string): string {
  const hex = normaliseUuid(uuid)!.replace(/-/g, '');
  const bytes = hex.match(/../g)!;
  return `${bytes.slice(0, 8).join(' ')}-${bytes.slice(8).join(' ')}`;
}

/** Encodes a .vmx value the way VMware does: `|XX` for `"`, `|`, `#` and control characters. */
export function encodeVmxValue(value: string): string {
  let out = '';
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    if (ch === '"' || ch === '|' || ch === '#' || code < 0x20) out += `|${code.toString(16).toUpperCase().padStart(2, '0')}`;
    else out += ch;
  }
  return out;
}

export interface VmxSpec {
  displayName: string;
  /** uuid.bios; null leaves it out. */
  uuidBios?: string | null;
  vcUuid?: string;
  guestOS?: string;
  memoryMiB?: number;
  cpus?: number;
  firmware?: 'bios' | 'efi';
  disks: { controller: string; fileName: string }[];
  extra?: Record<string, string>;
}

export function vmxText(spec: VmxSpec): string {
  const entries: [string, string][] = [
    ['.encoding', 'UTF-8'],
    ['config.version', '8'],
    ['virtualHW.version', '19'],
    ['displayName', spec.displayName],
    ['guestOS', spec.guestOS ?? 'other-64'],
    ['memSize', String(spec.memoryMiB ?? 1024)],
    ['numvcpus', String(spec.cpus ?? 1)],
    ['firmware', spec.firmware ?? 'bios'],
  ];
  if (spec.uuidBios) entries.push(['uuid.bios', uuidToVmx(spec.uuidBios)]);
  if (spec.vcUuid) entries.push(['vc.uuid', uuidToVmx(spec.vcUuid)]);
  const controllers = new Set(spec.disks.map((d) => d.controller.split(':')[0]!));
  for (const c of [...controllers].sort()) {
    entries.push([`${c}.present`, 'TRUE']);
    if (c.startsWith('scsi')) entries.push([`${c}.virtualDev`, 'pvscsi']);
  }
  for (const d of spec.disks) {
    entries.push([`${d.controller}.present`, 'TRUE'], [`${d.controller}.fileName`, d.fileName]);
    if (!d.controller.startsWith('ide')) entries.push([`${d.controller}.deviceType`, 'disk']);
  }
  entries.push(
    ['ethernet0.present', 'TRUE'],
    ['ethernet0.virtualDev', 'vmxnet3'],
    ['ethernet0.networkName', 'VM Network'],
    ['ethernet0.addressType', 'generated'],
  );
  for (const [k, v] of Object.entries(spec.extra ?? {})) entries.push([k, v]);
  return `${entries.map(([k, v]) => `${k} = "${encodeVmxValue(v)}"`).join('\n')}\n`;
}

export interface VmwareVmSpec {
  /** displayName, and the base name of the .vmx and disk files. */
  name: string;
  uuidBios?: string | null;
  vcUuid?: string;
  guestOS?: string;
  controller?: VmxController;
  firmware?: 'bios' | 'efi';
  disks: DiskOf<'vmdk'>[];
  extraVmx?: Record<string, string>;
  /** Default NAME.vmx. */
  vmxFileName?: string;
}

/** The i-th disk slot on a bus: scsiN:M skips unit 7 (the controller's own), IDE has two buses of two. */
export function controllerSlot(bus: VmxController, i: number): string {
  switch (bus) {
    case 'ide':
      return `ide${Math.floor(i / 2)}:${i % 2}`;
    case 'sata':
      return `sata${Math.floor(i / 30)}:${i % 30}`;
    case 'nvme':
      return `nvme${Math.floor(i / 15)}:${i % 15}`;
    case 'scsi': {
      const unit = i % 15;
      return `scsi${Math.floor(i / 15)}:${unit >= 7 ? unit + 1 : unit}`;
    }
  }
}

export async function buildVmwareVm(folder: string, spec: VmwareVmSpec, tools?: BuilderTools): Promise<BuiltVm> {
  await mkdir(folder, { recursive: true });
  const bus = spec.controller ?? 'scsi';
  const disks: BuiltDisk[] = [];
  const refs: { controller: string; fileName: string }[] = [];
  for (const [i, d] of spec.disks.entries()) {
    const fileName = d.fileName ?? (i === 0 ? `${spec.name}.vmdk` : `${spec.name}_${i}.vmdk`);
    const adapter = bus === 'ide' ? 'ide' : 'lsilogic';
    disks.push(await buildDisk(join(folder, fileName), { vmdkAdapter: adapter, ...d, format: 'vmdk' }, tools ? { tools } : {}));
    refs.push({ controller: controllerSlot(bus, i), fileName });
  }
  const vmxName = spec.vmxFileName ?? `${spec.name}.vmx`;
  const definition = join(folder, vmxName);
  await writeFile(
    definition,
    vmxText({
      displayName: spec.name,
      ...(spec.uuidBios !== undefined ? { uuidBios: spec.uuidBios } : {}),
      ...(spec.vcUuid ? { vcUuid: spec.vcUuid } : {}),
      ...(spec.guestOS ? { guestOS: spec.guestOS } : {}),
      ...(spec.firmware ? { firmware: spec.firmware } : {}),
      disks: refs,
      ...(spec.extraVmx ? { extra: spec.extraVmx } : {}),
    }),
  );
  return { folder, definition, disks };
}

// ---------------------------------------------------------------------------------------------------------------
// KVM / libvirt

export function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

export interface DomainSpec {
  name: string;
  uuid?: string | null;
  /** libosinfo id, e.g. http://debian.org/debian/12 */
  osinfoId?: string;
  memoryMiB?: number;
  cpus?: number;
  disks: { file: string; format: string; dev: string; bus?: string }[];
  /** Extra XML inserted in <devices> as is (tests). */
  extraDevicesXml?: string;
}

export function domainXml(spec: DomainSpec): string {
  const mem = (spec.memoryMiB ?? 1024) * 1024;
  const lines = [
    `<domain type='kvm'>`,
    `  <name>${xmlEscape(spec.name)}</name>`,
    ...(spec.uuid ? [`  <uuid>${xmlEscape(spec.uuid)}</uuid>`] : []),
    ...(spec.osinfoId
      ? [
          '  <metadata>',
          `    <libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0">`,
          `      <libosinfo:os id="${xmlEscape(spec.osinfoId)}"/>`,
          '    </libosinfo:libosinfo>',
          '  </metadata>',
        ]
      : []),
    `  <memory unit='KiB'>${mem}</memory>`,
    `  <currentMemory unit='KiB'>${mem}</currentMemory>`,
    `  <vcpu placement='static'>${spec.cpus ?? 1}</vcpu>`,
    `  <os>`,
    `    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>`,
    `    <boot dev='hd'/>`,
    `  </os>`,
    `  <features><acpi/><apic/></features>`,
    `  <devices>`,
    `    <emulator>/usr/bin/qemu-system-x86_64</emulator>`,
    ...spec.disks.flatMap((d) => [
      `    <disk type='file' device='disk'>`,
      `      <driver name='qemu' type='${xmlEscape(d.format)}'/>`,
      `      <source file='${xmlEscape(d.file)}'/>`,
      `      <target dev='${xmlEscape(d.dev)}' bus='${xmlEscape(d.bus ?? 'virtio')}'/>`,
      `    </disk>`,
    ]),
    `    <disk type='file' device='cdrom'>`,
    `      <driver name='qemu' type='raw'/>`,
    `      <target dev='sda' bus='sata'/>`,
    `      <readonly/>`,
    `    </disk>`,
    `    <interface type='network'>`,
    `      <source network='default'/>`,
    `      <model type='virtio'/>`,
    `    </interface>`,
    ...(spec.extraDevicesXml ? [spec.extraDevicesXml] : []),
    `  </devices>`,
    `</domain>`,
  ];
  return `${lines.join('\n')}\n`;
}

export interface KvmVmSpec {
  name: string;
  uuid?: string | null;
  osinfoId?: string;
  disks: DiskOf<'qcow2' | 'raw'>[];
  /** How disks are named in the XML: by file name (default), or by an absolute path such as libvirt's pool. */
  sourceDir?: string;
  /** Default NAME.xml. */
  xmlFileName?: string;
  extraDevicesXml?: string;
}

export async function buildKvmVm(folder: string, spec: KvmVmSpec, tools?: BuilderTools): Promise<BuiltVm> {
  await mkdir(folder, { recursive: true });
  const disks: BuiltDisk[] = [];
  const refs: DomainSpec['disks'] = [];
  for (const [i, d] of spec.disks.entries()) {
    const format = d.format ?? 'qcow2';
    const fileName = d.fileName ?? `${spec.name}${i === 0 ? '' : `-${i}`}.${format === 'raw' ? 'img' : 'qcow2'}`;
    disks.push(await buildDisk(join(folder, fileName), { ...d, format }, tools ? { tools } : {}));
    refs.push({ file: spec.sourceDir ? `${spec.sourceDir.replace(/\/$/, '')}/${fileName}` : fileName, format, dev: `vd${String.fromCharCode(97 + i)}` });
  }
  const definition = join(folder, spec.xmlFileName ?? `${spec.name}.xml`);
  await writeFile(
    definition,
    domainXml({
      name: spec.name,
      ...(spec.uuid !== undefined ? { uuid: spec.uuid } : {}),
      ...(spec.osinfoId ? { osinfoId: spec.osinfoId } : {}),
      disks: refs,
      ...(spec.extraDevicesXml ? { extraDevicesXml: spec.extraDevicesXml } : {}),
    }),
  );
  return { folder, definition, disks };
}

// ---------------------------------------------------------------------------------------------------------------
// Hyper-V

export interface HyperVVmSpec {
  /**
   * `hyperv`: Hyper-V's own export layout, `Virtual Machines/<GUID>.vmcx` + `Virtual Hard Disks/NAME.vhdx`.
   * `flat`: the disks directly in the folder (with an optional ferry-vm.json).
   */
  layout: 'hyperv' | 'flat';
  /** The GUID naming the .vmcx (layout hyperv); default none. */
  guid?: string;
  /** Written as ferry-vm.json when given. */
  ferryVm?: { vmId?: string; vmName?: string; osFamily?: 'linux' | 'windows' | 'unknown'; disks?: string[] };
  /** Base name of the disk files; default the folder name. */
  name?: string;
  disks: DiskOf<'vhdx' | 'vpc'>[];
}

/** Placeholder content for a .vmcx: Hyper-V's binary format is not read, only the file's GUID name is. */
export const VMCX_PLACEHOLDER = 'Placeholder written by Ferry: Ferry reads only the GUID in this file\'s name, not its content.\n';

export async function buildHyperVVm(folder: string, spec: HyperVVmSpec, tools?: BuilderTools): Promise<BuiltVm> {
  await mkdir(folder, { recursive: true });
  const name = spec.name ?? folder.split('/').filter(Boolean).at(-1)!;
  const diskDir = spec.layout === 'hyperv' ? join(folder, 'Virtual Hard Disks') : folder;
  const disks: BuiltDisk[] = [];
  for (const [i, d] of spec.disks.entries()) {
    const format = d.format ?? 'vhdx';
    const fileName = d.fileName ?? `${name}${i === 0 ? '' : `_${i}`}.${format === 'vpc' ? 'vhd' : 'vhdx'}`;
    disks.push(await buildDisk(join(diskDir, fileName), { ...d, format }, tools ? { tools } : {}));
  }
  let definition: string | undefined;
  if (spec.guid) {
    const vmDir = spec.layout === 'hyperv' ? join(folder, 'Virtual Machines') : folder;
    await mkdir(vmDir, { recursive: true });
    definition = join(vmDir, `${normaliseUuid(spec.guid)!.toUpperCase()}.vmcx`);
    await writeFile(definition, VMCX_PLACEHOLDER);
  }
  if (spec.ferryVm) {
    const path = join(folder, 'ferry-vm.json');
    await writeFile(path, `${JSON.stringify(spec.ferryVm, null, 2)}\n`);
    definition ??= path;
  }
  return { folder, ...(definition ? { definition } : {}), disks };
}

export { MiB };
