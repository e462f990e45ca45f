/** A KVM VM folder: its libvirt domain XML (libvirt.ts) gives identity, name, OS hint and the file-backed disks. */
import { basename, join } from 'node:path';
import type { DiskFormat } from '../disks/diskSource.ts';
import { normaliseUuid } from './identity.ts';
import { parseDomainXml } from './libvirt.ts';
import { definitionProblem, readDefinitionText } from './definitionFiles.ts';
import type { DiskRef, VmInspector } from './discoveredVm.ts';

/** libvirt's `<driver type>` → the disk formats Ferry reads. */
const KVM_FORMATS: Record<string, DiskFormat> = { qcow2: 'qcow2', raw: 'raw', vmdk: 'vmdk', vpc: 'vpc', vhdx: 'vhdx' };

export const inspectKvm: VmInspector = async (ctx, vm) => {
  const xmlName = vm.pickDefinition(vm.folder.domainXmls, 'domain XML');
  if (!xmlName) return vm.applyOverrides();
  const xmlPath = join(vm.folder.abs, xmlName);
  vm.definition = xmlPath;
  vm.vmName = xmlName.slice(0, -4);
  let domain;
  try {
    domain = parseDomainXml(await readDefinitionText(ctx.confine, xmlPath));
  } catch (e) {
    vm.problems.push(definitionProblem(xmlName, e));
    return vm.applyOverrides();
  }
  vm.vmId = normaliseUuid(domain.uuid);
  if (domain.uuid && !vm.vmId) vm.warnings.push(`<uuid> "${domain.uuid}" is not a UUID; the id is derived from the folder path`);
  if (domain.name) vm.vmName = domain.name;
  vm.osFamily = domain.osFamily;
  vm.applyOverrides();
  vm.declaredDiskCount = domain.disks.length;
  const refs = domain.disks.map((d, i): DiskRef | undefined => {
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
    return { file: d.file, format, label, controller: d.targetDev };
  });
  await vm.addDisks(ctx, refs);
};
