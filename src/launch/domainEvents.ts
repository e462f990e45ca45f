/**
 * What libvirt says happens to domains, as it happens: one long-lived `virsh event --all --loop` for the process,
 * its lines handed to whoever follows a domain. The boot watcher used to learn that a guest's agent came up or that
 * its domain stopped only by asking, every 5 s and for every booting guest, with a virsh process each time (about
 * 40 ms of CPU here, plus libvirtd's share) — CPU taken from the emulated guests it was waiting for. With the
 * stream, it asks when libvirt says something changed, and otherwise rarely.
 *
 * An event is a reason to look, never a state: the watcher still asks (a guest-ping, a domstate) before it decides
 * anything, and while the stream is down (virsh missing, libvirtd restarted) it falls back to asking every 5 s.
 */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import type { Virsh } from './virsh.ts';

export interface DomainEvent {
  /** libvirt's event type: `lifecycle`, `agent-lifecycle`, `reboot`, … */
  type: string;
  /** The rest of virsh's line: `Stopped Destroyed`, `state: 'connected' reason: 'channel event'`, … */
  detail: string;
}

type Listener = (event: DomainEvent) => void;

/** How long after the stream ended it is started again (libvirtd restarting): doubling while it keeps ending at once. */
const RESTART_MS = 1000;
const MAX_RESTART_MS = 30_000;

/** One line of `virsh event --loop` output, or undefined for anything else. */
export function parseEventLine(line: string): (DomainEvent & { domain: string }) | undefined {
  const match = /^event '([\w-]+)' for domain '([^']+)':\s*(.*)$/.exec(line.trim());
  return match ? { type: match[1]!, domain: match[2]!, detail: match[3]! } : undefined;
}

export class DomainEvents {
  readonly #virsh: Virsh;
  readonly #log: Logger;
  readonly #listeners = new Map<string, Set<Listener>>();
  #child: ChildProcess | undefined;
  #restart: NodeJS.Timeout | undefined;
  #restartMs = RESTART_MS;
  #closed = false;

  constructor(virsh: Virsh, log: Logger) {
    this.#virsh = virsh;
    this.#log = log;
  }

  /** The stream is running: a follower hears of changes without asking. */
  get following(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Calls `listener` with each event of `domain` until the returned function is called (starts the stream). */
  on(domain: string, listener: Listener): () => void {
    let set = this.#listeners.get(domain);
    if (!set) this.#listeners.set(domain, (set = new Set()));
    set.add(listener);
    this.#ensureStream();
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.#listeners.get(domain) === set) this.#listeners.delete(domain);
    };
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#restart);
    this.#child?.kill('SIGTERM');
    this.#child = undefined;
  }

  #ensureStream(): void {
    if (this.#closed || this.#child || this.#restart) return;
    const child = this.#virsh.followEvents();
    if (!child) return;
    this.#child = child;
    child.on('error', (error) => this.#log.debug({ err: error.message }, 'virsh event could not be started'));
    // Never keeps the process alive by itself (a follower's own wait does).
    child.unref();
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const event = parseEventLine(line);
      if (!event) return;
      this.#restartMs = RESTART_MS; // it works: a later end is restarted soon again
      for (const listener of [...(this.#listeners.get(event.domain) ?? [])]) listener({ type: event.type, detail: event.detail });
    });
    (child.stdout as { unref?: () => void } | null)?.unref?.();
    child.on('close', () => {
      if (this.#child === child) this.#child = undefined;
      if (this.#closed || this.#listeners.size === 0) return;
      this.#restart = setTimeout(() => {
        this.#restart = undefined;
        this.#ensureStream();
      }, this.#restartMs);
      this.#restartMs = Math.min(MAX_RESTART_MS, this.#restartMs * 2);
      this.#restart.unref();
    });
  }
}
