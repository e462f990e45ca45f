/** The access-keys repository: `import * as keys from '../store/keys/index.ts'`. (KMS keys are still in src/kms.) */
export * from './accessKeys.ts';
