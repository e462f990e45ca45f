/**
 * Strict units of work that arrive together commit together: one transaction, one COMMIT, one WAL sync for a batch.
 *
 * The group commit below it (sqlite/walSync.ts) already shares one fdatasync among the transactions ready at the
 * same time, but each of them still wrote its own COMMIT: the same index and table pages written to the WAL once per
 * unit (a create's COMMIT was about 40 % of its statements' time in bench/apiCreateStages.ts). Here the units waiting
 * for the writer run one after another inside one transaction, each in its own SAVEPOINT, so a unit that throws
 * rolls back to its savepoint and fails alone while its neighbours go on; the batch then commits once, and every
 * unit's caller resumes only when that commit is durable (the driver waits for its WAL ticket before the transaction
 * resolves).
 *
 * Only what is already waiting is batched, never held for company: a unit that finds the writer free starts after
 * the current event-loop turn (`setImmediate`, so the requests parsed in the same turn join it), and units that arrive
 * while a batch runs or waits for its sync form the next one, up to `maxBatch`. A batch of one is a plain
 * transaction, exactly as before: its error is its own.
 *
 * Reads on the writer connection outside a batch never see a unit's uncommitted writes: the batch holds the
 * connection from BEGIN to COMMIT, as any transaction does.
 */
import { CompiledQuery, type Kysely, type Transaction } from 'kysely';

// Compiled once: these run three times per unit.
const SAVEPOINT = CompiledQuery.raw('savepoint unit_of_work');
const RELEASE = CompiledQuery.raw('release unit_of_work');
const ROLLBACK_TO = CompiledQuery.raw('rollback to unit_of_work');

interface Waiting<DB> {
  work: (trx: Transaction<DB>) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export interface BatchStats {
  /** Transactions run for batches (a batch of one included). */
  batches: number;
  /** Units of work they carried. */
  units: number;
  /** The most units one batch carried. */
  largest: number;
}

export class BatchedCommits<DB> {
  readonly #db: Kysely<DB>;
  readonly #maxBatch: number;
  /** Whether the writer's transaction is still open (SQLite ends it by itself after some errors, e.g. a full disk). */
  readonly #transactionOpen: () => boolean;
  #queue: Waiting<DB>[] = [];
  #draining = false;
  readonly stats: BatchStats = { batches: 0, units: 0, largest: 0 };

  constructor(db: Kysely<DB>, transactionOpen: () => boolean, maxBatch = 64) {
    this.#db = db;
    this.#transactionOpen = transactionOpen;
    this.#maxBatch = maxBatch;
  }

  /** Runs `work` in the next batch; resolves with its value once the batch's commit is durable. */
  run<T>(work: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (this.#draining) return;
      this.#draining = true;
      setImmediate(() => void this.#drain());
    });
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, this.#maxBatch);
        this.stats.batches++;
        this.stats.units += batch.length;
        this.stats.largest = Math.max(this.stats.largest, batch.length);
        if (batch.length === 1) await this.#runAlone(batch[0]!);
        else await this.#runTogether(batch);
      }
    } finally {
      this.#draining = false;
    }
  }

  async #runAlone(unit: Waiting<DB>): Promise<void> {
    try {
      unit.resolve(await this.#db.transaction().execute(unit.work));
    } catch (error) {
      unit.reject(error);
    }
  }

  async #runTogether(batch: Waiting<DB>[]): Promise<void> {
    const outcomes: Outcome[] = [];
    try {
      await this.#db.transaction().execute(async (trx) => {
        for (const unit of batch) outcomes.push(await this.#runInSavepoint(trx, unit));
      });
    } catch (error) {
      // The batch's transaction failed as a whole (its COMMIT, its WAL sync, or SQLite ended it): nothing in it
      // committed, so a unit that had succeeded fails with that error; one that had failed keeps its own.
      for (const [i, unit] of batch.entries()) {
        const outcome = outcomes[i];
        unit.reject(outcome && !outcome.ok ? outcome.error : error);
      }
      return;
    }
    for (const [i, unit] of batch.entries()) {
      const outcome = outcomes[i]!;
      if (outcome.ok) unit.resolve(outcome.value);
      else unit.reject(outcome.error);
    }
  }

  async #runInSavepoint(trx: Transaction<DB>, unit: Waiting<DB>): Promise<Outcome> {
    await trx.executeQuery(SAVEPOINT);
    try {
      const value = await unit.work(trx);
      await trx.executeQuery(RELEASE);
      return { ok: true, value };
    } catch (error) {
      // After some errors SQLite has already rolled the whole transaction back: the units before this one are gone
      // too, so the batch must fail rather than commit what is left (nothing).
      if (!this.#transactionOpen()) throw error;
      await trx.executeQuery(ROLLBACK_TO);
      await trx.executeQuery(RELEASE);
      return { ok: false, error };
    }
  }
}
