/**
 * Ferry's own operations (src/api/ferryWire.ts) from Node: FerryApi (ferryApi.ts) with a SigV4 signer on Node's
 * SHA-256. The SMS operations themselves go through @aws-sdk/client-sms.
 */
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';
import { FerryApi } from './ferryApi.ts';

export { FerryApiError } from './ferryApi.ts';

export interface FerryClientOptions {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

export class FerryClient extends FerryApi {
  constructor(options: FerryClientOptions) {
    const signer = new SignatureV4({ credentials: options.credentials, region: options.region, service: 'sms', sha256: Hash.bind(null, 'sha256') });
    super({ endpoint: options.endpoint, signer });
  }
}
