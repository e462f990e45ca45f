import type { ImportServerCatalogRequest, ImportServerCatalogResponse } from '@aws-sdk/client-sms';
import type { Operation } from './operation.ts';
import { importCatalog } from '../core/catalog.ts';

export const importServerCatalog: Operation<ImportServerCatalogRequest, ImportServerCatalogResponse> = {
  input: {},
  async handle(_input, { core, tenant }) {
    await importCatalog(core, tenant);
    return {};
  },
};
