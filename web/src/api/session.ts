/**
 * The signed-in identity: access key id, secret and region, kept in sessionStorage only (gone when the tab
 * closes; never in localStorage, cookies or URLs).
 */
export interface Session {
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

const KEY = 'ferry.console.session';

export const REGIONS = [
  'us-east-1', 'us-east-2', 'us-west-1', 'us-west-2', 'ca-central-1', 'sa-east-1',
  'eu-west-1', 'eu-west-2', 'eu-west-3', 'eu-central-1', 'eu-north-1', 'eu-south-1',
  'ap-south-1', 'ap-northeast-1', 'ap-northeast-2', 'ap-northeast-3', 'ap-southeast-1', 'ap-southeast-2',
  'me-south-1', 'af-south-1',
] as const;

export function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return null;
    const value = JSON.parse(raw) as Partial<Session>;
    if (typeof value.accessKeyId === 'string' && typeof value.secretAccessKey === 'string' && typeof value.region === 'string') {
      return { accessKeyId: value.accessKeyId, secretAccessKey: value.secretAccessKey, region: value.region };
    }
  } catch {
    // Storage unavailable or corrupt: sign in again.
  }
  return null;
}

export function saveSession(session: Session): void {
  sessionStorage.setItem(KEY, JSON.stringify(session));
}

export function clearSession(): void {
  sessionStorage.removeItem(KEY);
}
