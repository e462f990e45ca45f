/**
 * One disk of an image served read-only over NBD on a Unix socket, for as long as the caller keeps it open: the
 * launch subsystem (src/launch) boots instances from copy-on-write overlays whose backing file is this export. The
 * manifest is checked whole first, every block as it is read (snapshotSource.ts); nothing is ever written.
 */
import type { BlockFetcher } from './blockFetcher.ts';
import { openManifest } from './manifest.ts';
import { serveNbd, type NbdExport } from './nbdExportServer.ts';
import { snapshotSource } from './snapshotSource.ts';

export interface ServedDisk extends NbdExport {
  sizeBytes: number;
}

export async function serveSnapshot(
  fetcher: BlockFetcher,
  snapshot: { manifestPath: string; manifestSha256: string; amiId: string; diskIndex: number },
  socketPath: string,
): Promise<ServedDisk> {
  const manifest = await openManifest(snapshot.manifestPath);
  try {
    await manifest.verify(snapshot.manifestSha256);
    const server = await serveNbd(snapshotSource(fetcher, manifest, snapshot.amiId, snapshot.diskIndex), socketPath);
    return {
      uri: server.uri,
      sizeBytes: manifest.sizeBytes,
      get failure() {
        return server.failure;
      },
      async close() {
        await server.close();
        await manifest.close();
      },
    };
  } catch (thrown) {
    await manifest.close();
    throw thrown;
  }
}
