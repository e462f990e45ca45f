/**
 * Snapshot manifests: which block each block index of a disk holds (zero blocks are not listed). New manifests are
 * format 2, which stores only the non-zero blocks, so a manifest's size and every pass over it follow the disk's
 * data, not its virtual size (manifestV2.ts). Format 1 (one entry per block index, zeros included) is still read,
 * for images made before format 2 (manifestV1.ts).
 *
 * Both are written to a temporary name, fsynced and renamed, so a manifest exists whole or not at all, and end
 * with a SHA-256 (also kept in the snapshot's row) that catches a damaged or swapped file before it can point a
 * read at the wrong block.
 */
import { open } from 'node:fs/promises';
import { IMAGE_BLOCK_SIZE } from './constants.ts';
import { MANIFEST_HEADER, ManifestError, type ManifestReader } from './manifestFormat.ts';
import { openManifestV1 } from './manifestV1.ts';
import { openManifestV2 } from './manifestV2.ts';

export { MANIFEST_CHUNK, ManifestError, type ManifestEntries, type ManifestReader, type ManifestSummary } from './manifestFormat.ts';
export { ManifestWriter } from './manifestV2.ts';

/** Opens a manifest of either format (told apart by its magic). */
export async function openManifest(path: string): Promise<ManifestReader> {
  const file = await open(path, 'r');
  try {
    const header = Buffer.alloc(MANIFEST_HEADER);
    const { bytesRead } = await file.read(header, 0, MANIFEST_HEADER, 0);
    if (bytesRead !== MANIFEST_HEADER) throw new ManifestError(path, 'bad header');
    if (header.readUInt32LE(12) !== IMAGE_BLOCK_SIZE) throw new ManifestError(path, 'unexpected block size');
    const { size } = await file.stat();
    const magic = header.toString('latin1', 0, 8);
    if (magic === 'FRYMNF02') return openManifestV2(path, file, header, size);
    if (magic === 'FRYMNF01') return openManifestV1(path, file, header, size);
    throw new ManifestError(path, 'bad header');
  } catch (thrown) {
    await file.close();
    throw thrown;
  }
}
