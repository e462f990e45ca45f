/**
 * What a scan reports for one VM, and the builder every hypervisor's inspector fills in: identity, name, OS, disks,
 * and the problems that keep the VM from being replicated. ferry-vm.json's overrides, the choice among several
 * definition files and a disk's inspection are the same for every hypervisor, so they are here once.
 */
import { extname, join, posix } from 'node:path';
import type { DiskFormat } from '../disks/diskSource.ts';
import { MAX_VM_DISKS } from '../../domain/inventory.ts';
import { nameBasedUuid } from './identity.ts';
import { inspectDisk, type DiscoveredDisk, type DiskContext } from './inspectDisk.ts';
import { FERRY_VM_FILE, readFerryVmFile, type FerryVmFile, type OsFamily } from './ferryVmFile.ts';
import type { Folder, VmKind } from './walkDatastore.ts';

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

/** What inspecting a VM needs from the scan. */
export interface ScanContext extends DiskContext {
  datastoreName: string;
}

const MANAGER_TYPE: Record<VmKind, VmManagerType> = { vmware: 'VSPHERE', kvm: 'VSPHERE', hyperv: 'HYPERV-MANAGER' };

export class VmBuilder {
  readonly problems: string[] = [];
  readonly warnings: string[] = [];
  readonly disks: DiscoveredDisk[] = [];
  vmId: string | undefined;
  vmName: string | undefined;
  osFamily: OsFamily = 'unknown';
  definition: string | undefined;
  declaredDiskCount = 0;
  /** The folder's ferry-vm.json, when it has a valid one. */
  ferryFile: FerryVmFile | undefined;
  readonly folder: Folder;
  readonly kind: VmKind;

  constructor(folder: Folder, kind: VmKind) {
    this.folder = folder;
    this.kind = kind;
  }

  build(ctx: ScanContext): DiscoveredVm {
    if (this.declaredDiskCount === 0 && this.problems.length === 0) this.problems.push('the VM has no disks');
    if (this.declaredDiskCount > MAX_VM_DISKS) {
      this.problems.push(`the VM has ${this.declaredDiskCount} disks; at most ${MAX_VM_DISKS} can be replicated`);
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

  /** Reads the folder's ferry-vm.json (optional overrides for any kind, and the disk list for Hyper-V). */
  async readFerryFile(ctx: ScanContext): Promise<void> {
    if (!this.folder.files.includes(FERRY_VM_FILE)) return;
    const { file, problems, warnings } = await readFerryVmFile(ctx.confine, join(this.folder.abs, FERRY_VM_FILE));
    this.problems.push(...problems);
    this.warnings.push(...warnings);
    this.ferryFile = file;
  }

  /** Overrides from ferry-vm.json win over what the VM's own files say. */
  applyOverrides(): void {
    const f = this.ferryFile;
    if (!f) return;
    if (f.vmId) this.vmId = f.vmId;
    if (f.vmName) this.vmName = f.vmName;
    if (f.osFamily) this.osFamily = f.osFamily;
    if (!this.definition) this.definition = join(this.folder.abs, FERRY_VM_FILE);
  }

  /** Picks the definition file among candidates: the only one, or the one named after the folder. */
  pickDefinition(candidates: string[], what: string): string | undefined {
    if (candidates.length === 1) return candidates[0];
    const folderName = posix.basename(this.folder.rel).toLowerCase();
    const named = candidates.filter((c) => c.slice(0, -extname(c).length).toLowerCase() === folderName);
    if (named.length === 1) return named[0];
    this.problems.push(`several ${what} files (${candidates.join(', ')}) and none named after the folder; keep one VM per folder`);
    return undefined;
  }

  /** Inspects the disks `refs` names, in order, and keeps those that can be read (the rest become problems). */
  async addDisks(ctx: ScanContext, refs: readonly (DiskRef | undefined)[]): Promise<void> {
    const results = await Promise.all(refs.map((ref) => (ref ? this.#inspect(ctx, ref) : undefined)));
    for (const disk of results) if (disk) this.disks.push(disk);
  }

  async #inspect(ctx: ScanContext, ref: DiskRef): Promise<DiscoveredDisk | undefined> {
    const result = await inspectDisk(ctx, this.folder.abs, ref.file, ref.format, ref.label, ref.controller);
    if ('problem' in result) {
      this.problems.push(result.problem);
      return undefined;
    }
    return result.disk;
  }
}

/** A disk as a VM definition names it (`label`: "disk vda", for problems). */
export interface DiskRef {
  file: string;
  format: DiskFormat;
  label: string;
  controller: string | undefined;
}

/** One hypervisor's reading of a VM folder, filling in `vm`. */
export type VmInspector = (ctx: ScanContext, vm: VmBuilder) => Promise<void>;
