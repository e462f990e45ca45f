/** Structured logs (pino, JSON lines). Anything that could carry a secret is redacted by path. */
import { pino, type Logger, type DestinationStream } from 'pino';

const REDACT = [
  'req.headers.authorization',
  'headers.authorization',
  'authorization',
  'token',
  'secretAccessKey',
  '*.secretAccessKey',
  '*.token',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, base: { service: 'ferry' }, redact: { paths: REDACT, censor: '[redacted]' } }, destination);
}

export type { Logger };
