/** The catalog repository (servers and each tenant's catalog): `import * as catalog from '../store/catalog/index.ts'`. */
export * from './servers.ts';
export * from './catalogs.ts';
