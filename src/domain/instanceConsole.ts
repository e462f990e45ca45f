/**
 * What a launched guest says on its serial console, and what Ferry reads from it: the one place for this contract.
 *
 * Boot: a guest has booted when a console line carries `FERRY-BOOT-OK <hostname>` (printed by the sample guests'
 * /init) or a getty's `<host> login:` prompt (any ordinary Linux guest with a serial console). The QEMU guest agent
 * answering `guest-ping` counts too (see src/launch/bootWatcher.ts).
 *
 * Validation results (written by the wrapper Ferry adds as the last part of the NoCloud user-data, validationWrapper.ts):
 *
 *     FERRY-VALIDATION <validationId> <SUCCEEDED|FAILED> <message as base64, or -> <mac>
 *
 * `mac` is the first 32 hex digits of SHA-256("<nonce> <validationId> <status> <base64>"), where the nonce is a
 * per-instance secret that only the seed carries (never the console). So:
 * - a script's own output cannot become a result line: the wrapper captures it and prints it base64-encoded inside
 *   its own line, so no newline, space or marker in it survives as syntax;
 * - a line printed by anything that has not read the seed (another script's output, the user-data, the kernel, a
 *   previous instance's console) does not verify and is ignored, as is a line garbled by interleaved output;
 * - only the first verified line per validation id counts.
 * A script running as root can read the seed and forge lines; it can decide its own result through its exit code
 * anyway, and this is documented rather than defended.
 */
import { createHash } from 'node:crypto';

export const BOOT_MARKER = 'FERRY-BOOT-OK';
export const VALIDATION_TAG = 'FERRY-VALIDATION';
/** SMS shows at most this many characters of a validation's message. */
export const MAX_VALIDATION_MESSAGE = 2500;
/** Validation ids Ferry accepts (SMS's own are `val-` + 17 hex digits): nothing a shell would interpret. */
export const VALIDATION_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export type ValidationStatus = 'PENDING' | 'SUCCEEDED' | 'FAILED';

export interface ConsoleResult {
  validationId: string;
  status: 'SUCCEEDED' | 'FAILED';
  message: string;
}

/** A login prompt of a getty on the console: `debian login:` at the end of a line. */
const LOGIN_PROMPT = /(^|\s)\S+ login:\s*$/;

/** Does this console line say the guest has booted? */
export function isBootLine(line: string): boolean {
  const text = line.replace(/\r/g, '');
  return text.startsWith(`${BOOT_MARKER} `) || text === BOOT_MARKER || LOGIN_PROMPT.test(text);
}

export function validationMac(nonce: string, validationId: string, status: string, encoded: string): string {
  return createHash('sha256').update(`${nonce} ${validationId} ${status} ${encoded}`).digest('hex').slice(0, 32);
}

/** The line the wrapper prints (the shell computes the same; tests use this to check it). */
export function validationLine(nonce: string, validationId: string, status: 'SUCCEEDED' | 'FAILED', message: string): string {
  const encoded = message === '' ? '-' : Buffer.from(message, 'utf8').toString('base64');
  return `${VALIDATION_TAG} ${validationId} ${status} ${encoded} ${validationMac(nonce, validationId, status, encoded)}`;
}

/** A verified result from one console line, or undefined for anything else. */
export function parseValidationLine(line: string, nonce: string): ConsoleResult | undefined {
  const fields = line.replace(/\r/g, '').trim().split(' ');
  if (fields.length !== 5 || fields[0] !== VALIDATION_TAG) return undefined;
  const [, validationId, status, encoded, mac] = fields as [string, string, string, string, string];
  if (!VALIDATION_ID.test(validationId) || (status !== 'SUCCEEDED' && status !== 'FAILED')) return undefined;
  if (encoded !== '-' && !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return undefined;
  if (mac !== validationMac(nonce, validationId, status, encoded)) return undefined;
  const message = encoded === '-' ? '' : Buffer.from(encoded, 'base64').toString('utf8');
  return { validationId, status, message: [...message].slice(0, MAX_VALIDATION_MESSAGE).join('') };
}

/** What a stretch of console output says: whether the guest booted, and the first result per validation id. */
export function readConsole(text: string, nonce: string | null): { booted: boolean; results: Map<string, ConsoleResult> } {
  let booted = false;
  const results = new Map<string, ConsoleResult>();
  for (const line of text.split('\n')) {
    if (!booted && isBootLine(line)) booted = true;
    if (nonce && line.includes(VALIDATION_TAG)) {
      const result = parseValidationLine(line.slice(line.indexOf(VALIDATION_TAG)), nonce);
      if (result && !results.has(result.validationId)) results.set(result.validationId, result);
    }
  }
  return { booted, results };
}

/** The last `count` non-empty console lines, for an error message (control characters removed, each bounded). */
export function lastConsoleLines(text: string, count = 8): string[] {
  return text
    .split('\n')
    .map((line) => line.replace(/[\u0000-\u001f\u007f]/g, '').trimEnd())
    .filter((line) => line.trim() !== '')
    .slice(-count)
    .map((line) => (line.length > 200 ? `${line.slice(0, 197)}...` : line));
}
