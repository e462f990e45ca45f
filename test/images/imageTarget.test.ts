/**
 * The image target (src/images/imageTarget.ts) over every block storage: local pack files and S3 on moto_server.
 * Each writes runs the way the data plane does, reads them back bit-identical (blocks and exports), abandons a run,
 * deletes an image and collects garbage, and survives a kill -9 mid-run. Over S3 the local data dir is only a
 * staging area: the suite checks sealed packs and manifests are in the bucket and reads with the local copies gone.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { collect, type BlockStorage } from '../../src/images/blocks/blockStorage.ts';
import { MIN_PART_BYTES, S3BlockStorage } from '../../src/images/blocks/s3BlockStorage.ts';
import type { ImageTarget } from '../../src/images/imageTarget.ts';
import { B, JOB, crash, disk, exported, makeImage, openFixture, tenant, writeDisk, type Fixture } from '../helpers/imageStoreFixture.ts';
import { plainSealer } from '../../src/images/blockSealer.ts';
import { startTestBucket, type TestBucket } from '../helpers/s3.ts';

let bucket: TestBucket | undefined;
after(async () => {
  await bucket?.stop();
});

interface Backend {
  name: string;
  /** A fresh BlockStorage for one store (the store closes it); undefined: the default local packs. */
  blocks(): Promise<(() => BlockStorage) | undefined>;
}

const backends: Backend[] = [
  { name: 'local packs', blocks: async () => undefined },
  {
    name: 'S3 blocks',
    async blocks() {
      bucket ??= await startTestBucket();
      const prefix = `target-${randomBytes(4).toString('hex')}`;
      const b = bucket;
      return () => new S3BlockStorage({ bucket: b.bucket, prefix, endpoint: b.endpoint, forcePathStyle: true, credentials: b.credentials, partSizeBytes: MIN_PART_BYTES });
    },
  },
];

/** Sealed pack files still on the local disk. */
function localPackFiles(dir: string): string[] {
  const packs = join(dir, 'images', 'packs');
  if (!existsSync(packs)) return [];
  return readdirSync(packs, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name);
}

async function readAll(target: ImageTarget, amiId: string, diskIndex: number, bytes: number): Promise<Buffer> {
  const blocks = [];
  for (let i = 0; i * B < bytes; i++) blocks.push(await target.readBlock(amiId, diskIndex, i));
  return Buffer.concat(blocks);
}

for (const backend of backends) {
  describe(`ImageTarget over ${backend.name}`, () => {
    async function open(dir?: string, make?: () => BlockStorage): Promise<Fixture> {
      return openFixture(dir, make ? { blocks: make() } : {});
    }

    it('writes a run and reads it back bit-identical, blocks and export, with local copies gone', async () => {
      const make = await backend.blocks();
      const f = await open(undefined, make);
      try {
        const disks = [disk(['a', null, 't:b', 'c', 'd', 'e', null, 'f', 'g', 'h'], 1000), disk(['t:x', 'y'])];
        const { amiId } = await makeImage(f.images, 'run-1', disks);
        const target: ImageTarget = f.images;
        assert.ok((await readAll(target, amiId, 0, disks[0]!.length)).equals(disks[0]!));
        assert.ok((await exported(f.images, amiId, 1, f.dir)).equals(disks[1]!));
        if (make) {
          await f.images.flush();
          const storage = f.images.placement.storage;
          const packs = await collect(storage.list('packs/'));
          assert.ok(packs.length >= 2, `sealed packs are in the bucket (${packs.length})`);
          assert.equal((await collect(storage.list('manifests/'))).length, 2, 'both manifests are in the bucket');
          // Only the pack still open may stay local; manifests are a cache.
          assert.ok(localPackFiles(f.dir).length <= 1);
          rmSync(join(f.dir, 'images', 'manifests'), { recursive: true, force: true });
          await f.images.close();
          await f.state.close();
          const again = await open(f.dir, make);
          try {
            assert.equal(localPackFiles(f.dir).length, 0, 'closing seals and uploads the last pack');
            assert.ok((await readAll(again.images, amiId, 0, disks[0]!.length)).equals(disks[0]!));
            assert.ok((await exported(again.images, amiId, 1, f.dir)).equals(disks[1]!));
          } finally {
            await again.close();
          }
          rmSync(f.dir, { recursive: true, force: true });
          return;
        }
      } finally {
        if (!make) await f.close();
      }
    });

    it('abandons a run, deletes an image and collects: freed packs leave the storage, the kept image reads back', async () => {
      const make = await backend.blocks();
      const f = await open(undefined, make);
      try {
        const keep = disk(['k1', 'k2', 'k3', 'k4']);
        const drop = disk(['d1', 'd2', 'd3', 'd4', 'd5', 'd6', 'd7', 'd8']);
        const kept = await makeImage(f.images, 'run-keep', [keep]);
        const dropped = await makeImage(f.images, 'run-drop', [drop]);
        await f.images.beginImage('run-abandon', { tenant, replicationJobId: JOB, sealer: plainSealer, disks: [{ index: 0, sizeBytes: drop.length }] });
        await writeDisk(f.images, 'run-abandon', 0, disk(['z1', 'z2', 'z3', 'z4', 'z5', 'z6']));
        await f.images.abandonImage('run-abandon');
        await f.images.deleteImage(tenant, JOB, dropped.amiId);
        const before = await f.images.stats();
        const report = await f.images.collectGarbage();
        const afterStats = await f.images.stats();
        assert.equal(afterStats.blocks, 4, `only the kept image's blocks remain (swept ${report.sweptBlocks} of ${before.blocks})`);
        assert.ok(report.packsDeleted + report.packsCompacted > 0, 'packs were freed');
        assert.equal(report.manifestsRemoved, 1);
        assert.ok((await readAll(f.images, kept.amiId, 0, keep.length)).equals(keep));
        if (make) {
          const storage = f.images.placement.storage;
          const manifests = await collect(storage.list('manifests/'));
          assert.equal(manifests.length, 1, 'the deleted image’s manifest left the bucket');
          const packBytes = (await collect(storage.list('packs/'))).reduce((sum, o) => sum + o.sizeBytes, 0);
          assert.ok(packBytes < 8 * B, `freed bytes left the bucket (${packBytes} bytes of packs remain)`);
        }
      } finally {
        await f.close();
      }
    });

    it('survives a kill -9 mid-run: recovery seals the pack (into the bucket) and the run finishes', async () => {
      const make = await backend.blocks();
      const f = await open(undefined, make);
      const data = disk(['r1', 'r2', 't:r3', 'r4', 'r5']);
      await f.images.beginImage('run-crash', { tenant, replicationJobId: JOB, sealer: plainSealer, disks: [{ index: 0, sizeBytes: data.length }] });
      await writeDisk(f.images, 'run-crash', 0, data, (i) => i < 3);
      await crash(f);
      await f.images.placement.storage.close(); // the dead process's connections (kill -9 would close them too)
      const again = await open(f.dir, make);
      try {
        if (make) assert.equal(localPackFiles(f.dir).length, 0, 'the crashed writer’s pack was uploaded and dropped locally');
        await again.images.beginImage('run-crash', { tenant, replicationJobId: JOB, sealer: plainSealer, disks: [{ index: 0, sizeBytes: data.length }] });
        const committed = await again.images.committedBlocks('run-crash', 0);
        await writeDisk(again.images, 'run-crash', 0, data, (i) => !committed.has(i));
        const { amiId } = await again.images.finishImage('run-crash');
        assert.ok((await readAll(again.images, amiId, 0, data.length)).equals(data));
      } finally {
        await again.close();
        rmSync(f.dir, { recursive: true, force: true });
      }
    });
  });
}
