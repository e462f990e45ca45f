/**
 * ConsoleTail.changed: the boot watch and the validation collection wake when the console file is written (inotify),
 * not a poll interval later — a boot marker or a validation line was seen up to 250 ms (validations: 500 ms) late.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConsoleTail } from '../../src/launch/bootWatcher.ts';

async function withConsole(body: (path: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-console-'));
  try {
    const path = join(dir, 'console.log');
    await writeFile(path, '');
    await body(path);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('changed() wakes on a write long before its timeout, and the line is there to read', async () => {
  await withConsole(async (path) => {
    const tail = new ConsoleTail(path);
    try {
      const started = performance.now();
      const waiting = tail.changed(10_000, new AbortController().signal);
      await sleep(30);
      await appendFile(path, 'FERRY-BOOT-OK i-0\n');
      await waiting;
      assert.ok(performance.now() - started < 5_000, `woke after ${Math.round(performance.now() - started)} ms`);
      assert.deepEqual(await tail.lines(), ['FERRY-BOOT-OK i-0']);
    } finally {
      tail.close();
    }
  });
});

test('a write between two calls is not missed: the next call returns at once', async () => {
  await withConsole(async (path) => {
    const tail = new ConsoleTail(path);
    try {
      await tail.changed(1, new AbortController().signal); // starts following
      await appendFile(path, 'line\n');
      await sleep(50); // the event arrives while nobody waits
      const started = performance.now();
      await tail.changed(10_000, new AbortController().signal);
      assert.ok(performance.now() - started < 5_000);
    } finally {
      tail.close();
    }
  });
});

test('without writes it waits its timeout; a missing file is polled; abort rejects; a rotated file is followed again', async () => {
  await withConsole(async (path) => {
    const tail = new ConsoleTail(path);
    try {
      await tail.changed(1, new AbortController().signal);
      const started = performance.now();
      await tail.changed(120, new AbortController().signal);
      assert.ok(performance.now() - started >= 100, 'waited for its timeout');

      const abort = new AbortController();
      const waiting = tail.changed(10_000, abort.signal);
      abort.abort(new Error('terminated'));
      await assert.rejects(waiting, /terminated/);

      // virtlogd rotates: the old file is renamed and a new one written.
      await rename(path, `${path}.0`);
      await tail.changed(1_000, new AbortController().signal);
      await writeFile(path, 'after rotation\n');
      await tail.changed(1_000, new AbortController().signal); // follows the new file from here
      const waitingNew = tail.changed(10_000, new AbortController().signal);
      const startedNew = performance.now();
      await appendFile(path, 'more\n');
      await waitingNew;
      assert.ok(performance.now() - startedNew < 5_000);
      assert.deepEqual(await tail.lines(), ['after rotation', 'more']);
    } finally {
      tail.close();
    }

    const missing = new ConsoleTail(join(path, '..', 'not-yet.log'));
    const started = performance.now();
    await missing.changed(60, new AbortController().signal);
    assert.ok(performance.now() - started >= 50, 'no file: a plain timeout');
    missing.close();
  });
});
