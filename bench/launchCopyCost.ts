/**
 * What copying an image before the first boot costs (src/launch/copyFirst.ts), to choose the copy-first line
 * (src/domain/copyFirst.ts, FERRY_LAUNCH_COPY_FIRST_MAX_MIB): images of the KVM sample with 0, 48, 112 and 240 MiB of
 * random data added (its own ~19 MiB besides) are replicated, and each disk is copied into a standalone file three
 * ways, in rotating order, caches dropped before each: the image store's raw export in this process into a sparse raw
 * file (what Ferry does), and through an NBD export of the disk as a launch serves it, `qemu-img convert` into a
 * qcow2, or `qemu-img create -b export` + `qemu-img rebase -b ''`. Prints each copy's time (median and runs), the
 * rate of Ferry's way, and the idle share; the line is where the copy costs what a boot through the export loses
 * against a local file (launchTimeline.ts --copy-first-off --alternate measures that).
 *
 *   node bench/launchCopyCost.ts [--runs 3]
 *
 * Needs root (drop_caches) and qemu-img; no libvirt.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startTestFerry } from '../test/helpers/ferry.ts';
import { bootableDatastore, bootableVm } from '../test/helpers/launch.ts';
import { createJob, expectCompleted, importCatalog, tempDir } from '../test/helpers/replication.ts';
import { runTool } from '../src/agent/sample/diskBuilder.ts';
import { BLOCK_SIZE } from '../src/domain/blocks.ts';
import { buildLargeBootable, timed } from './launchSupport.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const RUNS = Math.max(1, Number(values.runs));
const ADDED_MIB = [0, 48, 112, 240];
const MiB = 1024 * 1024;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

async function main(): Promise<void> {
  const datastore = await bootableDatastore(['kvm']);
  const kvm = bootableVm('kvm').folder;
  const folders = [kvm];
  for (const added of ADDED_MIB.filter((m) => m > 0)) {
    const name = `copy${String(added).padStart(3, '0')}`;
    await buildLargeBootable(join(datastore.dir, kvm, `${kvm}.qcow2`), join(datastore.dir, name), name, 1, added / 1024);
    folders.push(name);
  }
  const t = await startTestFerry({ datastore: datastore.dir, connectorPollMs: 200 });
  const work = await tempDir();
  try {
    const servers = await importCatalog(t.sms, folders, 120_000);
    console.log('data MiB  raw export ms (runs)       convert ms (runs)          rebase ms (runs)           raw MiB/s  idle');
    for (const folder of folders) {
      const { jobId, seedRunId } = await createJob(t.sms, servers.get(folder)!.serverId!);
      const { amiId } = await expectCompleted(t.sms, jobId, seedRunId);
      const image = (await t.ferry.plane.images.findImage(amiId))!;
      const dataMiB = (image.disks[0]!.dataBlocks * BLOCK_SIZE) / MiB;
      const socket = join(work.dir, 'disk0.sock');
      const served = await t.ferry.plane.images.serveDisk(amiId, 0, socket);
      const ms: Record<'raw' | 'convert' | 'rebase', number[]> = { raw: [], convert: [], rebase: [] };
      const idle: number[] = [];
      try {
        for (let run = 0; run < RUNS; run++) {
          const ways = ['raw', 'convert', 'rebase'] as const;
          for (const way of [0, 1, 2].map((i) => ways[(i + run) % 3]!)) {
            const out = join(work.dir, `${way}.qcow2`);
            await rm(out, { force: true });
            await writeFile('/proc/sys/vm/drop_caches', '3').catch(() => undefined);
            const copied = await timed(async () => {
              if (way === 'raw') await t.ferry.plane.images.exportDisk(amiId, 0, 'raw', out);
              else if (way === 'convert') await runTool('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', served.uri, out], { timeoutMs: 600_000 });
              else {
                await runTool('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', served.uri, '-u', out, String(served.sizeBytes)]);
                await runTool('qemu-img', ['rebase', '-q', '-b', '', out], { timeoutMs: 600_000 });
              }
            });
            ms[way].push(copied.ms);
            idle.push(copied.idle);
            await rm(out, { force: true });
          }
        }
      } finally {
        await served.close();
      }
      const list = (xs: number[]) => `${Math.round(median(xs))} (${xs.map((x) => Math.round(x)).join(' ')})`.padEnd(26);
      console.log(`${dataMiB.toFixed(1).padStart(8)}  ${list(ms.raw)} ${list(ms.convert)} ${list(ms.rebase)} ${(dataMiB / (median(ms.raw) / 1000)).toFixed(0).padStart(9)}  ${Math.round(median(idle) * 100)} %`);
    }
  } finally {
    await t.close();
    await work.cleanup();
    await datastore.cleanup();
  }
  console.log(`(load average ${(await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')})`);
}

main().catch((error: unknown) => {
  console.log(`bench failed: ${(error as Error).stack ?? error}`);
  process.exitCode = 1;
});
