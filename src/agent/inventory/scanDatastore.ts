/**
 * Inventory of a datastore directory: one VM per folder, VMware (.vmx + .vmdk), Hyper-V (.vhdx/.vhd) or
 * KVM/libvirt (domain XML + qcow2/raw). The layout, identity and path rules are documented in docs/datastore.md.
 *
 * A scan never fails because of one VM: a VM Ferry cannot replicate is listed with `replicable: false` and the
 * reason. Only a datastore that does not exist (or a missing qemu-img) is an error.
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import { basename, extname, join, posix, relative, resolve, sep } from 'node:path';
import type { DiskFormat } from '../disks/diskSource.ts';
import { openChecked, type Confinement } from '../disks/confine.ts';
import { nameBasedUuid, normaliseUuid } from './identity.ts';
import { inspectDisk, type DiscoveredDisk, type DiskContext } from './inspectDisk.ts';
import { parseDomainXml } from './libvirt.ts';
import { requireTools } from '../../lib/tools.ts';
import { osFamilyFromGuestOs, parseVmx, vmxDisks } from './vmx.ts';
import { childPath, parseXml } from './xml.ts';
import { definitionProblem, readDefinitionText } from './definitionFiles.ts';
import { FERRY_VM_FILE, readFerryVmFile, type FerryVmFile, type OsFamily } from './ferryVmFile.ts';

export type { DiscoveredDisk, DiscoveredDiskExtent } from './inspectDisk.ts';
export { FERRY_VM_FILE, type OsFamily } from './ferryVmFile.ts';

export type VmKind = 'vmware' | 'hyperv' | 'kvm';
export type VmManagerType = 'VSPHERE' | 'HYPERV-MANAGER';

export interface DiscoveredVm {
  vmId: string;
  vmName: string;
  /** `/<datastore-name>/<kind>/<folder path relative to the datastore>`. */
  vmPath: string;
  vmManagerType: VmManagerType;
  kind: VmKind;
  /** Absolute path of the VM folder. */
  folder: string;
  /** The datastore with every symbolic link resolved: a run opens this VM's files only inside it (disks/confine.ts). */
  datastoreRoot: string;
  /** Absolute path of the file that defines the VM (.vmx, domain XML, ferry-vm.json, .vmcx), when there is one. */
  definition?: string;
  /** Disks in attachment order, boot disk first. Only disks that could be read are listed. */
  disks: DiscoveredDisk[];
  osFamily?: OsFamily;
  replicable: boolean;
  /** Why the VM cannot be replicated (present exactly when `replicable` is false). */
  reason?: string;
  /** Things the user may want to fix that do not stop replication. */
  warnings?: string[];
}

export interface ScanOptions {
  /** First component of vmPath; default: the datastore directory's name. */
  datastoreName?: string;
  /** Time limit for each qemu-img call (ms), default 15000. */
  timeoutMs?: number;
  /** qemu-img processes run at once, default 4. */
  concurrency?: number;
  /** How deep grouping folders may nest above VM folders, default 4. */
  maxDepth?: number;
}

export class DatastoreError extends Error {}

/** SMS fails a job for a VM with more than 22 volumes (spec §3.5). */
export const MAX_DISKS = 22;
const MANAGER_TYPE: Record<VmKind, VmManagerType> = { vmware: 'VSPHERE', kvm: 'VSPHERE', hyperv: 'HYPERV-MANAGER' };
const LOOSE_DISK_EXTENSIONS = new Set(['.vmdk', '.qcow2', '.raw', '.img']);
const HYPERV_DISK_EXTENSIONS = new Set(['.vhdx', '.vhd']);
const HYPERV_DIFFERENCING_EXTENSIONS = new Set(['.avhdx', '.avhd']);
const GUID_NAME = /^\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?\.(vmcx|xml)$/;

interface Context extends DiskContext {
  datastoreName: string;
}

function semaphore(limit: number): () => Promise<() => void> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async () => {
    if (active >= limit) await new Promise<void>((r) => waiting.push(r));
    active++;
    return () => {
      active--;
      waiting.shift()?.();
    };
  };
}

/** Lists every VM in the datastore directory, sorted by vmPath. */
export async function scanDatastore(dir: string, options: ScanOptions = {}): Promise<DiscoveredVm[]> {
  const root = resolve(dir);
  let st;
  try {
    st = await stat(root);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DatastoreError(
      code === 'ENOENT' ? `Datastore directory ${root} does not exist` : `Cannot read datastore directory ${root}: ${(e as Error).message}`,
    );
  }
  if (!st.isDirectory()) throw new DatastoreError(`Datastore ${root} is not a directory`);
  const { 'qemu-img': qemuImg } = requireTools(['qemu-img'], 'Scanning a datastore');
  const ctx: Context = {
    root,
    confine: { root: await realpath(root) },
    datastoreName: options.datastoreName ?? (basename(root) || 'datastore'),
    qemuImg,
    timeoutMs: options.timeoutMs ?? 15_000,
    infoCache: new Map(),
    acquire: semaphore(options.concurrency ?? 4),
  };

  const folders: Folder[] = [];
  await walk(ctx.confine, root, [], options.maxDepth ?? 4, folders, true);
  const vms = await Promise.all(folders.map((f) => inspectFolderSafely(ctx, f)));
  disambiguateIds(vms, root);
  vms.sort((a, b) => (a.vmPath < b.vmPath ? -1 : a.vmPath > b.vmPath ? 1 : 0));
  return vms;
}

// ---------------------------------------------------------------------------------------------------------------
// Walking the datastore

interface Folder {
  abs: string;
  /** Path relative to the datastore root, '/'-separated. */
  rel: string;
  files: string[];
  dirs: string[];
  kind: VmKind | 'orphan';
  domainXmls: string[];
}

async function listDir(abs: string): Promise<{ files: string[]; dirs: string[] }> {
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

const lowerExt = (name: string) => extname(name).toLowerCase();

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
    files.some((f) => HYPERV_DISK_EXTENSIONS.has(lowerExt(f)) || HYPERV_DIFFERENCING_EXTENSIONS.has(lowerExt(f)) || GUID_NAME.test(f)) ||
    dirs.includes('Virtual Machines') ||
    dirs.includes('Virtual Hard Disks');
  if (hyperV || files.includes(FERRY_VM_FILE)) return { ...base, kind: 'hyperv' };
  if (files.some((f) => LOOSE_DISK_EXTENSIONS.has(lowerExt(f)))) return { ...base, kind: 'orphan' };
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Per-VM inspection

class VmBuilder {
  readonly problems: string[] = [];
  readonly warnings: string[] = [];
  readonly disks: DiscoveredDisk[] = [];
  vmId: string | undefined;
  vmName: string | undefined;
  osFamily: OsFamily = 'unknown';
  definition: string | undefined;
  declaredDiskCount = 0;
  readonly folder: Folder;
  readonly kind: VmKind;

  constructor(folder: Folder, kind: VmKind) {
    this.folder = folder;
    this.kind = kind;
  }

  build(ctx: Context): DiscoveredVm {
    if (this.declaredDiskCount === 0 && this.problems.length === 0) this.problems.push('the VM has no disks');
    if (this.declaredDiskCount > MAX_DISKS) {
      this.problems.push(`the VM has ${this.declaredDiskCount} disks; at most ${MAX_DISKS} can be replicated`);
    }
    const reason = this.problems.join('; ');
    return {
      vmId: this.vmId ?? nameBasedUuid(this.folder.rel),
      vmName: this.vmName || posix.basename(this.folder.rel),
      vmPath: `/${ctx.datastoreName}/${this.kind}/${this.folder.rel}`,
      vmManagerType: MANAGER_TYPE[this.kind],
      kind: this.kind,
      folder: this.folder.abs,
      datastoreRoot: ctx.confine.root,
      ...(this.definition ? { definition: this.definition } : {}),
      disks: this.disks,
      osFamily: this.osFamily,
      replicable: this.problems.length === 0,
      ...(this.problems.length > 0 ? { reason: reason.length > 2000 ? `${reason.slice(0, 1997)}...` : reason } : {}),
      ...(this.warnings.length > 0 ? { warnings: this.warnings } : {}),
    };
  }
}

async function inspectFolderSafely(ctx: Context, folder: Folder): Promise<DiscoveredVm> {
  const kind: VmKind = folder.kind === 'orphan' ? (folder.files.some((f) => lowerExt(f) === '.vmdk') ? 'vmware' : 'kvm') : folder.kind;
  const vm = new VmBuilder(folder, kind);
  try {
    await applyFerryVmFile(ctx, vm, folder);
    if (folder.kind === 'vmware') await inspectVmware(ctx, vm);
    else if (folder.kind === 'kvm') await inspectKvm(ctx, vm);
    else if (folder.kind === 'hyperv') await inspectHyperV(ctx, vm);
    else {
      const disks = folder.files.filter((f) => LOOSE_DISK_EXTENSIONS.has(lowerExt(f)));
      vm.problems.push(
        `no VM definition: the folder has disk files (${disks.join(', ')}) but no .vmx or libvirt domain XML naming them`,
      );
    }
  } catch (e) {
    vm.problems.push(`could not inspect the VM: ${(e as Error).message}`);
  }
  return vm.build(ctx);
}

/** Optional overrides for any kind (and the disk list for Hyper-V), kept for applyOverrides and inspectHyperV. */
async function applyFerryVmFile(ctx: Context, vm: VmBuilder, folder: Folder): Promise<void> {
  if (!folder.files.includes(FERRY_VM_FILE)) return;
  const { file, problems, warnings } = await readFerryVmFile(ctx.confine, join(folder.abs, FERRY_VM_FILE));
  vm.problems.push(...problems);
  vm.warnings.push(...warnings);
  if (file) ferryFiles.set(vm, file);
}

const ferryFiles = new WeakMap<VmBuilder, FerryVmFile>();

/** Overrides from ferry-vm.json win over what the VM's own files say. */
function applyOverrides(vm: VmBuilder): void {
  const f = ferryFiles.get(vm);
  if (!f) return;
  if (f.vmId) vm.vmId = f.vmId;
  if (f.vmName) vm.vmName = f.vmName;
  if (f.osFamily) vm.osFamily = f.osFamily;
  if (!vm.definition) vm.definition = join(vm.folder.abs, FERRY_VM_FILE);
}

/** Picks the definition file among candidates: the only one, or the one named after the folder. */
function pickDefinition(vm: VmBuilder, candidates: string[], what: string): string | undefined {
  if (candidates.length === 1) return candidates[0];
  const folderName = posix.basename(vm.folder.rel).toLowerCase();
  const named = candidates.filter((c) => c.slice(0, -extname(c).length).toLowerCase() === folderName);
  if (named.length === 1) return named[0];
  vm.problems.push(`several ${what} files (${candidates.join(', ')}) and none named after the folder; keep one VM per folder`);
  return undefined;
}

async function inspectVmware(ctx: Context, vm: VmBuilder): Promise<void> {
  const vmxName = pickDefinition(vm, vm.folder.files.filter((f) => lowerExt(f) === '.vmx'), '.vmx');
  if (!vmxName) return applyOverrides(vm);
  const vmxPath = join(vm.folder.abs, vmxName);
  vm.definition = vmxPath;
  vm.vmName = vmxName.slice(0, -4);
  let vmx: Map<string, string>;
  try {
    vmx = parseVmx(await readDefinitionText(ctx.confine, vmxPath));
  } catch (e) {
    vm.problems.push(definitionProblem(vmxName, e));
    return applyOverrides(vm);
  }
  vm.vmId = normaliseUuid(vmx.get('uuid.bios')) ?? normaliseUuid(vmx.get('vc.uuid'));
  const displayName = vmx.get('displayname')?.trim();
  if (displayName) vm.vmName = displayName;
  vm.osFamily = osFamilyFromGuestOs(vmx.get('guestos'));
  applyOverrides(vm);
  if (vmx.has('encryption.keysafe') || vmx.has('encryption.data')) {
    vm.problems.push('the VM is encrypted (VM Encryption); decrypt it first');
  }
  const entries = vmxDisks(vmx);
  vm.declaredDiskCount = entries.length;
  const results = await Promise.all(
    entries.map((d) => inspectDiskRef(ctx, vm, d.fileName, 'vmdk', `disk ${d.controller}`, d.controller)),
  );
  for (const r of results) if (r) vm.disks.push(r);
}

async function inspectKvm(ctx: Context, vm: VmBuilder): Promise<void> {
  const xmlName = pickDefinition(vm, vm.folder.domainXmls, 'domain XML');
  if (!xmlName) return applyOverrides(vm);
  const xmlPath = join(vm.folder.abs, xmlName);
  vm.definition = xmlPath;
  vm.vmName = xmlName.slice(0, -4);
  let domain;
  try {
    domain = parseDomainXml(await readDefinitionText(ctx.confine, xmlPath));
  } catch (e) {
    vm.problems.push(definitionProblem(xmlName, e));
    return applyOverrides(vm);
  }
  vm.vmId = normaliseUuid(domain.uuid);
  if (domain.uuid && !vm.vmId) vm.warnings.push(`<uuid> "${domain.uuid}" is not a UUID; the id is derived from the folder path`);
  if (domain.name) vm.vmName = domain.name;
  vm.osFamily = domain.osFamily;
  applyOverrides(vm);
  vm.declaredDiskCount = domain.disks.length;
  const results = await Promise.all(
    domain.disks.map(async (d, i) => {
      const label = `disk ${d.targetDev ?? i}`;
      if (d.type !== 'file' || d.file === undefined) {
        vm.problems.push(`${label} is a '${d.type}' disk; only file-backed disks (type='file') can be replicated`);
        return undefined;
      }
      const format = KVM_FORMATS[d.driverType];
      if (!format) {
        vm.problems.push(`${label} (${basename(d.file)}) has the unknown format '${d.driverType}'`);
        return undefined;
      }
      return inspectDiskRef(ctx, vm, d.file, format, label, d.targetDev);
    }),
  );
  for (const r of results) if (r) vm.disks.push(r);
}

const KVM_FORMATS: Record<string, DiskFormat> = { qcow2: 'qcow2', raw: 'raw', vmdk: 'vmdk', vpc: 'vpc', vhdx: 'vhdx' };

async function inspectHyperV(ctx: Context, vm: VmBuilder): Promise<void> {
  const folder = vm.folder;
  // Identity: the GUID naming the Hyper-V configuration (Virtual Machines/<GUID>.vmcx, or .xml before 2016).
  const configDirs: { rel: string; files: string[] }[] = [{ rel: '', files: folder.files }];
  if (folder.dirs.includes('Virtual Machines')) {
    configDirs.push({ rel: 'Virtual Machines', files: (await listDir(join(folder.abs, 'Virtual Machines'))).files });
  }
  const configs: { guid: string; path: string }[] = [];
  for (const d of configDirs) {
    for (const f of d.files) {
      const m = GUID_NAME.exec(f);
      if (m) configs.push({ guid: m[1]!.toLowerCase(), path: join(folder.abs, d.rel, f) });
    }
  }
  const guids = [...new Set(configs.map((c) => c.guid))];
  if (guids.length === 1) {
    vm.vmId = normaliseUuid(guids[0]);
    vm.definition = configs[0]!.path;
    const xmlConfig = configs.find((c) => c.path.toLowerCase().endsWith('.xml'));
    if (xmlConfig) {
      try {
        const root = parseXml(await readDefinitionText(ctx.confine, xmlConfig.path));
        const name = childPath(root, 'properties', 'name')?.text.trim();
        if (root.name === 'configuration' && name) vm.vmName = name;
      } catch (e) {
        vm.warnings.push(`${basename(xmlConfig.path)} does not parse (${(e as Error).message}); the VM name is the folder name`);
      }
    }
  } else if (guids.length > 1) {
    vm.warnings.push(
      `several Hyper-V configurations (${guids.join(', ')}); the id is derived from the folder path (or set vmId in ${FERRY_VM_FILE})`,
    );
  }
  applyOverrides(vm);

  // Disks: ferry-vm.json's list, else every .vhdx/.vhd in the folder and in "Virtual Hard Disks", by name.
  const listed = ferryFiles.get(vm)?.disks;
  let refs: string[];
  if (listed) {
    refs = listed;
  } else {
    refs = folder.files.filter((f) => HYPERV_DISK_EXTENSIONS.has(lowerExt(f)) || HYPERV_DIFFERENCING_EXTENSIONS.has(lowerExt(f)));
    if (folder.dirs.includes('Virtual Hard Disks')) {
      const inner = (await listDir(join(folder.abs, 'Virtual Hard Disks'))).files;
      refs.push(
        ...inner
          .filter((f) => HYPERV_DISK_EXTENSIONS.has(lowerExt(f)) || HYPERV_DIFFERENCING_EXTENSIONS.has(lowerExt(f)))
          .map((f) => `Virtual Hard Disks/${f}`),
      );
    }
    refs.sort((a, b) => (posix.basename(a) < posix.basename(b) ? -1 : posix.basename(a) > posix.basename(b) ? 1 : 0));
  }
  const differencing = refs.filter((r) => HYPERV_DIFFERENCING_EXTENSIONS.has(lowerExt(r)));
  if (differencing.length > 0) {
    vm.problems.push(
      `the VM has checkpoint (differencing) disks: ${differencing.map((r) => posix.basename(r)).join(', ')}; ` +
        'delete or merge its checkpoints in Hyper-V first',
    );
  }
  const disks = refs.filter((r) => !HYPERV_DIFFERENCING_EXTENSIONS.has(lowerExt(r)));
  vm.declaredDiskCount = refs.length;
  const results = await Promise.all(
    disks.map((r) => {
      const ext = lowerExt(r);
      const format: DiskFormat | undefined = ext === '.vhdx' ? 'vhdx' : ext === '.vhd' ? 'vpc' : undefined;
      if (!format) {
        vm.problems.push(`disk ${posix.basename(r)} has an unknown format (Hyper-V disks are .vhdx or .vhd)`);
        return undefined;
      }
      return inspectDiskRef(ctx, vm, r, format, `disk ${posix.basename(r)}`, undefined);
    }),
  );
  for (const r of results) if (r) vm.disks.push(r);
}

/** A disk of `vm`, or undefined with the reason added to the VM's problems (inspectDisk.ts). */
async function inspectDiskRef(ctx: Context, vm: VmBuilder, ref: string, format: DiskFormat, label: string, controller: string | undefined): Promise<DiscoveredDisk | undefined> {
  const result = await inspectDisk(ctx, vm.folder.abs, ref, format, label, controller);
  if ('problem' in result) {
    vm.problems.push(result.problem);
    return undefined;
  }
  return result.disk;
}

// ---------------------------------------------------------------------------------------------------------------
// Identity collisions

/**
 * vmIds must be unique per datastore (the catalog keys servers on them). When several VMs claim one id — a VM folder
 * copied without giving the copy a new UUID — each of them gets an id derived from the claimed id and its folder
 * path, and a warning. The result does not depend on scan order.
 */
function disambiguateIds(vms: DiscoveredVm[], root: string): void {
  const byId = new Map<string, DiscoveredVm[]>();
  for (const vm of vms) {
    const list = byId.get(vm.vmId) ?? [];
    list.push(vm);
    byId.set(vm.vmId, list);
  }
  for (const [id, group] of byId) {
    if (group.length < 2) continue;
    for (const vm of group) {
      const others = group.filter((o) => o !== vm).map((o) => o.vmPath);
      const rel = relative(root, vm.folder).split(sep).join('/');
      vm.vmId = nameBasedUuid(`${id}\u0000${rel}`);
      (vm.warnings ??= []).push(
        `the id ${id} is also claimed by ${others.join(', ')}; this VM's id is derived from its folder instead — ` +
          `give each VM its own UUID (or a vmId in ${FERRY_VM_FILE})`,
      );
    }
  }
}
