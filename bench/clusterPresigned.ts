/**
 * Should connectors upload pack bytes straight to the object store (issue 11 item 4)? A prototype of that data path,
 * measured beside the one Ferry has. The same 128 MiB (incompressible) go to one moto_server bucket four ways, in
 * alternating rounds:
 *   - `aws s3 cp` (the CLI's defaults: 8 MiB parts, 10 at a time): the baseline;
 *   - the node's uploader alone (S3BlockStorage: 8 MiB appends into 16 MiB parts, 2 in flight), what a node does
 *     with a pack once the connector's bytes are staged;
 *   - presigned part URLs: a "node" creates the multipart upload and presigns one UploadPart URL per 16 MiB part, a
 *     "connector" PUTs the parts to them with plain HTTP (2 in flight), the node completes the upload — the node
 *     touching no pack byte;
 *   - the same with 4 parts in flight.
 * Times, CPU seconds of this process (the uploader's side) and of moto_server, and each figure against `aws s3 cp`.
 * Run: `node bench/clusterPresigned.ts [rounds]` (default 3).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, S3Client } from '@aws-sdk/client-s3';
import { S3BlockStorage } from '../src/images/blocks/s3BlockStorage.ts';
import { AWS_CLI, awsEnv, run } from '../test/helpers/process.ts';
import { startTestBucket, type TestBucket } from '../test/helpers/s3.ts';
import { s3Signer } from '../test/helpers/s3Signer.ts';
import { idleDuring } from './replicationRig.ts';
import { cpuSeconds } from './processes.ts';

const MiB = 1024 * 1024;
const BYTES = 128 * MiB;
const PART = 16 * MiB;
const rounds = Number(process.argv[2] ?? 3);

/** A presigned UploadPart URL (what a node would hand a connector): valid `expiresIn` seconds, payload unsigned. */
async function presignPart(bucket: TestBucket, key: string, uploadId: string, partNumber: number): Promise<string> {
  const endpoint = new URL(bucket.endpoint);
  const path = `/${bucket.bucket}/${key}`;
  const presigned = await s3Signer(bucket.credentials).presign(
    {
      method: 'PUT', protocol: 'http:', hostname: endpoint.hostname, port: Number(endpoint.port), path,
      query: { partNumber: String(partNumber), uploadId }, headers: { host: endpoint.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    },
    { expiresIn: 3600, unsignableHeaders: new Set(['x-amz-content-sha256']), unhoistableHeaders: new Set(['x-amz-content-sha256']) },
  );
  return `${endpoint.origin}${path}?${new URLSearchParams(presigned.query as Record<string, string>).toString()}`;
}

/** Node: create + presign; connector: PUT the parts (`inFlight` at once); node: complete. */
async function presignedUpload(bucket: TestBucket, client: S3Client, key: string, data: Buffer, inFlight: number): Promise<void> {
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket.bucket, Key: key }));
  const partCount = Math.ceil(data.length / PART);
  const urls = await Promise.all(Array.from({ length: partCount }, (_, i) => presignPart(bucket, key, UploadId!, i + 1)));
  const etags: string[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < partCount) {
      const i = next++;
      const answer = await fetch(urls[i]!, { method: 'PUT', body: data.subarray(i * PART, Math.min(data.length, (i + 1) * PART)) });
      if (!answer.ok) throw new Error(`part ${i + 1}: HTTP ${answer.status} ${await answer.text()}`);
      etags[i] = answer.headers.get('etag')!;
    }
  }));
  await client.send(new CompleteMultipartUploadCommand({
    Bucket: bucket.bucket, Key: key, UploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
  }));
}

function motoPid(endpoint: string): number {
  const port = new URL(endpoint).port;
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (args.some((a) => a.includes('moto_server')) && args[args.indexOf('-p') + 1] === port) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  throw new Error(`no moto_server on port ${port}`);
}

const bucket = await startTestBucket();
const client = new S3Client({ region: 'us-east-1', endpoint: bucket.endpoint, forcePathStyle: true, credentials: bucket.credentials });
const moto = motoPid(bucket.endpoint);
const dir = mkdtempSync(join(tmpdir(), 'ferry-presigned-'));
const data = randomBytes(BYTES);
const file = join(dir, 'pack.data');
writeFileSync(file, data);
const results = new Map<string, { seconds: number; selfCpu: number; motoCpu: number }[]>();
const idles: number[] = [];
console.log(`presigned uploads: ${BYTES / MiB} MiB, ${rounds} rounds; load ${loadavg().map((l) => l.toFixed(1)).join(' ')} on 2 cores`);
const ways: { label: string; upload(round: number): Promise<void> }[] = [
  {
    label: 'aws s3 cp',
    async upload(round) {
      const result = await run(AWS_CLI, ['--endpoint-url', bucket.endpoint, '--region', 'us-east-1', '--cli-read-timeout', '0', 's3', 'cp', '--only-show-errors', file, `s3://${bucket.bucket}/cp-${round}`], { env: awsEnv(bucket.credentials, dir), timeoutMs: 600_000 });
      if (result.code !== 0) throw new Error(`aws s3 cp exited ${result.code}: ${result.stderr}`);
    },
  },
  {
    label: "the node's uploader",
    async upload(round) {
      const storage = new S3BlockStorage({ bucket: bucket.bucket, prefix: `node-${round}`, endpoint: bucket.endpoint, forcePathStyle: true, credentials: bucket.credentials });
      const pack = await storage.createPack('pack', data.subarray(0, 8 * MiB));
      for (let at = 8 * MiB; at < BYTES; at += 8 * MiB) await pack.append([data.subarray(at, at + 8 * MiB)]);
      await pack.seal();
      await storage.close();
    },
  },
  { label: 'presigned parts, 2 in flight', upload: (round) => presignedUpload(bucket, client, `presigned2-${round}`, data, 2) },
  { label: 'presigned parts, 4 in flight', upload: (round) => presignedUpload(bucket, client, `presigned4-${round}`, data, 4) },
];
try {
  for (let round = 0; round < rounds; round++) {
    const idle = idleDuring();
    for (const way of round % 2 === 0 ? ways : [...ways].reverse()) {
      const self = process.cpuUsage();
      const motoBefore = cpuSeconds(moto);
      const started = performance.now();
      await way.upload(round);
      const seconds = (performance.now() - started) / 1000;
      const used = process.cpuUsage(self);
      results.set(way.label, [...(results.get(way.label) ?? []), { seconds, selfCpu: (used.user + used.system) / 1e6, motoCpu: cpuSeconds(moto) - motoBefore }]);
    }
    idles.push(idle());
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const baseline = median(results.get('aws s3 cp')!.map((r) => r.seconds));
  for (const [label, figures] of results) {
    const seconds = median(figures.map((f) => f.seconds));
    const self = label === 'aws s3 cp' ? '   (a child)' : median(figures.map((f) => f.selfCpu)).toFixed(2).padStart(6);
    console.log(`${label.padEnd(30)} ${seconds.toFixed(2).padStart(6)} s  ${(BYTES / MiB / seconds).toFixed(1).padStart(5)} MiB/s  ${(baseline / seconds).toFixed(2)}× aws s3 cp   CPU s: uploader ${self}, moto_server ${median(figures.map((f) => f.motoCpu)).toFixed(2)}`);
  }
  console.log(`(idle ${idles.map((i) => `${Math.round(i * 100)}%`).join(' ')} per round; load ${loadavg().map((l) => l.toFixed(1)).join(' ')})`);
} finally {
  client.destroy();
  rmSync(dir, { recursive: true, force: true });
  await bucket.stop();
}
