/**
 * How pack bodies are protected on the way to the bucket (s3BlockStorage.ts, PayloadCheck): by default each part and
 * each whole-object PUT is signed as UNSIGNED-PAYLOAD and carries an x-amz-checksum-crc32 of exactly the bytes sent
 * (which S3 verifies), both headers inside the signature; 'sigv4' signs the body's SHA-256 instead. A recording
 * HTTP front sits between the SDK and a real moto_server and checks what went over the wire against the bytes
 * that arrived; the objects read back whole either way.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { crc32 } from 'node:zlib';
import { manifestObjectName, packObjectName } from '../../src/images/blocks/blockStorage.ts';
import { MIN_PART_BYTES, S3BlockStorage, type PayloadCheck } from '../../src/images/blocks/s3BlockStorage.ts';
import { packHeader } from '../../src/images/packFile.ts';
import { suiteBucket } from '../helpers/s3.ts';

interface SeenPut {
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** Forwards every request to `target` unchanged and keeps each PUT's headers and body. */
function recordingFront(target: URL, seen: SeenPut[]): Server {
  return createServer((incoming, answer) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const body = Buffer.concat(chunks);
      if (incoming.method === 'PUT') seen.push({ url: incoming.url!, headers: incoming.headers, body });
      const onward = request({ host: target.hostname, port: target.port, method: incoming.method, path: incoming.url, headers: incoming.headers }, (reply) => {
        answer.writeHead(reply.statusCode!, reply.headers);
        reply.pipe(answer);
      });
      onward.on('error', (error) => answer.destroy(error));
      onward.end(body);
    });
  });
}

const crc32Base64 = (bytes: Buffer) => {
  const value = Buffer.alloc(4);
  value.writeUInt32BE(crc32(bytes));
  return value.toString('base64');
};

describe('S3 pack bodies: CRC32 with an unsigned payload, or a signed SHA-256', () => {
  const s3 = suiteBucket();
  const seen: SeenPut[] = [];
  let front: Server;
  let frontUrl: string;

  before(async () => {
    front = recordingFront(new URL(s3.bucket.endpoint), seen);
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    frontUrl = `http://127.0.0.1:${(front.address() as { port: number }).port}`;
  });
  after(() => new Promise<void>((resolve) => front.close(() => resolve())));

  async function writePackAndManifest(prefix: string, payloadCheck: PayloadCheck | undefined): Promise<{ pack: Buffer; manifest: Buffer; puts: SeenPut[] }> {
    const storage = new S3BlockStorage({
      bucket: s3.bucket.bucket, prefix, endpoint: frontUrl, forcePathStyle: true, credentials: s3.bucket.credentials, partSizeBytes: MIN_PART_BYTES, partsInFlight: 2,
      ...(payloadCheck ? { payloadCheck } : {}),
    });
    const from = seen.length;
    try {
      const header = packHeader(7, 1_700_000_000_000);
      const records = [randomBytes(MIN_PART_BYTES - 100), randomBytes(MIN_PART_BYTES), randomBytes(4321)];
      const upload = await storage.createPack(packObjectName(7), header);
      // One buffer reused for every append, as PackStream does: each part must still carry its own bytes.
      const reused = Buffer.allocUnsafe(MIN_PART_BYTES);
      for (const record of records) {
        record.copy(reused);
        await upload.append([reused.subarray(0, record.length)]);
      }
      await upload.seal();
      const manifest = randomBytes(3000);
      await storage.putObject(manifestObjectName('snap-0123456789abcdef0'), manifest);
      const pack = Buffer.concat([header, ...records]);
      assert.deepEqual(await storage.readObject(packObjectName(7)), pack, 'the pack reads back whole');
      assert.deepEqual(await storage.readObject(manifestObjectName('snap-0123456789abcdef0')), manifest);
      return { pack, manifest, puts: seen.slice(from) };
    } finally {
      await storage.close();
    }
  }

  it('sends each part and object with a CRC32 of exactly its bytes and an unsigned payload, both signed headers', async () => {
    const { pack, puts } = await writePackAndManifest('crc32', undefined);
    const partNumber = (put: SeenPut) => Number(new URL(put.url, 'http://front').searchParams.get('partNumber'));
    const parts = puts.filter((put) => put.url.includes('partNumber=')).sort((a, b) => partNumber(a) - partNumber(b));
    assert.equal(parts.length, 3, 'three parts: two full, the tail');
    assert.deepEqual(Buffer.concat(parts.map((part) => part.body)), pack, 'the parts are the pack, in order');
    assert.equal(puts.length, 4, 'the three parts and the manifest');
    for (const put of puts) {
      assert.equal(put.headers['x-amz-content-sha256'], 'UNSIGNED-PAYLOAD', put.url);
      assert.equal(put.headers['x-amz-checksum-crc32'], crc32Base64(put.body), `${put.url}: the CRC32 of the bytes that arrived`);
      const signed = /SignedHeaders=([^,]+)/.exec(String(put.headers.authorization))?.[1]?.split(';') ?? [];
      assert.ok(signed.includes('x-amz-checksum-crc32') && signed.includes('x-amz-content-sha256'), `${put.url}: signed headers ${signed.join(';')}`);
    }
  });

  it("signs every body's SHA-256 with payloadCheck 'sigv4'", async () => {
    const { puts } = await writePackAndManifest('sigv4', 'sigv4');
    assert.equal(puts.length, 4);
    for (const put of puts) {
      assert.equal(put.headers['x-amz-content-sha256'], createHash('sha256').update(put.body).digest('hex'), put.url);
      assert.equal(put.headers['x-amz-checksum-crc32'], undefined, put.url);
    }
  });
});
