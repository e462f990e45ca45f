/**
 * Inventory of a datastore directory: one VM per folder, VMware (.vmx + .vmdk), Hyper-V (.vhdx/.vhd) or
 * KVM/libvirt (domain XML + qcow2/raw). The layout, identity and path rules are documented in docs/datastore.md.
 * walkDatastore.ts finds the VM folders; one inspector per hypervisor reads each (vmwareInspector.ts,
 * kvmInspector.ts, hyperVInspector.ts); then every VM gets an id no other VM of the datastore claims.
 *
 * A scan never fails because of one VM: a VM Ferry cannot replicate is listed with `replicable: false` and the
 * reason. Only a datastore that does not exist (or a missing qemu-img) is an error.
 */
import { realpath, stat } from 'node:fs/promises';
import { basename, isAbsolute, relative, resolve, sep } from 'node:path';
import { requireTools } from '../../lib/tools.ts';
import { ConcurrencyLimit } from '../../lib/concurrency.ts';
import { nameBasedUuid } from './identity.ts';
import { FERRY_VM_FILE } from './ferryVmFile.ts';
import { VmBuilder, type DiscoveredVm, type ScanContext, type VmInspector } from './discoveredVm.ts';
import { DatastoreError, findVmFolders, LOOSE_DISK_EXTENSIONS, lowerExt, readVmFolder, type Folder, type VmKind } from './walkDatastore.ts';
import { inspectVmware } from './vmwareInspector.ts';
import { inspectKvm } from './kvmInspector.ts';
import { inspectHyperV } from './hyperVInspector.ts';

// What callers of a scan use: the VMs it reports and the one error it throws.
export type { DiscoveredVm } from './discoveredVm.ts';
export { DatastoreError } from './walkDatastore.ts';

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

const INSPECTORS: Record<VmKind, VmInspector> = { vmware: inspectVmware, kvm: inspectKvm, hyperv: inspectHyperV };

/** Lists every VM in the datastore directory, sorted by vmPath. */
export async function scanDatastore(dir: string, options: ScanOptions = {}): Promise<DiscoveredVm[]> {
  const ctx = await scanContext(dir, options);
  const folders = await findVmFolders(ctx.confine, ctx.root, options.maxDepth ?? 4);
  const vms = await Promise.all(folders.map((f) => inspectFolderSafely(ctx, f)));
  disambiguateIds(vms, ctx.root);
  vms.sort((a, b) => (a.vmPath < b.vmPath ? -1 : a.vmPath > b.vmPath ? 1 : 0));
  return vms;
}

/**
 * One VM folder of the datastore (`folder`: a DiscoveredVm's folder from an earlier scan) read again as a scan
 * reads it, without walking the rest; undefined when it is no longer a VM folder. The id is the one the folder
 * claims: a scan gives it another only when other VMs claim the same id, so a caller that needs a particular id
 * must compare (and scan the whole datastore when they differ).
 */
export async function scanVmFolder(dir: string, folder: string, options: ScanOptions = {}): Promise<DiscoveredVm | undefined> {
  const ctx = await scanContext(dir, options);
  const rel = relative(ctx.root, folder);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return undefined;
  const found = await readVmFolder(ctx.confine, folder, rel.split(sep).join('/'));
  return found ? inspectFolderSafely(ctx, found) : undefined;
}

async function scanContext(dir: string, options: ScanOptions): Promise<ScanContext> {
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
  return {
    root,
    confine: { root: await realpath(root) },
    datastoreName: options.datastoreName ?? (basename(root) || 'datastore'),
    qemuImg,
    timeoutMs: options.timeoutMs ?? 15_000,
    infoCache: new Map(),
    qemuImgSlots: new ConcurrencyLimit(options.concurrency ?? 4),
  };
}

async function inspectFolderSafely(ctx: ScanContext, folder: Folder): Promise<DiscoveredVm> {
  const kind: VmKind = folder.kind === 'orphan' ? (folder.files.some((f) => lowerExt(f) === '.vmdk') ? 'vmware' : 'kvm') : folder.kind;
  const vm = new VmBuilder(folder, kind);
  try {
    await vm.readFerryFile(ctx);
    if (folder.kind !== 'orphan') {
      await INSPECTORS[folder.kind](ctx, vm);
    } else {
      const disks = folder.files.filter((f) => LOOSE_DISK_EXTENSIONS.has(lowerExt(f)));
      vm.problems.push(`no VM definition: the folder has disk files (${disks.join(', ')}) but no .vmx or libvirt domain XML naming them`);
    }
  } catch (e) {
    vm.problems.push(`could not inspect the VM: ${(e as Error).message}`);
  }
  return vm.build(ctx);
}

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
