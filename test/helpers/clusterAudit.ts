/**
 * The after-the-fact audit of a cluster test, run as its own process with the cluster's environment (FERRY_STORE,
 * FERRY_BLOCKS, FERRY_S3_ENDPOINT, FERRY_MASTER_KEY, AWS_*) once every node has stopped:
 *
 *   node test/helpers/clusterAudit.ts <fresh data dir>
 *
 * It prints one JSON document (ClusterAudit) on stdout: every image exported (raw) through a data dir that never
 * held a pack, so its bytes come from the bucket alone, with the SHA-256 of each disk; what the bucket lists; what
 * the image index says; and which block ids the manifests reference, read from the manifests themselves (not through
 * the garbage collector's own marking). The test compares; this only gathers, in one process instead of one
 * `ferry images export` per image.
 */
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { withAdminCore } from '../../src/cli/adminCore.ts';
import { openImageStore } from '../../src/images/imageStore.ts';
import { openBlockStorage, parseBlocksSetting } from '../../src/images/blocks/blocksUrl.ts';
import { collect, packObjectName } from '../../src/images/blocks/blockStorage.ts';
import { openManifest } from '../../src/images/manifest.ts';
import { Keyring } from '../../src/kms/keyring.ts';
import { loadMasterKey } from '../../src/kms/masterKey.ts';

export interface ClusterAudit {
  images: { amiId: string; runId: string; replicationJobId: string; state: string; disks: { index: number; sha256: string }[] }[];
  /** Object names under the bucket prefix. */
  packObjects: string[];
  manifestObjects: string[];
  packRows: { packId: number; state: string; objectName: string }[];
  blockRows: { blockId: number; packId: number }[];
  snapshotRows: { snapshotId: string; amiId: string }[];
  imageRunStates: Record<string, number>;
  /** Block ids the manifests of every available image reference (each once). */
  referencedBlockIds: number[];
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function audit(dataDir: string): Promise<ClusterAudit> {
  const env = process.env;
  const setting = parseBlocksSetting(env.FERRY_BLOCKS || undefined, env.FERRY_S3_ENDPOINT || undefined, env);
  if (!setting) throw new Error('clusterAudit needs FERRY_BLOCKS');
  return withAdminCore(dataDir, async (core) => {
    const keyring = new Keyring(core.db, loadMasterKey(dataDir, env));
    const listing = openBlockStorage(setting);
    const packObjects = (await collect(listing.list('packs/'))).map((o) => o.name);
    const manifestObjects = (await collect(listing.list('manifests/'))).map((o) => o.name);
    await listing.close();

    const packRows = (await core.db.selectFrom('image_packs').select(['pack_id', 'state']).orderBy('pack_id').execute()).map((r) => ({
      packId: Number(r.pack_id),
      state: r.state,
      objectName: packObjectName(Number(r.pack_id)),
    }));
    const blockRows = (await core.db.selectFrom('image_blocks').select(['block_id', 'pack_id']).orderBy('block_id').execute()).map((r) => ({
      blockId: Number(r.block_id),
      packId: Number(r.pack_id),
    }));
    const snapshots = await core.db.selectFrom('image_snapshots').select(['snapshot_id', 'ami_id', 'disk_index', 'manifest_sha256']).execute();
    const runStates: Record<string, number> = {};
    for (const r of await core.db.selectFrom('image_runs').select(['state']).execute()) runStates[r.state] = (runStates[r.state] ?? 0) + 1;
    const imageRows = await core.db.selectFrom('images').select(['ami_id', 'run_id', 'replication_job_id', 'state']).orderBy('ami_id').execute();

    const images = await openImageStore({ db: core.db, dataDir, readOnly: true, resolveSealer: (keyRef) => keyring.sealerForKeyRef(keyRef), blocks: openBlockStorage(setting) });
    const exportDir = join(dataDir, 'audit-exports');
    mkdirSync(exportDir, { recursive: true });
    const out: ClusterAudit['images'] = [];
    const referenced = new Set<number>();
    try {
      for (const row of imageRows) {
        const disks: { index: number; sha256: string }[] = [];
        if (row.state === 'available') {
          for (const snapshot of snapshots.filter((s) => s.ami_id === row.ami_id).sort((a, b) => a.disk_index - b.disk_index)) {
            const file = join(exportDir, `${row.ami_id}-${snapshot.disk_index}.raw`);
            await images.exportDisk(row.ami_id, snapshot.disk_index, 'raw', file);
            disks.push({ index: snapshot.disk_index, sha256: await sha256Of(file) });
            rmSync(file, { force: true });
            // The export fetched the manifest into the data dir's cache: read its block ids, checksum verified.
            const manifest = await openManifest(join(dataDir, 'images', 'manifests', `${snapshot.snapshot_id}.manifest`));
            try {
              for await (const chunk of manifest.chunks(snapshot.manifest_sha256)) for (const id of chunk.ids) referenced.add(id);
            } finally {
              await manifest.close();
            }
          }
        }
        out.push({ amiId: row.ami_id, runId: row.run_id, replicationJobId: row.replication_job_id, state: row.state, disks });
      }
    } finally {
      await images.close();
    }
    return {
      images: out,
      packObjects,
      manifestObjects,
      packRows,
      blockRows,
      snapshotRows: snapshots.map((s) => ({ snapshotId: s.snapshot_id, amiId: s.ami_id })),
      imageRunStates: runStates,
      referencedBlockIds: [...referenced].sort((a, b) => a - b),
    };
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dataDir = process.argv[2];
  if (!dataDir) throw new Error('usage: node test/helpers/clusterAudit.ts <fresh data dir>');
  process.stdout.write(JSON.stringify(await audit(dataDir)) + '\n');
}
