/** ferry serve's configuration: flags win over environment variables, which win over the embedded defaults. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { parseBandwidth, resolveServeConfig } from '../../src/config/config.ts';

test('defaults: 127.0.0.1:7676, ./ferry-data, no datastore, no upload limit', () => {
  const config = resolveServeConfig({}, {});
  assert.deepEqual(config, { host: '127.0.0.1', port: 7676, dataDir: resolve('./ferry-data'), datastore: undefined, logLevel: 'info', maxBandwidth: undefined, store: undefined, storePoolSize: undefined });
});

test('--max-bandwidth wins over FERRY_MAX_BANDWIDTH; both accept k/M/G suffixes', () => {
  assert.equal(resolveServeConfig({}, { FERRY_MAX_BANDWIDTH: '200M' }).maxBandwidth, 200e6);
  assert.equal(resolveServeConfig({ maxBandwidth: '1.5G' }, { FERRY_MAX_BANDWIDTH: '200M' }).maxBandwidth, 1.5e9);
  assert.equal(resolveServeConfig({}, { FERRY_MAX_BANDWIDTH: '' }).maxBandwidth, undefined);
  assert.equal(parseBandwidth('500k'), 500e3);
  assert.equal(parseBandwidth('50MB/s'), 50e6);
});

test('a bad rate names where it came from', () => {
  assert.throws(() => resolveServeConfig({}, { FERRY_MAX_BANDWIDTH: 'fast' }), /FERRY_MAX_BANDWIDTH must be bytes per second/);
  assert.throws(() => resolveServeConfig({ maxBandwidth: '0' }, {}), /--max-bandwidth must be positive/);
  assert.throws(() => resolveServeConfig({ port: '70000' }, {}), /--port must be a port number/);
});
