/**
 * Group commit for SQLite in WAL mode: many transactions, one fdatasync of the WAL.
 *
 * The writer connection runs with `synchronous = NORMAL`, so a COMMIT appends its frames to the WAL (the page cache)
 * and returns without syncing. Each commit takes a ticket; a caller that must not answer before its data is durable
 * waits for `durable(ticket)`. One fdatasync of the WAL file covers every commit whose frames were written before the
 * sync started (SQLite writes them synchronously, inside the COMMIT), so while one sync is in flight every new commit
 * queues for the next one, and a burst of N concurrent requests costs about two syncs, not N. The sync runs on
 * libuv's thread pool: the event loop keeps serving requests while the disk works, which `synchronous = FULL` (an
 * fsync inside every COMMIT, on the main thread) could not.
 *
 * This is exactly the durability FULL gives: FULL syncs the same WAL file at each commit, and a checkpoint (which
 * moves WAL frames into the database file) still syncs the WAL first and the database after, in NORMAL as in FULL.
 *
 * A failed fdatasync is not retried: after one, the kernel may have dropped the dirty pages it could not write, so a
 * later successful sync proves nothing about them (PostgreSQL's "fsyncgate"). Every waiter, and every commit after,
 * is refused with the error; the process must be restarted, which replays the WAL from what is really on disk.
 */
import { closeSync, fdatasync, fstatSync, openSync, statSync } from 'node:fs';

export class WalSync {
  readonly #path: string;
  #fd: number | undefined;
  /** Commits made so far (tickets handed out). */
  #committed = 0;
  /** Every ticket up to this one is durable. */
  #synced = 0;
  #inFlight: Promise<void> | undefined;
  #failure: Error | undefined;
  /** fdatasync calls made (for the bench and the tests: a burst must not cost one per commit). */
  syncs = 0;

  constructor(walPath: string) {
    this.#path = walPath;
  }

  /** Records a commit whose frames are in the WAL now; returns its ticket for `durable`. */
  committed(): number {
    return ++this.#committed;
  }

  /** Commits recorded so far. */
  get commits(): number {
    return this.#committed;
  }

  /** Resolves once the commit with `ticket` (and every one before it) is on disk. */
  async durable(ticket: number): Promise<void> {
    while (this.#synced < ticket) {
      if (this.#failure) throw this.#failure;
      this.#inFlight ??= this.#syncOnce();
      await this.#inFlight;
    }
    if (this.#failure) throw this.#failure;
  }

  /** One fdatasync covering every ticket handed out before it starts. */
  async #syncOnce(): Promise<void> {
    const upTo = this.#committed;
    try {
      const fd = this.#walFd();
      this.syncs++;
      await new Promise<void>((resolve, reject) => fdatasync(fd, (error) => (error ? reject(error) : resolve())));
      this.#synced = Math.max(this.#synced, upTo);
    } catch (thrown) {
      this.#failure ??= new Error(`fdatasync of ${this.#path} failed; no further commit is acknowledged until Ferry restarts: ${(thrown as Error).message}`);
    } finally {
      this.#inFlight = undefined;
    }
  }

  /**
   * The WAL file, opened once. SQLite keeps the same file while any connection is open (a checkpoint rewrites it
   * from the start, `journal_size_limit` truncates it); it deletes it only when the last connection closes, and
   * another process (the admin CLI) may be that connection: if the path names another file now, reopen it.
   */
  #walFd(): number {
    if (this.#fd !== undefined) {
      let current: number | undefined;
      try {
        current = statSync(this.#path).ino;
      } catch {
        current = undefined;
      }
      if (current === fstatSync(this.#fd).ino) return this.#fd;
      closeSync(this.#fd);
      this.#fd = undefined;
    }
    this.#fd = openSync(this.#path, 'r+');
    return this.#fd;
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}
