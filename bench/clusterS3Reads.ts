/**
 * Reads from S3 block storage, one ranged GET per block against concurrent reads of one pack merged into fewer GETs
 * (src/images/blocks/rangeCoalescer.ts; issue 11 item 4). An image of `MiB` (default 64) of incompressible blocks is
 * written into a store whose packs live in a moto_server bucket (the local copies are dropped once sealed, as on a
 * node), then exported to a raw file through two read-only stores that differ only in the S3 storage's read
 * coalescing, in alternating rounds. Prints each setting's median time, GETs per export and the ratio, with the load.
 * Run: `node bench/clusterS3Reads.ts [MiB] [rounds]` (defaults 64 and 3).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openImageStore } from '../src/images/imageStore.ts';
import { plainSealer } from '../src/images/blockSealer.ts';
import { S3BlockStorage, MIN_PART_BYTES } from '../src/images/blocks/s3BlockStorage.ts';
import { DEFAULT_COALESCING, type RangeCoalescerOptions } from '../src/images/blocks/rangeCoalescer.ts';
import { JOB, disk, openFixture, tenant, writeDisk } from '../test/helpers/imageStoreFixture.ts';
import { startTestBucket } from '../test/helpers/s3.ts';
import { idleDuring } from './replicationRig.ts';

const MiB = 1024 * 1024;
const size = Number(process.argv[2] ?? 64);
const rounds = Number(process.argv[3] ?? 3);
const load = () => `load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`;

const bucket = await startTestBucket();
const storage = (coalesceReads?: RangeCoalescerOptions | false) =>
  new S3BlockStorage({
    bucket: bucket.bucket, prefix: 'reads', endpoint: bucket.endpoint, forcePathStyle: true, credentials: bucket.credentials,
    partSizeBytes: MIN_PART_BYTES, ...(coalesceReads === undefined ? {} : { coalesceReads }),
  });
const writer = await openFixture(undefined, { blocks: storage(), packSizeBytes: 128 * MiB });
const out = mkdtempSync(join(tmpdir(), 'ferry-bench-s3reads-'));
try {
  const data = disk(Array.from({ length: (size * MiB) / (512 * 1024) }, (_, i) => `s3read-${i}`));
  await writer.images.beginImage('run-reads', { tenant, replicationJobId: JOB, sealer: plainSealer, disks: [{ index: 0, sizeBytes: data.length }] });
  await writeDisk(writer.images, 'run-reads', 0, data);
  const { amiId } = await writer.images.finishImage('run-reads'); // seals the pack into the bucket, drops the local copy
  console.log(`S3 reads: export of a ${size} MiB image (${data.length / (512 * 1024)} blocks) from moto_server, ${rounds} rounds; ${load()} on 2 cores`);
  const settings: { label: string; coalesce: RangeCoalescerOptions | false }[] = [
    { label: 'one GET per block', coalesce: false },
    { label: 'coalesced, 2 in flight', coalesce: { ...DEFAULT_COALESCING, inFlightPerObject: 2 } },
    { label: 'coalesced, 1 (default)', coalesce: DEFAULT_COALESCING },
  ];
  const times = new Map<string, number[]>();
  const gets = new Map<string, number>();
  const idles: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const idle = idleDuring();
    for (const setting of round % 2 === 0 ? settings : [...settings].reverse()) {
      const blocks = storage(setting.coalesce);
      const reader = await openImageStore({ db: writer.state.db, dataDir: writer.dir, readOnly: true, blocks });
      const file = join(out, `${round}-${settings.indexOf(setting)}.raw`);
      const started = performance.now();
      await reader.exportDisk(amiId, 0, 'raw', file);
      times.set(setting.label, [...(times.get(setting.label) ?? []), (performance.now() - started) / 1000]);
      gets.set(setting.label, blocks.getRequests);
      if (!readFileSync(file).equals(data)) throw new Error(`${setting.label}: the export differs from the image`);
      rmSync(file);
      await reader.close();
    }
    idles.push(idle());
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const baseline = median(times.get(settings[0]!.label)!);
  for (const setting of settings) {
    const seconds = median(times.get(setting.label)!);
    console.log(`${setting.label.padEnd(24)} ${seconds.toFixed(2).padStart(7)} s  ${(size / seconds).toFixed(1).padStart(6)} MiB/s  ${String(gets.get(setting.label)).padStart(5)} GETs per export  ${(baseline / seconds).toFixed(2)}× one GET per block`);
  }
  console.log(`(idle ${idles.map((i) => `${Math.round(i * 100)}%`).join(' ')} per round; ${load()})`);
} finally {
  await writer.close();
  rmSync(out, { recursive: true, force: true });
  await bucket.stop();
}
