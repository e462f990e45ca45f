/**
 * The master key that seals a data dir's secrets, found the same way by `ferry serve` and by the `ferry` commands
 * that open the store themselves: FERRY_MASTER_KEY, else `<data-dir>/master.key` (kms/masterKey.ts). A new master key
 * is generated only while no access key is sealed yet; afterwards a process without the key, or with another one,
 * stops with a message saying which key the store expects instead of sealing new secrets under the wrong key.
 *
 * Opening also finishes the move of secrets from plain text (stores from before migration 7) to sealed form.
 */
import { findMasterKey, loadMasterKey, MASTER_KEY_ENV, MasterKeyError, type MasterKey } from '../kms/masterKey.ts';
import { secretSealer, type SecretSealer } from '../kms/secretSeal.ts';
import { ACCESS_KEY_SECRETS, sealPlainAccessKeys } from './accessKeys.ts';
import type { Core } from './context.ts';
import * as keys from '../store/keys/index.ts';

export interface SecretsAtRest {
  master: MasterKey;
  /** Seals and opens access keys' secrets. */
  accessKeys: SecretSealer;
  /** Access keys whose plain-text secrets this call sealed (stores from before migration 7). */
  sealedNow: number;
}

export async function openSecretsAtRest(core: Core, dataDir: string, env: NodeJS.ProcessEnv): Promise<SecretsAtRest> {
  // KMS keys are not consulted: a lost master key makes only encrypted images unusable, and says so when they are
  // used (kms/keyring.ts); lost access keys would lock every tenant out, so that is refused here.
  const accessKeyPrints = await keys.sealingFingerprints(core.db);
  const expected = accessKeyPrints[0];
  const master = expected === undefined ? loadMasterKey(dataDir, env) : findMasterKey(dataDir, env);
  if (!master) {
    throw new MasterKeyError(
      `The secrets in ${dataDir} are sealed under a master key (fingerprint ${expected}) that this process does not have: ` +
        `set ${MASTER_KEY_ENV} as for the service, or run where ${dataDir}/master.key is readable.`,
    );
  }
  const foreign = accessKeyPrints.find((print) => print !== master.fingerprint);
  if (foreign !== undefined) {
    throw new MasterKeyError(
      `The access keys in ${dataDir} are sealed under master key ${foreign}, but this one (from ${master.source === 'env' ? MASTER_KEY_ENV : master.file}) ` +
        `is ${master.fingerprint}: use the master key the service was started with.`,
    );
  }
  const accessKeys = secretSealer(master, ACCESS_KEY_SECRETS);
  const sealedNow = await sealPlainSecrets(core, accessKeys);
  return { master, accessKeys, sealedNow };
}

/** Seals the access keys' secrets still in plain text, and leaves no copy of the plain text in the store's files. */
async function sealPlainSecrets(core: Core, sealer: SecretSealer): Promise<number> {
  const count = await sealPlainAccessKeys(core, sealer);
  if (count > 0) await keys.purgeOverwrittenPages(core.db, core.capabilities);
  return count;
}
