/**
 * Ferry's own read-only operations (target prefix Ferry_20261122): same endpoint, same SigV4 signing (service
 * `sms`) and same error shape as the SMS ones. Requests are signed with the SMS client's own signer, so they use
 * the SDK's browser SHA-256 and its clock-skew correction.
 */
import type { SMSClient } from '@aws-sdk/client-sms';

export const FERRY_TARGET_PREFIX = 'Ferry_20261122';

/** Wire shapes (timestamps in epoch seconds), as in src/operations/ferry/*. */
export interface FerryImage {
  amiId: string;
  replicationJobId: string;
  replicationRunId: string;
  parentAmiId?: string;
  createdAt: number;
  encrypted: boolean;
  kmsKeyArn?: string;
  sizeBytes: number;
  dataBlocks: number;
  disks: { index: number; snapshotId: string; sizeBytes: number; dataBlocks: number }[];
  storedBytes: number;
  sharedBlocks: number;
  exclusiveBytes: number;
}

export interface RunProgress {
  replicationRunId: string;
  replicationJobId: string;
  state: string;
  stage?: string;
  stageProgress?: string;
  bytesDone?: number;
  bytesTotal?: number;
  bytesPerSecond?: number;
  etaSeconds?: number;
  updatedAt: number;
}

export interface OnDemandQuota {
  replicationJobId: string;
  limit: number;
  used: number;
  windowHours: number;
  nextAvailableAt?: number;
}

export interface ConnectorHeartbeat {
  connectorId: string;
  lastHeartbeatAt?: number;
  reportedStatus?: string;
  statusMessage?: string;
  lastInventoryAt?: number;
}

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

export class FerryApi {
  readonly #sms: SMSClient;

  constructor(sms: SMSClient) {
    this.#sms = sms;
  }

  async call<T>(operation: string, input: object = {}): Promise<T> {
    const url = new URL(window.location.origin);
    const body = JSON.stringify(input);
    const signer = await this.#sms.config.signer();
    const signed = await signer.sign(
      {
        method: 'POST',
        protocol: url.protocol,
        hostname: url.hostname,
        port: url.port ? Number(url.port) : undefined,
        path: '/',
        query: {},
        headers: {
          // The browser sends Host itself; it is signed so the server can check it.
          host: url.host,
          'content-type': 'application/x-amz-json-1.1',
          'x-amz-target': `${FERRY_TARGET_PREFIX}.${operation}`,
        },
        body,
      },
      { signingDate: new Date(Date.now() + (this.#sms.config.systemClockOffset ?? 0)) },
    );
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(signed.headers)) if (name !== 'host') headers[name] = value;
    const response = await fetch(new URL('/', url), { method: 'POST', headers, body, credentials: 'omit', cache: 'no-store' });
    let payload: Record<string, unknown> = {};
    try {
      payload = (await response.json()) as Record<string, unknown>;
    } catch {
      // An empty or non-JSON answer: report the status below.
    }
    if (!response.ok) {
      const type = String(payload.__type ?? response.headers.get('x-amzn-errortype') ?? response.status);
      throw new FerryApiError(type.split('#').pop()!.split(':')[0]!, String(payload.message ?? response.statusText), response.status);
    }
    return payload as T;
  }

  listImages(replicationJobId?: string): Promise<{ images: FerryImage[] }> {
    return this.call('ListImages', replicationJobId ? { replicationJobId } : {});
  }
  getRunProgress(replicationRunId: string): Promise<RunProgress> {
    return this.call('GetRunProgress', { replicationRunId });
  }
  getOnDemandQuota(replicationJobId: string): Promise<OnDemandQuota> {
    return this.call('GetOnDemandQuota', { replicationJobId });
  }
  listConnectorHeartbeats(): Promise<{ connectors: ConnectorHeartbeat[] }> {
    return this.call('ListConnectorHeartbeats', {});
  }
}
