/**
 * VMware .vmx configuration files: `key = "value"` lines, keys case-insensitive, `#` comments, values possibly
 * containing VMware's `|XX` hex escapes (`|22` is a double quote). Only what the inventory needs is interpreted.
 */

export class VmxError extends Error {}

export const MAX_VMX_BYTES = 1024 * 1024;

/** Parses a .vmx file into a map of lower-cased keys to decoded values (the last occurrence of a key wins). */
export function parseVmx(text: string): Map<string, string> {
  if (text.length > MAX_VMX_BYTES) throw new VmxError(`file larger than ${MAX_VMX_BYTES} bytes`);
  if (text.includes('\u0000')) throw new VmxError('binary data (NUL bytes) in a text configuration file');
  const entries = new Map<string, string>();
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((rawLine, index) => {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^([A-Za-z0-9_.:\-[\]]+)\s*=\s*(.*)$/.exec(line);
    if (!m) throw new VmxError(`line ${index + 1}: expected key = "value", got ${JSON.stringify(line.slice(0, 60))}`);
    const key = m[1]!.toLowerCase();
    let value = m[2]!.trim();
    if (value.startsWith('"')) {
      const end = value.indexOf('"', 1);
      if (end === -1) throw new VmxError(`line ${index + 1}: unterminated quoted value for ${m[1]}`);
      const rest = value.slice(end + 1).trim();
      if (rest !== '' && !rest.startsWith('#')) throw new VmxError(`line ${index + 1}: text after the quoted value of ${m[1]}`);
      value = value.slice(1, end);
    } else {
      value = value.replace(/\s+#.*$/, '');
    }
    entries.set(key, decodeVmxValue(value));
  });
  return entries;
}

/** Decodes VMware's `|XX` escapes (one byte each, UTF-8 sequences across several escapes). */
export function decodeVmxValue(value: string): string {
  if (!value.includes('|')) return value;
  const bytes: number[] = [];
  for (let i = 0; i < value.length; ) {
    const m = /^\|([0-9a-fA-F]{2})/.exec(value.slice(i, i + 3));
    if (m) {
      bytes.push(Number.parseInt(m[1]!, 16));
      i += 3;
    } else {
      const cp = value.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      bytes.push(...Buffer.from(ch, 'utf8'));
      i += ch.length;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

export function vmxBoolean(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  const v = value.trim().toLowerCase();
  if (v === 'true' || v === 'yes' || v === '1' || v === 'on') return true;
  if (v === 'false' || v === 'no' || v === '0' || v === 'off') return false;
  return undefined;
}

export interface VmxDiskEntry {
  /** `scsi0:0`, `sata0:1`, `ide0:0`, `nvme0:0`. */
  controller: string;
  fileName: string;
}

const CONTROLLER_ORDER = ['scsi', 'sata', 'nvme', 'ide'];

/**
 * The hard disks of a VM: `<bus>N:M.fileName` entries whose device is present (`<bus>N:M.present = "TRUE"`), whose
 * controller is not disabled (`<bus>N.present = "FALSE"`), and which are not CD/DVD or floppy devices. Ordered with
 * `bios.hddOrder` first (the boot disk), then by controller type (SCSI, SATA, NVMe, IDE), bus and unit.
 */
export function vmxDisks(vmx: Map<string, string>): VmxDiskEntry[] {
  const disks: { entry: VmxDiskEntry; bus: string; n: number; m: number }[] = [];
  for (const [key, value] of vmx) {
    const k = /^(scsi|sata|ide|nvme)(\d+):(\d+)\.filename$/.exec(key);
    if (!k) continue;
    const [, bus, n, m] = k;
    const device = `${bus}${n}:${m}`;
    if (vmxBoolean(vmx.get(`${device}.present`)) !== true) continue;
    if (vmxBoolean(vmx.get(`${bus}${n}.present`)) === false) continue;
    const deviceType = (vmx.get(`${device}.devicetype`) ?? '').toLowerCase();
    if (/cdrom|atapi|floppy/.test(deviceType)) continue;
    if (/\.iso$/i.test(value) || value === '' || /^(auto detect|\/dev\/)/i.test(value)) continue;
    disks.push({ entry: { controller: device, fileName: value }, bus: bus!, n: Number(n), m: Number(m) });
  }
  const bootFirst = (vmx.get('bios.hddorder') ?? '').toLowerCase().split(',')[0]?.trim();
  disks.sort((a, b) => {
    if (a.entry.controller === bootFirst) return -1;
    if (b.entry.controller === bootFirst) return 1;
    return CONTROLLER_ORDER.indexOf(a.bus) - CONTROLLER_ORDER.indexOf(b.bus) || a.n - b.n || a.m - b.m;
  });
  return disks.map((d) => d.entry);
}

const LINUX_GUESTS =
  /linux|ubuntu|debian|rhel|redhat|centos|fedora|sles|suse|opensuse|oracle|asianux|mandrake|mandriva|turbolinux|photon|coreos|amazonlinux|almalinux|rocky|miraclelinux|pardus/;

/** VMware `guestOS` identifiers (`ubuntu-64`, `rhel8-64`, `windows2019srv-64`, `winNetEnterprise`…) → family. */
export function osFamilyFromGuestOs(guestOS: string | undefined): 'linux' | 'windows' | 'unknown' {
  if (!guestOS) return 'unknown';
  const g = guestOS.toLowerCase();
  if (/^win|^longhorn|^whistler/.test(g)) return 'windows';
  if (LINUX_GUESTS.test(g)) return 'linux';
  return 'unknown';
}
