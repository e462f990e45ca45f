/** SigV4 signing for the bench: the same signer the AWS SDK uses (@smithy/signature-v4 + node crypto). */
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';

export const SMS_TARGET_PREFIX = 'AWSServerMigrationService_V2016_10_24';
export const CONTENT_TYPE = 'application/x-amz-json-1.1';

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface SignedRequest {
  headers: Record<string, string>;
  body: string;
}

export function signer(credentials: Credentials, region = 'us-east-1'): SignatureV4 {
  return new SignatureV4({ credentials, region, service: 'sms', sha256: Hash.bind(null, 'sha256') });
}

/** Signs one SMS call the way the AWS SDK does (content-type, host, target, length and body hash are signed). */
export async function signSms(sig: SignatureV4, host: string, port: number, operation: string, body: string): Promise<SignedRequest> {
  const signed = await sig.sign({
    method: 'POST',
    protocol: 'http:',
    hostname: host,
    port,
    path: '/',
    query: {},
    headers: {
      host: `${host}:${port}`,
      'content-type': CONTENT_TYPE,
      'content-length': String(Buffer.byteLength(body)),
      'x-amz-target': `${SMS_TARGET_PREFIX}.${operation}`,
    },
    body,
  });
  return { headers: signed.headers as Record<string, string>, body };
}

/** One signed SMS call with fetch, for setup steps; returns the status and the raw response text. */
export async function smsCall(
  url: string,
  credentials: Credentials,
  operation: string,
  input: unknown,
): Promise<{ status: number; text: string; json: Record<string, unknown> }> {
  const { hostname, port } = new URL(url);
  const request = await signSms(signer(credentials), hostname, Number(port), operation, JSON.stringify(input));
  const { host: _host, 'content-length': _length, ...headers } = request.headers;
  const response = await fetch(url, { method: 'POST', headers, body: request.body });
  const text = await response.text();
  return { status: response.status, text, json: JSON.parse(text) as Record<string, unknown> };
}
