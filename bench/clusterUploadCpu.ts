/**
 * What a node's pack upload costs in CPU, next to `aws s3 cp` (issue 11 item 4). On a shared host every CPU second
 * the uploader spends per byte is taken from the object store (moto_server here, CPU-bound on the same cores), so
 * this prints each way's time and the CPU seconds of the uploader and of moto_server for the same 128 MiB
 * (incompressible), in alternating rounds to one moto_server; each way's median round is its figure:
 *   - `aws s3 cp` (the CLI's defaults: 8 MiB parts, 10 at a time; its CPU is the child's, from /proc/self/stat);
 *   - S3BlockStorage as a node streams a pack (8 MiB appends) with the body signed by SHA-256 (the SDK's default)
 *     or carrying a CRC32 with an unsigned payload (the default since this bench), at 16 or 8 MiB parts and
 *     2 or 4 parts in flight.
 * Run: `node bench/clusterUploadCpu.ts [rounds]` (default 3; no database needed).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3BlockStorage, type PayloadCheck } from '../src/images/blocks/s3BlockStorage.ts';
import { AWS_CLI, awsEnv, run } from '../test/helpers/process.ts';
import { startTestBucket } from '../test/helpers/s3.ts';
import { idleDuring } from './replicationRig.ts';
import { cpuSeconds } from './processes.ts';
import { childrenCpuSeconds, motoPid } from './clusterDataPath.ts';

const MiB = 1024 * 1024;
const BYTES = 128 * MiB;
const APPEND = 8 * MiB;
const rounds = Number(process.argv[2] ?? 3);


const settings: { label: string; payloadCheck: PayloadCheck; partMiB: number; inFlight: number }[] = [
  { label: 'SHA-256 signed, 16 MiB × 2 (before)', payloadCheck: 'sigv4', partMiB: 16, inFlight: 2 },
  { label: 'CRC32, 16 MiB × 2', payloadCheck: 'crc32', partMiB: 16, inFlight: 2 },
  { label: 'CRC32, 16 MiB × 4', payloadCheck: 'crc32', partMiB: 16, inFlight: 4 },
  { label: 'CRC32, 8 MiB × 4', payloadCheck: 'crc32', partMiB: 8, inFlight: 4 },
];

const bucket = await startTestBucket();
const moto = motoPid(bucket.endpoint)!;
const dir = mkdtempSync(join(tmpdir(), 'ferry-upload-cpu-'));
const data = randomBytes(BYTES);
const file = join(dir, 'pack.data');
writeFileSync(file, data);
const storages: S3BlockStorage[] = [];
const results = new Map<string, { seconds: number; selfCpu: number; motoCpu: number }[]>();
const idles: number[] = [];
console.log(`pack upload CPU: ${BYTES / MiB} MiB, ${rounds} rounds; load ${loadavg().map((l) => l.toFixed(1)).join(' ')} on 2 cores`);
const ways: { label: string; upload(round: number): Promise<void>; cpu(): number }[] = [
  {
    label: 'aws s3 cp',
    cpu: childrenCpuSeconds,
    async upload(round) {
      const args = ['--endpoint-url', bucket.endpoint, '--region', 'us-east-1', '--cli-read-timeout', '0', 's3', 'cp', '--only-show-errors', file, `s3://${bucket.bucket}/cp-${round}`];
      const result = await run(AWS_CLI, args, { env: awsEnv(bucket.credentials, dir), timeoutMs: 600_000 });
      if (result.code !== 0) throw new Error(`aws s3 cp exited ${result.code}: ${result.stderr}`);
    },
  },
  ...settings.map((setting) => {
    // One storage per setting for every round, as a node keeps one: its part buffers are reused across packs.
    const storage = new S3BlockStorage({
      bucket: bucket.bucket, prefix: setting.label.replace(/\W+/g, '-'), endpoint: bucket.endpoint, forcePathStyle: true,
      credentials: bucket.credentials, partSizeBytes: setting.partMiB * MiB, partsInFlight: setting.inFlight, payloadCheck: setting.payloadCheck,
    });
    storages.push(storage);
    return {
      label: setting.label,
      cpu: () => {
        const used = process.cpuUsage();
        return (used.user + used.system) / 1e6;
      },
      async upload(round: number) {
        const name = `packs/round-${round}.pack`;
        // As PackStream does: one read buffer reused for every 8 MiB append.
        const chunk = Buffer.allocUnsafe(APPEND);
        data.copy(chunk, 0, 0, APPEND);
        const pack = await storage.createPack(name, chunk);
        for (let at = APPEND; at < BYTES; at += APPEND) {
          data.copy(chunk, 0, at, at + APPEND);
          await pack.append([chunk]);
        }
        await pack.seal();
        if ((await storage.sizeOf(name)) !== BYTES) throw new Error(`${setting.label}: the object is not ${BYTES} bytes`);
      },
    };
  }),
];
try {
  for (let round = 0; round < rounds; round++) {
    const idle = idleDuring();
    for (const way of round % 2 === 0 ? ways : [...ways].reverse()) {
      const selfBefore = way.cpu();
      const motoBefore = cpuSeconds(moto);
      const started = performance.now();
      await way.upload(round);
      const seconds = (performance.now() - started) / 1000;
      results.set(way.label, [...(results.get(way.label) ?? []), { seconds, selfCpu: way.cpu() - selfBefore, motoCpu: cpuSeconds(moto) - motoBefore }]);
    }
    idles.push(idle());
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const baseline = median(results.get('aws s3 cp')!.map((r) => r.seconds));
  for (const [label, figures] of results) {
    const seconds = median(figures.map((f) => f.seconds));
    const self = median(figures.map((f) => f.selfCpu));
    const store = median(figures.map((f) => f.motoCpu));
    console.log(
      `${label.padEnd(36)} ${seconds.toFixed(2).padStart(6)} s  ${(baseline / seconds).toFixed(2)}× aws s3 cp   CPU s: uploader ${self.toFixed(2).padStart(5)}, moto_server ${store.toFixed(2).padStart(5)}, both ${(self + store).toFixed(2).padStart(5)}`,
    );
  }
  console.log(`(idle ${idles.map((i) => `${Math.round(i * 100)}%`).join(' ')} per round; load ${loadavg().map((l) => l.toFixed(1)).join(' ')})`);
} finally {
  for (const storage of storages) await storage.close();
  rmSync(dir, { recursive: true, force: true });
  await bucket.stop();
}
