/**
 * The data dir is private to the user Ferry runs as: the directory 0700 and the files Ferry keeps in it 0600 (the
 * store, its WAL and shared-memory files, the master key, generated credentials and secrets). They are created that
 * way; a data dir from an older Ferry, or one an administrator loosened, is tightened on start with a warning per
 * entry. Only the entries Ferry itself makes are touched: a datastore or anything else placed in the data dir keeps
 * its modes (other programs, e.g. a hypervisor running as another user, may need them).
 *
 * The master key file is the exception: it is refused while others can read it (kms/masterKey.ts), because a key
 * others could read is a key to replace, not a mode to fix quietly.
 */
import { chmodSync, closeSync, lstatSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';

export const DATA_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Files Ferry keeps directly in the data dir (every one 0600). */
export const PRIVATE_FILES = [
  'ferry.db',
  'ferry.db-wal',
  'ferry.db-shm',
  'ferry.db-journal',
  'root-credentials.json',
  'webhook-secret',
  'embedded-connector.json',
] as const;

/** Directories Ferry keeps directly in the data dir (every one 0700). */
export const PRIVATE_DIRS = ['images'] as const;

const octal = (mode: number) => (mode & 0o777).toString(8).padStart(4, '0');

/**
 * Creates the data dir (0700) if needed, tightens what is looser than it should be, and creates the store file
 * with mode 0600 before SQLite opens it (SQLite gives its WAL and shared-memory files the database file's mode).
 * `warn` hears one sentence per entry it changed.
 */
export function secureDataDir(dataDir: string, warn: (message: string) => void): void {
  mkdirSync(dataDir, { recursive: true, mode: DATA_DIR_MODE });
  tighten(dataDir, DATA_DIR_MODE, 'directory', warn);
  for (const name of PRIVATE_DIRS) tighten(join(dataDir, name), DATA_DIR_MODE, 'directory', warn);
  for (const name of PRIVATE_FILES) tighten(join(dataDir, name), PRIVATE_FILE_MODE, 'file', warn);
  closeSync(openSync(join(dataDir, 'ferry.db'), 'a', PRIVATE_FILE_MODE));
}

function tighten(path: string, wanted: number, kind: 'file' | 'directory', warn: (message: string) => void): void {
  let mode: number;
  let isKind: boolean;
  try {
    const stats = lstatSync(path);
    mode = stats.mode;
    isKind = kind === 'file' ? stats.isFile() : stats.isDirectory();
  } catch (thrown) {
    if ((thrown as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw thrown;
  }
  // A symbolic link or something else under a name Ferry uses is left alone: chmod would follow a link.
  if (!isKind || (mode & 0o777 & ~wanted) === 0) return;
  chmodSync(path, wanted);
  warn(`${path} was mode ${octal(mode)}, readable or writable by other local users; changed it to ${octal(wanted)}.`);
}
