import type { ListAppsRequest, ListAppsResponse } from '@aws-sdk/client-sms';
import { pageMembers, type Operation } from '../operation.ts';
import { boundedStr, listOf } from '../../api/schema.ts';
import { APP_BOUNDS } from '../../api/appShapes.ts';
import { listApps as list } from '../../core/apps/apps.ts';
import { toAppSummary } from './appMappers.ts';

export const listApps: Operation<ListAppsRequest, ListAppsResponse> = {
  input: { ...pageMembers, appIds: listOf(boundedStr({ max: 64 }), APP_BOUNDS.appIdsFilter) },
  async handle(input, { core, tenant }) {
    const { apps, nextToken } = await list(core, tenant, input);
    return { apps: apps.map(({ app, counts }) => toAppSummary(app, counts)), nextToken };
  },
};
