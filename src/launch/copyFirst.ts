/**
 * The copy-first path of the runner's `pending` step (launchSteps.ts; the rule is src/domain/copyFirst.ts): each
 * disk of the image is read through the instance's NBD export into a standalone qcow2 — no backing file — before the
 * domain ever starts, and the export is closed. The instance then boots from local files and never reads the image
 * store again (the image itself is only read: the export refuses writes).
 *
 * `qemu-img convert` into a temporary file, renamed over the disk's name once complete: a Ferry killed mid-copy
 * leaves at worst a partial temporary file (its qemu-img fails as the export dies with Ferry), and the restart, still
 * in `pending`, copies again. Measured against `qemu-img create` of an overlay + `qemu-img rebase -b ''` (which
 * reads the backing data and the overlay both): convert is the cheaper (bench/README.md, "Copy-first").
 */
import { chmod, rename, rm } from 'node:fs/promises';
import { launch as run } from '../lib/launcher.ts';
import { parsePlan, type InstanceRow } from './instanceRepo.ts';
import type { RunnerDeps } from './runnerDeps.ts';

/** Copies every disk of the instance's image into its own disk files; the export is closed afterwards. */
export async function copyDisksBeforeBoot(deps: RunnerDeps, row: InstanceRow): Promise<void> {
  const { files, exports } = deps;
  const id = row.instance_id;
  const served = await exports.serve(id, row.ami_id, parsePlan(row).diskSizes.length);
  deps.phases?.report(id, 'NBD export up');
  try {
    await Promise.all(served.map(async (exported, disk) => {
      const target = files.overlay(id, disk);
      const partial = `${target}.copying`;
      await rm(partial, { force: true });
      const copied = await run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', exported.uri, partial], { timeoutMs: 600_000 });
      if (copied.code !== 0) {
        await rm(partial, { force: true });
        throw new Error(`copying disk ${disk} before the boot failed: ${(copied.startError?.message ?? copied.stderr).trim()}`);
      }
      await chmod(partial, 0o600);
      await rename(partial, target);
    }));
  } finally {
    await exports.close(id);
  }
  deps.phases?.report(id, 'disks copied before boot');
}
