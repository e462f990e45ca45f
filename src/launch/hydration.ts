/**
 * Hydration: pulls each disk's backing data (the image, over Ferry's NBD export) into the instance's own qcow2 with
 * libvirt's block-stream job (`virsh blockpull`), while the guest runs. When every disk's live definition shows no
 * backing store, the instance no longer reads from Ferry at all: its exports can close and Ferry can stop.
 * Measured here (libvirt 9.0 / QEMU 7.2): 0.6 s for a 19 MiB image. Resumable: after a restart a disk that still
 * has a backing store is simply pulled again (what was copied stays copied).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Virsh } from './virsh.ts';

const POLL_MS = 250;

/** The `<disk>` elements of a live domain XML, by target device. */
function diskElements(xml: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const match of xml.matchAll(/<disk\b[\s\S]*?<\/disk>/g)) {
    const target = /<target\s[^>]*dev=['"]([^'"]+)['"]/.exec(match[0])?.[1];
    if (target) out.set(target, match[0]);
  }
  return out;
}

/** Does the running disk still read through a backing file? (`<backingStore/>` alone means no.) */
export function hasBackingStore(diskXml: string): boolean {
  return /<backingStore\s+[^/>]*type=/.test(diskXml);
}

export async function disksWithBacking(virsh: Virsh, domain: string, targets: readonly string[]): Promise<string[]> {
  const disks = diskElements(await virsh.dumpXml(domain));
  return targets.filter((t) => {
    const xml = disks.get(t);
    if (!xml) throw new Error(`domain ${domain} has no disk ${t}`);
    return hasBackingStore(xml);
  });
}

/** Pulls every target that still has a backing store, one after the other; rejects when one cannot be made standalone. */
export async function hydrate(virsh: Virsh, domain: string, targets: readonly string[], signal: AbortSignal, bandwidthMiB?: number): Promise<void> {
  for (const target of await disksWithBacking(virsh, domain, targets)) {
    signal.throwIfAborted();
    if (!(await virsh.blockJob(domain, target))) await virsh.blockPull(domain, target, bandwidthMiB);
    while (await virsh.blockJob(domain, target)) await sleep(POLL_MS, undefined, { signal });
    // libvirt drops the backing store from the live definition when it handles the job's completion event, a
    // moment after the job itself is gone.
    let backed = true;
    for (let i = 0; i < 20 && backed; i++) {
      backed = (await disksWithBacking(virsh, domain, [target])).length > 0;
      if (backed) await sleep(POLL_MS, undefined, { signal });
    }
    if (backed) throw new Error(`the block pull of ${target} ended but the disk still reads from the image (the export failed, or the job was cancelled)`);
  }
}
