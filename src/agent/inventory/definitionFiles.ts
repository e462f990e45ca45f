/**
 * Reading a VM's definition files (.vmx, domain XML, ferry-vm.json, Hyper-V XML): at most 1 MiB each, and only
 * inside the datastore once symbolic links are resolved — a definition linked to a file elsewhere on the host is
 * not read, so nothing of that file can surface in a parse error shown to the catalog's readers.
 */
import { basename } from 'node:path';
import { openChecked, outsideMessage, resolveInside, type Confinement } from '../disks/confine.ts';

export const MAX_DEFINITION_BYTES = 1024 * 1024;

/** A definition file that resolves outside the datastore; its message is the VM's reason as it stands. */
export class OutsideDatastoreError extends Error {}

export async function readDefinitionText(confine: Confinement, path: string): Promise<string> {
  const found = await resolveInside(confine, path);
  if ('outside' in found) throw new OutsideDatastoreError(`${basename(path)} ${outsideMessage(found.outside)}`);
  if ('missing' in found) throw new Error(`${basename(path)} does not exist`);
  const handle = await openChecked(confine, found.real);
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new Error(`${basename(path)} is not a regular file`);
    if (stats.size > MAX_DEFINITION_BYTES) throw new Error(`${basename(path)} is larger than ${MAX_DEFINITION_BYTES} bytes`);
    const bytes = Buffer.alloc(stats.size);
    const { bytesRead } = await handle.read(bytes, 0, bytes.length, 0);
    return bytes.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}

/** The reason for a definition that cannot be used: as it stands when it lies outside, else "`name` does not parse: …". */
export function definitionProblem(name: string, error: unknown): string {
  return error instanceof OutsideDatastoreError ? error.message : `${name} does not parse: ${(error as Error).message}`;
}
