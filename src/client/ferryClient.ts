/**
 * A small client for Ferry's own operations (target prefix Ferry_20261122), signed with SigV4 like the SMS ones.
 * The SMS operations themselves go through @aws-sdk/client-sms.
 */
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';
import type { FerryImage } from '../operations/ferry/listImages.ts';
import type { RunProgress } from '../operations/ferry/getRunProgress.ts';
import type { OnDemandQuota } from '../operations/ferry/getOnDemandQuota.ts';
import type { FerryInstance } from '../operations/ferry/listInstances.ts';
import type { InstanceConsoleOutput } from '../operations/ferry/getInstanceConsoleOutput.ts';

export class FerryApiError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, message: string, status: number) {
    super(message);
    this.name = code;
    this.code = code;
    this.status = status;
  }
}

export interface FerryClientOptions {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

type Wire<T> = { [K in keyof T]: T[K] extends Date ? number : T[K] extends Date | undefined ? number | undefined : T[K] };

export class FerryClient {
  readonly #url: URL;
  readonly #signer: SignatureV4;

  constructor(options: FerryClientOptions) {
    this.#url = new URL(options.endpoint);
    this.#signer = new SignatureV4({ credentials: options.credentials, region: options.region, service: 'sms', sha256: Hash.bind(null, 'sha256') });
  }

  async call<T>(operation: string, input: object = {}): Promise<T> {
    const body = JSON.stringify(input);
    const signed = await this.#signer.sign({
      method: 'POST',
      protocol: this.#url.protocol,
      hostname: this.#url.hostname,
      port: this.#url.port ? Number(this.#url.port) : undefined,
      path: '/',
      headers: {
        host: this.#url.host,
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': `Ferry_20261122.${operation}`,
      },
      body,
    });
    const response = await fetch(new URL('/', this.#url), { method: 'POST', headers: signed.headers as Record<string, string>, body });
    const payload = (await response.json()) as Record<string, unknown>;
    if (!response.ok) throw new FerryApiError(String(payload.__type ?? response.status), String(payload.message ?? response.statusText), response.status);
    return payload as T;
  }

  listImages(replicationJobId?: string) {
    return this.call<{ images: Wire<FerryImage>[] }>('ListImages', replicationJobId ? { replicationJobId } : {});
  }
  getRunProgress(replicationRunId: string) {
    return this.call<Wire<RunProgress>>('GetRunProgress', { replicationRunId });
  }
  getOnDemandQuota(replicationJobId: string) {
    return this.call<Wire<OnDemandQuota>>('GetOnDemandQuota', { replicationJobId });
  }
  listInstances(appId?: string) {
    return this.call<{ instances: Wire<FerryInstance>[] }>('ListInstances', appId ? { appId } : {});
  }
  getInstanceConsoleOutput(instanceId: string, maxBytes?: number) {
    return this.call<Wire<InstanceConsoleOutput>>('GetInstanceConsoleOutput', maxBytes ? { instanceId, maxBytes } : { instanceId });
  }
}
