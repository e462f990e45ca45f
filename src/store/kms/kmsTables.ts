/**
 * Row shapes of the KMS tables (migration 003, src/store/migrations/003_kms.ts). Kept apart from src/store/schema.ts
 * as the keyring's own tables; only store/kms/ names them in SQL, viewing the store as `Kysely<KmsDatabase>`.
 * Times are epoch milliseconds.
 */
import type { Kysely } from 'kysely';

export interface KmsKeysTable {
  /** A UUID, like an AWS KMS key id. */
  key_id: string;
  account_id: string;
  region: string;
  /** `arn:aws:kms:REGION:ACCOUNT:key/ID`. */
  arn: string;
  description: string | null;
  /** `CUSTOMER` (created with `ferry kms create-key`) or `AWS` (the per-account default key, alias `alias/aws/ebs`). */
  key_manager: string;
  created_at: number;
  /**
   * The key's 32 bytes of material, wrapped under the master key (see envelope.ts for the format), base64. Null until
   * first needed: the default key is created by the API, which holds no master key, and gets its material from the
   * first keyring that seals with it.
   */
  wrapped_material: string | null;
  /** The block data key, wrapped under a key derived from the material, base64. Set together with the material. */
  wrapped_data_key: string | null;
  /** Fingerprint of the master key the material is wrapped under, so a changed master key is reported as such. */
  master_key_fingerprint: string | null;
}

export interface KmsAliasesTable {
  account_id: string;
  region: string;
  /** `alias/NAME`. */
  alias_name: string;
  key_id: string;
  created_at: number;
}

export interface KmsDatabase {
  kms_keys: KmsKeysTable;
  kms_aliases: KmsAliasesTable;
}

/** The store's database (or a transaction on it), seen with the KMS tables. */
export const kmsDb = (db: Kysely<any>): Kysely<KmsDatabase> => db as Kysely<KmsDatabase>;
