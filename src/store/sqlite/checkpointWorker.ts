/**
 * The checkpointer's thread (sqlite/checkpointer.ts): its own connection to the store, copying the WAL into the
 * database file when asked. A checkpoint writes hundreds of pages and syncs twice; here it does so beside the event
 * loop, not inside some request's COMMIT.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { DatabaseSync } from 'node:sqlite';

const { file } = workerData as { file: string };
const db = new DatabaseSync(file);
db.exec('PRAGMA busy_timeout = 5000');
// This connection never writes; if it is the last to close, SQLite checkpoints and removes the WAL as usual.
db.exec('PRAGMA wal_autocheckpoint = 0');
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');

parentPort!.on('message', (message: 'checkpoint' | 'close') => {
  if (message === 'close') {
    db.close();
    parentPort!.close();
    return;
  }
  try {
    // PASSIVE: copies what no reader still needs, without waiting for anyone; the writer restarts the WAL from
    // its beginning once everything is copied.
    const [result] = checkpoint.all() as { busy: number; log: number; checkpointed: number }[];
    parentPort!.postMessage({ done: true, log: result?.log ?? 0, checkpointed: result?.checkpointed ?? 0 });
  } catch (thrown) {
    parentPort!.postMessage({ done: true, error: (thrown as Error).message });
  }
});
