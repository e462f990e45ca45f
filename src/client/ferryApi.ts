/**
 * Calls Ferry's own operations (src/api/ferryWire.ts): the request as the server routes it, SigV4-signed with service
 * `sms`, and the error envelope read back into a FerryApiError. Used by the Node client (ferryClient.ts) and by the web
 * console (web/src/api/ferry.ts), so it imports nothing Node-only: the signer is injected — @smithy/signature-v4 with
 * Node's hash in Node, the SMS client's own signer (browser SHA-256, clock-skew correction) in the browser.
 */
import { CodedError } from '../lib/errors.ts';
import { FERRY_TARGET_PREFIX, type FerryInput, type FerryOperationName, type FerryOutput } from '../api/ferryWire.ts';

export class FerryApiError extends CodedError {
  readonly status: number;
  constructor(code: string, message: string, status: number) {
    super(code, message);
    this.status = status;
  }
}

/** What is signed: structurally the @smithy HttpRequest that SignatureV4 and the SDK's signers take. */
export interface SignableRequest {
  method: string;
  protocol: string;
  hostname: string;
  port?: number;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: string;
}

export interface RequestSigner {
  sign(request: SignableRequest, options?: { signingDate?: Date }): Promise<{ headers: Record<string, string> }>;
}

export interface FerryApiOptions {
  /** Ferry's URL; requests go to its `/`. */
  endpoint: string | URL;
  signer: RequestSigner | (() => Promise<RequestSigner>);
  /** The time to sign with (the console corrects its clock skew here); default now. */
  signingDate?: () => Date;
  /** Further fetch options (the console sends no cookies and never uses the HTTP cache). */
  fetchInit?: Pick<RequestInit, 'credentials' | 'cache'>;
}

/** The error code of an AWS JSON error: `__type` may come as `prefix#Name` or `Name:detail`; the header as a fallback. */
function errorCode(payload: Record<string, unknown>, response: Response): string {
  const type = String(payload.__type ?? response.headers.get('x-amzn-errortype') ?? response.status);
  return type.split('#').pop()!.split(':')[0]!;
}

export class FerryApi {
  readonly #url: URL;
  readonly #options: FerryApiOptions;

  constructor(options: FerryApiOptions) {
    this.#url = new URL(options.endpoint);
    this.#options = options;
  }

  /** Any operation by name, with any input: the typed methods below use it; tests probe the server with it. */
  async call<T>(operation: string, input: object = {}): Promise<T> {
    const body = JSON.stringify(input);
    const signer = typeof this.#options.signer === 'function' ? await this.#options.signer() : this.#options.signer;
    const signed = await signer.sign(
      {
        method: 'POST',
        protocol: this.#url.protocol,
        hostname: this.#url.hostname,
        port: this.#url.port ? Number(this.#url.port) : undefined,
        path: '/',
        query: {},
        headers: {
          // Signed so the server can check it; fetch sends the same Host itself (browsers refuse to set it).
          host: this.#url.host,
          'content-type': 'application/x-amz-json-1.1',
          'x-amz-target': `${FERRY_TARGET_PREFIX}.${operation}`,
        },
        body,
      },
      this.#options.signingDate ? { signingDate: this.#options.signingDate() } : {},
    );
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(signed.headers)) if (name.toLowerCase() !== 'host') headers[name] = value;
    const response = await fetch(new URL('/', this.#url), { method: 'POST', headers, body, ...this.#options.fetchInit });
    let payload: Record<string, unknown> = {};
    try {
      payload = (await response.json()) as Record<string, unknown>;
    } catch {
      // An empty or non-JSON answer: the status says what happened.
    }
    if (!response.ok) throw new FerryApiError(errorCode(payload, response), String(payload.message ?? response.statusText), response.status);
    return payload as T;
  }

  /** A typed call: the input and output are the wire shapes of src/api/ferryWire.ts. */
  send<Op extends FerryOperationName>(operation: Op, input: FerryInput<Op>): Promise<FerryOutput<Op>> {
    return this.call<FerryOutput<Op>>(operation, input);
  }

  listImages(replicationJobId?: string) {
    return this.send('ListImages', replicationJobId ? { replicationJobId } : {});
  }
  getRunProgress(replicationRunId: string) {
    return this.send('GetRunProgress', { replicationRunId });
  }
  getOnDemandQuota(replicationJobId: string) {
    return this.send('GetOnDemandQuota', { replicationJobId });
  }
  listConnectorHeartbeats() {
    return this.send('ListConnectorHeartbeats', {});
  }
  listInstances(appId?: string) {
    return this.send('ListInstances', appId ? { appId } : {});
  }
  getInstanceConsoleOutput(instanceId: string, maxBytes?: number) {
    return this.send('GetInstanceConsoleOutput', maxBytes ? { instanceId, maxBytes } : { instanceId });
  }
}
