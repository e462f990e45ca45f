/**
 * The web console (web/, built into web/dist by `npm run build:console`, which `npm ci` and `npm start` run):
 * static files under /console/ on the API's port. Hashed assets are cached for a year, index.html never; any
 * other path under /console/ without a file extension is a client route and gets index.html. When the assets
 * were not built, /console/ answers 503 with a page that says how to build them.
 *
 * The console calls the SMS API (and Ferry's own read-only operations) from the browser with SigV4, so this file
 * serves bytes only: no credentials, no API logic.
 */
import { readFile, stat } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { describeFrameworkFailure, describeNotFound, type FrameworkError, type WireFailure } from './errorTable.ts';

export const CONSOLE_PREFIX = '/console';

/** web/dist beside src/ (this file is src/server/console.ts). */
export const DEFAULT_CONSOLE_DIR = fileURLToPath(new URL('../../web/dist/', import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};
const COMPRESSIBLE = new Set(['.html', '.js', '.mjs', '.css', '.json', '.map', '.svg', '.txt']);

/**
 * The console's pages call the API on this origin only; nothing inline, no frames. (Preact sets styles through
 * the CSSOM, which style-src does not restrict.)
 */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

const NOT_BUILT_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Ferry console not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; line-height: 1.5">
<h1>The Ferry console has not been built</h1>
<p>This Ferry serves the SMS API, but the web console's files are missing (<code>web/dist</code>).
<code>npm ci</code> and <code>npm start</code> build them; to build them by hand, run this in Ferry's folder:</p>
<pre><code>npm run build:console</code></pre>
<p>then reload this page. The API works without the console: <code>aws --endpoint-url … sms get-connectors</code>.</p>
</body></html>
`;

export interface ConsoleOptions {
  /** The built assets (default web/dist). */
  dir?: string;
}

interface Cached {
  mtimeMs: number;
  size: number;
  body: Buffer;
  gzip?: Buffer;
}

/** The console's error answer: the message as text, with the console's security headers. */
function sendFailure(reply: FastifyReply, failure: WireFailure): FastifyReply {
  return reply.code(failure.status).headers(SECURITY_HEADERS).type('text/plain; charset=utf-8').send(`${failure.message}\n`);
}

/** The console as a plugin: its routes, and errors answered as text (server/errorTable.ts). */
export async function consoleUi(app: FastifyInstance, options: ConsoleOptions = {}): Promise<void> {
  app.setErrorHandler((error: FrameworkError, request, reply) => {
    const failure = describeFrameworkFailure('console', error, { bodyLimit: request.routeOptions.bodyLimit ?? 0, contentType: request.headers['content-type'], requestId: String(request.id) });
    if (failure.logged) request.log.error({ err: error }, 'console error');
    void sendFailure(reply, failure);
  });
  registerConsole(app, options);
}

export function registerConsole(app: FastifyInstance, options: ConsoleOptions = {}): void {
  const root = resolve(options.dir ?? DEFAULT_CONSOLE_DIR);
  // Files are small (the whole console is about 230 kB); keep each with its gzip, re-read when it changes on disk.
  const cache = new Map<string, Cached>();

  async function load(file: string): Promise<Cached | undefined> {
    let info;
    try {
      info = await stat(file);
    } catch {
      return undefined;
    }
    if (!info.isFile()) return undefined;
    const hit = cache.get(file);
    if (hit && hit.mtimeMs === info.mtimeMs && hit.size === info.size) return hit;
    const body = await readFile(file);
    const entry: Cached = { mtimeMs: info.mtimeMs, size: info.size, body };
    if (COMPRESSIBLE.has(extname(file)) && body.length > 1024) entry.gzip = gzipSync(body, { level: 9 });
    cache.set(file, entry);
    return entry;
  }

  function send(request: FastifyRequest, reply: FastifyReply, file: string, entry: Cached, cacheControl: string): FastifyReply {
    const type = CONTENT_TYPES[extname(file)] ?? 'application/octet-stream';
    reply.headers({ ...SECURITY_HEADERS, 'content-type': type, 'cache-control': cacheControl, vary: 'accept-encoding' });
    const acceptsGzip = /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''));
    if (entry.gzip && acceptsGzip) {
      reply.header('content-encoding', 'gzip');
      return reply.code(200).send(entry.gzip);
    }
    return reply.code(200).send(entry.body);
  }

  async function serve(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const url = request.url.split('?')[0]!;
    const badPath: WireFailure = { status: 400, code: 'BadRequest', message: 'Bad path.' };
    let rel: string;
    try {
      rel = decodeURIComponent(url.slice(CONSOLE_PREFIX.length + 1));
    } catch {
      return sendFailure(reply, badPath);
    }
    const index = resolve(root, 'index.html');
    if (rel.includes('\0')) return sendFailure(reply, badPath);
    const file = resolve(root, rel);
    if (file !== root && !file.startsWith(root + sep)) return sendFailure(reply, describeNotFound('console', request.method, url));

    if (rel !== '' && extname(rel) !== '') {
      // A file: hashed build assets never change, anything else is revalidated.
      const entry = await load(file);
      if (!entry) return sendFailure(reply, describeNotFound('console', request.method, url));
      const immutable = rel.startsWith('assets/');
      return send(request, reply, file, entry, immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
    }
    // The console itself or one of its client-side routes (/console/jobs/sms-job-…): the app's index.html.
    const entry = await load(index);
    if (!entry) {
      return reply
        .code(503)
        .headers({ ...SECURITY_HEADERS, 'cache-control': 'no-store', 'retry-after': '10' })
        .type('text/html; charset=utf-8')
        .send(NOT_BUILT_PAGE);
    }
    return send(request, reply, index, entry, 'no-cache');
  }

  app.get(CONSOLE_PREFIX, async (_request, reply) => reply.redirect(`${CONSOLE_PREFIX}/`, 301));
  app.get(`${CONSOLE_PREFIX}/*`, serve);
  // A browser opening the bare address lands on the console (the SMS API is POST / only).
  app.get('/', async (_request, reply) => reply.redirect(`${CONSOLE_PREFIX}/`, 302));
}
