/**
 * The QEMU guest agent for the KVM sample guest's initramfs: `qemu-ga` from Debian's qemu-guest-agent package
 * (downloaded and cached like the kernels, see debianKernel.ts) plus the shared libraries it links against, copied
 * from this host (the guest runs the same Debian release's userland, so the host's libc, glib, … fit). About 2 MB
 * gzipped, well under a second of boot time under emulation; with it, a launched sample guest answers
 * `guest-ping` and `guest-exec`, so Ferry's guest-agent paths can be tested end to end.
 */
import { mkdir, readdir, readFile, realpath, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { findTool } from '../../lib/tools.ts';
import { runTool } from './diskBuilder.ts';
import { defaultCacheDir, downloadDeb, KernelUnavailableError, type KernelOptions } from './debianKernel.ts';
import type { InitramfsEntry } from './initramfs.ts';

/** Where the agent lives in the guest. */
export const GUEST_AGENT_PATH = '/usr/bin/qemu-ga';

/** The agent binary, cached under <cache>/guest-agent/. */
async function agentBinary(options: KernelOptions): Promise<string> {
  const env = { ...process.env, ...options.env };
  const cacheDir = options.cacheDir ?? defaultCacheDir(env);
  const target = join(cacheDir, 'guest-agent', 'qemu-ga');
  try {
    await readFile(target);
    return target;
  } catch {
    // not cached yet
  }
  const deb = await downloadDeb('qemu-guest-agent', join(cacheDir, 'debs'), options.aptOptions ?? [], env);
  const dpkgDeb = findTool('dpkg-deb');
  if (!dpkgDeb) throw new KernelUnavailableError('dpkg-deb is needed to unpack qemu-guest-agent');
  const work = join(cacheDir, 'guest-agent', `.unpack-${randomBytes(4).toString('hex')}`);
  await mkdir(work, { recursive: true });
  try {
    await runTool(dpkgDeb, ['-x', deb, work]);
    const found = (await readdir(join(work, 'usr', 'sbin')).catch(() => [] as string[])).includes('qemu-ga')
      ? join(work, 'usr', 'sbin', 'qemu-ga')
      : join(work, 'usr', 'bin', 'qemu-ga');
    await rename(found, target);
    return target;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** `ldd`'s answer: every library the binary loads, by the path the dynamic loader will look for. */
async function sharedLibraries(binary: string): Promise<string[]> {
  const ldd = findTool('ldd');
  if (!ldd) throw new KernelUnavailableError('ldd (libc-bin) is needed to collect the guest agent\'s libraries');
  const { stdout } = await runTool(ldd, [binary]);
  const paths: string[] = [];
  for (const line of stdout.split('\n')) {
    if (/not found/.test(line)) throw new KernelUnavailableError(`the guest agent needs a library this host lacks: ${line.trim()}`);
    const match = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (match) paths.push(match[1]!);
  }
  return paths;
}

/** Initramfs entries that put the agent and its libraries into the guest (directories first). */
export async function guestAgentEntries(options: KernelOptions = {}): Promise<InitramfsEntry[]> {
  const binary = await agentBinary(options);
  const files: InitramfsEntry[] = [{ path: GUEST_AGENT_PATH, type: 'file', data: await readFile(binary), mode: 0o755 }];
  for (const library of await sharedLibraries(binary)) {
    files.push({ path: library, type: 'file', data: await readFile(await realpath(library)), mode: 0o755 });
  }
  const dirs = new Set<string>();
  for (const file of files) {
    for (let dir = dirname(file.path); dir !== '/' && dir !== '.'; dir = dirname(dir)) dirs.add(dir);
  }
  const dirEntries: InitramfsEntry[] = [...dirs].sort((a, b) => a.split('/').length - b.split('/').length).map((path) => ({ path, type: 'dir' }));
  return [...dirEntries, ...files];
}
