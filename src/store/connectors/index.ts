/** The connectors repository: `import * as connectors from '../store/connectors/index.ts'`. */
export * from './connectors.ts';
