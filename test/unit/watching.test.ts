/** The parts `ferry runs watch` and `ferry apps watch` share: the watch flags and polling through short outages. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { addWatchOptions, isTransient, reconnectingCalls } from '../../src/cli/watching.ts';

const api = { endpoint: 'http://127.0.0.1:7676' };
const networkDown = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
const serverError = Object.assign(new Error('boom'), { $metadata: { httpStatusCode: 503 } });
const refused = Object.assign(new Error('no such job'), { $metadata: { httpStatusCode: 400 } });

test('network failures and 5xx answers are transient; a 4xx answer is not', () => {
  assert.equal(isTransient(networkDown), true);
  assert.equal(isTransient(serverError), true);
  assert.equal(isTransient(refused), false);
  assert.equal(isTransient(new Error('plain')), false);
});

test('the first call fails at once: a wrong endpoint must not look like a hang', async () => {
  const notices: string[] = [];
  const call = reconnectingCalls(api, { intervalMs: 1, notice: (text) => notices.push(text) });
  await assert.rejects(call(() => Promise.reject(networkDown)), /ECONNREFUSED/);
  assert.deepEqual(notices, []);
});

test('once a call succeeded, a short outage is retried with one notice when lost and one when back', async () => {
  const notices: string[] = [];
  const call = reconnectingCalls(api, { intervalMs: 1, notice: (text) => notices.push(text) });
  assert.equal(await call(async () => 'first'), 'first');
  let attempts = 0;
  const answer = await call(async () => {
    attempts += 1;
    if (attempts < 4) throw attempts % 2 ? networkDown : serverError;
    return 'back';
  });
  assert.equal(answer, 'back');
  assert.equal(attempts, 4);
  assert.deepEqual(notices, [`Lost the connection to ${api.endpoint}; retrying for up to 30 s…`, `Reconnected to ${api.endpoint}.`]);
});

test('a refusal is not retried, and an outage longer than the window ends the watch', async () => {
  const notices: string[] = [];
  const call = reconnectingCalls(api, { intervalMs: 5, notice: (text) => notices.push(text), windowMs: 20 });
  await call(async () => 'ok');
  // The window counts from the last success (this one), not from the outage's first failure.
  const succeeded = Date.now();
  let attempts = 0;
  await assert.rejects(
    call(() => {
      attempts += 1;
      return Promise.reject(refused);
    }),
    /no such job/,
  );
  assert.equal(attempts, 1);
  await assert.rejects(call(() => Promise.reject(networkDown)), /ECONNREFUSED/);
  assert.ok(Date.now() - succeeded >= 20, 'retried for the whole window first');
  assert.deepEqual(notices, [`Lost the connection to ${api.endpoint}; retrying for up to 0.02 s…`]);
});

test('every watch takes the API options, --interval in seconds with its own default, and --plain', () => {
  const parse = (defaultSeconds: number, args: string[]) => {
    const command = addWatchOptions(new Command('watch').exitOverride(), defaultSeconds);
    command.parse(args, { from: 'user' });
    return command.opts();
  };
  assert.deepEqual(parse(2, []), { interval: 2 });
  assert.deepEqual(parse(1, ['--interval', '0.5', '--plain', '--endpoint', 'http://x:1', '--region', 'eu-west-1']), {
    interval: 0.5,
    plain: true,
    endpoint: 'http://x:1',
    region: 'eu-west-1',
  });
  const names = addWatchOptions(new Command('watch'), 1).options.map((option) => option.long);
  assert.deepEqual(names, ['--endpoint', '--region', '--data-dir', '--interval', '--plain']);
});
