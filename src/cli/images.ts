/** `ferry images list|export`: read the local image store directly, also while the service runs. */
import type { Command } from 'commander';
import { Option } from 'commander';
import { resolveDataDir } from '../config/config.ts';
import { openImageStore } from '../images/imageStore.ts';
import { Keyring } from '../kms/keyring.ts';
import { loadMasterKey } from '../kms/masterKey.ts';
import { withAdminCore } from './adminCore.ts';

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

async function withImages<T>(dataDirFlag: string | undefined, work: (images: Awaited<ReturnType<typeof openImageStore>>) => Promise<T>): Promise<T> {
  const dataDir = resolveDataDir(dataDirFlag, process.env);
  return withAdminCore(dataDir, async (core) => {
    const keyring = new Keyring(core.db, loadMasterKey(dataDir, process.env));
    const images = await openImageStore({ db: core.db, dataDir, readOnly: true, resolveSealer: (keyRef) => keyring.sealerForKeyRef(keyRef) });
    try {
      return await work(images);
    } finally {
      await images.close();
    }
  });
}

export function addImageCommands(program: Command): void {
  const images = program.command('images').description('list and export the machine images replication runs created');
  images
    .command('list')
    .description('list images (newest first)')
    .addOption(new Option('--data-dir <dir>', 'data directory (env FERRY_DATA_DIR, default ./ferry-data)'))
    .option('--json', 'print JSON')
    .action(async (flags: { dataDir?: string; json?: boolean }) => {
      const list = await withImages(flags.dataDir, (store) => store.listImages());
      if (flags.json) {
        process.stdout.write(JSON.stringify(list, null, 2) + '\n');
        return;
      }
      if (list.length === 0) {
        process.stdout.write('No images yet.\n');
        return;
      }
      for (const image of list) {
        process.stdout.write(
          `${image.amiId}  ${new Date(image.createdAt).toISOString()}  ${image.replicationJobId}  ${image.disks.length} disk(s)  ${gib(image.logicalBytes)}${image.encrypted ? '  encrypted' : ''}\n`,
        );
      }
    });
  images
    .command('export')
    .description('write one disk of an image to a file')
    .argument('<ami-id>', 'image id (ami-…)')
    .requiredOption('--output <file>', 'file to write')
    .addOption(new Option('--disk <n>', 'disk index').default('0'))
    .addOption(new Option('--format <format>', 'output format').choices(['raw', 'qcow2', 'vmdk']).default('raw'))
    .addOption(new Option('--data-dir <dir>', 'data directory (env FERRY_DATA_DIR, default ./ferry-data)'))
    .action(async (amiId: string, flags: { output: string; disk: string; format: 'raw' | 'qcow2' | 'vmdk'; dataDir?: string }) => {
      const disk = Number(flags.disk);
      if (!Number.isInteger(disk) || disk < 0) throw new Error(`--disk must be a disk index (0, 1, …); got ${flags.disk}.`);
      const tty = process.stderr.isTTY;
      let last = 0;
      const result = await withImages(flags.dataDir, (store) =>
        store.exportDisk(amiId, disk, flags.format, flags.output, {
          onProgress: (p) => {
            const now = Date.now();
            if (now - last < 500 && p.bytesDone < p.bytesTotal) return;
            last = now;
            const line = `${p.phase} ${Math.floor((p.bytesDone / Math.max(1, p.bytesTotal)) * 100)}% (${gib(p.bytesDone)} of ${gib(p.bytesTotal)})`;
            process.stderr.write(tty ? `\r${line}   ` : `${line}\n`);
          },
        }),
      );
      if (tty) process.stderr.write('\n');
      process.stdout.write(`Exported ${amiId} disk ${disk} as ${result.format} to ${flags.output} (${gib(result.sizeBytes)}, ${gib(result.dataBytes)} of data).\n`);
    });
}
