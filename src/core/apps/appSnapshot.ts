/**
 * An app's rows as its read operations answer from: the app, its groups, its members and their catalog rows. Core
 * hands these out as they are; the SMS output shapes are built from them in operations/apps/appMappers.ts.
 */
import type { ServerRow } from '../../store/rows.ts';
import * as catalog from '../../store/catalog/index.ts';
import type { Core, Tx } from '../context.ts';
import { loadGroups, loadMembers, type AppRow, type GroupRow, type MemberRow } from './appRecords.ts';

export interface AppSnapshot {
  app: AppRow;
  groups: GroupRow[];
  members: MemberRow[];
  /** The catalog row of each member still in the catalog (a member outlives a catalog deletion). */
  servers: Map<string, ServerRow>;
}

export async function serverRowsOf(db: Tx | Core['db'], members: readonly MemberRow[]): Promise<Map<string, ServerRow>> {
  return catalog.getMany(db, members.map((m) => m.server_id));
}

export async function snapshotOf(db: Tx | Core['db'], app: AppRow): Promise<AppSnapshot> {
  const groups = await loadGroups(db, app.app_id);
  const members = await loadMembers(db, app.app_id);
  return { app, groups, members, servers: await serverRowsOf(db, members) };
}
