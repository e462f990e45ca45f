/** libvirt domain XML (`virsh dumpxml NAME > NAME.xml`): identity, OS hint and disks. */
import { child, childPath, childrenNamed, findAll, parseXml, type XmlElement } from './xml.ts';

export interface DomainDisk {
  /** `file`, `block`, `network`, `volume`, `dir`… (the `type` attribute; libvirt's default is `file`). */
  type: string;
  /** Source file as written (type `file`). */
  file?: string;
  /** `<driver type>`: qcow2, raw, vmdk, vpc, vhdx…; libvirt's default is raw. */
  driverType: string;
  /** `<target dev>`: vda, sda, hda… */
  targetDev?: string;
  targetBus?: string;
  bootOrder?: number;
  readonly: boolean;
}

export interface Domain {
  uuid?: string;
  name?: string;
  osFamily: 'linux' | 'windows' | 'unknown';
  disks: DomainDisk[];
}

export function isDomainXml(root: XmlElement): boolean {
  return root.name === 'domain';
}

const LINUX_OSINFO = /linux|ubuntu|debian|redhat|rhel|centos|fedora|suse|opensuse|oracle|almalinux|rocky|alpine|gentoo|mageia|mandriva|amazon|coreos|cirros|slackware|nixos|clearlinux/;

/** Family from a libosinfo id (`http://ubuntu.com/ubuntu/22.04`, `http://microsoft.com/win/2k19`). */
export function osFamilyFromOsinfo(id: string | undefined): 'linux' | 'windows' | 'unknown' {
  if (!id) return 'unknown';
  const v = id.toLowerCase();
  if (v.includes('microsoft.com/win')) return 'windows';
  if (LINUX_OSINFO.test(v)) return 'linux';
  return 'unknown';
}

/** Parses a domain XML document. Throws XmlError for malformed XML and Error when the root is not <domain>. */
export function parseDomainXml(text: string): Domain {
  const root = parseXml(text);
  if (!isDomainXml(root)) throw new Error(`root element is <${root.name}>, not <domain>`);
  const uuid = child(root, 'uuid')?.text.trim() || undefined;
  const name = child(root, 'name')?.text.trim() || undefined;

  const osinfo = findAll(root, (e) => e.name.endsWith(':os') && e.attributes['id'] !== undefined)[0]?.attributes['id'];
  let osFamily = osFamilyFromOsinfo(osinfo);
  if (osFamily === 'unknown' && childPath(root, 'features', 'hyperv')) osFamily = 'windows';

  const disks: DomainDisk[] = [];
  const devices = child(root, 'devices');
  for (const disk of devices ? childrenNamed(devices, 'disk') : []) {
    const device = disk.attributes['device'] ?? 'disk';
    if (device !== 'disk') continue; // cdrom, floppy, lun
    const type = disk.attributes['type'] ?? 'file';
    const source = child(disk, 'source');
    const target = child(disk, 'target');
    const boot = child(disk, 'boot')?.attributes['order'];
    const file = source?.attributes['file'];
    disks.push({
      type,
      ...(file !== undefined ? { file } : {}),
      driverType: child(disk, 'driver')?.attributes['type'] ?? 'raw',
      ...(target?.attributes['dev'] !== undefined ? { targetDev: target.attributes['dev'] } : {}),
      ...(target?.attributes['bus'] !== undefined ? { targetBus: target.attributes['bus'] } : {}),
      ...(boot !== undefined && /^\d+$/.test(boot) ? { bootOrder: Number(boot) } : {}),
      readonly: child(disk, 'readonly') !== undefined,
    });
  }
  // Disks with a boot order first (by order), then the others in document order.
  const indexed = disks.map((d, i) => ({ d, i }));
  indexed.sort((a, b) => (a.d.bootOrder ?? Infinity) - (b.d.bootOrder ?? Infinity) || a.i - b.i);
  return { ...(uuid ? { uuid } : {}), ...(name ? { name } : {}), osFamily, disks: indexed.map((x) => x.d) };
}
