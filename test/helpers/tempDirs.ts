/** Temporary directories for tests: one made by hand and removed by the caller, or one that lives for a body. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A temporary directory; `cleanup` removes it. */
export async function tempDir(prefix = 'ferry-export-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Runs `body` in a fresh temporary directory, removed afterwards whatever `body` does. */
export async function inTempDir(prefix: string, body: (dir: string) => Promise<void>): Promise<void> {
  const { dir, cleanup } = await tempDir(prefix);
  try {
    await body(dir);
  } finally {
    await cleanup();
  }
}
