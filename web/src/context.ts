/** What every page needs: the signed-in session and its clients (SMS, Ferry's own operations, the S3 endpoint). */
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { SMSClient } from '@aws-sdk/client-sms';
import type { FerryApi } from './api/ferry.ts';
import type { Session } from './api/session.ts';
import type { S3Api } from './api/s3.ts';

export interface Api {
  session: Session;
  sms: SMSClient;
  ferry: FerryApi;
  s3: S3Api;
  /** Called by pages when a call fails with an authentication error (keys deleted or rotated). */
  onAuthError(error: unknown): void;
}

export const ApiContext = createContext<Api | null>(null);

export function useApi(): Api {
  const api = useContext(ApiContext);
  if (!api) throw new Error('useApi outside the signed-in console');
  return api;
}
