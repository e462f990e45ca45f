/**
 * The keyring: KMS-style keys whose material it generates and keeps wrapped under the master key, and the block
 * sealers made from them for the image store (plus each account's sealer for unencrypted blocks, keyed from the
 * master key itself).
 *
 * Per key (32 random bytes of material, wrapped with AES-256-GCM under the master key, AAD = account, region, key id):
 * - id-key   = HKDF(material, "block-id")       → storage ids (HMAC-SHA256 of the block's SHA-256);
 * - kek      = HKDF(material, "data-key-wrap")  → wraps the data key (AAD = the key's ARN);
 * - data key = 32 random bytes, stored wrapped   → seals blocks (AES-256-GCM).
 * The data key is generated and stored wrapped (envelope encryption, as with AWS KMS GenerateDataKey) rather than
 * derived: the same layout then works with a remote KMS that never releases key material, and data keys can be
 * rotated later without changing storage ids (those come from the id-key, which stays).
 *
 * Material is created with the key by `createKey`, or on first use for keys created through the API (the default
 * key), which validates keys without holding the master key.
 */
import { randomBytes } from 'node:crypto';
import { systemClock, type Clock } from '../lib/clock.ts';
import type { Tenant } from '../domain/tenant.ts';
import { aad, subkey, unwrap, wrap, UnwrapError } from './envelope.ts';
import { createKeyRecord, listKeys, resolveKey, type KmsDb, type KmsKey } from './keys.ts';
import type { MasterKey } from './masterKey.ts';
import * as kmsKeys from '../store/kms/index.ts';
import type { KmsKeysTable } from '../store/kms/index.ts';
import { AccountBlockSealer, KeyedBlockSealer } from './sealer.ts';
import { parseAccountKeyRef, type BlockSealer } from '../images/blockSealer.ts';

/** A key that cannot be used: its material is missing, corrupt, or wrapped under another master key. */
export class KmsError extends Error {
  override name = 'KmsError';
}

const materialAad = (row: Pick<KmsKeysTable, 'account_id' | 'region' | 'key_id'>) =>
  aad('ferry-kms/key-material/v1', row.account_id, row.region, row.key_id);
const dataKeyAad = (arn: string) => aad('ferry-kms/data-key/v1', arn);

export class Keyring {
  readonly #db: KmsDb;
  readonly #master: MasterKey;
  readonly #clock: Clock;
  /** Sealers by key id: material is unwrapped once per process. */
  readonly #sealers = new Map<string, Promise<KeyedBlockSealer>>();
  readonly #accountSealers = new Map<string, AccountBlockSealer>();

  constructor(db: KmsDb, master: MasterKey, clock: Clock = systemClock) {
    this.#db = db;
    this.#master = master;
    this.#clock = clock;
  }

  /** Where the master key came from (`env`, `file` or `generated`) and its public fingerprint. */
  get master(): { source: MasterKey['source']; file?: string; fingerprint: string } {
    return { source: this.#master.source, file: this.#master.file, fingerprint: this.#master.fingerprint };
  }

  /** A customer key with fresh material, and `alias` (validated like AWS: `alias/NAME`, not `alias/aws/…`) if given. */
  async createKey(tenant: Tenant, options: { alias?: string; description?: string } = {}): Promise<KmsKey> {
    const key = await createKeyRecord(this.#db, tenant, options, this.#clock.now());
    await this.#sealer(key); // material now, so a master-key problem shows at creation, not at the first run
    return key;
  }

  /** See keys.ts `resolveKey`: the named key, or the default key when `kmsKeyId` is undefined. */
  resolveKey(tenant: Tenant, kmsKeyId: string | undefined): Promise<KmsKey> {
    return resolveKey(this.#db, tenant, kmsKeyId, this.#clock.now());
  }

  listKeys(filter: Partial<Tenant> = {}): Promise<KmsKey[]> {
    return listKeys(this.#db, filter);
  }

  /** The sealer for an encrypted job's blocks: its `kmsKeyId` (as stored on the job or run), or the default key. */
  async sealerFor(tenant: Tenant, kmsKeyId?: string | null): Promise<KeyedBlockSealer> {
    return this.#sealer(await this.resolveKey(tenant, kmsKeyId ?? undefined));
  }

  /**
   * The sealer for an unencrypted job's blocks: storage ids keyed per account (id-key = HKDF of the master key and
   * the account id), so dedup never crosses accounts.
   */
  accountSealer(accountId: string): AccountBlockSealer {
    let sealer = this.#accountSealers.get(accountId);
    if (!sealer) {
      sealer = new AccountBlockSealer(accountId, this.#master.fingerprint, subkey(this.#master.key, `account-block-id/${accountId}`));
      this.#accountSealers.set(accountId, sealer);
    }
    return sealer;
  }

  /** The sealer for blocks stored with `keyRef` (a sealer's `keyRef`: a key ARN, or an account's plain reference). */
  async sealerForKeyRef(keyRef: string): Promise<BlockSealer> {
    const account = parseAccountKeyRef(keyRef);
    if (account) {
      if (account.masterFingerprint !== this.#master.fingerprint) {
        throw new KmsError(
          `Blocks stored under ${keyRef} were keyed with another master key (fingerprint ${account.masterFingerprint}; this one is ` +
            `${this.#master.fingerprint}). Start Ferry with the master key they were stored under (FERRY_MASTER_KEY or <data-dir>/master.key).`,
        );
      }
      return this.accountSealer(account.accountId);
    }
    const row = await kmsKeys.byArn(this.#db, keyRef);
    if (!row) throw new KmsError(`No KMS key ${keyRef}: blocks sealed under it cannot be opened.`);
    return this.#sealer({ keyId: row.key_id, arn: row.arn });
  }

  #sealer(key: Pick<KmsKey, 'keyId' | 'arn'>): Promise<KeyedBlockSealer> {
    let sealer = this.#sealers.get(key.keyId);
    if (!sealer) {
      sealer = this.#unseal(key.keyId);
      this.#sealers.set(key.keyId, sealer);
      sealer.catch(() => this.#sealers.delete(key.keyId));
    }
    return sealer;
  }

  async #unseal(keyId: string): Promise<KeyedBlockSealer> {
    let row = await this.#row(keyId);
    if (row.wrapped_material === null || row.wrapped_data_key === null) {
      await this.#addMaterial(row);
      row = await this.#row(keyId);
    }
    if (row.master_key_fingerprint !== this.#master.fingerprint) {
      throw new KmsError(
        `KMS key ${row.arn} is wrapped under another master key (fingerprint ${row.master_key_fingerprint}; this one is ` +
          `${this.#master.fingerprint}). Start Ferry with the master key the key was created under (FERRY_MASTER_KEY or <data-dir>/master.key).`,
      );
    }
    let material: Buffer;
    let dataKey: Buffer;
    try {
      material = unwrap(this.#master.key, Buffer.from(row.wrapped_material!, 'base64'), materialAad(row));
      dataKey = unwrap(subkey(material, 'data-key-wrap'), Buffer.from(row.wrapped_data_key!, 'base64'), dataKeyAad(row.arn));
    } catch (thrown) {
      if (thrown instanceof UnwrapError) throw new KmsError(`The stored material of KMS key ${row.arn} does not unwrap (${thrown.message}): it was altered.`);
      throw thrown;
    }
    const sealer = new KeyedBlockSealer(row.arn, subkey(material, 'block-id'), dataKey);
    material.fill(0); // only the derived keys stay in memory
    return sealer;
  }

  async #row(keyId: string): Promise<KmsKeysTable> {
    const row = await kmsKeys.get(this.#db, keyId);
    if (!row) throw new KmsError(`No KMS key ${keyId}.`);
    return row;
  }

  /** Generates material and data key; if another process got there first, its material stands. */
  async #addMaterial(row: KmsKeysTable): Promise<void> {
    const material = randomBytes(32);
    const dataKey = randomBytes(32);
    await kmsKeys.setMaterial(this.#db, row.key_id, {
      material: wrap(this.#master.key, material, materialAad(row)).toString('base64'),
      dataKey: wrap(subkey(material, 'data-key-wrap'), dataKey, dataKeyAad(row.arn)).toString('base64'),
      fingerprint: this.#master.fingerprint,
    });
    material.fill(0);
  }
}
