/**
 * How S3 pack uploads should be cut (issue 11 item 4): one 128 MiB pack (a default pack, random bytes) put through
 * S3BlockStorage in 8 MiB appends, as BlockPlacement streams it, with 8 or 16 MiB parts and 1, 2 or 4 parts in
 * flight, next to `aws s3 cp` of the same bytes (CLI defaults: 8 MiB parts, 10 at a time). Everything goes to one
 * moto_server; rounds alternate so the machine's noise falls on every setting, and each setting's median round
 * is its figure. Run: `node bench/s3PackParts.ts [rounds]` (default 3).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3BlockStorage } from '../src/images/blocks/s3BlockStorage.ts';
import { AWS_CLI, awsEnv, run } from '../test/helpers/process.ts';
import { startTestBucket } from '../test/helpers/s3.ts';
import { idleDuring } from './replicationRig.ts';

const MiB = 1024 * 1024;
const PACK_BYTES = 128 * MiB;
const APPEND_BYTES = 8 * MiB;
const settings = [
  { partMiB: 8, inFlight: 1 },
  { partMiB: 8, inFlight: 2 },
  { partMiB: 8, inFlight: 4 },
  { partMiB: 16, inFlight: 1 },
  { partMiB: 16, inFlight: 2 },
  { partMiB: 16, inFlight: 4 },
];

const rounds = Number(process.argv[2] ?? 3);
const bucket = await startTestBucket();
const dir = mkdtempSync(join(tmpdir(), 'ferry-s3parts-'));
const data = randomBytes(PACK_BYTES);
const file = join(dir, 'pack.data');
writeFileSync(file, data);
const times = new Map<string, number[]>();
const idles: number[] = [];
const record = (label: string, seconds: number) => times.set(label, [...(times.get(label) ?? []), seconds]);
console.log(`S3 pack parts: a ${PACK_BYTES / MiB} MiB pack, ${rounds} rounds; load ${loadavg().map((l) => l.toFixed(1)).join(' ')} on 2 cores`);
try {
  for (let round = 0; round < rounds; round++) {
    const idle = idleDuring();
    const started = performance.now();
    const result = await run(AWS_CLI, ['--endpoint-url', bucket.endpoint, '--region', 'us-east-1', 's3', 'cp', '--only-show-errors', file, `s3://${bucket.bucket}/cp-${round}`], {
      env: awsEnv(bucket.credentials, dir),
    });
    if (result.code !== 0) throw new Error(`aws s3 cp exited ${result.code}: ${result.stderr}`);
    record('aws s3 cp', (performance.now() - started) / 1000);
    for (const setting of settings) {
      const storage = new S3BlockStorage({
        bucket: bucket.bucket, prefix: `r${round}-${setting.partMiB}-${setting.inFlight}`, endpoint: bucket.endpoint, forcePathStyle: true,
        credentials: bucket.credentials, partSizeBytes: setting.partMiB * MiB, partsInFlight: setting.inFlight,
      });
      const begun = performance.now();
      const pack = await storage.createPack('pack', data.subarray(0, APPEND_BYTES));
      for (let at = APPEND_BYTES; at < PACK_BYTES; at += APPEND_BYTES) await pack.append([data.subarray(at, at + APPEND_BYTES)]);
      await pack.seal();
      record(`${setting.partMiB} MiB parts, ${setting.inFlight} in flight`, (performance.now() - begun) / 1000);
      await storage.close();
    }
    idles.push(idle());
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const baseline = median(times.get('aws s3 cp')!);
  for (const [label, values] of times) {
    const seconds = median(values);
    console.log(`${label.padEnd(28)} ${seconds.toFixed(2).padStart(6)} s  ${(PACK_BYTES / MiB / seconds).toFixed(1).padStart(5)} MiB/s  ${(baseline / seconds).toFixed(2)}× aws s3 cp`);
  }
  console.log(`(idle ${idles.map((i) => `${Math.round(i * 100)}%`).join(' ')} per round; load ${loadavg().map((l) => l.toFixed(1)).join(' ')})`);
} finally {
  rmSync(dir, { recursive: true, force: true });
  await bucket.stop();
}
