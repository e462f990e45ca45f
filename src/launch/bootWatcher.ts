/**
 * Turns what a guest shows into facts: it follows the instance's serial console file (written by virtlogd) and asks
 * the QEMU guest agent, and reports "booted" (a boot line on the console — src/domain/instanceConsole.ts — or the
 * agent answering `guest-ping`), the guest stopping on its own, or the deadline passing; then collects validation
 * result lines until every validation has one or their deadline passes. It reads; it never decides a state itself.
 */
import { watch, type FSWatcher } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { isBootLine, parseValidationLine, VALIDATION_TAG, type ConsoleResult } from '../domain/instanceConsole.ts';
import type { DomainEvent, DomainEvents } from './domainEvents.ts';
import { VirshError, type Virsh } from './virsh.ts';

/**
 * How often the console file is read at the latest. Between reads the tail waits for inotify to say the file was
 * written (ConsoleTail.changed), so a boot marker or a validation line is seen within milliseconds, not up to a poll
 * interval later; the interval only matters where inotify says nothing (the file not there yet, or rotated).
 */
const POLL_MS = 250;
/**
 * How often a guest not yet booted is probed (its agent, and its domain's state when the agent says nothing useful):
 * each is a virsh process, and on a small host every process competes with the emulated guest for the CPU.
 */
const PROBE_MS = 5000;
/**
 * The same while libvirt's event stream is followed (domainEvents.ts): a guest is then probed when libvirt says its
 * agent connected or its domain stopped, and otherwise only this often, in case an event was missed (the stream
 * restarting, or started just after the domain).
 */
const PROBE_FOLLOWING_MS = 30_000;
/** A console line longer than this is cut (a guest printing without newlines must not grow memory). */
const MAX_LINE = 16 * 1024;

/** Follows a file that only grows (or is replaced by a new, shorter one when virtlogd rotates it). */
export class ConsoleTail {
  readonly #path: string;
  #offset = 0;
  #carry = '';
  #watcher: FSWatcher | undefined;
  /** The file was written (or replaced) since the last changed() returned. */
  #written = false;
  #wake: (() => void) | undefined;

  constructor(path: string) {
    this.#path = path;
  }

  /**
   * Resolves as soon as the file may have new bytes (inotify on the file), or after `maxMs` at the latest; rejects
   * when `signal` aborts. A write between two calls makes the next call return at once, so none is missed.
   */
  async changed(maxMs: number, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    this.#follow();
    if (!this.#written) {
      await new Promise<void>((resolve, reject) => {
        const finish = () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          this.#wake = undefined;
        };
        const timer = setTimeout(() => {
          finish();
          resolve();
        }, maxMs);
        const onAbort = () => {
          finish();
          reject(signal.reason);
        };
        signal.addEventListener('abort', onAbort, { once: true });
        this.#wake = () => {
          finish();
          resolve();
        };
      });
    }
    this.#written = false;
  }

  /** Stops following the file (the next changed() follows it again). */
  close(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  #follow(): void {
    if (this.#watcher) return;
    try {
      // persistent: false — following a console never keeps the process alive.
      this.#watcher = watch(this.#path, { persistent: false }, (event) => {
        this.#written = true;
        // A rename is virtlogd rotating the file: follow the new one from the next call.
        if (event === 'rename') this.close();
        this.#wake?.();
      });
      this.#watcher.on('error', () => this.close());
    } catch {
      // Not there yet (the domain has not started): the timeout polls until it is.
    }
  }

  /** The complete lines written since the last call. */
  async lines(): Promise<string[]> {
    let size: number;
    try {
      size = (await stat(this.#path)).size;
    } catch {
      return [];
    }
    if (size < this.#offset) this.#offset = 0; // rotated
    if (size === this.#offset) return [];
    const handle = await open(this.#path, 'r');
    let text: string;
    try {
      const length = Math.min(size - this.#offset, 4 * 1024 * 1024);
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, this.#offset);
      this.#offset += bytesRead;
      text = buffer.toString('utf8', 0, bytesRead);
    } finally {
      await handle.close();
    }
    const parts = (this.#carry + text).split('\n');
    this.#carry = parts.pop()!.slice(-MAX_LINE);
    return parts.map((line) => (line.length > MAX_LINE ? line.slice(0, MAX_LINE) : line));
  }
}

export type BootOutcome = { booted: true; via: 'console' | 'guest agent' } | { booted: false; why: 'timeout' } | { booted: false; why: 'stopped'; detail: string };

export interface WatchContext {
  tail: ConsoleTail;
  virsh: Virsh;
  domain: string;
  /** The instance's console nonce: validation lines may arrive before the boot is noticed. */
  nonce: string;
  onResult: (result: ConsoleResult) => Promise<void>;
  /** Told once, when the console shows its first complete line (timelines only). */
  onFirstLine?: () => void;
  signal: AbortSignal;
  now: () => number;
  /** libvirt's events, when followed: the guest is probed when they say something changed (see PROBE_FOLLOWING_MS). */
  events?: DomainEvents;
}

/** An event after which a probe may decide something: the guest's agent connected, or its domain stopped. */
function worthAProbe(event: DomainEvent): boolean {
  if (event.type === 'agent-lifecycle') return /state:\s*'connected'/.test(event.detail);
  return event.type === 'lifecycle' && /^(Stopped|Crashed|Shutdown)\b/.test(event.detail);
}

function results(lines: readonly string[], nonce: string): ConsoleResult[] {
  const out: ConsoleResult[] = [];
  for (const line of lines) {
    const at = line.indexOf(VALIDATION_TAG);
    if (at < 0) continue;
    const result = parseValidationLine(line.slice(at), nonce);
    if (result) out.push(result);
  }
  return out;
}

/** libvirt's error when the domain runs but its guest agent does not answer (not connected yet, or busy). */
const AGENT_NOT_ANSWERING = /guest agent is not responding/i;

/**
 * One probe of a guest that has not signalled its boot on the console: its agent answering means booted. The probe
 * costs one virsh process while the guest runs (each is tens of ms of CPU taken from the booting guests): the
 * agent's "not responding" already says the domain runs, so its state is asked only when the ping failed otherwise.
 */
async function probe(ctx: WatchContext): Promise<BootOutcome | undefined> {
  try {
    await ctx.virsh.agentCommand(ctx.domain, { execute: 'guest-ping' }, 1);
    return { booted: true, via: 'guest agent' };
  } catch (error) {
    if (error instanceof VirshError && AGENT_NOT_ANSWERING.test(error.stderr)) return undefined;
  }
  const state = await ctx.virsh.domainState(ctx.domain);
  if (!state) return { booted: false, why: 'stopped', detail: 'its libvirt domain no longer exists' };
  if (state.state !== 'running' && state.state !== 'paused') return { booted: false, why: 'stopped', detail: `it is ${state.state} (${state.reason})` };
  return undefined;
}

/** Waits until the guest signals its boot, stops, or `deadline` (epoch ms) passes. Rejects only when aborted. */
export async function waitForBoot(ctx: WatchContext, deadline: number): Promise<BootOutcome> {
  try {
    return await watchBoot(ctx, deadline);
  } finally {
    ctx.tail.close();
  }
}

async function watchBoot(ctx: WatchContext, deadline: number): Promise<BootOutcome> {
  let nextProbe = ctx.now() + PROBE_MS / 2;
  let lastProbe = nextProbe - PROBE_MS;
  let seenLine = false;
  // Set by libvirt's event stream; looked at within POLL_MS (the wait below never lasts longer).
  let probeNow = false;
  const stopFollowing = ctx.events?.on(ctx.domain, (event) => {
    if (worthAProbe(event)) probeNow = true;
  });
  try {
    for (;;) {
      ctx.signal.throwIfAborted();
      const lines = await ctx.tail.lines();
      if (!seenLine && lines.length > 0) {
        seenLine = true;
        ctx.onFirstLine?.();
      }
      for (const result of results(lines, ctx.nonce)) await ctx.onResult(result);
      if (lines.some(isBootLine)) return { booted: true, via: 'console' };
      // The stream ended since the last probe was scheduled: back to probing every PROBE_MS.
      if (!ctx.events?.following) nextProbe = Math.min(nextProbe, lastProbe + PROBE_MS);
      if (probeNow || ctx.now() >= nextProbe) {
        probeNow = false;
        lastProbe = ctx.now();
        nextProbe = lastProbe + (ctx.events?.following ? PROBE_FOLLOWING_MS : PROBE_MS);
        const outcome = await probe(ctx);
        if (outcome) return outcome;
      }
      if (ctx.now() >= deadline) return { booted: false, why: 'timeout' };
      await ctx.tail.changed(Math.min(POLL_MS, Math.max(1, nextProbe - ctx.now())), ctx.signal);
    }
  } finally {
    stopFollowing?.();
  }
}

/** Reads validation lines until `pending` is empty or `deadline` passes; returns the ids still without a result. */
export async function collectValidations(ctx: WatchContext, pending: Set<string>, deadline: number): Promise<Set<string>> {
  try {
    while (pending.size > 0 && ctx.now() < deadline) {
      ctx.signal.throwIfAborted();
      for (const result of results(await ctx.tail.lines(), ctx.nonce)) {
        if (!pending.has(result.validationId)) continue;
        pending.delete(result.validationId);
        await ctx.onResult(result);
      }
      if (pending.size > 0) await ctx.tail.changed(Math.min(POLL_MS * 2, Math.max(1, deadline - ctx.now())), ctx.signal);
    }
    return pending;
  } finally {
    ctx.tail.close();
  }
}
