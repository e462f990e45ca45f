/**
 * How `ferry serve` serves the console's files (no browser needed): content types, cache headers, gzip, the
 * index fallback for client routes, path traversal, and the page shown when the assets were not built.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import Fastify from 'fastify';
import { registerConsole } from '../../src/server/console.ts';

async function appWith(dir: string) {
  const app = Fastify();
  registerConsole(app, { dir });
  await app.ready();
  return app;
}

test('serves built assets with content types, cache headers and gzip; client routes get index.html', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-console-'));
  try {
    mkdirSync(join(dir, 'assets'));
    const html = '<!doctype html><title>Ferry console</title><script type="module" src="/console/assets/app-abc123.js"></script>';
    const js = `export const x = ${JSON.stringify('x'.repeat(5000))};`;
    writeFileSync(join(dir, 'index.html'), html);
    writeFileSync(join(dir, 'assets/app-abc123.js'), js);
    writeFileSync(join(dir, 'assets/app-abc123.css'), 'body { color: black }');
    writeFileSync(join(dir, 'secret.txt'), 'outside assets');
    const app = await appWith(join(dir, 'assets', '..'));

    const index = await app.inject({ url: '/console/' });
    assert.equal(index.statusCode, 200);
    assert.equal(index.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(index.headers['cache-control'], 'no-cache');
    assert.equal(index.headers['x-content-type-options'], 'nosniff');
    assert.match(String(index.headers['content-security-policy']), /frame-ancestors 'none'/);
    assert.equal(index.body, html);

    for (const route of ['/console/jobs/sms-job-1', '/console/servers/s-1/create-job', '/console/images?job=sms-job-1']) {
      const res = await app.inject({ url: route });
      assert.equal(res.statusCode, 200, route);
      assert.equal(res.body, html, route);
    }

    const script = await app.inject({ url: '/console/assets/app-abc123.js', headers: { 'accept-encoding': 'gzip, br' } });
    assert.equal(script.statusCode, 200);
    assert.equal(script.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(script.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(script.headers['content-encoding'], 'gzip');
    assert.equal(gunzipSync(script.rawPayload).toString(), js);
    const plain = await app.inject({ url: '/console/assets/app-abc123.js' });
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.body, js);
    assert.equal((await app.inject({ url: '/console/assets/app-abc123.css' })).headers['content-type'], 'text/css; charset=utf-8');
    assert.equal((await app.inject({ method: 'HEAD', url: '/console/assets/app-abc123.css' })).statusCode, 200);

    assert.equal((await app.inject({ url: '/console/assets/missing.js' })).statusCode, 404);
    assert.equal((await app.inject({ url: '/console/..%2Fconsole-outside.txt' })).statusCode, 404);
    assert.equal((await app.inject({ url: '/console/%2e%2e/%2e%2e/package.json' })).statusCode, 404);
    assert.equal((await app.inject({ url: '/console/bad%zzpath' })).statusCode, 400);

    const bare = await app.inject({ url: '/console' });
    assert.equal(bare.statusCode, 301);
    assert.equal(bare.headers.location, '/console/');
    const root = await app.inject({ url: '/' });
    assert.equal(root.statusCode, 302);
    assert.equal(root.headers.location, '/console/');

    // A rebuilt file is served fresh (the in-memory copy follows the file's mtime and size).
    writeFileSync(join(dir, 'index.html'), `${html}<!-- rebuilt -->`);
    assert.match((await app.inject({ url: '/console/' })).body, /rebuilt/);
    await app.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without built assets, /console/ explains how to build them', async () => {
  const app = await appWith(join(tmpdir(), 'ferry-console-does-not-exist'));
  const res = await app.inject({ url: '/console/servers' });
  assert.equal(res.statusCode, 503);
  assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
  assert.match(res.body, /The Ferry console has not been built/);
  assert.match(res.body, /npm run build:console/);
  await app.close();
});
