/** Turns what the SDK or Ferry's own client throws into messages people can act on. */

export interface ApiErrorInfo {
  code: string;
  message: string;
}

export function errorInfo(error: unknown): ApiErrorInfo {
  if (error && typeof error === 'object') {
    const e = error as { name?: string; code?: string; message?: string; $metadata?: unknown };
    // fetch() rejects with a TypeError when the server cannot be reached.
    if (e.name === 'TypeError' && !e.code) return { code: 'NetworkError', message: `Cannot reach the Ferry server at ${window.location.origin}.` };
    return { code: e.code ?? e.name ?? 'Error', message: e.message ?? String(error) };
  }
  return { code: 'Error', message: String(error) };
}

/** The sign-in page's message for a failed credentials check. */
export function signInMessage(error: unknown): string {
  const { code, message } = errorInfo(error);
  switch (code) {
    case 'InvalidSignatureException':
      return 'Sign-in failed: the secret access key does not match the access key id.';
    case 'UnrecognizedClientException':
      return 'Sign-in failed: no account has this access key id.';
    case 'IncompleteSignatureException':
    case 'MissingAuthenticationTokenException':
      return 'Sign-in failed: enter both the access key id and the secret access key.';
    case 'NetworkError':
      return `Sign-in failed: cannot reach the Ferry server at ${window.location.origin}. Is \`ferry serve\` running?`;
    default:
      return `Sign-in failed: ${code}: ${message}`;
  }
}

/** Whether an error means the stored credentials stopped working (key deleted, secret rotated). */
export function isAuthError(error: unknown): boolean {
  const { code } = errorInfo(error);
  return code === 'UnrecognizedClientException' || code === 'InvalidSignatureException' || code === 'MissingAuthenticationTokenException';
}

/** Which form field an API validation message is about: messages start with the member name (`frequency must be …`). */
export function fieldOf(message: string, fields: readonly string[]): string | undefined {
  const first = /^([A-Za-z]+)\b/.exec(message)?.[1];
  if (first && fields.includes(first)) return first;
  return fields.find((f) => new RegExp(`\\b${f}\\b`).test(message));
}

/** Where an App configuration message points, by the member path it names (`…Configurations[0].…Configurations[1].instanceType`). */
export interface ConfigErrorPath {
  /** The request's list the path starts in (`serverGroupLaunchConfigurations`, `appValidationConfigurations`…). */
  list: string;
  /** Index in the request's list of server groups, and of servers (or validations) inside it. */
  group?: number;
  entry?: number;
  /** The member names after the indexes, outermost first (`userData`, `s3Location`). */
  members: string[];
}

const CONFIG_PATH = /\b([A-Za-z]+)\[(\d+)\](?:\.([A-Za-z]+)\[(\d+)\])?((?:\.[A-Za-z0-9]+)*)/;

export function configErrorPath(message: string): ConfigErrorPath | undefined {
  const m = CONFIG_PATH.exec(message);
  if (!m) return undefined;
  return {
    list: m[1]!,
    group: Number(m[2]),
    entry: m[4] === undefined ? undefined : Number(m[4]),
    members: (m[5] ?? '').split('.').filter(Boolean),
  };
}

/** The innermost member of `path` that a form has a field for. */
export function memberOf(path: ConfigErrorPath, fields: readonly string[]): string | undefined {
  return [...path.members].reverse().find((m) => fields.includes(m));
}
