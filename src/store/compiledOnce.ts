/**
 * Queries built and compiled once per dialect, then run again with new values: for the statements of the hot
 * writes (CreateReplicationJob runs about ten). Building a Kysely query (a chain of immutable, frozen nodes)
 * and compiling it to SQL cost about 15–25 µs per statement here, more than SQLite needed to run most of them.
 *
 * The query is built once with a sentinel in place of every value the caller gives; each parameter of the compiled
 * SQL is then either a sentinel (filled from the caller's values by name on every run) or a constant of the query
 * itself (an `in` list of states), kept as it is. A query whose shape depends on its values (a list of varying
 * length, an optional condition) needs one name per shape.
 */
import { CompiledQuery, type Compilable } from 'kysely';
import type { Executor } from './executor.ts';

const SENTINEL = '\u0000ferry-slot:';

type Parameter = { slot: string } | { constant: unknown };
interface Shape {
  sql: string;
  parameters: Parameter[];
}

/** Per dialect adapter (a transaction shares its database's): name → the compiled shape. */
const shapes = new WeakMap<object, Map<string, Shape>>();

function compileShape<P extends object>(db: Executor, names: string[], build: (db: Executor, values: P) => Compilable<unknown>): Shape {
  const sentinels = Object.fromEntries(names.map((name) => [name, `${SENTINEL}${name}`])) as P;
  const compiled = build(db, sentinels).compile();
  return {
    sql: compiled.sql,
    parameters: compiled.parameters.map((p) =>
      typeof p === 'string' && p.startsWith(SENTINEL) ? { slot: p.slice(SENTINEL.length) } : { constant: p },
    ),
  };
}

/**
 * `build(db, values)` must use only the values' own properties and must not branch on them, and every call must
 * give the same names, each with a value (null, not undefined: an insert would leave an undefined column out).
 * Returns a function that gives the compiled query for new values, for `db.executeQuery`.
 */
export function compiledOnce<P extends object, R>(name: string, build: (db: Executor, values: P) => Compilable<R>): (db: Executor, values: P) => CompiledQuery<R> {
  return (db, values) => {
    const adapter = db.getExecutor().adapter;
    let byName = shapes.get(adapter);
    if (!byName) shapes.set(adapter, (byName = new Map()));
    let shape = byName.get(name);
    if (!shape) byName.set(name, (shape = compileShape(db, Object.keys(values), build)));
    const given = values as Record<string, unknown>;
    const parameters = shape.parameters.map((p) => {
      if (!('slot' in p)) return p.constant;
      const value = given[p.slot];
      if (value === undefined) throw new Error(`${name}: no value for ${p.slot}`);
      return value;
    });
    return CompiledQuery.raw(shape.sql, parameters) as CompiledQuery<R>;
  };
}

/** Runs a compiled-once query and gives its rows. */
export async function rowsOf<R>(db: Executor, query: CompiledQuery<R>): Promise<R[]> {
  return (await db.executeQuery(query)).rows;
}
