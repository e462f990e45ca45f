/**
 * An instance's cloud-init NoCloud seed: an ISO 9660 filesystem labelled `cidata` holding
 * - `meta-data`: `instance-id`, `local-hostname` and, when the launch names a key, `public-keys` (cloud-init's
 *   metadata way of injecting SSH keys, so the user's own user-data stays as given). Written as JSON, which YAML
 *   loaders read as well, with one key per line so the sample guests' /init can read it with sed;
 * - `user-data`: the launch's userData bytes, exactly (empty when there are none);
 * - `vendor-data`: Ferry's validation wrapper, when there are validations (validationWrapper.ts).
 * Written by Ferry itself (isoImage.ts: ISO 9660 with Joliet names), not by genisoimage: a program start on the way
 * to every boot.
 */
import { rm, writeFile } from 'node:fs/promises';
import { isoImage, type IsoFile } from './isoImage.ts';

export interface SeedContent {
  instanceId: string;
  hostname: string;
  userData: Buffer | null;
  sshPublicKey: string | null;
  vendorData: string | null;
}

export function metaData(content: Pick<SeedContent, 'instanceId' | 'hostname' | 'sshPublicKey'>): string {
  const lines = [`  "instance-id": ${JSON.stringify(content.instanceId)}`, `  "local-hostname": ${JSON.stringify(content.hostname)}`];
  if (content.sshPublicKey) lines.push(`  "public-keys": [\n    ${JSON.stringify(content.sshPublicKey)}\n  ]`);
  return `{\n${lines.join(',\n')}\n}\n`;
}

/** Writes the seed ISO to `isoPath` (mode 0600), in this process (isoImage.ts). */
export async function writeSeedIso(isoPath: string, content: SeedContent): Promise<void> {
  const files: IsoFile[] = [
    { name: 'user-data', data: content.userData ?? Buffer.alloc(0) },
    { name: 'meta-data', data: Buffer.from(metaData(content)) },
  ];
  if (content.vendorData !== null) files.push({ name: 'vendor-data', data: Buffer.from(content.vendorData) });
  // Removed first: a seed left by a crashed launch may have another mode, which writeFile would keep.
  await rm(isoPath, { force: true });
  await writeFile(isoPath, isoImage('cidata', files), { mode: 0o600 });
}
