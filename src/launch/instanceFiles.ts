/**
 * Where an instance's files live, and who may read them. With `qemu:///system`, QEMU runs as its own user
 * (Debian: libvirt-qemu, see /etc/libvirt/qemu.conf) and must open the overlays, the seed and the NBD sockets, but
 * cannot traverse Ferry's 0700 data dir — so instances live in their own directory (`--instances-dir`,
 * `FERRY_INSTANCES_DIR`; default /var/lib/ferry/instances for root, ~/.local/share/ferry/instances otherwise — see
 * src/config/config.ts):
 *
 *   <instances dir>/                 0710 ferry:<qemu group>   QEMU may pass through, nobody else may enter or list
 *     i-0123…/                       0710 ferry:<qemu group>
 *       disk0.qcow2 …                0600 (libvirt hands it to QEMU's user while the domain runs)
 *       disk0.sock …                 0660 ferry:<qemu group>   the image's NBD export (only QEMU and Ferry connect)
 *       seed.iso                     0600 (idem)
 *       console.log                  written by virtlogd (root, 0600)
 *
 * With a session URI (qemu:///session) QEMU runs as Ferry's own user and everything is 0700/0600.
 */
import { chmod, chown, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { readFileSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { pathExists } from '../lib/pathExists.ts';

/** Unix socket paths are limited to 107 bytes. */
const MAX_SOCKET_PATH = 107;

export interface QemuIdentity {
  user: string;
  uid: number;
  group: string;
  gid: number;
}

/** Does QEMU run as a user of its own for this URI (the system daemon), or as Ferry's user (a session daemon)? */
export function qemuRunsAsOtherUser(uri: string): boolean {
  return !/\/session(\?|$)/.test(uri);
}

function lookup(file: string, name: string): number | undefined {
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const fields = line.split(':');
      if (fields[0] === name && fields[2] !== undefined) return Number(fields[2]);
    }
  } catch {
    // no such file
  }
  return undefined;
}

/** QEMU's user and group under the local system daemon: qemu.conf's `user`/`group`, else the distribution's default. */
export function qemuIdentity(qemuConf = '/etc/libvirt/qemu.conf'): QemuIdentity | undefined {
  let user: string | undefined;
  let group: string | undefined;
  try {
    for (const line of readFileSync(qemuConf, 'utf8').split('\n')) {
      const match = /^\s*(user|group)\s*=\s*"([^"]+)"/.exec(line);
      if (match?.[1] === 'user') user = match[2];
      if (match?.[1] === 'group') group = match[2];
    }
  } catch {
    // not installed here: fall through to the defaults
  }
  for (const [u, g] of [[user, group ?? user], ['libvirt-qemu', 'libvirt-qemu'], ['qemu', 'qemu']] as const) {
    if (!u || !g) continue;
    const uid = lookup('/etc/passwd', u);
    const gid = lookup('/etc/group', g);
    if (uid !== undefined && gid !== undefined) return { user: u, uid, group: g, gid };
  }
  return undefined;
}

/** Can QEMU's user pass through (search) a directory with these permissions? */
function passable(st: Stats, qemu: QemuIdentity): boolean {
  if (st.uid === qemu.uid) return (st.mode & 0o100) !== 0;
  if (st.gid === qemu.gid) return (st.mode & 0o010) !== 0;
  return (st.mode & 0o001) !== 0;
}

export class InstanceFiles {
  readonly root: string;
  /** QEMU's identity when it is not Ferry's own user. */
  readonly qemu: QemuIdentity | undefined;
  readonly #shared: boolean;

  constructor(root: string, uri: string) {
    this.root = resolve(root);
    this.#shared = qemuRunsAsOtherUser(uri);
    this.qemu = this.#shared ? qemuIdentity() : undefined;
  }

  dir(instanceId: string): string {
    return join(this.root, instanceId);
  }
  overlay(instanceId: string, disk: number): string {
    return join(this.dir(instanceId), `disk${disk}.qcow2`);
  }
  socket(instanceId: string, disk: number): string {
    return join(this.dir(instanceId), `disk${disk}.sock`);
  }
  seed(instanceId: string): string {
    return join(this.dir(instanceId), 'seed.iso');
  }
  consoleLog(instanceId: string): string {
    return join(this.dir(instanceId), 'console.log');
  }
  domainXml(instanceId: string): string {
    return join(this.dir(instanceId), 'domain.xml');
  }

  /** Why QEMU could not use this directory, or undefined when it can. */
  async problem(): Promise<string | undefined> {
    if (this.socket('i-00000000000000000', 99).length > MAX_SOCKET_PATH) {
      return `the instances dir ${this.root} is too long for Unix socket paths (keep it under ${MAX_SOCKET_PATH - 40} characters)`;
    }
    if (!this.#shared) return undefined;
    const qemu = this.qemu;
    if (!qemu) return 'cannot tell which user libvirt runs QEMU as (no libvirt-qemu or qemu user, and none set in /etc/libvirt/qemu.conf)';
    // Every existing ancestor must let QEMU's user through.
    for (let dir = dirname(this.root); ; dir = dirname(dir)) {
      try {
        const st = await stat(dir);
        if (!passable(st, qemu) && !(await this.#repairable(dir, st))) {
          return `libvirt runs QEMU as ${qemu.user}, which cannot pass through ${dir} (mode ${(st.mode & 0o777).toString(8)}) to reach the instances dir ${this.root}; let it through (chmod o+x ${dir}) or choose another --instances-dir`;
        }
      } catch {
        // does not exist yet: made by ensureRoot
      }
      if (dir === dirname(dir)) break;
    }
    return undefined;
  }

  /**
   * Makes (or fixes) the instances dir with the modes described above. Missing ancestors are made 0711 when QEMU
   * runs as another user: it must pass through them (never list them). A plain recursive mkdir would make them 0710
   * with Ferry's group, which QEMU cannot traverse — the default /var/lib/ferry/instances would then never work;
   * a parent an older Ferry made that way is repaired (see #repairable).
   */
  async ensureRoot(): Promise<void> {
    await this.#repairParent();
    const missing: string[] = [];
    for (let dir = dirname(this.root); dir !== dirname(dir); dir = dirname(dir)) {
      if (await pathExists(dir)) break;
      missing.unshift(dir);
    }
    for (const dir of missing) {
      await mkdir(dir, { recursive: true, mode: this.#shared ? 0o711 : 0o700 });
      // mkdir's mode passes through the umask; say it exactly.
      await chmod(dir, this.#shared ? 0o711 : 0o700);
    }
    await mkdir(this.root, { recursive: true, mode: 0o710 });
    await this.#secure(this.root);
  }

  async createInstanceDir(instanceId: string): Promise<string> {
    await this.ensureRoot();
    const dir = this.dir(instanceId);
    await mkdir(dir, { recursive: true, mode: 0o710 });
    await this.#secure(dir);
    return dir;
  }

  /** A socket QEMU must connect to: group-writable for QEMU's group only. */
  async shareSocket(path: string): Promise<void> {
    if (this.qemu) {
      await chown(path, process.getuid?.() ?? -1, this.qemu.gid);
      await chmod(path, 0o660);
    } else {
      await chmod(path, 0o600);
    }
  }

  async removeInstanceDir(instanceId: string): Promise<void> {
    await rm(this.dir(instanceId), { recursive: true, force: true });
  }

  /** The console log as bytes (empty when there is none yet). */
  async readConsole(instanceId: string): Promise<Buffer> {
    try {
      return await readFile(this.consoleLog(instanceId));
    } catch {
      return Buffer.alloc(0);
    }
  }

  /**
   * The instances dir's parent as Ferry before 0711 made it: 0710 (or tighter) Ferry's user:Ferry's group, holding
   * nothing but the instances dir — Ferry's own directory (the default /var/lib/ferry), which no one else uses, so
   * letting QEMU pass through it (o+x, never list) is what Ferry would make today. Any other blocking ancestor is
   * the operator's to change (problem() names the command).
   */
  async #repairable(dir: string, st: Stats): Promise<boolean> {
    if (!this.qemu || dir !== dirname(this.root) || st.uid !== process.getuid?.()) return false;
    const entries = await readdir(dir).catch(() => undefined);
    return entries !== undefined && entries.every((name) => name === basename(this.root));
  }

  async #repairParent(): Promise<void> {
    const parent = dirname(this.root);
    const st = await stat(parent).catch(() => undefined);
    if (!st || !this.qemu || passable(st, this.qemu) || !(await this.#repairable(parent, st))) return;
    await chmod(parent, (st.mode & 0o777) | 0o001);
  }

  async #secure(dir: string): Promise<void> {
    if (this.qemu) {
      await chown(dir, process.getuid?.() ?? -1, this.qemu.gid);
      await chmod(dir, 0o710);
    } else {
      await chmod(dir, 0o700);
    }
  }
}
