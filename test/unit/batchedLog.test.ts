/**
 * The default log destination (src/lib/logger.ts) writes the lines of one event-loop turn together, right after
 * it. No line may be lost or reordered by that: not when the process exits in the same turn, nor across turns.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const logger = fileURLToPath(new URL('../../src/lib/logger.ts', import.meta.url));

async function runScript(body: string): Promise<string[]> {
  const script = `import { createLogger } from ${JSON.stringify(logger)};\nconst log = createLogger('info');\n${body}`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script]);
  return stdout.trim().split('\n').map((line) => (JSON.parse(line) as { msg: string }).msg);
}

test('lines of one turn, then of later turns, come out complete and in order', async () => {
  const lines = await runScript(`
    for (let i = 0; i < 3; i++) log.info('first turn ' + i);
    setTimeout(() => { log.info('later turn'); log.warn('last'); }, 10);
  `);
  assert.deepEqual(lines, ['first turn 0', 'first turn 1', 'first turn 2', 'later turn', 'last']);
});

test('lines still pending when the process exits are written before it does', async () => {
  const lines = await runScript(`
    log.info('before exit 1');
    log.error('before exit 2');
    process.exit(0);
  `);
  assert.deepEqual(lines, ['before exit 1', 'before exit 2']);
});
