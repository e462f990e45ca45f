/**
 * Browser end-to-end helpers: a fresh console build, Debian's Chromium through playwright-core, screenshots, and a
 * scripted image upload over the connector protocol (so a run makes a real image without disks).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { TestConnector } from '../helpers/testConnector.ts';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const SCREENSHOTS = join(REPO, 'test/e2e/screenshots');
export const CHROMIUM = process.env.FERRY_CHROMIUM ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here, or false. */
export const skipReason: string | false = existsSync(CHROMIUM)
  ? false
  : `Debian's Chromium is not installed (${CHROMIUM}): apt-get install chromium (.ci/run does), or set FERRY_CHROMIUM.`;

function newestMtime(path: string): number {
  const info = statSync(path);
  if (!info.isDirectory()) return info.mtimeMs;
  let newest = info.mtimeMs;
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, name)));
  return newest;
}

const RELATIVE_IMPORT = /\bfrom\s+'(\.{1,2}\/[^']+)'|\bimport\(\s*'(\.{1,2}\/[^']+)'\s*\)/g;

/** The files outside web/ that the console bundles (the shared contract, the instance-type table…), found by following imports. */
function bundledFromOutside(): string[] {
  const web = join(REPO, 'web');
  const seen = new Set<string>();
  const visit = (file: string) => {
    for (const m of readFileSync(file, 'utf8').matchAll(RELATIVE_IMPORT)) {
      const target = resolve(dirname(file), m[1] ?? m[2]!);
      if (target.startsWith(`${web}/`) || seen.has(target) || !existsSync(target)) continue;
      seen.add(target);
      visit(target);
    }
  };
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.tsx?$/.test(entry.name)) visit(path);
    }
  };
  walk(join(web, 'src'));
  return [...seen];
}

function consoleIsFresh(): boolean {
  const web = join(REPO, 'web');
  const built = join(web, 'dist/index.html');
  if (!existsSync(built)) return false;
  const sources = Math.max(
    newestMtime(join(web, 'src')),
    newestMtime(join(web, 'index.html')),
    newestMtime(join(web, 'vite.config.ts')),
    ...bundledFromOutside().map((f) => statSync(f).mtimeMs),
  );
  return statSync(built).mtimeMs >= sources;
}

/** Test files run in parallel processes; one of them builds while the others wait (a lock older than this is stale). */
const BUILD_LOCK = join(tmpdir(), `ferry-console-build-${createHash('sha256').update(REPO).digest('hex').slice(0, 12)}`);
const STALE_LOCK_MS = 10 * 60_000;

/** Builds web/dist when it is missing or older than the console's sources (npm ci / npm start build it too). */
export function ensureConsoleBuilt(): void {
  const sleep = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    if (consoleIsFresh()) return;
    try {
      mkdirSync(BUILD_LOCK);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const held = statSync(BUILD_LOCK, { throwIfNoEntry: false });
      if (held && Date.now() - held.mtimeMs > STALE_LOCK_MS) rmSync(BUILD_LOCK, { recursive: true, force: true });
      Atomics.wait(sleep, 0, 0, 250);
    }
  }
  try {
    if (!consoleIsFresh()) execFileSync(process.execPath, [join(REPO, 'node_modules/vite/bin/vite.js'), 'build', 'web'], { cwd: REPO, stdio: 'inherit' });
  } finally {
    rmSync(BUILD_LOCK, { recursive: true, force: true });
  }
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'ferry-pw-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/** Saves `<name>.png` (the viewport as it is) under test/e2e/screenshots/ and returns its path. */
export async function screenshot(page: Page, name: string, options: { fullPage?: boolean } = {}): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: options.fullPage ?? true });
  return path;
}

/** Screenshots at 1280×800 and at 390×844 (checking that nothing is wider than the phone), then back to desktop. */
export async function screenshotBothSizes(page: Page, name: string): Promise<{ overflow: number }> {
  await page.setViewportSize(DESKTOP);
  await screenshot(page, `${name}-1280x800`);
  await page.setViewportSize(PHONE);
  await page.waitForTimeout(100);
  // Page-side code is passed as text: this file type-checks without the DOM library.
  const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
  await screenshot(page, `${name}-390x844`);
  await page.setViewportSize(DESKTOP);
  return { overflow };
}

/** Every form control on the page has a label (a <label for>, a wrapping label, or aria-label/-labelledby). */
export async function unlabelledControls(page: Page): Promise<string[]> {
  return page.evaluate<string[]>(`[...document.querySelectorAll('input, select, textarea')]
    .filter((el) => el.type !== 'hidden')
    .filter((el) => !(el.labels && el.labels.length > 0) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
    .map((el) => el.outerHTML.slice(0, 120))`);
}

/** Opens the console at `url` and signs in with `keys` through the form; resolves on the Servers page it lands on. */
export async function signInToConsole(page: Page, url: string, keys: { accessKeyId: string; secretAccessKey: string }): Promise<void> {
  await page.goto(`${url}/console/`);
  await page.getByLabel('Access key id').fill(keys.accessKeyId);
  await page.getByLabel('Secret access key').fill(keys.secretAccessKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Servers' }).waitFor();
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 15_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const BLOCK = 512 * 1024;

/** A block of recognisable non-zero bytes. */
export function blockOf(seed: string): Buffer {
  const out = Buffer.alloc(BLOCK);
  let digest = createHash('sha256').update(seed).digest();
  for (let offset = 0; offset < BLOCK; offset += digest.length) {
    digest.copy(out, offset);
    digest = createHash('sha256').update(digest).digest();
  }
  return out;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/**
 * Uploads one disk of `blocks` into the run's image over the connector protocol, as the real connector does:
 * begin, ask which blocks are missing, PUT those, record each block index. `onBlocks(n)` runs after each batch.
 */
export class ScriptedImage {
  readonly connector: TestConnector;
  readonly runId: string;
  constructor(connector: TestConnector, runId: string) {
    this.connector = connector;
    this.runId = runId;
  }

  begin(diskBytes: number) {
    return this.connector.call<{ amiId: string }>(`/runs/${this.runId}/image/begin`, { disks: [{ index: 0, sizeBytes: diskBytes, mode: 'full' }] });
  }

  async upload(blocks: { index: number; data: Buffer }[]): Promise<void> {
    const hashes = blocks.map((b) => sha256(b.data));
    const { missing } = await this.connector.call<{ missing: boolean[] }>(`/runs/${this.runId}/image/missing`, { sha256s: hashes });
    for (let i = 0; i < blocks.length; i++) {
      if (!missing[i]) continue;
      const response = await fetch(`${this.connector.url}/ferry/connector/v1/runs/${this.runId}/image/blocks/${hashes[i]}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${this.connector.token}`, 'content-type': 'application/octet-stream' },
        body: new Uint8Array(blocks[i]!.data),
      });
      if (!response.ok) throw new Error(`block upload: ${response.status} ${await response.text()}`);
    }
    await this.connector.call(`/runs/${this.runId}/image/disks/0/records`, { records: blocks.map((b, i) => [b.index, hashes[i]]) });
  }

  finish() {
    return this.connector.call<{ amiId: string; snapshotIds: string[] }>(`/runs/${this.runId}/image/finish`, {});
  }
}
