import type { DeleteServerCatalogRequest, DeleteServerCatalogResponse } from '@aws-sdk/client-sms';
import type { Operation } from './operation.ts';
import { deleteCatalog } from '../core/catalog.ts';

export const deleteServerCatalog: Operation<DeleteServerCatalogRequest, DeleteServerCatalogResponse> = {
  input: {},
  async handle(_input, { core, tenant }) {
    await deleteCatalog(core, tenant);
    return {};
  },
};
