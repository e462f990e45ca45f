/**
 * Receives a request body into a new file, hashed and checked on the way: both blob implementations take bodies
 * through here (local files keep the file as the blob; a bucket uploads it, then drops it).
 */
import { createHash } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { ArtifactError } from './errors.ts';
import type { BodyExpectations } from './artifactStore.ts';

/** Received bytes are written in batches of about this size (one writev each). */
const WRITE_BATCH = 1024 * 1024;

/**
 * Writes `body` to a new file at `path` (which must not exist), checking it against what the client declared.
 * Throws (leaving no file behind) when it is longer than `maxBytes`, shorter or longer than the declared size, or
 * its digests differ. With `durable`, the file is fsynced before this returns (its directory entry is the caller's).
 */
export async function receiveFile(
  path: string,
  body: AsyncIterable<Uint8Array>,
  expect: BodyExpectations & { maxBytes: number },
  durable: boolean,
): Promise<{ size: number; md5: Buffer }> {
  const handle = await open(path, 'wx', 0o600);
  const md5 = createHash('md5');
  const sha256 = expect.sha256 === undefined ? undefined : createHash('sha256');
  let size = 0;
  try {
    let batch: Uint8Array[] = [];
    let batchBytes = 0;
    for await (const piece of body as AsyncIterable<Uint8Array | string>) {
      // A stream with an encoding set yields strings: store their UTF-8 bytes.
      const chunk = typeof piece === 'string' ? Buffer.from(piece, 'utf8') : piece;
      size += chunk.length;
      if (size > expect.maxBytes) {
        throw new ArtifactError('EntityTooLarge', `Your proposed upload exceeds the maximum allowed size of ${expect.maxBytes} bytes.`, {
          MaxSizeAllowed: String(expect.maxBytes),
        });
      }
      md5.update(chunk);
      sha256?.update(chunk);
      batch.push(chunk);
      batchBytes += chunk.length;
      if (batchBytes >= WRITE_BATCH) {
        await writeAll(handle, batch);
        batch = [];
        batchBytes = 0;
      }
    }
    await writeAll(handle, batch);
    if (expect.size !== undefined && size !== expect.size) {
      throw new ArtifactError('IncompleteBody', `You did not provide the number of bytes specified by the Content-Length header (${size} of ${expect.size}).`);
    }
    const md5Digest = md5.digest();
    if (sha256 && sha256.digest('hex') !== expect.sha256) {
      throw new ArtifactError('XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.", {
        ClientComputedContentSHA256: expect.sha256!,
      });
    }
    if (expect.md5 && !md5Digest.equals(expect.md5)) {
      throw new ArtifactError('BadDigest', 'The Content-MD5 you specified did not match what we received.', {
        ExpectedDigest: expect.md5.toString('base64'),
      });
    }
    if (durable) await handle.sync();
    await handle.close();
    return { size, md5: md5Digest };
  } catch (thrown) {
    await handle.close().catch(() => {});
    unlinkQuietly(path);
    throw thrown;
  }
}

async function writeAll(handle: FileHandle, chunks: Uint8Array[]): Promise<void> {
  let pending = chunks;
  while (pending.length > 0) {
    const { bytesWritten } = await handle.writev(pending);
    pending = dropBytes(pending, bytesWritten);
  }
}

function dropBytes(chunks: Uint8Array[], count: number): Uint8Array[] {
  let left = count;
  let i = 0;
  while (i < chunks.length && left >= chunks[i]!.length) left -= chunks[i++]!.length;
  const rest = chunks.slice(i);
  if (left > 0 && rest.length > 0) rest[0] = rest[0]!.subarray(left);
  return rest;
}

export function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch (thrown) {
    if ((thrown as NodeJS.ErrnoException).code !== 'ENOENT') throw thrown;
  }
}
