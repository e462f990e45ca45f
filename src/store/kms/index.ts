/** The KMS keys repository: `import * as kmsKeys from '../store/kms/index.ts'`. */
export * from './kmsKeys.ts';
export type { KmsDatabase, KmsKeysTable, KmsAliasesTable } from './kmsTables.ts';
