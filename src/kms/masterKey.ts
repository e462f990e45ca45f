/**
 * The master key that wraps every KMS key's material and seals the secrets Ferry keeps in its store (access keys'
 * secrets, see secretSeal.ts). From FERRY_MASTER_KEY when set, otherwise from
 * `<data-dir>/master.key`, generated on first use with mode 0600 (the pattern of root-credentials.json).
 *
 * Accepted format, in the variable and in the file: exactly 32 bytes written as 64 hex characters, or as base64 /
 * base64url (43 characters, or 44 with the `=` pad), surrounding whitespace ignored. Generate one with
 * `openssl rand -hex 32` or `openssl rand -base64 32`. Anything else is rejected with a message that never echoes
 * the value.
 *
 * Losing the master key loses every encrypted image; changing it makes existing keys unusable (reported as such,
 * thanks to the fingerprint stored with each key).
 */
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createPrivateFileExclusively } from '../lib/privateFile.ts';
import { fingerprint } from './envelope.ts';

export const MASTER_KEY_ENV = 'FERRY_MASTER_KEY';
export const MASTER_KEY_FILE = 'master.key';

export interface MasterKey {
  key: Buffer;
  /** Public fingerprint (16 hex), stored with each key wrapped under this master key. */
  fingerprint: string;
  source: 'env' | 'file' | 'generated';
  file?: string;
}

export class MasterKeyError extends Error {
  override name = 'MasterKeyError';
}

const HEX = /^[0-9a-fA-F]{64}$/;
const BASE64 = /^[A-Za-z0-9+/]{43}=?$/;
const BASE64URL = /^[A-Za-z0-9_-]{43}=?$/;

/** Parses a master key written as 64 hex or base64(url) of 32 bytes; `origin` names where it came from in errors. */
export function parseMasterKey(text: string, origin: string): Buffer {
  const value = text.trim();
  if (HEX.test(value)) return Buffer.from(value, 'hex');
  const url = BASE64URL.test(value);
  if (BASE64.test(value) || url) {
    const unpadded = value.replace(/=$/, '');
    const key = Buffer.from(unpadded, url ? 'base64url' : 'base64');
    // 43 characters carry 258 bits: the last one must leave the 2 spare bits zero, or it is not 32 bytes' encoding.
    if (key.length === 32 && key.toString(url ? 'base64url' : 'base64').replace(/=$/, '') === unpadded) return key;
  }
  throw new MasterKeyError(
    `${origin} must be 32 bytes written as 64 hex characters or as base64 (44 characters with padding), ` +
      `e.g. the output of 'openssl rand -hex 32'; got a value of ${value.length} characters that is neither.`,
  );
}

/** The master key: FERRY_MASTER_KEY if set and non-empty, else `<dataDir>/master.key`, created (0600) if absent. */
export function loadMasterKey(dataDir: string, env: NodeJS.ProcessEnv): MasterKey {
  return findMasterKey(dataDir, env) ?? generateMasterKey(dataDir);
}

/**
 * The master key from FERRY_MASTER_KEY or `<dataDir>/master.key`, or undefined when neither is there. For processes
 * that must not make a new one: once secrets are sealed, a new key would only seal more of them under the wrong key.
 */
export function findMasterKey(dataDir: string, env: NodeJS.ProcessEnv): MasterKey | undefined {
  const fromEnv = env[MASTER_KEY_ENV];
  if (fromEnv !== undefined && fromEnv.trim() !== '') {
    const key = parseMasterKey(fromEnv, MASTER_KEY_ENV);
    return { key, fingerprint: fingerprint(key), source: 'env' };
  }
  const file = join(dataDir, MASTER_KEY_FILE);
  const existing = readKeyFile(file);
  return existing && { key: existing, fingerprint: fingerprint(existing), source: 'file', file };
}

function generateMasterKey(dataDir: string): MasterKey {
  const file = join(dataDir, MASTER_KEY_FILE);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const key = randomBytes(32);
  if (createPrivateFileExclusively(file, key.toString('hex') + '\n')) return { key, fingerprint: fingerprint(key), source: 'generated', file };
  // Another process (a `ferry kms` command beside `ferry serve`) created it first: use theirs.
  const theirs = readKeyFile(file)!;
  return { key: theirs, fingerprint: fingerprint(theirs), source: 'file', file };
}

function readKeyFile(file: string): Buffer | undefined {
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch (thrown) {
    if ((thrown as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw thrown;
  }
  if ((mode & 0o077) !== 0) {
    throw new MasterKeyError(
      `The master key file ${file} is accessible to other users (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); ` +
        `restrict it with 'chmod 600 ${file}'.`,
    );
  }
  return parseMasterKey(readFileSync(file, 'utf8'), `The master key file ${file}`);
}
