/**
 * A Hyper-V VM folder: identity from the GUID naming its configuration (Virtual Machines/<GUID>.vmcx, or .xml
 * before 2016, whose XML also names the VM), disks from ferry-vm.json's list or else every .vhdx/.vhd in the folder
 * and in "Virtual Hard Disks", by name. Checkpoint (differencing) disks stop replication.
 */
import { basename, join, posix } from 'node:path';
import type { DiskFormat } from '../disks/diskSource.ts';
import { normaliseUuid } from './identity.ts';
import { childPath, parseXml } from './xml.ts';
import { readDefinitionText } from './definitionFiles.ts';
import { FERRY_VM_FILE } from './ferryVmFile.ts';
import type { DiskRef, ScanContext, VmBuilder, VmInspector } from './discoveredVm.ts';
import { HYPERV_CONFIG_NAME, HYPERV_DIFFERENCING_EXTENSIONS, HYPERV_DISK_EXTENSIONS, listDir, lowerExt } from './walkDatastore.ts';

const isHyperVDisk = (name: string): boolean => HYPERV_DISK_EXTENSIONS.has(lowerExt(name)) || HYPERV_DIFFERENCING_EXTENSIONS.has(lowerExt(name));

export const inspectHyperV: VmInspector = async (ctx, vm) => {
  await readIdentity(ctx, vm);
  vm.applyOverrides();
  const refs = vm.ferryFile?.disks ?? (await diskFiles(vm));
  const differencing = refs.filter((r) => HYPERV_DIFFERENCING_EXTENSIONS.has(lowerExt(r)));
  if (differencing.length > 0) {
    vm.problems.push(
      `the VM has checkpoint (differencing) disks: ${differencing.map((r) => posix.basename(r)).join(', ')}; ` +
        'delete or merge its checkpoints in Hyper-V first',
    );
  }
  vm.declaredDiskCount = refs.length;
  const disks = refs
    .filter((r) => !HYPERV_DIFFERENCING_EXTENSIONS.has(lowerExt(r)))
    .map((r): DiskRef | undefined => {
      const ext = lowerExt(r);
      const format: DiskFormat | undefined = ext === '.vhdx' ? 'vhdx' : ext === '.vhd' ? 'vpc' : undefined;
      if (!format) {
        vm.problems.push(`disk ${posix.basename(r)} has an unknown format (Hyper-V disks are .vhdx or .vhd)`);
        return undefined;
      }
      return { file: r, format, label: `disk ${posix.basename(r)}`, controller: undefined };
    });
  await vm.addDisks(ctx, disks);
};

async function readIdentity(ctx: ScanContext, vm: VmBuilder): Promise<void> {
  const folder = vm.folder;
  const configDirs: { rel: string; files: string[] }[] = [{ rel: '', files: folder.files }];
  if (folder.dirs.includes('Virtual Machines')) {
    configDirs.push({ rel: 'Virtual Machines', files: (await listDir(join(folder.abs, 'Virtual Machines'))).files });
  }
  const configs: { guid: string; path: string }[] = [];
  for (const d of configDirs) {
    for (const f of d.files) {
      const m = HYPERV_CONFIG_NAME.exec(f);
      if (m) configs.push({ guid: m[1]!.toLowerCase(), path: join(folder.abs, d.rel, f) });
    }
  }
  const guids = [...new Set(configs.map((c) => c.guid))];
  if (guids.length > 1) {
    vm.warnings.push(`several Hyper-V configurations (${guids.join(', ')}); the id is derived from the folder path (or set vmId in ${FERRY_VM_FILE})`);
    return;
  }
  if (guids.length === 0) return;
  vm.vmId = normaliseUuid(guids[0]);
  vm.definition = configs[0]!.path;
  const xmlConfig = configs.find((c) => c.path.toLowerCase().endsWith('.xml'));
  if (!xmlConfig) return;
  try {
    const root = parseXml(await readDefinitionText(ctx.confine, xmlConfig.path));
    const name = childPath(root, 'properties', 'name')?.text.trim();
    if (root.name === 'configuration' && name) vm.vmName = name;
  } catch (e) {
    vm.warnings.push(`${basename(xmlConfig.path)} does not parse (${(e as Error).message}); the VM name is the folder name`);
  }
}

/** Every .vhdx/.vhd (and checkpoint disk) in the folder and in "Virtual Hard Disks", by file name. */
async function diskFiles(vm: VmBuilder): Promise<string[]> {
  const folder = vm.folder;
  const refs = folder.files.filter(isHyperVDisk);
  if (folder.dirs.includes('Virtual Hard Disks')) {
    const inner = (await listDir(join(folder.abs, 'Virtual Hard Disks'))).files;
    refs.push(...inner.filter(isHyperVDisk).map((f) => `Virtual Hard Disks/${f}`));
  }
  return refs.sort((a, b) => (posix.basename(a) < posix.basename(b) ? -1 : posix.basename(a) > posix.basename(b) ? 1 : 0));
}
