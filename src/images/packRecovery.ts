/**
 * Recovery of packs left open by a writer that died: the bytes past the pack's indexed end belong to blocks that
 * were never indexed (the crash came between the write and the index commit), so the file is cut back to that end
 * and the pack sealed. Runs when a writable store opens; packs of live writers (here or on other hosts) are left alone.
 */
import { fsyncSync, openSync, closeSync, ftruncateSync, fstatSync, rmSync } from 'node:fs';
import type { ImageDb } from './db.ts';
import { deleteOpenPack, openPacks, packExists, packHasBlocks, sealPack } from '../store/images/index.ts';
import { PACK_HEADER_SIZE, packPath } from './packFile.ts';
import { packOwnerAlive } from './packOwner.ts';
import type { ImageStoreLog } from './types.ts';
import type { BlockPlacement } from './blocks/blockPlacement.ts';

export async function recoverPacks(db: ImageDb, root: string, now: number, log: ImageStoreLog, placement?: BlockPlacement): Promise<number> {
  let recovered = 0;
  for (const pack of await openPacks(db)) {
    if (pack.owner !== null && packOwnerAlive(pack.owner)) continue;
    const { packId, endOffset: end } = pack;
    const path = packPath(root, packId);
    let cut = 0;
    let missing = false;
    try {
      const fd = openSync(path, 'r+');
      try {
        const size = fstatSync(fd).size;
        if (size > end) {
          ftruncateSync(fd, end);
          fsyncSync(fd);
          cut = size - end;
        }
      } finally {
        closeSync(fd);
      }
    } catch (thrown) {
      if ((thrown as NodeJS.ErrnoException).code !== 'ENOENT') throw thrown;
      missing = true; // the writer died between creating the row and the file
    }
    // Indexed blocks but no file here: the pack is another data dir's (a node on this host sharing the store). Its
    // bytes are there, not in block storage, so sealing it would publish a pack nobody can read and keep its owner
    // from ever uploading it; it stays open until the store that has the file opens again and recovers it.
    if (missing && end > PACK_HEADER_SIZE) {
      log.warn({ packId, owner: pack.owner }, 'an open pack of a stopped writer is not in this data dir; left for the store that has it');
      continue;
    }
    // Sealed means in block storage (a no-op for local storage).
    if (!missing && end > PACK_HEADER_SIZE) await placement?.publishPack(packId);
    await db.transaction().execute(async (trx) => {
      if (end <= PACK_HEADER_SIZE && !(await packHasBlocks(trx, packId))) await deleteOpenPack(trx, packId);
      else await sealPack(trx, packId, now);
    });
    if (!missing && end > PACK_HEADER_SIZE) await placement?.dropLocalPack(packId);
    if (missing) {
      if (end > PACK_HEADER_SIZE) log.warn({ packId }, 'pack file of an indexed pack is missing');
    } else if (end <= PACK_HEADER_SIZE) {
      if (!(await packExists(db, packId))) rmSync(path, { force: true });
    }
    log.info({ packId, bytesCut: cut }, 'recovered a pack left open by a writer that stopped');
    recovered++;
  }
  return recovered;
}
