/**
 * `ferry-vm.json`, the optional file in a VM folder that overrides what the VM's own files say (vmId, vmName,
 * osFamily) and lists a Hyper-V VM's disks. Layout and rules: docs/datastore.md.
 */
import { normaliseUuid } from './identity.ts';
import { definitionProblem, OutsideDatastoreError, readDefinitionText } from './definitionFiles.ts';
import type { Confinement } from '../disks/confine.ts';

export const FERRY_VM_FILE = 'ferry-vm.json';

export type OsFamily = 'linux' | 'windows' | 'unknown';

export interface FerryVmFile {
  vmId?: string;
  vmName?: string;
  osFamily?: OsFamily;
  disks?: string[];
}

/** The file's overrides, with what makes the VM not replicable (`problems`) and what was ignored (`warnings`). */
export async function readFerryVmFile(confine: Confinement, path: string): Promise<{ file?: FerryVmFile; problems: string[]; warnings: string[] }> {
  const problems: string[] = [];
  const warnings: string[] = [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readDefinitionText(confine, path));
  } catch (e) {
    return { problems: [e instanceof OutsideDatastoreError ? definitionProblem(FERRY_VM_FILE, e) : `${FERRY_VM_FILE} is not valid JSON: ${(e as Error).message}`], warnings };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { problems: [`${FERRY_VM_FILE} must hold a JSON object`], warnings };
  const o = parsed as Record<string, unknown>;
  const file: FerryVmFile = {};
  for (const key of Object.keys(o)) {
    if (!['vmId', 'vmName', 'osFamily', 'disks'].includes(key)) warnings.push(`${FERRY_VM_FILE}: unknown key "${key}" ignored`);
  }
  if (o['vmId'] !== undefined) {
    const raw = o['vmId'];
    if (typeof raw === 'string' && /^[A-Za-z0-9{}._:-]{1,128}$/.test(raw)) file.vmId = normaliseUuid(raw) ?? raw;
    else problems.push(`${FERRY_VM_FILE}: vmId must be 1-128 characters of letters, digits and . _ : - { }`);
  }
  if (o['vmName'] !== undefined) {
    if (typeof o['vmName'] === 'string' && o['vmName'].trim() !== '' && o['vmName'].length <= 255) file.vmName = o['vmName'].trim();
    else problems.push(`${FERRY_VM_FILE}: vmName must be a non-empty string of at most 255 characters`);
  }
  if (o['osFamily'] !== undefined) {
    if (o['osFamily'] === 'linux' || o['osFamily'] === 'windows' || o['osFamily'] === 'unknown') file.osFamily = o['osFamily'];
    else problems.push(`${FERRY_VM_FILE}: osFamily must be "linux", "windows" or "unknown"`);
  }
  if (o['disks'] !== undefined) {
    if (Array.isArray(o['disks']) && o['disks'].every((d) => typeof d === 'string' && d !== '')) file.disks = o['disks'] as string[];
    else problems.push(`${FERRY_VM_FILE}: disks must be a list of file names`);
  }
  return { file, problems, warnings };
}
