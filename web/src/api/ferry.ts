/**
 * Ferry's own operations from the console: the shared client (src/client/ferryApi.ts) with the SMS client's own
 * signer, so requests use the SDK's browser SHA-256 and its clock-skew correction. The wire shapes are the shared
 * ones (src/api/ferryWire.ts), as the server builds them.
 */
import type { SMSClient } from '@aws-sdk/client-sms';
import { FerryApi } from '../../../src/client/ferryApi.ts';

export { FerryApi, FerryApiError } from '../../../src/client/ferryApi.ts';
export type { ConnectorHeartbeat, FerryImage, FerryInstance, InstanceConsoleOutput, OnDemandQuota, RunProgress } from '../../../src/api/ferryWire.ts';

export function ferryApi(sms: SMSClient): FerryApi {
  return new FerryApi({
    endpoint: window.location.origin,
    signer: () => sms.config.signer(),
    signingDate: () => new Date(Date.now() + (sms.config.systemClockOffset ?? 0)),
    fetchInit: { credentials: 'omit', cache: 'no-store' },
  });
}
