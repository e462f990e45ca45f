/** The accounts repository: `import * as accounts from '../store/accounts/index.ts'`. */
export * from './accounts.ts';
