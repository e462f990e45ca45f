/**
 * The libvirt driver: every call Ferry makes to libvirt, as `virsh -c URI …` (XML in, XML or text out), run through
 * the short-lived-program launcher (src/lib/launcher.ts). Only translation lives here — no decisions.
 *
 * Why virsh and not a Node binding: the bindings on npm (`libvirt`, from hooklift, unmaintained; `@unraid/libvirt`,
 * an N-API fork made for Unraid) are native addons that need libvirt-dev and a compiler at install time; virsh comes
 * with libvirt-clients, speaks to local and remote daemons alike, and its XML is the documented interface.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { launch, prewarm } from '../lib/launcher.ts';
import { findTool } from '../lib/tools.ts';

export class VirshError extends Error {
  readonly args: readonly string[];
  readonly stderr: string;
  constructor(args: readonly string[], stderr: string, message?: string) {
    super(message ?? `virsh ${args[0] ?? ''} failed: ${stderr.trim().replace(/^error:\s*/gm, '').replace(/\s*\n\s*/g, '; ') || 'no output'}`);
    this.args = args;
    this.stderr = stderr;
  }
  /** libvirt said the domain, network or filter does not exist. */
  get notFound(): boolean {
    return /not found|no domain with matching|no network with matching|no nwfilter with matching|failed to get (domain|network|nwfilter)/i.test(this.stderr);
  }
}

/** One argument of a virsh shell command line: single-quoted (virsh's parser joins `'a'\''b'` into `a'b`). */
export function quoteForShell(arg: string): string {
  if (/[\n\r]/.test(arg)) throw new Error('a virsh shell argument cannot hold a line break');
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * What a virsh shell is asked to echo after the command it was given (#runConnected), and what it then prints: not
 * the same text, since virsh also shows each input line it reads.
 */
const DONE_ECHO = ['ferry-command', 'done'];
const DONE = 'ferry-command done';

export interface DomainState {
  /** running, shut off, paused, … */
  state: string;
  /** Why: `unknown` for a defined domain never started; `destroyed`, `shutdown`, `crashed`, `booted`… */
  reason: string;
}

export class Virsh {
  readonly uri: string;
  readonly #binary: string | undefined;

  constructor(uri: string) {
    this.uri = uri;
    this.#binary = findTool('virsh');
  }

  get installed(): boolean {
    return this.#binary !== undefined;
  }

  /** Runs one virsh command; resolves with stdout or rejects with a VirshError carrying libvirt's message. */
  async run(args: readonly string[], timeoutMs = 60_000): Promise<string> {
    if (!this.#binary) throw new VirshError(args, '', 'virsh is not installed (Debian package libvirt-clients).');
    const result = await launch(this.#binary, [...this.#shellArgs(), ...args], { timeoutMs, env: this.#env() });
    if (result.startError) throw new VirshError(args, result.startError.message, `virsh could not be started: ${result.startError.message}`);
    if (result.killed) throw new VirshError(args, result.stderr, `virsh ${args[0]} did not answer within ${Math.round(timeoutMs / 1000)} s`);
    if (result.code !== 0) throw new VirshError(args, result.stderr || result.stdout);
    return result.stdout;
  }

  /**
   * Runs one command in a virsh that was started, and connected to libvirt, before it was needed (`prewarm`; the
   * launcher's warmPrograms.ts): for the two calls on the way to every boot, `define` and `start`, so neither waits
   * for a virsh to start and connect (tens of ms each, more on a busy host). In its shell mode virsh exits 0
   * whatever its command did, so libvirt's errors are read from its `error:` lines, and the command is followed by
   * an `echo` of DONE whose output says virsh got past it (one that died before or during its command says neither).
   */
  async #runConnected(args: readonly string[], timeoutMs = 60_000): Promise<void> {
    if (!this.#binary) throw new VirshError(args, '', 'virsh is not installed (Debian package libvirt-clients).');
    const stdin = `${args.map(quoteForShell).join(' ')}\n${['echo', ...DONE_ECHO].map(quoteForShell).join(' ')}\n`;
    const result = await launch(this.#binary, this.#shellArgs(), { timeoutMs, env: this.#env(), stdin, warm: true });
    if (result.startError) throw new VirshError(args, result.startError.message, `virsh could not be started: ${result.startError.message}`);
    if (result.killed) throw new VirshError(args, result.stderr, `virsh ${args[0]} did not answer within ${Math.round(timeoutMs / 1000)} s`);
    if (result.code !== 0 || /^error:/m.test(result.stderr)) throw new VirshError(args, result.stderr || result.stdout);
    if (!result.stdout.includes(DONE)) throw new VirshError(args, result.stderr, `virsh ${args[0]} ended before its command was done`);
  }

  /** Has a virsh shell or two started and connected ahead of the next `define` / `start` (see #runConnected). */
  prewarm(): void {
    if (this.#binary) prewarm(this.#binary, this.#shellArgs(), { env: this.#env() });
  }

  #shellArgs(): string[] {
    return ['-q', '-c', this.uri];
  }

  #env(): NodeJS.ProcessEnv {
    return { ...process.env, LC_ALL: 'C' };
  }

  // ── Domains ──────────────────────────────────────────────────────────────────────────────────────────────

  define(xmlFile: string): Promise<void> {
    return this.#runConnected(['define', xmlFile]);
  }

  /** Starts the domain; one already running (a start a killed process had asked for) is not an error. */
  async start(name: string): Promise<void> {
    try {
      await this.#runConnected(['start', name], 120_000);
    } catch (error) {
      if (!(error instanceof VirshError && /already active|already running/i.test(error.stderr))) throw error;
    }
  }

  /** A hard reset of a running domain (the reset button): the guest boots again from its firmware. */
  reset(name: string): Promise<string> {
    return this.run(['reset', name]);
  }

  /** Pauses a running guest's vCPUs; one already paused is not an error. */
  async suspend(name: string): Promise<void> {
    try {
      await this.run(['suspend', name]);
    } catch (error) {
      if (!(error instanceof VirshError && /already (suspended|paused)/i.test(error.stderr))) throw error;
    }
  }

  /** Lets a paused guest run again; one already running is not an error. */
  async resume(name: string): Promise<void> {
    try {
      await this.run(['resume', name]);
    } catch (error) {
      if (!(error instanceof VirshError && /not paused|already running/i.test(error.stderr))) throw error;
    }
  }

  destroy(name: string): Promise<string> {
    return this.run(['destroy', name]);
  }

  undefine(name: string): Promise<string> {
    return this.run(['undefine', name]);
  }

  /** The domain's state and its reason, or undefined when no such domain exists. */
  async domainState(name: string): Promise<DomainState | undefined> {
    try {
      const text = (await this.run(['domstate', '--reason', name])).trim();
      const match = /^(.*?)\s*\((.*)\)$/.exec(text);
      return match ? { state: match[1]!, reason: match[2]! } : { state: text, reason: 'unknown' };
    } catch (error) {
      if (error instanceof VirshError && error.notFound) return undefined;
      throw error;
    }
  }

  /** Names of every domain (`all`) or of the running ones. */
  async listDomains(which: 'all' | 'running'): Promise<string[]> {
    const out = await this.run(['list', '--name', ...(which === 'all' ? ['--all'] : [])]);
    return out.split('\n').map((l) => l.trim()).filter(Boolean);
  }

  /** The metadata element of namespace `uri`, or undefined when the domain has none (or does not exist). */
  async metadata(name: string, uri: string): Promise<string | undefined> {
    try {
      return await this.run(['metadata', name, '--uri', uri]);
    } catch (error) {
      if (error instanceof VirshError && (error.notFound || /metadata not found|Requested metadata element is not present/i.test(error.stderr))) return undefined;
      throw error;
    }
  }

  dumpXml(name: string, inactive = false): Promise<string> {
    return this.run(['dumpxml', ...(inactive ? ['--inactive'] : []), name]);
  }

  /** Starts streaming the backing chain into `target`'s top image (returns at once); `bandwidthMiB` caps it. */
  blockPull(name: string, target: string, bandwidthMiB?: number): Promise<string> {
    return this.run(['blockpull', name, target, ...(bandwidthMiB ? ['--bandwidth', String(bandwidthMiB)] : [])]);
  }

  /** The block job on `target`, or undefined when none runs (`--raw`: the human form goes to stderr). */
  async blockJob(name: string, target: string): Promise<{ done: number; total: number } | undefined> {
    const out = await this.run(['blockjob', name, target, '--info', '--raw']);
    const cur = /\bcur=(\d+)/.exec(out);
    const end = /\bend=(\d+)/.exec(out);
    if (!/\btype=/.test(out)) return undefined;
    return { done: cur ? Number(cur[1]) : 0, total: end ? Number(end[1]) : 0 };
  }

  /** Sends one QMP-style command to the guest agent; resolves with its `return` value. */
  async agentCommand(name: string, command: object, timeoutSeconds: number): Promise<unknown> {
    const out = await this.run(['qemu-agent-command', '--timeout', String(Math.max(1, Math.round(timeoutSeconds))), name, JSON.stringify(command)], (timeoutSeconds + 30) * 1000);
    const parsed = JSON.parse(out) as { return?: unknown; error?: { desc?: string } };
    if (parsed.error) throw new Error(`the guest agent refused ${JSON.stringify((command as { execute?: string }).execute)}: ${parsed.error.desc ?? 'error'}`);
    return parsed.return;
  }

  /**
   * `virsh event --all --loop`: one line per event of any domain (`event 'lifecycle' for domain 'NAME': Stopped
   * Destroyed`) on stdout until it is killed; undefined when virsh is not installed. Long-lived, so not run through
   * the launcher (domainEvents.ts follows it). Started through util-linux's `setpriv --pdeathsig` where there is one,
   * so a Ferry killed with SIGKILL does not leave it behind.
   */
  followEvents(): ChildProcess | undefined {
    if (!this.#binary) return undefined;
    const args = ['-q', '-c', this.uri, 'event', '--all', '--loop'];
    const setpriv = findTool('setpriv');
    const [file, argv] = setpriv ? [setpriv, ['--pdeathsig', 'TERM', this.#binary, ...args]] : [this.#binary, args];
    return spawn(file, argv, { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, LC_ALL: 'C' } });
  }

  // ── Networks and filters ───────────────────────────────────────────────────────────────────────────────

  async networkXml(name: string): Promise<string | undefined> {
    try {
      return await this.run(['net-dumpxml', name]);
    } catch (error) {
      if (error instanceof VirshError && error.notFound) return undefined;
      throw error;
    }
  }

  async networkActive(name: string): Promise<boolean | undefined> {
    try {
      return /^Active:\s*yes/m.test(await this.run(['net-info', name]));
    } catch (error) {
      if (error instanceof VirshError && error.notFound) return undefined;
      throw error;
    }
  }

  async listNetworks(): Promise<string[]> {
    return (await this.run(['net-list', '--all', '--name'])).split('\n').map((l) => l.trim()).filter(Boolean);
  }

  netDefine(xmlFile: string): Promise<string> {
    return this.run(['net-define', xmlFile]);
  }

  netStart(name: string): Promise<string> {
    return this.run(['net-start', name]);
  }

  netAutostart(name: string): Promise<string> {
    return this.run(['net-autostart', name]);
  }

  async filterExists(name: string): Promise<boolean> {
    try {
      await this.run(['nwfilter-dumpxml', name]);
      return true;
    } catch (error) {
      if (error instanceof VirshError && error.notFound) return false;
      throw error;
    }
  }

  /** Can this client reach the daemon? The hypervisor's version when it can. */
  version(): Promise<string> {
    return this.run(['version'], 15_000);
  }

  capabilities(): Promise<string> {
    return this.run(['capabilities'], 15_000);
  }
}
