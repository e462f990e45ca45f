/**
 * Moved: the row types and views to store/rows.ts, connectorStatus to domain/connectorHealth.ts, toVmServer to
 * core/vmServer.ts, the SDK output mappers to operations/mappers.ts (wire mapping belongs above core).
 */
// moved as above; re-exported until the App/launch code (core/apps/appMappers.ts, observability/metrics.ts) is moved over
export type { ConnectorRow, JobRow, RunRow, ServerRow } from '../store/rows.ts';
export { connectorStatus } from '../domain/connectorHealth.ts';
export { toServer } from '../operations/mappers.ts';
