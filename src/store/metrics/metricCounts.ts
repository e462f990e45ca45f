/**
 * What /metrics counts in the store at scrape time, as named queries. They run on the committed-data reader
 * (`readRows`: on SQLite a second, read-only connection), so a scrape never waits behind a write transaction; the
 * Kysely instance only builds the SQL. Counts come back as numbers whatever the dialect returns for count(*).
 */
import type { CompiledQuery, Kysely } from 'kysely';
import type { ReadRows } from '../openStore.ts';
import type { ConnectorRow } from '../rows.ts';
import type { Database } from '../schema.ts';
import type { InstanceTables } from '../instances/instanceTables.ts';

export interface MetricsReader {
  db: Kysely<Database>;
  readRows: ReadRows;
}

async function countsOf(reader: MetricsReader, query: CompiledQuery<{ value: string; count: number | string }>): Promise<Map<string, number>> {
  const rows = await reader.readRows(query);
  return new Map(rows.map((r) => [r.value, Number(r.count)]));
}

/** Jobs or runs by state (each table has an index led by `state`: the count walks the index only). */
export function countByState(reader: MetricsReader, table: 'jobs' | 'runs'): Promise<Map<string, number>> {
  const query = reader.db
    .selectFrom(table)
    .select((eb) => [eb.ref('state').as('value'), eb.fn.countAll<number>().as('count')])
    .groupBy('state')
    .compile();
  return countsOf(reader, query);
}

/** Apps (all accounts) by their replication or launch status. */
export function countAppsBy(reader: MetricsReader, column: 'replication_status' | 'launch_status'): Promise<Map<string, number>> {
  const query = reader.db
    .selectFrom('apps')
    .select((eb) => [eb.ref(column).as('value'), eb.fn.countAll<number>().as('count')])
    .groupBy(column)
    .compile();
  return countsOf(reader, query);
}

const instances = (reader: MetricsReader) => reader.db as unknown as Kysely<InstanceTables>;

/** Instances by state, terminated ones included. */
export function countInstancesByState(reader: MetricsReader): Promise<Map<string, number>> {
  const query = instances(reader)
    .selectFrom('instances')
    .select((eb) => [eb.ref('state').as('value'), eb.fn.countAll<number>().as('count')])
    .groupBy('state')
    .compile();
  return countsOf(reader, query);
}

/** Instances not terminated, by hydration. */
export function countLiveInstancesByHydration(reader: MetricsReader): Promise<Map<string, number>> {
  const query = instances(reader)
    .selectFrom('instances')
    .select((eb) => [eb.ref('hydration').as('value'), eb.fn.countAll<number>().as('count')])
    .where('state', '!=', 'terminated')
    .groupBy('hydration')
    .compile();
  return countsOf(reader, query);
}

const time = (value: number | string | null | undefined): number | null => (value === null || value === undefined ? null : Number(value));

/** When a run started and completed (null while it has not). */
export async function runTimes(reader: MetricsReader, replicationRunId: string): Promise<{ startedAt: number | null; completedAt: number | null } | undefined> {
  const query = reader.db.selectFrom('runs').select(['started_at', 'completed_time']).where('replication_run_id', '=', replicationRunId).compile();
  const [row] = await reader.readRows(query);
  return row && { startedAt: time(row.started_at), completedAt: time(row.completed_time) };
}

/** When an instance was launched, booted and hydrated (null where it has not). */
export async function instanceTimes(reader: MetricsReader, instanceId: string): Promise<{ launchedAt: number; bootedAt: number | null; hydratedAt: number | null } | undefined> {
  const query = instances(reader).selectFrom('instances').select(['launched_at', 'booted_at', 'hydrated_at']).where('instance_id', '=', instanceId).compile();
  const [row] = await reader.readRows(query);
  return row && { launchedAt: Number(row.launched_at), bootedAt: time(row.booted_at), hydratedAt: time(row.hydrated_at) };
}

/** Connectors registered and not disassociated (their health is a rule over each row: domain/connectorHealth.ts). */
export function registeredConnectors(reader: MetricsReader): Promise<ConnectorRow[]> {
  const query = reader.db.selectFrom('connectors').selectAll().where('registered_at', 'is not', null).where('disassociated_at', 'is', null).compile();
  return reader.readRows(query);
}
