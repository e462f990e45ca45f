/**
 * Is launching possible here, and if not, the one line that says what is missing — and, for `ferry serve` on the
 * local default URI, starting libvirt when it is installed but not running. There is no systemd on the machines
 * Ferry targets first, so it does what ../shared/research/launch.md measured: `virtlogd --daemon`, then
 * `libvirtd --daemon` (0.15 s), and waits until virsh answers.
 */
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { findTool } from '../lib/tools.ts';
import { DEFAULT_LAUNCH_URI } from '../config/config.ts';
import { launch } from '../lib/launcher.ts';
import type { InstanceFiles } from './instanceFiles.ts';
import type { Virsh } from './virsh.ts';

export const LAUNCH_PACKAGES = 'qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-clients libvirt-daemon-driver-qemu';

export type Availability = { available: true; virtType: 'qemu' | 'kvm' } | { available: false; reason: string };

/** Where the default URI's daemon listens (Debian). */
const SYSTEM_SOCKET = '/run/libvirt/libvirt-sock';

function oneLine(text: string): string {
  return text.trim().replace(/^error:\s*/gm, '').replace(/\s*\n\s*/g, '; ');
}

/** Does libvirt offer KVM for x86-64 guests on that host (capabilities list it only where /dev/kvm works)? */
export function offersKvm(capabilitiesXml: string): boolean {
  for (const guest of capabilitiesXml.matchAll(/<guest>[\s\S]*?<\/guest>/g)) {
    if (/<arch name=['"]x86_64['"]/.test(guest[0]) && /<domain type=['"]kvm['"]/.test(guest[0])) return true;
  }
  return false;
}

/** The host part of a libvirt URI (`qemu+ssh://kvm1/system` → kvm1); empty for a local daemon. */
export function uriHost(uri: string): string {
  const match = /^[a-z][a-z0-9+.-]*:\/\/([^/?]*)/i.exec(uri);
  const host = (match?.[1] ?? '').replace(/^[^@]*@/, '').replace(/:\d+$/, '');
  return host === 'localhost' || host === '127.0.0.1' || host === '[::1]' ? '' : host;
}

export async function checkAvailability(virsh: Virsh, files: InstanceFiles): Promise<Availability> {
  if (uriHost(virsh.uri)) {
    // The overlays, seeds and NBD sockets an instance needs are made on this host; QEMU on another host cannot open
    // them. Serving them there (NBD over TLS, storage-pool uploads) is not built yet.
    return { available: false, reason: `launching through a remote libvirt (${virsh.uri}) is not supported yet: instance disks and image exports are served on the Ferry host only; run Ferry on the hypervisor host with a local URI` };
  }
  if (!virsh.installed) return { available: false, reason: `libvirt is not installed (apt-get install ${LAUNCH_PACKAGES})` };
  if (!findTool('qemu-img')) return { available: false, reason: 'qemu-img is not installed (apt-get install qemu-utils)' };
  let capabilities: string;
  try {
    await virsh.version();
    capabilities = await virsh.capabilities();
  } catch (error) {
    const hint = virsh.uri === DEFAULT_LAUNCH_URI ? ' (start it: virtlogd --daemon && libvirtd --daemon; `ferry serve` does this when it runs as root)' : '';
    return { available: false, reason: `libvirt at ${virsh.uri} does not answer: ${oneLine((error as Error).message)}${hint}` };
  }
  if (!/<arch name=['"]x86_64['"]/.test(capabilities)) {
    return { available: false, reason: `libvirt at ${virsh.uri} offers no x86-64 guests (apt-get install qemu-system-x86 libvirt-daemon-driver-qemu)` };
  }
  const problem = await files.problem();
  if (problem) return { available: false, reason: problem };
  return { available: true, virtType: offersKvm(capabilities) ? 'kvm' : 'qemu' };
}

/**
 * For the local default URI only: when libvirt is installed but its daemon is not running, start virtlogd and
 * libvirtd (root only). Returns a line for the log saying what happened or what is missing; undefined when libvirt
 * was already running or the URI is not the local default.
 */
export async function startLocalLibvirt(uri: string): Promise<string | undefined> {
  if (uri !== DEFAULT_LAUNCH_URI) return undefined;
  const virsh = findTool('virsh');
  const libvirtd = findTool('libvirtd');
  const virtlogd = findTool('virtlogd');
  if (!virsh || !libvirtd || !virtlogd) return `launching is unavailable: libvirt is not installed (apt-get install ${LAUNCH_PACKAGES}); replication works without it`;
  const answers = async () => (await launch(virsh, ['-q', '-c', uri, 'version'], { timeoutMs: 10_000 })).code === 0;
  if (existsSync(SYSTEM_SOCKET) && (await answers())) return undefined;
  if (process.getuid?.() !== 0) return `launching is unavailable until libvirtd runs: start it as root (virtlogd --daemon && libvirtd --daemon)`;
  // Each refuses to start a second copy of itself, so a daemon that is already up is left alone.
  await launch(virtlogd, ['--daemon'], { timeoutMs: 10_000 });
  const started = await launch(libvirtd, ['--daemon', '--pid-file=/run/libvirtd.pid'], { timeoutMs: 10_000 });
  for (let i = 0; i < 50; i++) {
    if (await answers()) return 'started libvirt (virtlogd and libvirtd were not running)';
    await sleep(100);
  }
  return `launching is unavailable: libvirtd did not start (${oneLine(started.stderr) || `exit ${started.code}`})`;
}
