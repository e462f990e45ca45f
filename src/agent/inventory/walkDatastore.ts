/**
 * Walking a datastore: which directories are VM folders, and of which hypervisor (docs/datastore.md). A folder with
 * a .vmx is VMware's, one with a libvirt domain XML KVM's, one with Hyper-V's disks or configuration (or only a
 * ferry-vm.json) Hyper-V's; loose disk files with no definition are listed too, so the scan can say why they are
 * not a VM. Any other folder groups VM folders, up to a depth.
 */
import { readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { openChecked, type Confinement } from '../disks/confine.ts';
import { FERRY_VM_FILE } from './ferryVmFile.ts';

export class DatastoreError extends Error {}

/** The hypervisors whose VM folders a datastore holds. */
export type VmKind = 'vmware' | 'hyperv' | 'kvm';

export const lowerExt = (name: string): string => extname(name).toLowerCase();

export const LOOSE_DISK_EXTENSIONS = new Set(['.vmdk', '.qcow2', '.raw', '.img']);
export const HYPERV_DISK_EXTENSIONS = new Set(['.vhdx', '.vhd']);
export const HYPERV_DIFFERENCING_EXTENSIONS = new Set(['.avhdx', '.avhd']);
/** A Hyper-V configuration file: `<GUID>.vmcx`, or `<GUID>.xml` before Windows Server 2016. */
export const HYPERV_CONFIG_NAME = /^\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?\.(vmcx|xml)$/;

export interface Folder {
  abs: string;
  /** Path relative to the datastore root, '/'-separated. */
  rel: string;
  files: string[];
  dirs: string[];
  kind: VmKind | 'orphan';
  domainXmls: string[];
}

/** A directory's files (links included) and subdirectories, hidden ones left out, each sorted. */
export async function listDir(abs: string): Promise<{ files: string[]; dirs: string[] }> {
  const entries = await readdir(abs, { withFileTypes: true });
  const files: string[] = [];
  const dirs: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    if (e.isDirectory()) dirs.push(e.name);
    else if (e.isFile() || e.isSymbolicLink()) files.push(e.name);
  }
  files.sort();
  dirs.sort();
  return { files, dirs };
}

/** Every VM folder under `root`, grouping folders nesting at most `maxDepth` deep above them. */
export async function findVmFolders(confine: Confinement, root: string, maxDepth: number): Promise<Folder[]> {
  const folders: Folder[] = [];
  await walk(confine, root, [], maxDepth, folders, true);
  return folders;
}

/**
 * The VM folder at `abs` (a folder an earlier walk found), read again the way the walk reads it; undefined when it
 * is no longer a VM folder or cannot be listed.
 */
export async function readVmFolder(confine: Confinement, abs: string, rel: string): Promise<Folder | undefined> {
  let listing;
  try {
    listing = await listDir(abs);
  } catch {
    return undefined;
  }
  return classify(confine, abs, rel, listing.files, listing.dirs);
}

async function readRootElementName(confine: Confinement, path: string): Promise<string | undefined> {
  try {
    const handle = await openChecked(confine, path);
    try {
      const buf = Buffer.alloc(4096);
      const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
      const head = buf.subarray(0, bytesRead).toString('utf8').replace(/<\?[\s\S]*?\?>|<!--[\s\S]*?-->/g, '');
      return /<([A-Za-z_][\w.:-]*)/.exec(head)?.[1];
    } finally {
      await handle.close();
    }
  } catch {
    return undefined;
  }
}

async function walk(confine: Confinement, abs: string, relParts: string[], depthLeft: number, out: Folder[], isRoot: boolean): Promise<void> {
  let listing;
  try {
    listing = await listDir(abs);
  } catch (e) {
    if (isRoot) throw new DatastoreError(`Cannot read datastore directory ${abs}: ${(e as Error).message}`);
    return; // an unreadable grouping folder holds nothing we can list
  }
  if (!isRoot) {
    const folder = await classify(confine, abs, relParts.join('/'), listing.files, listing.dirs);
    if (folder) {
      out.push(folder);
      return;
    }
    if (depthLeft <= 0) return;
  }
  await Promise.all(listing.dirs.map((d) => walk(confine, join(abs, d), [...relParts, d], isRoot ? depthLeft : depthLeft - 1, out, false)));
}

/** Decides whether a directory is a VM folder, and of which kind; undefined for grouping or unrelated folders. */
async function classify(confine: Confinement, abs: string, rel: string, files: string[], dirs: string[]): Promise<Folder | undefined> {
  const base = { abs, rel, files, dirs, domainXmls: [] as string[] };
  if (files.some((f) => lowerExt(f) === '.vmx')) return { ...base, kind: 'vmware' };
  const domainXmls: string[] = [];
  for (const f of files) {
    if (lowerExt(f) === '.xml' && (await readRootElementName(confine, join(abs, f))) === 'domain') domainXmls.push(f);
  }
  if (domainXmls.length > 0) return { ...base, kind: 'kvm', domainXmls };
  const hyperV =
    files.some((f) => HYPERV_DISK_EXTENSIONS.has(lowerExt(f)) || HYPERV_DIFFERENCING_EXTENSIONS.has(lowerExt(f)) || HYPERV_CONFIG_NAME.test(f)) ||
    dirs.includes('Virtual Machines') ||
    dirs.includes('Virtual Hard Disks');
  if (hyperV || files.includes(FERRY_VM_FILE)) return { ...base, kind: 'hyperv' };
  if (files.some((f) => LOOSE_DISK_EXTENSIONS.has(lowerExt(f)))) return { ...base, kind: 'orphan' };
  return undefined;
}
