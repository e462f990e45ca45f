/**
 * `--blocks` (FERRY_BLOCKS): where the image store keeps block bytes. Unset or `local`: pack files in the data dir.
 * `s3://bucket/prefix`: an S3-compatible bucket, reached at `--s3-endpoint` (FERRY_S3_ENDPOINT; default AWS) with
 * path-style addressing when FERRY_S3_PATH_STYLE is true (the default whenever an endpoint is given: Ceph RGW,
 * MinIO and moto all want it). Credentials and region come from the usual AWS variables and profiles.
 * FERRY_S3_PAYLOAD_CHECK says how a pack body's integrity reaches the store: `crc32` (the default: a CRC32 header the
 * store verifies, the body not hashed for the signature) or `sigv4` (the body's SHA-256 signed, for a store that
 * refuses unsigned payloads or flexible-checksum headers).
 */
import type { BlockStorage } from './blockStorage.ts';
import { S3BlockStorage, type PayloadCheck } from './s3BlockStorage.ts';

export interface BlocksSetting {
  bucket: string;
  prefix: string;
  endpoint: string | undefined;
  forcePathStyle: boolean;
  payloadCheck: PayloadCheck;
}

/** undefined: local packs. Throws on anything that is neither local nor a well-formed s3:// URL. */
export function parseBlocksSetting(blocks: string | undefined, s3Endpoint: string | undefined, env: NodeJS.ProcessEnv): BlocksSetting | undefined {
  if (blocks === undefined || blocks === '' || blocks === 'local') return undefined;
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(blocks);
  if (!match) throw new Error(`--blocks (FERRY_BLOCKS) must be "local" or s3://bucket/prefix; got ${JSON.stringify(blocks)}.`);
  const prefix = (match[2] ?? '').replace(/\/+$/, '');
  if (prefix.split('/').some((part) => part === '.' || part === '..') || prefix.includes('//')) throw new Error(`--blocks has an invalid prefix: ${JSON.stringify(prefix)}.`);
  if (s3Endpoint !== undefined && !/^https?:\/\/[^\s/]+/.test(s3Endpoint)) throw new Error(`--s3-endpoint (FERRY_S3_ENDPOINT) must be an http(s) URL; got ${JSON.stringify(s3Endpoint)}.`);
  const pathStyle = env.FERRY_S3_PATH_STYLE;
  if (pathStyle !== undefined && pathStyle !== '' && !/^(true|false|1|0)$/.test(pathStyle)) throw new Error(`FERRY_S3_PATH_STYLE must be true or false; got ${JSON.stringify(pathStyle)}.`);
  const forcePathStyle = pathStyle === undefined || pathStyle === '' ? s3Endpoint !== undefined : pathStyle === 'true' || pathStyle === '1';
  const payloadCheck = env.FERRY_S3_PAYLOAD_CHECK || 'crc32';
  if (payloadCheck !== 'crc32' && payloadCheck !== 'sigv4') throw new Error(`FERRY_S3_PAYLOAD_CHECK must be crc32 or sigv4; got ${JSON.stringify(payloadCheck)}.`);
  return { bucket: match[1]!, prefix, endpoint: s3Endpoint, forcePathStyle, payloadCheck };
}

export function openBlockStorage(setting: BlocksSetting): BlockStorage {
  return new S3BlockStorage({ bucket: setting.bucket, prefix: setting.prefix, endpoint: setting.endpoint, forcePathStyle: setting.forcePathStyle, payloadCheck: setting.payloadCheck });
}
