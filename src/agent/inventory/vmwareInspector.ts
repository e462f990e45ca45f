/** A VMware VM folder: its .vmx (vmx.ts) gives identity, name, guest OS and the disks, in controller order. */
import { join } from 'node:path';
import { normaliseUuid } from './identity.ts';
import { osFamilyFromGuestOs, parseVmx, vmxDisks } from './vmx.ts';
import { definitionProblem, readDefinitionText } from './definitionFiles.ts';
import type { VmInspector } from './discoveredVm.ts';
import { lowerExt } from './walkDatastore.ts';

export const inspectVmware: VmInspector = async (ctx, vm) => {
  const vmxName = vm.pickDefinition(vm.folder.files.filter((f) => lowerExt(f) === '.vmx'), '.vmx');
  if (!vmxName) return vm.applyOverrides();
  const vmxPath = join(vm.folder.abs, vmxName);
  vm.definition = vmxPath;
  vm.vmName = vmxName.slice(0, -4);
  let vmx: Map<string, string>;
  try {
    vmx = parseVmx(await readDefinitionText(ctx.confine, vmxPath));
  } catch (e) {
    vm.problems.push(definitionProblem(vmxName, e));
    return vm.applyOverrides();
  }
  vm.vmId = normaliseUuid(vmx.get('uuid.bios')) ?? normaliseUuid(vmx.get('vc.uuid'));
  const displayName = vmx.get('displayname')?.trim();
  if (displayName) vm.vmName = displayName;
  vm.osFamily = osFamilyFromGuestOs(vmx.get('guestos'));
  vm.applyOverrides();
  if (vmx.has('encryption.keysafe') || vmx.has('encryption.data')) {
    vm.problems.push('the VM is encrypted (VM Encryption); decrypt it first');
  }
  const entries = vmxDisks(vmx);
  vm.declaredDiskCount = entries.length;
  await vm.addDisks(
    ctx,
    entries.map((d) => ({ file: d.fileName, format: 'vmdk', label: `disk ${d.controller}`, controller: d.controller })),
  );
};
