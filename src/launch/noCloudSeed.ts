/**
 * An instance's cloud-init NoCloud seed: an ISO 9660 filesystem labelled `cidata` holding
 * - `meta-data`: `instance-id`, `local-hostname` and, when the launch names a key, `public-keys` (cloud-init's
 *   metadata way of injecting SSH keys, so the user's own user-data stays as given). Written as JSON, which YAML
 *   loaders read as well, with one key per line so the sample guests' /init can read it with sed;
 * - `user-data`: the launch's userData bytes, exactly (empty when there are none);
 * - `vendor-data`: Ferry's validation wrapper, when there are validations (validationWrapper.ts).
 * Built with genisoimage, or xorriso's mkisofs emulation when only that is installed.
 */
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findTool } from '../lib/tools.ts';
import { launch } from '../lib/launcher.ts';

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

/** The ISO tool to use, or undefined when neither is installed. */
export function isoTool(): { path: string; args: string[] } | undefined {
  const genisoimage = findTool('genisoimage');
  if (genisoimage) return { path: genisoimage, args: [] };
  const xorriso = findTool('xorriso');
  if (xorriso) return { path: xorriso, args: ['-as', 'mkisofs'] };
  return undefined;
}

/** Writes the seed ISO to `isoPath` (mode 0600), staging its files in `workDir` (removed afterwards). */
export async function writeSeedIso(isoPath: string, workDir: string, content: SeedContent): Promise<void> {
  const tool = isoTool();
  if (!tool) throw new Error('Building the NoCloud seed needs genisoimage or xorriso: apt-get install genisoimage');
  await rm(workDir, { recursive: true, force: true });
  await mkdir(workDir, { mode: 0o700 });
  try {
    const files = ['user-data', 'meta-data'];
    await writeFile(join(workDir, 'meta-data'), metaData(content), { mode: 0o600 });
    await writeFile(join(workDir, 'user-data'), content.userData ?? Buffer.alloc(0), { mode: 0o600 });
    if (content.vendorData !== null) {
      await writeFile(join(workDir, 'vendor-data'), content.vendorData, { mode: 0o600 });
      files.push('vendor-data');
    }
    await rm(isoPath, { force: true });
    const result = await launch(
      tool.path,
      [...tool.args, '-quiet', '-output', isoPath, '-volid', 'cidata', '-joliet', '-rock', ...files.map((f) => join(workDir, f))],
      { timeoutMs: 60_000 },
    );
    if (result.code !== 0) throw new Error(`building the NoCloud seed failed: ${(result.startError?.message ?? result.stderr).trim()}`);
    await chmod(isoPath, 0o600);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}
