/** The rows of the control plane's main tables as queries return them (selected, not insertable). */
import type { Selectable } from 'kysely';
import type { ConnectorsTable, JobsTable, RunsTable, ServersTable } from './schema.ts';

export type JobRow = Selectable<JobsTable>;
export type RunRow = Selectable<RunsTable>;
export type ServerRow = Selectable<ServersTable>;
export type ConnectorRow = Selectable<ConnectorsTable>;
