/**
 * Request bodies the artifact crash and streaming tests send to Ferry's S3 endpoint, and what they look at around
 * them (s3Durability.test.ts with local blobs, artifactStoreBucketCrash.test.ts with blobs in a bucket).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { signS3, type S3Keys } from './s3Signer.ts';

/** Every file under `dir` (none when it does not exist). */
export function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

/** Starts a PUT of `total` bytes and sends `sent` of them, then leaves the request hanging (the server is to be killed). */
export async function startSlowPut(url: string, keys: S3Keys, path: string, total: number, sent: Buffer, query: Record<string, string> = {}): Promise<void> {
  const signed = await signS3(url, keys, { method: 'PUT', path, query, payloadHash: 'UNSIGNED-PAYLOAD', headers: { 'content-length': String(total) } });
  const req = httpRequest(signed.url, { method: 'PUT', headers: signed.init.headers as Record<string, string> });
  req.on('error', () => {});
  req.write(sent);
}

/**
 * PUTs `count` copies of `chunk` as one body, written as the socket drains (the client holds one chunk, so what the
 * server's memory does is the server's), with the body's SHA-256 signed; resolves with the status code.
 */
export async function putRepeated(url: string, keys: S3Keys, path: string, chunk: Buffer, count: number): Promise<number> {
  const expected = createHash('sha256');
  for (let i = 0; i < count; i++) expected.update(chunk);
  const signed = await signS3(url, keys, { method: 'PUT', path, payloadHash: expected.digest('hex'), headers: { 'content-length': String(chunk.length * count) } });
  return new Promise<number>((resolve, reject) => {
    const req = httpRequest(signed.url, { method: 'PUT', headers: signed.init.headers as Record<string, string> }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    let sent = 0;
    const pump = () => {
      while (sent < count) {
        sent++;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

/** Peak resident memory of a process (VmHWM), in bytes. */
export function peakRss(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'))!;
  return Number(/(\d+)/.exec(line)![1]) * 1024;
}
