/**
 * The kernels of the sample's bootable VMs, taken from Debian's own packages without installing them: `apt-get
 * download` fetches the .deb behind `linux-image-cloud-amd64` or `linux-image-amd64`, and the kernel image plus the
 * storage, console and network modules a guest needs (with their dependencies, read from the modules themselves)
 * are unpacked into a cache. The .deb and the unpacked kernel stay in the cache (`FERRY_CACHE_DIR`, default
 * `$XDG_CACHE_HOME/ferry` or `~/.cache/ferry`), so later builds need no network, no unpacking and no apt at all
 * (remove `<cache>/kernels` to pick up a newer kernel).
 *
 * Two flavours, because they trade speed for drivers (measured in ../shared/research/launch.md and here):
 * - `cloud`: LZ4-compressed, reaches /init in about 2 s under software emulation, but has no AHCI (SATA), PIIX
 *   (IDE) or LSI SCSI driver — right for KVM guests, which get virtio devices;
 * - `generic`: XZ-compressed, about 4 s slower to boot, with every controller Ferry gives a guest (virtio, AHCI,
 *   PIIX, LSI 53C8xx, PVSCSI, NVMe) — right for VMware and Hyper-V guests, which get SATA.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { findTool } from '../../lib/tools.ts';
import { runTool } from './diskBuilder.ts';
import { insmodOrder, moduleInfo, moduleKey, type ModuleInfo } from './kernelModules.ts';

export type KernelFlavour = 'cloud' | 'generic';

/** Debian's metapackage that always depends on the current kernel of each flavour. */
const METAPACKAGE: Record<KernelFlavour, string> = { cloud: 'linux-image-cloud-amd64', generic: 'linux-image-amd64' };

/**
 * The drivers a guest needs to find its disks (every bus Ferry's launch can give it), its NoCloud seed (an
 * ISO 9660 CD-ROM) and the QEMU guest agent's port (virtio_console), plus the two NICs Ferry attaches. Modules a
 * flavour lacks are skipped (the cloud kernel has no ahci, ata_piix, sym53c8xx or e1000).
 */
const WANTED_MODULES = [
  'virtio_pci',
  'virtio_blk',
  'virtio_scsi',
  'virtio_console',
  'ahci',
  'ata_piix',
  'sym53c8xx',
  'vmw_pvscsi',
  'nvme',
  'sd_mod',
  'sr_mod',
  'isofs',
  'virtio_net',
  'e1000',
];

/** Where the modules above live in the package; only these parts are unpacked. */
const MODULE_DIRS = ['drivers', 'block', 'fs/isofs', 'lib', 'crypto', 'net/core'];

export interface SampleKernel {
  flavour: KernelFlavour;
  /** The Debian package it came from, e.g. linux-image-6.1.0-57-cloud-amd64. */
  packageName: string;
  /** The kernel image (bzImage). */
  vmlinuz: string;
  /** Module files in insmod order. */
  modules: { name: string; path: string }[];
  /** Wanted modules this flavour does not have. */
  absent: string[];
}

export interface KernelOptions {
  /** Default: FERRY_CACHE_DIR, else $XDG_CACHE_HOME/ferry, else ~/.cache/ferry. */
  cacheDir?: string;
  /** Extra `apt-get` options (e.g. `-o Acquire::http::Proxy=…`); tests use them to simulate an offline host. */
  aptOptions?: string[];
  env?: NodeJS.ProcessEnv;
}

/** Why a kernel could not be had: no apt, no network, an unusable package. */
export class KernelUnavailableError extends Error {}

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.FERRY_CACHE_DIR) return env.FERRY_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ferry');
}

interface CachedKernel {
  packageName: string;
  vmlinuz: string;
  modules: string[];
  absent: string[];
}

const KERNEL_FILE = 'kernel.json';

async function readCached(dir: string): Promise<CachedKernel | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, KERNEL_FILE), 'utf8')) as CachedKernel;
  } catch {
    return undefined;
  }
}

function toKernel(flavour: KernelFlavour, dir: string, cached: CachedKernel): SampleKernel {
  return {
    flavour,
    packageName: cached.packageName,
    vmlinuz: join(dir, cached.vmlinuz),
    modules: cached.modules.map((name) => ({ name, path: join(dir, 'modules', `${name}.ko`) })),
    absent: cached.absent,
  };
}

/** The versioned package behind the flavour's metapackage, from apt's local lists (no network). */
async function currentPackage(flavour: KernelFlavour, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const aptCache = findTool('apt-cache');
  if (!aptCache) return undefined;
  try {
    const { stdout } = await runTool(aptCache, ['depends', METAPACKAGE[flavour]], { env, timeoutMs: 30_000 });
    return /Depends:\s*(linux-image-[\w.+-]+)/.exec(stdout)?.[1];
  } catch {
    return undefined;
  }
}

/** The newest kernel of this flavour already unpacked in the cache. */
async function newestCached(kernelsDir: string, flavour: KernelFlavour): Promise<string | undefined> {
  let names: string[];
  try {
    names = await readdir(kernelsDir);
  } catch {
    return undefined;
  }
  const ours = names.filter((n) => /^linux-image-/.test(n) && (flavour === 'cloud') === n.endsWith('-cloud-amd64'));
  ours.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  for (const name of ours.reverse()) if (await readCached(join(kernelsDir, name))) return name;
  return undefined;
}

/** A kernel of the flavour, from the cache or downloaded and unpacked into it. */
export async function obtainKernel(flavour: KernelFlavour, options: KernelOptions = {}): Promise<SampleKernel> {
  const env = { ...process.env, ...options.env };
  const cacheDir = options.cacheDir ?? defaultCacheDir(env);
  const kernelsDir = join(cacheDir, 'kernels');
  // A kernel already in the cache is used as it is: asking apt which one is current costs a second or two, and
  // the sample needs a kernel that boots, not the newest one. Clear the cache to pick up a newer kernel.
  const packageName = (await newestCached(kernelsDir, flavour)) ?? (await currentPackage(flavour, env));
  if (!packageName) {
    throw new KernelUnavailableError(
      findTool('apt-cache')
        ? `apt does not know ${METAPACKAGE[flavour]} (run apt-get update) and no kernel is cached in ${kernelsDir}`
        : `apt is not available (not a Debian host?) and no kernel is cached in ${kernelsDir}`,
    );
  }
  const dir = join(kernelsDir, packageName);
  const cached = await readCached(dir);
  if (cached) return toKernel(flavour, dir, cached);

  const deb = await downloadDeb(packageName, join(cacheDir, 'debs'), options.aptOptions ?? [], env);
  // Unpack into a private directory and move it into place whole: another process may be doing the same.
  const staging = join(kernelsDir, `.unpack-${packageName}-${randomBytes(4).toString('hex')}`);
  try {
    await mkdir(staging, { recursive: true });
    const unpacked = await unpackKernel(deb, packageName, staging);
    await writeFile(join(staging, KERNEL_FILE), `${JSON.stringify(unpacked, null, 2)}\n`);
    try {
      await rename(staging, dir);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
      // Another build finished first; its copy is the same package.
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  const done = await readCached(dir);
  if (!done) throw new KernelUnavailableError(`the unpacked kernel in ${dir} is incomplete`);
  return toKernel(flavour, dir, done);
}

/** The cached .deb of the package, or `apt-get download` it into the cache (the candidate version apt knows). */
export async function downloadDeb(packageName: string, debsDir: string, aptOptions: string[], env: NodeJS.ProcessEnv): Promise<string> {
  await mkdir(debsDir, { recursive: true });
  const existing = (await readdir(debsDir)).find((n) => n.startsWith(`${packageName}_`) && n.endsWith('.deb'));
  if (existing) return join(debsDir, existing);
  const aptGet = findTool('apt-get');
  if (!aptGet) throw new KernelUnavailableError('apt-get is not available (not a Debian host?)');
  const work = join(debsDir, `.download-${randomBytes(4).toString('hex')}`);
  await mkdir(work, { recursive: true });
  try {
    try {
      await runTool(aptGet, ['download', ...aptOptions, packageName], { cwd: work, env, timeoutMs: 300_000 });
    } catch (error) {
      const lines = (error as Error).message.split('\n').map((l) => l.trim());
      const reason = lines.find((l) => /^E:|Could not|Failed|Unable/.test(l)) ?? lines[0] ?? 'unknown error';
      throw new KernelUnavailableError(`apt-get download ${packageName} failed: ${reason.replace(/^.*?exited with \d+: /, '')}`);
    }
    const file = (await readdir(work)).find((n) => n.endsWith('.deb'));
    if (!file) throw new KernelUnavailableError(`apt-get download ${packageName} left no .deb`);
    await rename(join(work, file), join(debsDir, file));
    return join(debsDir, file);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** `dpkg-deb --fsys-tarfile DEB | tar -x` of the kernel image and the module directories, into `dir`. */
function extract(deb: string, dir: string): Promise<void> {
  const dpkgDeb = findTool('dpkg-deb');
  const tar = findTool('tar');
  if (!dpkgDeb || !tar) return Promise.reject(new KernelUnavailableError('dpkg-deb and tar are needed to unpack the kernel package'));
  const patterns = ['./boot/vmlinuz-*', './lib/modules/*/modules.builtin', ...MODULE_DIRS.map((d) => `./lib/modules/*/kernel/${d}/*`)];
  return new Promise((resolve, reject) => {
    const source = spawn(dpkgDeb, ['--fsys-tarfile', deb], { stdio: ['ignore', 'pipe', 'pipe'] });
    const sink = spawn(tar, ['-x', '-C', dir, '--wildcards', ...patterns], { stdio: ['pipe', 'ignore', 'pipe'] });
    let errors = '';
    source.stderr.setEncoding('utf8').on('data', (t: string) => (errors += t));
    sink.stderr.setEncoding('utf8').on('data', (t: string) => (errors += t));
    source.stdout.pipe(sink.stdin);
    sink.stdin.on('error', () => {});
    let sourceCode: number | null = null;
    source.on('close', (code) => (sourceCode = code));
    source.on('error', reject);
    sink.on('error', reject);
    sink.on('close', (code) => {
      if (code === 0 && sourceCode !== null && sourceCode !== 0) reject(new KernelUnavailableError(`dpkg-deb could not read ${deb}: ${errors.trim()}`));
      else if (code === 0) resolve();
      else reject(new KernelUnavailableError(`unpacking ${basename(deb)} failed: ${errors.trim()}`));
    });
  });
}

async function walk(dir: string, out: string[]): Promise<string[]> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await walk(path, out);
    else if (entry.isFile() && entry.name.endsWith('.ko')) out.push(path);
  }
  return out;
}

/** Unpacks the kernel and the wanted modules (with their dependencies) of `deb` into `dir`. */
async function unpackKernel(deb: string, packageName: string, dir: string): Promise<CachedKernel> {
  const tree = join(dir, 'tree');
  await mkdir(tree);
  await extract(deb, tree);
  const boot = join(tree, 'boot');
  const vmlinuz = (await readdir(boot).catch(() => [] as string[])).find((n) => n.startsWith('vmlinuz-'));
  if (!vmlinuz) throw new KernelUnavailableError(`${basename(deb)} holds no /boot/vmlinuz-*`);
  const versions = await readdir(join(tree, 'lib', 'modules'));
  if (versions.length !== 1) throw new KernelUnavailableError(`${basename(deb)} holds ${versions.length} module trees, expected one`);
  const moduleRoot = join(tree, 'lib', 'modules', versions[0]!);
  const builtin = new Set(
    (await readFile(join(moduleRoot, 'modules.builtin'), 'utf8').catch(() => ''))
      .split('\n')
      .filter(Boolean)
      .map((line) => moduleKey(basename(line).replace(/\.ko$/, ''))),
  );
  const available = new Map<string, ModuleInfo & { path: string }>();
  for (const path of await walk(join(moduleRoot, 'kernel'), [])) {
    const info = moduleInfo(await readFile(path), basename(path));
    available.set(moduleKey(info.name), { ...info, path });
  }
  const { order, absent } = insmodOrder(WANTED_MODULES, available, builtin);
  await mkdir(join(dir, 'modules'));
  for (const key of order) await copyFile(available.get(key)!.path, join(dir, 'modules', `${key}.ko`));
  await copyFile(join(boot, vmlinuz), join(dir, 'vmlinuz'));
  await rm(tree, { recursive: true, force: true });
  return { packageName, vmlinuz: 'vmlinuz', modules: order, absent };
}
