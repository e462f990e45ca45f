/**
 * Writes a disk out of the store: raw as a sparse file (only the data blocks are visited and written, so holes
 * cost nothing whatever the disk's size); qcow2 and VMDK by QEMU's own `qemu-img convert` reading the disk from the
 * store over NBD (nbdExportServer.ts), so the formats are exactly QEMU's and no temporary raw copy is needed.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BlockFetcher, DiskBlock } from './blockFetcher.ts';
import { IMAGE_BLOCK_SIZE } from './constants.ts';
import { ImageStoreError } from './errors.ts';
import { openManifest } from './manifest.ts';
import { serveNbd } from './nbdExportServer.ts';
import { snapshotSource } from './snapshotSource.ts';
import type { ExportFormat, ExportOptions, ExportResult } from './types.ts';

export const EXPORT_FORMATS: readonly ExportFormat[] = ['raw', 'qcow2', 'vmdk'];

export interface SnapshotExport {
  manifestPath: string;
  manifestSha256: string;
  amiId: string;
  diskIndex: number;
  format: ExportFormat;
  outputPath: string;
  options: ExportOptions;
}

/** Exports one snapshot; the manifest is checked whole first, every block as it is read. */
export async function exportSnapshot(fetcher: BlockFetcher, job: SnapshotExport): Promise<ExportResult> {
  if (!EXPORT_FORMATS.includes(job.format)) throw new ImageStoreError('InvalidArgument', `Export format must be one of ${EXPORT_FORMATS.join(', ')}.`);
  const manifest = await openManifest(job.manifestPath);
  try {
    await manifest.verify(job.manifestSha256);
    const sizeBytes = manifest.sizeBytes;
    if (job.format === 'raw') {
      const blocks = fetcher.diskBlocks(manifest, job.manifestSha256, job.amiId, job.diskIndex);
      return { format: job.format, sizeBytes, dataBytes: await writeRawSparse(blocks, sizeBytes, job.outputPath, job.options) };
    }
    const socketPath = join(tmpdir(), `ferry-export-${randomBytes(6).toString('hex')}.sock`);
    const server = await serveNbd(snapshotSource(fetcher, manifest, job.amiId, job.diskIndex), socketPath);
    try {
      await convertWithQemu(server.uri, job.format, job.outputPath, sizeBytes, job.options);
    } catch (thrown) {
      throw server.failure ?? thrown; // qemu only saw EIO; the store's error names the image and the offset
    } finally {
      await server.close();
      rmSync(socketPath, { force: true });
    }
    const tail = sizeBytes % IMAGE_BLOCK_SIZE;
    const lastIsData = (await manifest.entry(manifest.blockCount - 1)) !== 0;
    return { format: job.format, sizeBytes, dataBytes: manifest.dataBlocks * IMAGE_BLOCK_SIZE - (lastIsData && tail ? IMAGE_BLOCK_SIZE - tail : 0) };
  } finally {
    await manifest.close();
  }
}

/** Writes the blocks at their offsets into a sparse file of `sizeBytes`; returns the data bytes written. */
export async function writeRawSparse(
  blocks: AsyncIterable<DiskBlock>,
  sizeBytes: number,
  outputPath: string,
  options: ExportOptions = {},
): Promise<number> {
  const file = await open(outputPath, 'w', 0o600);
  let dataBytes = 0;
  try {
    await file.truncate(sizeBytes).catch((thrown: NodeJS.ErrnoException) => {
      if (thrown.code !== 'EFBIG') throw thrown;
      throw new ImageStoreError('InvalidArgument', `The file system of ${outputPath} cannot hold a ${sizeBytes}-byte file (ext4 stops at 16 TiB); export as qcow2 or vmdk instead.`);
    });
    for await (const block of blocks) {
      options.signal?.throwIfAborted();
      const offset = block.blockIndex * IMAGE_BLOCK_SIZE;
      const length = Math.min(block.data.length, sizeBytes - offset);
      let done = 0;
      while (done < length) done += (await file.write(block.data, done, length - done, offset + done)).bytesWritten;
      dataBytes += length;
      options.onProgress?.({ phase: 'copy', bytesDone: offset + length, bytesTotal: sizeBytes });
    }
    await file.sync();
  } finally {
    await file.close();
  }
  options.onProgress?.({ phase: 'copy', bytesDone: sizeBytes, bytesTotal: sizeBytes });
  return dataBytes;
}

const QEMU_OUTPUT_OPTIONS: Record<Exclude<ExportFormat, 'raw'>, string[]> = {
  qcow2: ['-O', 'qcow2'],
  // monolithicSparse: one self-contained file, what VMware and `qemu-img` both read.
  vmdk: ['-O', 'vmdk', '-o', 'subformat=monolithicSparse'],
};

/** `qemu-img convert -f raw SOURCE` (a file or an NBD URI) into qcow2 or VMDK, reporting qemu's own progress. */
export function convertWithQemu(source: string, format: Exclude<ExportFormat, 'raw'>, outputPath: string, sizeBytes: number, options: ExportOptions = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const args = ['convert', '-p', '-f', 'raw', ...QEMU_OUTPUT_OPTIONS[format], source, outputPath];
    const child = spawn('qemu-img', args, { stdio: ['ignore', 'pipe', 'pipe'], signal: options.signal });
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      // qemu-img -p prints "    (12.34/100%)\r" as it goes.
      const matches = [...text.matchAll(/\((\d+(?:\.\d+)?)\/100%\)/g)];
      const last = matches.at(-1);
      if (last) options.onProgress?.({ phase: 'convert', bytesDone: Math.round((Number(last[1]) / 100) * sizeBytes), bytesTotal: sizeBytes });
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(error.code === 'ENOENT' ? new ImageStoreError('InvalidArgument', 'qemu-img is not installed (Debian package qemu-utils); it is needed to export qcow2 and VMDK.') : error);
    });
    child.on('close', (code) => {
      if (code === 0) {
        options.onProgress?.({ phase: 'convert', bytesDone: sizeBytes, bytesTotal: sizeBytes });
        resolve();
      } else {
        reject(new Error(`qemu-img convert to ${format} failed (exit ${code}): ${stderr.trim()}`));
      }
    });
  });
}
