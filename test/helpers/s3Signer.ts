/**
 * Signs S3 requests the way the AWS SDK's S3 client does (@smithy/signature-v4 with the path left as sent), for
 * tests that need requests the AWS CLI and boto3 will not make: tampered bodies, odd headers, raw status codes.
 */
import { createHash } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';

export interface S3Keys {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface S3RequestSpec {
  method: string;
  /** Path as sent, already percent-encoded (`/bucket/key`). */
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Buffer;
  /** x-amz-content-sha256 to declare (default: the body's real SHA-256). */
  payloadHash?: string;
  region?: string;
  signingDate?: Date;
}

export function s3Signer(keys: S3Keys, region = 'us-east-1'): SignatureV4 {
  return new SignatureV4({ credentials: keys, region, service: 's3', sha256: Hash.bind(null, 'sha256'), uriEscapePath: false, applyChecksum: false });
}

/** The request line and headers of a signed S3 request to `url`'s host. */
export async function signS3(url: string, keys: S3Keys, spec: S3RequestSpec): Promise<{ url: string; init: RequestInit }> {
  const endpoint = new URL(url);
  const body = spec.body ?? Buffer.alloc(0);
  const headers: Record<string, string> = {
    host: endpoint.host,
    'x-amz-content-sha256': spec.payloadHash ?? createHash('sha256').update(body).digest('hex'),
    ...spec.headers,
  };
  const signed = await s3Signer(keys, spec.region).sign(
    { method: spec.method, protocol: 'http:', hostname: endpoint.hostname, port: Number(endpoint.port), path: spec.path, query: spec.query ?? {}, headers, body },
    spec.signingDate ? { signingDate: spec.signingDate } : {},
  );
  const query = new URLSearchParams(spec.query ?? {}).toString().replace(/\+/g, '%20');
  const init: RequestInit = { method: spec.method, headers: signed.headers as Record<string, string> };
  if (spec.body && spec.method !== 'GET' && spec.method !== 'HEAD') init.body = spec.body;
  return { url: `${endpoint.origin}${spec.path}${query ? `?${query}` : ''}`, init };
}

/** Signs and sends; returns status, headers and body text. */
export async function s3Fetch(url: string, keys: S3Keys, spec: S3RequestSpec): Promise<{ status: number; headers: Headers; text: string }> {
  const request = await signS3(url, keys, spec);
  const response = await fetch(request.url, request.init);
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/** A presigned GET URL, made by the same signer. */
export async function presignS3(url: string, keys: S3Keys, path: string, expiresIn: number, signingDate?: Date): Promise<string> {
  const endpoint = new URL(url);
  const presigned = await s3Signer(keys).presign(
    // As S3 presigners do: the payload is UNSIGNED-PAYLOAD, a value used in the signature but not sent.
    { method: 'GET', protocol: 'http:', hostname: endpoint.hostname, port: Number(endpoint.port), path, query: {}, headers: { host: endpoint.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } },
    {
      expiresIn,
      unsignableHeaders: new Set(['x-amz-content-sha256']),
      unhoistableHeaders: new Set(['x-amz-content-sha256']),
      ...(signingDate ? { signingDate } : {}),
    },
  );
  const query = new URLSearchParams(presigned.query as Record<string, string>).toString();
  return `${endpoint.origin}${path}?${query}`;
}

/** The Code element of an S3 error document. */
export const errorCode = (xml: string): string | undefined => /<Code>([^<]*)<\/Code>/.exec(xml)?.[1];
