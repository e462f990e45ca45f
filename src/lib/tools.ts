/**
 * Locating the Debian tools Ferry runs. Admin tools such as sfdisk and mkfs.ext4 live in /usr/sbin, which an
 * unprivileged user's PATH often lacks, so those directories are searched too; commands then run by absolute path.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Which Debian package ships each tool Ferry uses. */
export const TOOL_PACKAGES: Record<string, string> = {
  'qemu-img': 'qemu-utils',
  'qemu-io': 'qemu-utils',
  'qemu-nbd': 'qemu-utils',
  sfdisk: 'fdisk',
  'mkfs.ext4': 'e2fsprogs',
  dumpe2fs: 'e2fsprogs',
  debugfs: 'e2fsprogs',
  'mkfs.vfat': 'dosfstools',
  mcopy: 'mtools',
  mmd: 'mtools',
  mdir: 'mtools',
  // The sample's bootable VMs and the launch subsystem (src/agent/sample, src/launch).
  syslinux: 'syslinux',
  'apt-get': 'apt',
  'apt-cache': 'apt',
  'dpkg-deb': 'dpkg',
  virsh: 'libvirt-clients',
  'qemu-system-x86_64': 'qemu-system-x86',
  genisoimage: 'genisoimage',
  xorriso: 'xorriso',
};

const cache = new Map<string, string>();

/** The absolute path of a tool, or undefined when it is not installed. */
export function findTool(name: string): string | undefined {
  const cached = cache.get(name);
  if (cached) return cached;
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  let found: string | undefined;
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      found = candidate;
      break;
    } catch {
      // keep looking
    }
  }
  if (found) cache.set(name, found);
  return found;
}

export class MissingToolError extends Error {
  readonly tools: string[];
  constructor(tools: string[], purpose: string) {
    const packages = [...new Set(tools.map((t) => TOOL_PACKAGES[t] ?? t))];
    super(
      `${purpose} needs ${tools.join(', ')}, which ${tools.length === 1 ? 'is' : 'are'} not installed. ` +
        `Install the Debian package${packages.length === 1 ? '' : 's'}: apt-get install ${packages.join(' ')}`,
    );
    this.tools = tools;
  }
}

/** Resolves every tool or throws one MissingToolError naming all missing tools and their packages. */
export function requireTools<const T extends string>(names: readonly T[], purpose: string): Record<T, string> {
  const out = {} as Record<T, string>;
  const missing: string[] = [];
  for (const name of names) {
    const path = findTool(name);
    if (path) out[name] = path;
    else missing.push(name);
  }
  if (missing.length > 0) throw new MissingToolError(missing, purpose);
  return out;
}
