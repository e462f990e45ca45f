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
