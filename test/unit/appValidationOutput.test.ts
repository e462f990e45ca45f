/** Which validation output GetAppValidationOutput shows: the newer of the stored one and the instance's. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { latestValidationOutput, STATUS_MESSAGE_MAX } from '../../src/domain/appValidationOutput.ts';

test('with neither a stored output nor an instance result, a validation is ready to run', () => {
  assert.deepEqual(latestValidationOutput(undefined, undefined), { status: 'READY_FOR_VALIDATION', source: 'none' });
});

test('the newer of the two wins; on a tie the stored one does', () => {
  const stored = { status: 'FAILED', message: 'notified', at: 1000 };
  const instance = { status: 'SUCCEEDED', message: 'console', at: 2000 };
  assert.deepEqual(latestValidationOutput(stored, instance), { status: 'SUCCEEDED', statusMessage: 'console', latestValidationTime: 2000, source: 'instance' });
  assert.deepEqual(latestValidationOutput({ ...stored, at: 3000 }, instance), { status: 'FAILED', statusMessage: 'notified', latestValidationTime: 3000, source: 'stored' });
  assert.equal(latestValidationOutput({ ...stored, at: 2000 }, instance).source, 'stored');
  assert.deepEqual(latestValidationOutput(undefined, instance).source, 'instance');
  assert.deepEqual(latestValidationOutput(stored, undefined).source, 'stored');
});

test('an instance result without a time loses to any stored one and shows no time of its own', () => {
  const pending = { status: 'PENDING', message: null, at: null };
  assert.equal(latestValidationOutput({ status: 'SUCCEEDED', message: null, at: 1 }, pending).source, 'stored');
  assert.deepEqual(latestValidationOutput(undefined, pending), { status: 'PENDING', source: 'instance' });
});

test("an instance's message is cut to the service's limit; a stored one is kept as it was accepted", () => {
  const long = 'x'.repeat(STATUS_MESSAGE_MAX + 10);
  assert.equal(latestValidationOutput(undefined, { status: 'FAILED', message: long, at: 5 }).statusMessage?.length, STATUS_MESSAGE_MAX);
  assert.equal(latestValidationOutput({ status: 'FAILED', message: long, at: 5 }, undefined).statusMessage?.length, long.length);
});

test("an instance's message loses the line breaks the script's output ended with, and only those", () => {
  const output = (message: string) => latestValidationOutput(undefined, { status: 'SUCCEEDED', message, at: 5 }).statusMessage;
  assert.equal(output('hello from i-0123\n'), 'hello from i-0123');
  assert.equal(output('two\nlines\r\n\n'), 'two\nlines');
  assert.equal(output('  indented  '), '  indented  ');
  assert.equal(latestValidationOutput({ status: 'FAILED', message: 'notified\n', at: 5 }, undefined).statusMessage, 'notified\n');
});
