/**
 * The libvirt domain XML of an instance (pure). What an operator sees in `virsh list` / `virsh dumpxml`:
 * - name `ferry-<instance id>`; `<title>` with the instance, server, image and app;
 * - `<metadata>` in Ferry's namespace (FERRY_XMLNS) with the owner (this installation), instance, account, region,
 *   app, server and image ids and the launch's labels — Ferry finds its own domains by it after a restart;
 * - one copy-on-write qcow2 disk per image disk (its backing chain, an NBD export of the image, is read by libvirt
 *   from the qcow2 header: no `<backingStore>` here, so once hydrated the definition names no backing file at all);
 * - the NoCloud seed as a read-only CD-ROM, a NIC on the chosen network, the serial console into a file, and the
 *   `org.qemu.guest_agent.0` channel for the QEMU guest agent.
 * Measured on libvirt 9.0: `<graphics type='none'/>` is refused (so there is none), `type='kvm'` is refused where
 * /dev/kvm is missing (so the caller picks `qemu` there), and `<memballoon model='none'/>` avoids a useless device;
 * so do no USB controller and no NIC option ROM (bench/launchDomainXml.ts measures what they cost a boot).
 */
import type { DeviceLayout } from '../domain/instanceDevices.ts';

/** Ferry's metadata namespace in domain XML (`virsh metadata DOMAIN --uri …`). */
export const FERRY_XMLNS = 'urn:x-ferry:libvirt:instance:1';

/** How long the firmware waits before it tries again to boot when it found no bootable disk (SeaBIOS, ms). */
const FIRMWARE_REBOOT_TIMEOUT_MS = 1000;

export interface DomainMetadata {
  owner: string;
  instanceId: string;
  accountId: string;
  region: string;
  appId: string | null;
  serverId: string;
  amiId: string;
  labels: Record<string, string>;
}

export interface DomainSpec {
  name: string;
  virtType: 'qemu' | 'kvm';
  vcpus: number;
  memoryMiB: number;
  layout: DeviceLayout;
  /** Overlay files, disk 0 first. */
  disks: string[];
  seed: string | null;
  network: { name: string; portgroup?: string; filter?: string };
  consoleLog: string;
  metadata: DomainMetadata;
}

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

function metadataXml(m: DomainMetadata): string[] {
  const field = (tag: string, value: string | null) => (value === null ? [] : [`      <ferry:${tag}>${escapeXml(value)}</ferry:${tag}>`]);
  return [
    '  <metadata>',
    `    <ferry:instance xmlns:ferry="${FERRY_XMLNS}">`,
    ...field('owner', m.owner),
    ...field('instanceId', m.instanceId),
    ...field('accountId', m.accountId),
    ...field('region', m.region),
    ...field('appId', m.appId),
    ...field('serverId', m.serverId),
    ...field('imageId', m.amiId),
    ...Object.entries(m.labels).map(([k, v]) => `      <ferry:label key="${escapeXml(k)}">${escapeXml(v)}</ferry:label>`),
    '    </ferry:instance>',
    '  </metadata>',
  ];
}

export function domainXml(spec: DomainSpec): string {
  const { layout, metadata } = spec;
  const title = `Ferry ${metadata.instanceId} · server ${metadata.serverId} · ${metadata.amiId}${metadata.appId ? ` · app ${metadata.appId}` : ''}`;
  const disks = spec.disks.flatMap((file, i) => [
    `    <disk type='file' device='disk'>`,
    `      <driver name='qemu' type='qcow2' discard='unmap'/>`,
    `      <source file='${escapeXml(file)}'/>`,
    `      <target dev='${layout.disks[i]}' bus='${layout.bus}'/>`,
    ...(i === 0 ? [`      <boot order='1'/>`] : []),
    `    </disk>`,
  ]);
  const seed = spec.seed
    ? [
        `    <disk type='file' device='cdrom'>`,
        `      <driver name='qemu' type='raw'/>`,
        `      <source file='${escapeXml(spec.seed)}'/>`,
        `      <target dev='${layout.cdrom.dev}' bus='${layout.cdrom.bus}'/>`,
        `      <readonly/>`,
        `    </disk>`,
      ]
    : [];
  const net = spec.network;
  const lines = [
    `<domain type='${spec.virtType}'>`,
    `  <name>${escapeXml(spec.name)}</name>`,
    `  <title>${escapeXml(title)}</title>`,
    `  <description>Launched by Ferry for account ${escapeXml(metadata.accountId)} in ${escapeXml(metadata.region)}. Ferry manages this domain: terminate the instance through Ferry rather than with virsh.</description>`,
    ...metadataXml(metadata),
    `  <memory unit='MiB'>${spec.memoryMiB}</memory>`,
    `  <vcpu>${spec.vcpus}</vcpu>`,
    `  <os>`,
    `    <type arch='x86_64' machine='${layout.machine}'>hvm</type>`,
    // The firmware tries to boot again a second after it found nothing to boot (QEMU's default is to halt for good).
    // A guest reset while QEMU's NBD client is still reconnecting to a restarted Ferry's export reads nothing from its
    // disk at first; without this it would wait forever and its launch fail at the boot timeout.
    `    <bios rebootTimeout='${FIRMWARE_REBOOT_TIMEOUT_MS}'/>`,
    `  </os>`,
    `  <features><acpi/><apic/></features>`,
    ...(spec.virtType === 'kvm' ? [`  <cpu mode='host-passthrough'/>`] : []),
    `  <clock offset='utc'/>`,
    `  <on_poweroff>destroy</on_poweroff>`,
    `  <on_reboot>restart</on_reboot>`,
    `  <on_crash>destroy</on_crash>`,
    `  <devices>`,
    // No USB controller (libvirt adds one by default): nothing is plugged into it, and the guest's kernel probes it.
    `    <controller type='usb' model='none'/>`,
    ...(layout.scsiController ? [`    <controller type='scsi' index='0' model='${layout.scsiController}'/>`] : []),
    ...disks,
    ...seed,
    `    <interface type='network'>`,
    `      <source network='${escapeXml(net.name)}'${net.portgroup ? ` portgroup='${escapeXml(net.portgroup)}'` : ''}/>`,
    `      <model type='${layout.nic}'/>`,
      // No option ROM: instances boot from their disk, and the firmware would otherwise load and run iPXE's.
      `      <rom enabled='no'/>`,
    ...(net.filter ? [`      <filterref filter='${escapeXml(net.filter)}'/>`] : []),
    `    </interface>`,
    `    <serial type='file'>`,
    `      <source path='${escapeXml(spec.consoleLog)}'/>`,
    `      <target port='0'/>`,
    `    </serial>`,
    `    <channel type='unix'>`,
    `      <target type='virtio' name='org.qemu.guest_agent.0'/>`,
    `    </channel>`,
    `    <memballoon model='none'/>`,
    `  </devices>`,
    `</domain>`,
  ];
  return `${lines.join('\n')}\n`;
}

function unescapeXml(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}

/** Owner and instance id from `virsh metadata DOMAIN --uri FERRY_XMLNS` output (any namespace prefix). */
export function parseDomainMetadata(xml: string): { owner?: string; instanceId?: string } {
  const value = (tag: string) => {
    const match = new RegExp(`<(?:[\\w-]+:)?${tag}>([^<]*)</(?:[\\w-]+:)?${tag}>`).exec(xml);
    return match ? unescapeXml(match[1]!) : undefined;
  };
  const out: { owner?: string; instanceId?: string } = {};
  const owner = value('owner');
  const instanceId = value('instanceId');
  if (owner !== undefined) out.owner = owner;
  if (instanceId !== undefined) out.instanceId = instanceId;
  return out;
}
