import type { ImportAppCatalogRequest, ImportAppCatalogResponse } from '@aws-sdk/client-sms';
import type { Operation } from '../operation.ts';
import { boundedStr } from '../../api/schema.ts';
import { APP_BOUNDS } from '../../api/appShapes.ts';
import { importAppCatalog as importCatalog } from '../../core/apps/appCatalog.ts';
import { refreshOptionsOf } from './appContext.ts';

export const importAppCatalog: Operation<ImportAppCatalogRequest, ImportAppCatalogResponse> = {
  input: { roleName: boundedStr({ max: APP_BOUNDS.roleName }) },
  async handle(input, ctx) {
    await importCatalog(ctx.core, ctx.tenant, input.roleName, refreshOptionsOf(ctx));
    return {};
  },
};
