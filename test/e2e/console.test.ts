/**
 * The web console in real headless Chromium (Debian's, driven by playwright-core) against a real Ferry started in
 * process. A scripted connector plays the VM manager side: it uploads the inventory when its heartbeat asks, and
 * drives a run stage by stage with byte progress and a real image (blocks over the connector protocol), so the
 * test decides when the progress bar moves. Every test saves screenshots under test/e2e/screenshots/.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { StartOnDemandReplicationRunCommand } from '@aws-sdk/client-sms';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { vms, type TestConnector } from '../helpers/testConnector.ts';
import {
  BLOCK,
  blockOf,
  ensureConsoleBuilt,
  launchBrowser,
  screenshotBothSizes,
  ScriptedImage,
  skipReason,
  unlabelledControls,
  waitFor,
  type Browser,
} from './helpers.ts';

const DISK_BLOCKS = 8; // a 4 MiB disk
const TIMEOUT = 90_000;

describe('web console (headless Chromium)', { skip: skipReason, timeout: 240_000 }, () => {
  let ferry: TestFerry;
  let browser: Browser;
  let page: Page;
  let connector: TestConnector;
  let url: string;
  let jobId = '';
  let firstAmi = '';

  before(async () => {
    ensureConsoleBuilt();
    ferry = await startTestFerry();
    url = ferry.ferry.url;
    connector = await ferry.connector();
    await connector.register();
    await connector.heartbeat();
    browser = await launchBrowser();
    page = await browser.context.newPage();
  });

  after(async () => {
    await browser?.close();
    await ferry?.close();
  });

  /** Heartbeats like a connector; when the catalog import asks for it, uploads the inventory. */
  async function connectorHeartbeat(): Promise<boolean> {
    const beat = await connector.heartbeat();
    if (beat.catalogImportRequested) {
      await connector.inventory(vms(3, 'web'));
      return true;
    }
    return false;
  }

  test('the console is served under /console with its assets, client routes and a redirect from /', { timeout: TIMEOUT }, async () => {
    const index = await fetch(`${url}/console/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type') ?? '', /^text\/html/);
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    assert.match(index.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    const html = await index.text();
    const script = /src="(\/console\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(script, 'index.html loads a hashed script');
    const js = await fetch(`${url}${script}`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.match(js.headers.get('cache-control') ?? '', /immutable/);
    const route = await fetch(`${url}/console/jobs/sms-job-00000000000000000`);
    assert.equal(route.status, 200, 'client routes get index.html');
    assert.equal(await route.text(), html);
    assert.equal((await fetch(`${url}/console/assets/nope.js`)).status, 404);
    assert.equal((await fetch(`${url}/console/..%2f..%2fpackage.json`)).status, 404);
    const bare = await fetch(`${url}/`, { redirect: 'manual' });
    assert.equal(bare.status, 302);
    assert.equal(bare.headers.get('location'), '/console/');
  });

  test('a wrong secret or an unknown key id shows a clear sign-in error', { timeout: TIMEOUT }, async () => {
    const other = await browser.context.newPage();
    try {
      await other.goto(`${url}/console/`);
      await other.getByLabel('Access key id').fill(ferry.ferry.root.accessKeyId);
      await other.getByLabel('Secret access key').fill(`${ferry.ferry.root.secretAccessKey.slice(0, -4)}XXXX`);
      await other.getByRole('button', { name: 'Sign in' }).click();
      const alert = other.getByRole('alert');
      await alert.waitFor();
      assert.equal((await alert.textContent())?.trim(), 'Sign-in failed: the secret access key does not match the access key id.');
      assert.equal(await other.evaluate<number>('sessionStorage.length'), 0, 'nothing is kept after a failed sign-in');
      await screenshotBothSizes(other, '01-signin-wrong-secret');

      await other.getByLabel('Access key id').fill('AKIAFERRYUNKNOWN0000');
      await other.getByRole('button', { name: 'Sign in' }).click();
      await waitFor('the unknown-key message', async () => ((await alert.textContent()) ?? '').includes('no account has this access key id'));
    } finally {
      await other.close();
    }
  });

  test('sign in with the keyboard; keys stay in sessionStorage only', { timeout: TIMEOUT }, async () => {
    await page.goto(`${url}/console/`);
    assert.deepEqual(await unlabelledControls(page), []);
    // The access key field has focus on load; type, Tab to the secret, Enter submits.
    await page.keyboard.type(ferry.ferry.root.accessKeyId);
    await page.keyboard.press('Tab');
    await page.keyboard.type(ferry.ferry.root.secretAccessKey);
    assert.equal(await page.getByLabel('Region').inputValue(), 'us-east-1');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Servers' }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/console/servers');
    const stored = await page.evaluate('({ session: sessionStorage.length, local: localStorage.length, cookies: document.cookie })');
    assert.deepEqual(stored, { session: 1, local: 0, cookies: '' });
    // The navigation is reachable by keyboard and marks the current page.
    assert.equal(await page.getByRole('link', { name: 'Servers', exact: true }).getAttribute('aria-current'), 'page');
    await screenshotBothSizes(page, '02-signed-in-empty-catalog');
  });

  test('connectors page: health, VM manager, version, last heartbeat', { timeout: TIMEOUT }, async () => {
    await page.getByRole('link', { name: 'Connectors', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Connectors' }).waitFor();
    const row = page.getByRole('row').filter({ hasText: connector.connectorId });
    await row.waitFor();
    const text = (await row.textContent()) ?? '';
    assert.match(text, /HEALTHY/);
    assert.match(text, /vcenter\.test/);
    assert.match(text, /1\.0\.0/);
    assert.match(text, /ago/, 'the last heartbeat is shown');
    assert.ok(await row.getByRole('button', { name: 'Disassociate' }).isVisible());
    const { overflow } = await screenshotBothSizes(page, '03-connectors');
    assert.ok(overflow <= 0, `no horizontal scrolling at 390 px (overflow ${overflow}px)`);
  });

  test('import the catalog: the connector uploads its inventory and the servers appear without a reload', { timeout: TIMEOUT }, async () => {
    await page.getByRole('link', { name: 'Servers', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Servers' }).waitFor();
    await page.getByRole('button', { name: 'Import catalog' }).click();
    await page.getByText('IMPORTING').first().waitFor();
    await waitFor('the import request in a heartbeat', connectorHeartbeat);
    await page.getByRole('row').filter({ hasText: 'web0' }).waitFor();
    await page.getByText('AVAILABLE').first().waitFor();
    assert.equal(await page.getByRole('row').filter({ hasText: /web[0-2]/ }).count(), 3);
    assert.ok(await page.getByRole('button', { name: 'Re-import catalog' }).isVisible());
    const { overflow } = await screenshotBothSizes(page, '04-servers-imported');
    assert.ok(overflow <= 0, `no horizontal scrolling at 390 px (overflow ${overflow}px)`);
  });

  test('create a job through the form: the API validation error shows inline first', { timeout: TIMEOUT }, async () => {
    // A link to a server that is not in this account's catalog (another account's id) does not preselect it.
    await page.goto(`${url}/console/servers/s-0123456789abcdef0/create-job`);
    await page.getByRole('heading', { level: 1, name: 'Create replication job', exact: true }).waitFor();
    await page.getByRole('status').filter({ hasText: "s-0123456789abcdef0 is not in this account's server catalog" }).waitFor();
    assert.equal(await page.getByLabel('Server', { exact: true }).inputValue(), '');
    await page.getByRole('link', { name: 'Back to servers' }).click();
    await page.getByRole('heading', { level: 1, name: 'Servers' }).waitFor();

    await page.getByRole('link', { name: 'Create a replication job for web0' }).click();
    await page.getByRole('heading', { level: 1, name: 'Create replication job for web0' }).waitFor();
    assert.deepEqual(await unlabelledControls(page), []);
    for (const label of ['Server', 'Seed replication time', 'Frequency (hours)', 'Run once', 'License type', 'IAM role name', 'Images to keep', 'Description', 'Encrypt the images', 'KMS key']) {
      assert.ok(await page.getByLabel(label, { exact: true }).count(), `field ${label}`);
    }
    const frequency = page.getByLabel('Frequency (hours)');
    await frequency.fill('25');
    await page.getByLabel('License type').selectOption('BYOL');
    await page.getByLabel('IAM role name').fill('sms-role');
    await page.getByLabel('Description').fill('created in the console');
    await page.getByRole('button', { name: 'Create replication job' }).click();
    const inline = page.locator('#job-frequency-error');
    await inline.waitFor();
    assert.match((await inline.textContent()) ?? '', /InvalidParameterException: frequency must be between 1 and 24; got 25\./);
    assert.equal(await frequency.getAttribute('aria-invalid'), 'true');
    assert.match((await frequency.getAttribute('aria-describedby')) ?? '', /job-frequency-error/);
    assert.equal(await page.evaluate<string>('document.activeElement.id'), 'job-frequency', 'focus moves to the invalid field');
    await screenshotBothSizes(page, '05-create-job-validation-error');

    await frequency.fill('12');
    await page.getByRole('button', { name: 'Create replication job' }).click();
    await page.getByRole('heading', { level: 1, name: 'Replication job for web0', exact: true }).waitFor();
    // (Matched exactly: 'Create replication job for web0' contains it, and CI once read the URL while still on the form.)
    await page.waitForURL((address) => /^sms-job-[0-9a-f]+$/.test(decodeURIComponent(address.pathname.split('/').pop() ?? '')));
    jobId = decodeURIComponent(new URL(page.url()).pathname.split('/').pop()!);
    assert.match(jobId, /^sms-job-[0-9a-f]+$/);
    const summary = page.locator('.details').first();
    await summary.getByText('Every 12 h').waitFor();
    await summary.getByText('BYOL').waitFor();
    await summary.getByText('sms-role').waitFor();
  });

  test('watch a run reach COMPLETED with a moving progress bar, then see its image', { timeout: TIMEOUT }, async () => {
    const run = await connector.claimWhenDue(10_000);
    assert.equal(run.replicationJobId, jobId);
    const runId = run.replicationRunId;
    const bar = page.getByRole('progressbar');
    const seen = new Set<string>();
    let watching = true;
    // Record every value the page shows, as a user would see them.
    const watcher = (async () => {
      while (watching) {
        const now = await bar.getAttribute('aria-valuenow', { timeout: 200 }).catch(() => null);
        if (now !== null) seen.add(now);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    try {
      await connector.progress(runId, 'Validating', 'Checking the VM');
      await page.locator('.progress-label').getByText('Checking the VM').waitFor();
      await connector.progress(runId, 'Snapshotting', 'Snapshot taken');
      const image = new ScriptedImage(connector, runId);
      await image.begin(DISK_BLOCKS * BLOCK);
      const total = DISK_BLOCKS * BLOCK;
      for (let step = 1; step <= 4; step++) {
        const blocks = [0, 1].map((k) => {
          const index = (step - 1) * 2 + k;
          return { index, data: blockOf(`web0:${index}`) };
        });
        await image.upload(blocks);
        const done = step * 2 * BLOCK;
        await connector.progress(runId, 'Uploading', `${step * 25}%`, { bytesDone: done, bytesTotal: total, bytesPerSecond: 1024 * 1024 });
        const percent = String(step * 25);
        await waitFor(`aria-valuenow ${percent}`, async () => (await bar.getAttribute('aria-valuenow')) === percent, 10_000);
        // Seen here for certain; the sampling watcher can miss a value the page shows only briefly.
        seen.add(percent);
        if (step === 2) {
          const text = (await page.locator('.run-progress').textContent()) ?? '';
          assert.match(text, /50%/);
          assert.match(text, /2\.00 MiB of 4\.00 MiB/);
          assert.match(text, /1\.00 MiB\/s/);
          assert.match(text, /2 s/, 'ETA from the remaining bytes and the rate');
          assert.equal(await bar.getAttribute('aria-valuemin'), '0');
          assert.equal(await bar.getAttribute('aria-valuemax'), '100');
          assert.match((await bar.getAttribute('aria-valuetext')) ?? '', /50%, 2\.00 MiB of 4\.00 MiB/);
          await screenshotBothSizes(page, '06-run-uploading');
        }
      }
      await connector.progress(runId, 'Converting', 'Writing manifests', { bytesDone: total, bytesTotal: total });
      const finished = await image.finish();
      await connector.progress(runId, 'Creating AMI', finished.amiId, { bytesDone: total, bytesTotal: total });
      await connector.complete(runId, finished.amiId);
      firstAmi = finished.amiId;
    } finally {
      watching = false;
      await watcher;
    }
    assert.ok(seen.size >= 2, `the bar showed at least two values (saw ${[...seen].join(', ')})`);
    assert.ok(['25', '50', '75', '100'].every((v) => seen.has(v)), `saw ${[...seen].join(', ')}`);

    // Without a reload: the run turns COMPLETED and the job shows its image.
    await page.getByTestId('latest-run').filter({ hasText: 'COMPLETED' }).waitFor({ timeout: 15_000 });
    await page.getByTestId('latest-ami').filter({ hasText: firstAmi }).waitFor({ timeout: 15_000 });
    assert.match((await page.getByTestId('runs').textContent()) ?? '', new RegExp(`${runId}.*COMPLETED.*${firstAmi}`));
    await screenshotBothSizes(page, '07-run-completed');

    await page.getByRole('link', { name: 'Images', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Images' }).waitFor();
    const card = page.getByTestId('image').filter({ hasText: firstAmi });
    await card.waitFor();
    const cardText = (await card.textContent()) ?? '';
    assert.match(cardText, /4\.00 MiB/);
    assert.match(cardText, /Not encrypted/);
    assert.match(cardText, /Jobweb0/);
    await page.getByRole('heading', { level: 2 }).filter({ hasText: jobId }).waitFor();
    assert.equal(
      await card.getByTestId('export-command').first().textContent(),
      `npx ferry images export ${firstAmi} --disk 0 --format qcow2 --output ${firstAmi}-disk0.qcow2`,
    );
    await card.getByLabel('Format').selectOption('raw');
    assert.match((await card.getByTestId('export-command').first().textContent()) ?? '', /--format raw --output .*-disk0\.img$/);
    const { overflow } = await screenshotBothSizes(page, '08-images');
    assert.ok(overflow <= 0, `no horizontal scrolling at 390 px (overflow ${overflow}px)`);
  });

  test('on-demand run from the jobs list: the quota shows before the limit, and a second image shares blocks', { timeout: TIMEOUT }, async () => {
    await page.getByRole('link', { name: 'Replication jobs', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Replication jobs' }).waitFor();
    const row = page.getByRole('row').filter({ hasText: jobId });
    await row.getByText('2 of 2 on-demand runs left').waitFor();
    assert.match((await row.textContent()) ?? '', new RegExp(firstAmi));
    await screenshotBothSizes(page, '09-jobs');
    await row.getByRole('button', { name: 'Start on-demand run' }).click();
    await row.getByText(/Started run/).waitFor();

    // The connector replicates again: one block changed, seven shared with the first image.
    const run = await connector.claimWhenDue(10_000);
    assert.equal(run.type, 'ON_DEMAND');
    const image = new ScriptedImage(connector, run.replicationRunId);
    await image.begin(DISK_BLOCKS * BLOCK);
    await connector.progress(run.replicationRunId, 'Uploading', '0%', { bytesDone: 0, bytesTotal: DISK_BLOCKS * BLOCK, bytesPerSecond: 0 });
    await image.upload(Array.from({ length: DISK_BLOCKS }, (_, index) => ({ index, data: blockOf(index === 7 ? 'web0:7:changed' : `web0:${index}`) })));
    const finished = await image.finish();
    await connector.complete(run.replicationRunId, finished.amiId);
    await row.getByText('1 of 2 on-demand runs left').waitFor({ timeout: 15_000 });
    await row.getByText(finished.amiId).waitFor({ timeout: 15_000 });

    await page.getByRole('link', { name: 'Images', exact: true }).click();
    const second = page.getByTestId('image').filter({ hasText: finished.amiId });
    await second.waitFor();
    assert.match((await second.getByTestId('shared').textContent()) ?? '', /^7 blocks, 3\.5\d MiB/);
    await screenshotBothSizes(page, '10-images-dedup');
  });

  test('job detail: update the job inline-validated, and a third on-demand run is refused before trying', { timeout: TIMEOUT }, async () => {
    await page.goto(`${url}/console/jobs/${jobId}`);
    await page.getByRole('heading', { level: 1, name: 'Replication job for web0', exact: true }).waitFor();
    // Another on-demand run uses the quota up (started outside the console, as a script would).
    const run = await ferry.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: jobId }));
    const claimed = await connector.claimWhenDue(10_000);
    assert.equal(claimed.replicationRunId, run.replicationRunId);
    await connector.fail(claimed.replicationRunId, 'web0: disk 0 vanished during Snapshotting');
    const start = page.getByRole('button', { name: 'Start on-demand run' });
    await page.getByText(/On-demand limit reached \(2 per 24 h\); next possible/).waitFor({ timeout: 15_000 });
    assert.ok(await start.isDisabled(), 'the button is disabled before the user hits the limit');
    await page.getByText('web0: disk 0 vanished during Snapshotting').first().waitFor();

    const frequency = page.getByLabel('Frequency (hours)');
    await frequency.fill('0');
    await page.getByRole('button', { name: 'Update job' }).click();
    await page.locator('#update-frequency-error').filter({ hasText: 'frequency must be between 1 and 24; got 0.' }).waitFor();
    await frequency.fill('6');
    await page.getByLabel('Images to keep').fill('3');
    await page.getByRole('button', { name: 'Update job' }).click();
    await page.getByText('The job was updated.').waitFor();
    await page.locator('.details').first().getByText('Every 6 h').waitFor();
    assert.deepEqual(await unlabelledControls(page), []);
    await screenshotBothSizes(page, '11-job-detail-updated');
  });
});
