/**
 * Hydration: pulls each disk's backing data (the image, over Ferry's NBD export) into the instance's own qcow2 with
 * libvirt's block-stream job (`virsh blockpull`), while the guest runs. When every disk's live definition shows no
 * backing store, the instance no longer reads from Ferry at all: its exports can close and Ferry can stop.
 * Measured here (libvirt 9.0 / QEMU 7.2): 0.6 s for a 19 MiB image. Resumable: after a restart a disk that still
 * has a backing store is simply pulled again (what was copied stays copied).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { DomainEvents } from './domainEvents.ts';
import { VirshError, type Virsh } from './virsh.ts';

/**
 * The block job is asked about after 50 ms, then less and less often (×1.5, at most every 2 s): a small image's pull
 * (well under a second) is noticed within a few tens of ms, and a pull of gigabytes costs a virsh process every 2 s
 * rather than 4 a second (each one competes with the guests for the CPU).
 */
function* pollDelays(): Generator<number> {
  for (let ms = 50; ; ms = Math.min(2000, ms * 1.5)) yield Math.round(ms);
}

/**
 * While libvirt's event stream is followed (domainEvents.ts) the job is asked about when libvirt says it ended
 * (`block-job-2 … Block Pull for TARGET completed`) and otherwise every 2 s, in case the event was missed: a 32 MiB
 * pull no longer costs the eight or so virsh processes of the back-off above.
 */
function* followedDelays(): Generator<number> {
  for (;;) yield 2000;
}

/** Resolves after `ms`, or as soon as `ended` is told (a block-job event for the disk); rejects when aborted. */
function waitForJob(ms: number, ended: { wake?: () => void; seen: boolean }, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const finish = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      ended.wake = undefined;
      resolve();
    };
    const onAbort = () => {
      clearTimeout(timer);
      ended.wake = undefined;
      reject(signal.reason);
    };
    const timer = setTimeout(finish, ms);
    ended.wake = finish;
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

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

/**
 * Pulls every target that still has a backing store, one after the other; rejects when one cannot be made
 * standalone. With `events` (followed), a job's end is heard rather than polled for (see followedDelays).
 */
export async function hydrate(virsh: Virsh, domain: string, targets: readonly string[], signal: AbortSignal, bandwidthMiB?: number, events?: DomainEvents): Promise<void> {
  for (const target of await disksWithBacking(virsh, domain, targets)) {
    signal.throwIfAborted();
    // Followed before the job starts, so its end cannot pass unheard; any end (completed, failed, cancelled) is a
    // reason to ask libvirt, which alone says whether the job is gone.
    const ended: { wake?: () => void; seen: boolean } = { seen: false };
    const stopFollowing = events?.on(domain, (event) => {
      if (event.type !== 'block-job-2' || /^Block Pull for (\S+) \w+/.exec(event.detail)?.[1] !== target) return;
      ended.seen = true;
      ended.wake?.();
    });
    try {
      if (!(await virsh.blockJob(domain, target))) {
        // A job started since the question (an operator's `virsh blockpull`, another pass) is as good as ours: wait for it.
        await virsh.blockPull(domain, target, bandwidthMiB).catch((error: unknown) => {
          if (!(error instanceof VirshError && /already in active block job/.test(error.stderr))) throw error;
        });
      }
      const jobDelays = events?.following ? followedDelays() : pollDelays();
      // Once libvirt said the job ended, it is asked again after 50 ms, then less and less often, until it is gone.
      const afterEnd = pollDelays();
      while (await virsh.blockJob(domain, target)) {
        if (ended.seen) await sleep(afterEnd.next().value!, undefined, { signal });
        else await waitForJob(jobDelays.next().value!, ended, signal);
      }
    } finally {
      stopFollowing?.();
    }
    // libvirt drops the backing store from the live definition when it handles the job's completion event, a
    // moment after the job itself is gone (given about 5 s, as before).
    let backed = true;
    const definitionDelays = pollDelays();
    for (let waited = 0; waited < 5000 && backed; ) {
      backed = (await disksWithBacking(virsh, domain, [target])).length > 0;
      if (!backed) break;
      const ms = definitionDelays.next().value!;
      await sleep(ms, undefined, { signal });
      waited += ms;
    }
    if (backed) throw new Error(`the block pull of ${target} ended but the disk still reads from the image (the export failed, or the job was cancelled)`);
  }
}
