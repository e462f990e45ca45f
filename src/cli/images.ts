/** `ferry images list|export`: read the local image store directly, also while the service runs. */
import type { Command } from 'commander';
import { Option } from 'commander';
import { resolveDataDir } from '../config/config.ts';
import { openImageStore } from '../images/imageStore.ts';
import { openBlockStorage, parseBlocksSetting } from '../images/blocks/blocksUrl.ts';
import { Keyring } from '../kms/keyring.ts';
import { loadMasterKey } from '../kms/masterKey.ts';
import { withAdminCore } from './adminCore.ts';
import { accountOf } from './accounts.ts';
import { Presets, SingleBar } from 'cli-progress';
import type { ExportProgress } from '../images/types.ts';

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

/**
 * Export progress on stderr: a cli-progress bar per phase (copy, then convert for qcow2/vmdk) on a terminal;
 * otherwise a plain line `PHASE N% (X GiB of Y GiB)` when a phase starts, passes another 10 % or ends.
 */
function exportProgress(stream: NodeJS.WriteStream): { update: (p: ExportProgress) => void; stop: () => void } {
  const percentOf = (p: ExportProgress) => Math.floor((p.bytesDone / Math.max(1, p.bytesTotal)) * 100);
  if (!stream.isTTY) {
    let lastKey = '';
    return {
      update(p) {
        const percent = percentOf(p);
        const key = `${p.phase} ${Math.floor(percent / 10)}`;
        if (key === lastKey) return;
        lastKey = key;
        stream.write(`${p.phase} ${percent}% (${gib(p.bytesDone)} of ${gib(p.bytesTotal)})\n`);
      },
      stop() {},
    };
  }
  let bar: SingleBar | undefined;
  let phase = '';
  const payload = (p: ExportProgress) => ({ phase: p.phase.padEnd(7), done: gib(p.bytesDone), size: gib(p.bytesTotal) });
  return {
    update(p) {
      if (p.phase !== phase) {
        bar?.stop();
        phase = p.phase;
        bar = new SingleBar(
          { stream, format: '{phase} |{bar}| {percentage}% | {done} of {size} | ETA {eta_formatted}', barsize: 30, hideCursor: true, fps: 5 },
          Presets.shades_classic,
        );
        bar.start(Math.max(1, p.bytesTotal), 0, payload(p));
      }
      bar!.update(p.bytesDone, payload(p));
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}

async function withImages<T>(
  dataDirFlag: string | undefined,
  work: (images: Awaited<ReturnType<typeof openImageStore>>, core: Parameters<Parameters<typeof withAdminCore>[1]>[0]) => Promise<T>,
): Promise<T> {
  const dataDir = resolveDataDir(dataDirFlag, process.env);
  return withAdminCore(dataDir, async (core) => {
    const keyring = new Keyring(core.db, loadMasterKey(dataDir, process.env));
    // The service's block storage (FERRY_BLOCKS, FERRY_S3_ENDPOINT), so images kept in S3 read from there too.
    const blocksSetting = parseBlocksSetting(process.env.FERRY_BLOCKS || undefined, process.env.FERRY_S3_ENDPOINT || undefined, process.env);
    const blocks = blocksSetting ? openBlockStorage(blocksSetting) : undefined;
    const images = await openImageStore({ db: core.db, dataDir, readOnly: true, resolveSealer: (keyRef) => keyring.sealerForKeyRef(keyRef), blocks });
    try {
      return await work(images, core);
    } finally {
      await images.close();
    }
  });
}

export function addImageCommands(program: Command): void {
  const images = program.command('images').description('list and export the machine images replication runs created');
  images
    .command('list')
    .description("list the images (newest first) of every account, or of one with --account; read from the data dir (AWS_* keys play no part)")
    .addOption(new Option('--data-dir <dir>', 'data directory (env FERRY_DATA_DIR, default ./ferry-data)'))
    .option('--account <name-or-id>', "only this account's images")
    .option('--json', 'print JSON')
    .action(async (flags: { dataDir?: string; account?: string; json?: boolean }) => {
      const list = await withImages(flags.dataDir, async (store, core) => {
        const all = await store.listImages();
        if (flags.account === undefined) return all;
        const { accountId } = await accountOf(core, flags.account);
        return all.filter((image) => image.tenant.accountId === accountId);
      });
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
          `${image.amiId}  ${image.tenant.accountId}/${image.tenant.region}  ${new Date(image.createdAt).toISOString()}  ${image.replicationJobId}  ${image.disks.length} disk(s)  ${gib(image.logicalBytes)}${image.encrypted ? '  encrypted' : ''}\n`,
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
      const progress = exportProgress(process.stderr);
      const result = await withImages(flags.dataDir, (store) =>
        store.exportDisk(amiId, disk, flags.format, flags.output, { onProgress: progress.update }),
      ).finally(() => progress.stop());
      process.stdout.write(`Exported ${amiId} disk ${disk} as ${result.format} to ${flags.output} (${gib(result.sizeBytes)}, ${gib(result.dataBytes)} of data).\n`);
    });
}
