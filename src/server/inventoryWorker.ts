/** Worker thread of inventoryBody.ts: parses and checks one inventory body, then sends a page per request. */
import { parentPort } from 'node:worker_threads';
import { InventoryRejected, type InventoryEntry } from '../domain/inventory.ts';
import { ENTRIES_PER_PAGE, parseInventoryBody, type WorkerReply } from './inventoryBody.ts';

const port = parentPort!;
const reply = (message: WorkerReply) => port.postMessage(message);

port.once('message', (bytes: Uint8Array) => {
  let entries: InventoryEntry[];
  try {
    entries = parseInventoryBody(bytes);
  } catch (error) {
    if (!(error instanceof InventoryRejected)) throw error;
    reply({ rejected: error.message });
    return;
  }
  reply({ count: entries.length });
  let next = 0;
  port.on('message', () => {
    if (next >= entries.length) {
      reply({ done: true });
      return;
    }
    reply({ page: entries.slice(next, next + ENTRIES_PER_PAGE) });
    next += ENTRIES_PER_PAGE;
  });
});
