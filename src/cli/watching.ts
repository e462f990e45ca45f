/**
 * What `ferry runs watch` and `ferry apps watch` share: the flags every watch takes, polling through short outages
 * once the watch has started, and the command's life around it (Ctrl-C → 130, errors → one line on stderr, the
 * display and the client closed at the end). Each watch keeps only what it shows and when it ends.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Command } from 'commander';
import { addApiOptions, connect, networkCode, parseSeconds, reportError, type Api, type ApiFlags } from './apiClient.ts';

/** Once watching, a lost connection is retried this long before the watch gives up. */
export const RECONNECT_WINDOW_MS = 30_000;

/** The flags of every watch command. */
export interface WatchFlags extends ApiFlags {
  interval: number;
  plain?: boolean;
}

/** Adds the API options, `--interval` (seconds, `defaultSeconds` unless given) and `--plain` to a watch command. */
export function addWatchOptions(command: Command, defaultSeconds: number): Command {
  return addApiOptions(command)
    .option('--interval <seconds>', 'how often to poll', parseSeconds, defaultSeconds)
    .option('--plain', 'plain lines even on a terminal');
}

/** Network failures and 5xx answers: worth polling again; anything else (refused, unknown id) ends the watch. */
export const isTransient = (error: unknown): boolean =>
  networkCode(error) !== undefined || ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? 0) >= 500;

/**
 * Makes calls that poll through short outages once one call has succeeded (the first call's failure is reported at
 * once: a wrong endpoint should not look like a hang). `notice` says when the connection is lost and when it is back.
 */
export function reconnectingCalls(
  api: Pick<Api, 'endpoint'>,
  options: { intervalMs: number; notice: (text: string) => void; windowMs?: number },
): <T>(fn: () => Promise<T>) => Promise<T> {
  const windowMs = options.windowMs ?? RECONNECT_WINDOW_MS;
  let lastSuccess = 0;
  let disconnected = false;
  return async function call<T>(fn: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        const result = await fn();
        if (disconnected) options.notice(`Reconnected to ${api.endpoint}.`);
        disconnected = false;
        lastSuccess = Date.now();
        return result;
      } catch (error) {
        if (lastSuccess === 0 || !isTransient(error) || Date.now() - lastSuccess > windowMs) throw error;
        if (!disconnected) options.notice(`Lost the connection to ${api.endpoint}; retrying for up to ${windowMs / 1000} s…`);
        disconnected = true;
        await delay(options.intervalMs);
      }
    }
  };
}

/** Whether a watch draws in place: only on a terminal, and not with --plain. */
export const drawsInPlace = (flags: WatchFlags): boolean => process.stdout.isTTY === true && !flags.plain;

/**
 * Runs a watch as a command: connects, sets the exit status to what `watch` resolves with (or reports its error),
 * exits 130 on Ctrl-C, and closes the display (`closeDisplay`, before anything reaches stderr) and the client however
 * it ends.
 */
export async function runWatchCommand(flags: WatchFlags, watch: (api: Api) => Promise<number>, closeDisplay: () => void = () => {}): Promise<void> {
  let api: Api | undefined;
  const onSignal = () => {
    closeDisplay();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  try {
    api = connect(flags);
    process.exitCode = await watch(api);
  } catch (error) {
    closeDisplay();
    reportError(error, api);
  } finally {
    closeDisplay();
    process.removeListener('SIGINT', onSignal);
    api?.close();
  }
}
