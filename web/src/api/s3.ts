/**
 * Ferry's S3-compatible endpoint (same origin, path-style, SigV4 service `s3`) from the browser: read a generated
 * template, upload user data or a script, list and create the account's buckets. Requests are signed like the AWS
 * SDK's S3 client signs them — the path exactly as sent, the payload's SHA-256 in x-amz-content-sha256 — with the SMS
 * client's browser SHA-256 and clock-skew correction, so no second SDK client ships in the bundle.
 */
import type { SMSClient } from '@aws-sdk/client-sms';
import { SignatureV4 } from '@smithy/signature-v4';
import type { Session } from './session.ts';
// An S3 error answer has the same parts as any other from Ferry's endpoint: its code, message and status.
import { FerryApiError } from '../../../src/client/ferryApi.ts';

/** S3's URI encoding of one path segment (RFC 3986 unreserved characters stay as they are). */
const encodeSegment = (segment: string) => encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** Why a key cannot be sent from a browser, or undefined: URLs drop `.` and `..` segments before the request leaves. */
export function browserKeyProblem(key: string): string | undefined {
  if (key === '') return 'Enter an object key.';
  if (key.split('/').some((s) => s === '.' || s === '..')) return 'A key with "." or ".." path segments cannot be sent from a browser (it rewrites them); use aws s3 cp.';
  return undefined;
}

export function objectPath(bucket: string, key = ''): string {
  return `/${encodeSegment(bucket)}${key ? `/${key.split('/').map(encodeSegment).join('/')}` : ''}`;
}

/** The code and message of an S3 XML error body (`<Error><Code>…</Code><Message>…</Message></Error>`). */
function parseError(text: string, response: Response): FerryApiError {
  let code = '';
  let message = '';
  try {
    const doc = new DOMParser().parseFromString(text, 'application/xml');
    code = doc.querySelector('Error > Code')?.textContent ?? '';
    message = doc.querySelector('Error > Message')?.textContent ?? '';
  } catch {
    // Not XML: fall back to the status below.
  }
  return new FerryApiError(code || String(response.status), message || response.statusText || `HTTP ${response.status}`, response.status);
}

export class S3Api {
  readonly #signer: SignatureV4;
  readonly #sms: SMSClient;

  constructor(sms: SMSClient, session: Session) {
    this.#sms = sms;
    this.#signer = new SignatureV4({
      credentials: { accessKeyId: session.accessKeyId, secretAccessKey: session.secretAccessKey },
      region: session.region,
      service: 's3',
      sha256: sms.config.sha256,
      // S3 signs the path as sent (no second round of encoding) and wants the payload hash as a header.
      uriEscapePath: false,
      applyChecksum: true,
    });
  }

  async request(method: string, path: string, options: { query?: Record<string, string>; body?: Uint8Array<ArrayBuffer>; headers?: Record<string, string> } = {}): Promise<Response> {
    const url = new URL(window.location.origin);
    const signed = await this.#signer.sign(
      {
        method,
        protocol: url.protocol,
        hostname: url.hostname,
        port: url.port ? Number(url.port) : undefined,
        path,
        query: options.query ?? {},
        headers: { host: url.host, ...options.headers },
        body: options.body,
      },
      { signingDate: new Date(Date.now() + (this.#sms.config.systemClockOffset ?? 0)) },
    );
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(signed.headers)) if (name !== 'host') headers[name] = value;
    const query = new URLSearchParams(options.query ?? {}).toString().replace(/\+/g, '%20');
    const response = await fetch(`${url.origin}${path}${query ? `?${query}` : ''}`, {
      method,
      headers,
      body: options.body,
      credentials: 'omit',
      cache: 'no-store',
    });
    if (!response.ok) throw parseError(await response.text(), response);
    return response;
  }

  /** An object's bytes and content type. */
  async getObject(bucket: string, key: string): Promise<{ body: Blob; contentType: string }> {
    const response = await this.request('GET', objectPath(bucket, key));
    return { body: await response.blob(), contentType: response.headers.get('content-type') ?? 'application/octet-stream' };
  }

  async putObject(bucket: string, key: string, body: Uint8Array<ArrayBuffer>, contentType: string): Promise<void> {
    await this.request('PUT', objectPath(bucket, key), { body, headers: { 'content-type': contentType || 'application/octet-stream' } });
  }

  async listBuckets(): Promise<string[]> {
    const response = await this.request('GET', '/');
    const doc = new DOMParser().parseFromString(await response.text(), 'application/xml');
    return [...doc.querySelectorAll('Bucket > Name')].map((n) => n.textContent ?? '').filter(Boolean);
  }

  async createBucket(bucket: string): Promise<void> {
    await this.request('PUT', objectPath(bucket));
  }
}
