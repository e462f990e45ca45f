/**
 * The console's Applications pages in headless Chromium against a real Ferry whose embedded connector replicates the
 * generated sample datastore: create an app from two catalog servers in two groups, configure its replication (an
 * out-of-range frequency is refused inline first), start it and watch the statuses reach REPLICATED from real runs,
 * configure the launch (an unknown instance type is refused at its field; user data uploaded from the browser to the
 * S3 endpoint), configure a boot validation, and download the generated CloudFormation template through a SigV4-signed
 * S3 GET; and, with a scripted connector, each server's run progress live on the app's page. Screenshots go to
 * test/e2e/screenshots/.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { GetAppLaunchConfigurationCommand, GetAppValidationConfigurationCommand, type Server } from '@aws-sdk/client-sms';
import { createSampleDatastore } from '../../src/agent/sample/createSampleDatastore.ts';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { importCatalog } from '../helpers/replication.ts';
import { configureReplication, createApp, ferryWithServers, type CatalogFerry } from '../helpers/apps.ts';
import { s3Fetch } from '../helpers/s3Signer.ts';
import { ensureConsoleBuilt, launchBrowser, screenshotBothSizes, signInToConsole, skipReason, unlabelledControls, waitFor, type Browser } from './helpers.ts';

const TIMEOUT = 180_000;
const USER_DATA = '#!/bin/sh\necho "shop web server configured by the console test"\n';

describe('Applications pages (headless Chromium)', { skip: skipReason, timeout: 600_000 }, () => {
  let base: string;
  let ferry: TestFerry;
  let browser: Browser;
  let page: Page;
  let url: string;
  let servers: Map<string, Server>;
  let appId = '';
  const name = (folder: string) => servers.get(folder)!.vmServer!.vmName!;

  before(async () => {
    ensureConsoleBuilt();
    base = await mkdtemp(join(tmpdir(), 'ferry-e2e-apps-'));
    const datastore = join(base, 'datastore');
    await createSampleDatastore(datastore, { bootable: false });
    ferry = await startTestFerry({ datastore, connectorPollMs: 100 });
    url = ferry.ferry.url;
    servers = await importCatalog(ferry.sms, ['kvm-app02', 'web01'], 60_000);
    browser = await launchBrowser();
    page = await browser.context.newPage();
    await signInToConsole(page, url, ferry.ferry.root);
  });

  after(async () => {
    await browser?.close();
    await ferry?.close();
    if (base) await rm(base, { recursive: true, force: true });
  });

  async function checkPage(shot: string): Promise<void> {
    assert.deepEqual(await unlabelledControls(page), [], 'every control has a label');
    const { overflow } = await screenshotBothSizes(page, shot);
    assert.ok(overflow <= 0, `no horizontal scrolling at 390 px (overflow ${overflow}px)`);
  }

  test('create an application from catalog servers in two groups', { timeout: TIMEOUT }, async () => {
    await page.getByRole('link', { name: 'Applications', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Applications' }).waitFor();
    await page.getByText('No applications yet').waitFor();
    await page.getByRole('link', { name: 'Create application' }).click();
    await page.getByRole('heading', { level: 1, name: 'Create application' }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('shop');
    await page.getByLabel('Description').fill('database first, then the web server');
    await page.getByLabel('Group 1 name').fill('database');
    await page.getByRole('button', { name: 'Add group' }).click();
    await page.getByLabel('Group 2 name').fill('web');
    await page.getByLabel(`Group for ${name('kvm-app02')}`).selectOption({ label: 'database' });
    await page.getByLabel(`Group for ${name('web01')}`).selectOption({ label: 'web' });
    await page.getByText('Servers (2 chosen)').waitFor();
    await checkPage('20-app-create');
    await page.getByRole('button', { name: 'Create application' }).click();

    await page.getByRole('heading', { level: 1, name: 'shop' }).waitFor();
    appId = decodeURIComponent(new URL(page.url()).pathname.split('/').pop()!);
    assert.match(appId, /^app-[0-9a-f]{17}$/);
    const status = page.getByTestId('app-status');
    await status.getByText('READY FOR CONFIGURATION').first().waitFor();
    const rows = page.getByTestId('app-server-status').getByRole('row');
    await rows.filter({ hasText: name('kvm-app02') }).filter({ hasText: 'database' }).waitFor();
    await rows.filter({ hasText: name('web01') }).filter({ hasText: 'web' }).waitFor();
    assert.ok(await page.getByRole('button', { name: 'Start replication' }).isDisabled(), 'nothing to start before replication is configured');

    // The list shows it too, and a server of an app is marked as taken on the create form.
    await page.getByRole('link', { name: 'Applications', exact: true }).click();
    await page.getByTestId('apps').getByRole('row').filter({ hasText: 'shop' }).filter({ hasText: '2 in 2 groups' }).waitFor();
    await page.getByRole('link', { name: 'Create application' }).click();
    await page.getByTestId('app-servers').getByRole('row').filter({ hasText: name('web01') }).getByRole('link', { name: 'shop' }).waitFor();
    await page.goto(`${url}/console/apps/${appId}`);
    await page.getByRole('heading', { level: 1, name: 'shop' }).waitFor();
  });

  test('configure replication: an out-of-range frequency is refused at its field, then saved', { timeout: TIMEOUT }, async () => {
    await page.getByRole('navigation', { name: 'Application sections' }).getByRole('link', { name: 'Replication' }).click();
    await page.getByRole('heading', { level: 2, name: 'Replication configuration' }).waitFor();
    assert.ok(await page.getByLabel('The same settings for every server').isChecked());
    const frequency = page.getByLabel('Frequency (hours)');
    await frequency.fill('25');
    await page.getByRole('button', { name: 'Save replication configuration' }).click();
    const inline = page.locator('#repl-frequency-error');
    await inline.waitFor();
    assert.match((await inline.textContent()) ?? '', /InvalidParameterException: .*frequency must be between 1 and 24; got 25\./);
    assert.equal(await frequency.getAttribute('aria-invalid'), 'true');
    assert.equal(await page.evaluate<string>('document.activeElement.id'), 'repl-frequency', 'focus moves to the invalid field');
    await checkPage('21-app-replication-error');
    await frequency.fill('12');
    await page.getByLabel('Images to keep').fill('3');
    await page.getByRole('button', { name: 'Save replication configuration' }).click();
    await page.getByText('The replication configuration was saved.').waitFor();
  });

  test('start replication and watch every server reach REPLICATED from real runs', { timeout: TIMEOUT }, async () => {
    await page.getByRole('navigation', { name: 'Application sections' }).getByRole('link', { name: 'Overview' }).click();
    const start = page.getByRole('button', { name: 'Start replication' });
    await waitFor('Start replication to be enabled', async () => start.isEnabled());
    const replication = page.getByTestId('replication-status');
    const seen = new Set<string>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const text = await replication.textContent({ timeout: 500 }).catch(() => null);
        if (text) seen.add(text.trim());
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      await start.click();
      await page.getByText('Replication started: one replication job per server.').waitFor();
      await replication.getByText('REPLICATED', { exact: true }).waitFor({ timeout: 150_000 });
    } finally {
      watching = false;
      await watcher;
    }
    assert.ok([...seen].some((s) => /REPLICATION (PENDING|IN PROGRESS)/.test(s)), `an in-between status was shown (saw ${[...seen].join(' | ')})`);
    const rows = page.getByTestId('app-server-status').getByRole('row');
    for (const folder of ['kvm-app02', 'web01']) {
      const row = rows.filter({ hasText: name(folder) });
      await row.getByText('COMPLETED').waitFor({ timeout: 15_000 });
      assert.match((await row.textContent()) ?? '', /sms-job-[0-9a-f]+.*ami-[0-9a-f]{17}/, `${folder}: its job and image`);
    }
    await checkPage('22-app-replicated');
  });

  test('configure the launch: an unknown instance type is refused at its field; user data uploaded from the browser', { timeout: TIMEOUT }, async () => {
    await page.getByRole('navigation', { name: 'Application sections' }).getByRole('link', { name: 'Launch' }).click();
    await page.getByRole('heading', { level: 2, name: 'Launch configuration' }).waitFor();
    const first = page.locator('#launch-0-instanceType');
    const second = page.locator('#launch-1-instanceType');
    await first.fill('t3.huge');
    await page.locator('#launch-0-instanceType-hint').getByText("t3.huge is not in Ferry's table").waitFor();
    await second.fill('t3.micro');
    await page.locator('#launch-1-instanceType-hint').getByText('t3.micro: 2 vCPUs, 1 GiB of memory.').waitFor();
    await page.getByRole('button', { name: 'Save launch configuration' }).click();
    const inline = page.locator('#launch-0-instanceType-error');
    await inline.waitFor();
    // At the field, the API's message without the member path it starts with; the alert above has it whole.
    assert.match((await inline.textContent()) ?? '', /InvalidParameterException: Instance type t3\.huge does not exist; t3 comes in nano, micro/);
    assert.match(
      (await page.locator('#launch-error').textContent()) ?? '',
      /InvalidParameterException: serverGroupLaunchConfigurations\[0\]\.serverLaunchConfigurations\[0\]\.instanceType: Instance type t3\.huge does not exist/,
    );
    assert.equal(await first.getAttribute('aria-invalid'), 'true');
    assert.equal(await page.evaluate<string>('document.activeElement.id'), 'launch-0-instanceType');
    await checkPage('23-app-launch-bad-instance-type');

    await first.fill('t3.small');
    // The web server's user data: uploaded from the browser into a new bucket of this account.
    await page.locator('#launch-1-userData-bucket').fill('shop-artifacts');
    await page.locator('#launch-1-userData-key').fill('web/user-data.sh');
    await page.locator('#launch-1-userData-file').setInputFiles({ name: 'user-data.sh', mimeType: 'text/x-sh', buffer: Buffer.from(USER_DATA) });
    await page.getByText(/Uploaded user-data\.sh \(\d+ B\) to s3:\/\/shop-artifacts\/web\/user-data\.sh\./).waitFor();
    const stored = await s3Fetch(url, ferry.ferry.root, { method: 'GET', path: '/shop-artifacts/web/user-data.sh' });
    assert.equal(stored.status, 200);
    assert.equal(stored.text, USER_DATA, 'the object holds the file as uploaded');
    await page.getByRole('button', { name: 'Save launch configuration' }).click();
    await page.getByText('The launch configuration was saved.').waitFor();
    const saved = await ferry.sms.send(new GetAppLaunchConfigurationCommand({ appId }));
    const configs = saved.serverGroupLaunchConfigurations!.flatMap((g) => g.serverLaunchConfigurations!);
    assert.deepEqual(
      configs.map((c) => [c.instanceType, c.userData?.s3Location?.key]),
      [
        ['t3.small', undefined],
        ['t3.micro', 'web/user-data.sh'],
      ],
    );
    assert.deepEqual(saved.serverGroupLaunchConfigurations!.map((g) => g.launchOrder), [1, 2]);
    await page.getByTestId('app-status').getByText('READY FOR LAUNCH').waitFor();
  });

  test('configure a boot validation; its result shows as ready', { timeout: TIMEOUT }, async () => {
    await page.getByRole('navigation', { name: 'Application sections' }).getByRole('link', { name: 'Validation' }).click();
    await page.getByRole('heading', { level: 2, name: 'Validation configuration' }).waitFor();
    await page.getByText('No validations are configured.').waitFor();
    await page.getByRole('button', { name: 'Add a server validation' }).click();
    await page.locator('#val-server-0-server').selectOption({ value: servers.get('web01')!.serverId! });
    await page.locator('#val-server-0-name').fill('web-answers');
    await page.locator('#val-server-0-source-bucket').fill('shop-artifacts');
    await page.locator('#val-server-0-source-key').fill('checks/web.sh');
    await page.locator('#val-server-0-source-file').setInputFiles({ name: 'web.sh', mimeType: 'text/x-sh', buffer: Buffer.from('#!/bin/sh\nexit 0\n') });
    await page.getByText(/Uploaded web\.sh .* to s3:\/\/shop-artifacts\/checks\/web\.sh\./).waitFor();
    await page.getByRole('button', { name: 'Save validation configuration' }).click();
    await page.getByText('The validation configuration was saved.').waitFor();
    const row = page.getByTestId('validation-results').getByRole('row').filter({ hasText: 'web-answers' });
    await row.getByText('READY FOR VALIDATION').waitFor({ timeout: 10_000 });
    assert.match((await row.textContent()) ?? '', new RegExp(`server ${name('web01')}`));
    const config = await ferry.sms.send(new GetAppValidationConfigurationCommand({ appId }));
    const server = config.serverGroupValidationConfigurations!.flatMap((g) => g.serverValidationConfigurations!);
    assert.deepEqual(server.map((v) => [v.name, v.server?.serverId, v.userDataValidationParameters?.source?.s3Location?.key]), [['web-answers', servers.get('web01')!.serverId, 'checks/web.sh']]);
    await checkPage('24-app-validation');
  });

  test('generate the CloudFormation template and download it through the S3 endpoint', { timeout: TIMEOUT }, async () => {
    await page.getByRole('navigation', { name: 'Application sections' }).getByRole('link', { name: 'Overview' }).click();
    await page.getByRole('heading', { level: 2, name: 'CloudFormation template' }).waitFor();
    const downloading = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Generate template' }).click();
    const download = await downloading;
    assert.match(download.suggestedFilename(), /\.json$/);
    const file = await download.path();
    const template = JSON.parse(await readFile(file, 'utf8')) as { Resources: Record<string, { Type: string; Properties: Record<string, unknown>; DependsOn?: unknown }> };
    const instances = Object.values(template.Resources).filter((r) => r.Type === 'AWS::EC2::Instance');
    assert.deepEqual(instances.map((r) => r.Properties.InstanceType).sort(), ['t3.micro', 't3.small']);
    const web = instances.find((r) => r.Properties.InstanceType === 't3.micro')!;
    assert.deepEqual(web.Properties.UserData, { 'Fn::Base64': USER_DATA }, 'the uploaded user data is in the template');
    assert.ok(web.DependsOn, 'the second launch group depends on the first');
    const location = (await page.getByTestId('generated-location').textContent())!;
    assert.match(location, new RegExp(`^s3://sms-app-[^/]+/.+\\.json$`));
    await page.getByText('Show the template').click();
    assert.equal(JSON.parse((await page.getByTestId('generated-text').textContent())!).AWSTemplateFormatVersion, '2010-09-09');

    await page.getByLabel('Format', { exact: true }).selectOption('YAML');
    const yaml = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Generate template' }).click();
    assert.match((await yaml).suggestedFilename(), /\.ya?ml$/);
    await page.getByTestId('generated-text').getByText('AWS::EC2::Instance').first().waitFor();
    await checkPage('25-app-template');
  });
});

/**
 * The per-server progress of an app's replication, with a scripted connector that decides when the bytes move (the
 * sample's disks replicate too fast to watch): each server's row shows its run's stage and a progress bar fed by
 * GetRunProgress, then the run COMPLETED with its image, and the app REPLICATED.
 */
describe('live replication progress per server (headless Chromium, scripted connector)', { skip: skipReason, timeout: 300_000 }, () => {
  let env: CatalogFerry;
  let browser: Browser;
  let page: Page;

  before(async () => {
    ensureConsoleBuilt();
    env = await ferryWithServers(2);
    browser = await launchBrowser();
    page = await browser.context.newPage();
    await signInToConsole(page, env.t.ferry.url, env.t.ferry.root);
  });

  after(async () => {
    await browser?.close();
    await env?.t.close();
  });

  test('each server row follows its run: stage, a moving progress bar, then COMPLETED with the image', { timeout: 120_000 }, async () => {
    const app = await createApp(env.t.sms, 'scripted', [env.servers[0]!], [env.servers[1]!]);
    await configureReplication(env.t.sms, app, { runOnce: true });
    await page.goto(`${env.t.ferry.url}/console/apps/${app.appId}`);
    await page.getByRole('heading', { level: 1, name: 'scripted' }).waitFor();
    await page.getByRole('button', { name: 'Start replication' }).click();
    const claimed = [await env.connector.claimWhenDue(10_000), await env.connector.claimWhenDue(10_000)];
    // runs[i] replicates vm<i>.
    const runs = env.servers.map((serverId) => claimed.find((r) => r.serverId === serverId)!);
    const total = 8 * 1024 * 1024;
    for (const [i, run] of runs.entries()) {
      await env.connector.progress(run.replicationRunId, 'Uploading', `${25 * (i + 1)}%`, { bytesDone: (total / 4) * (i + 1), bytesTotal: total, bytesPerSecond: 1024 * 1024 });
    }
    const bar = (vm: string) => page.getByRole('progressbar', { name: `Replication of ${vm}` });
    await waitFor('vm0 at 25%', async () => (await bar('vm0').getAttribute('aria-valuenow').catch(() => null)) === '25', 15_000);
    await waitFor('vm1 at 50%', async () => (await bar('vm1').getAttribute('aria-valuenow').catch(() => null)) === '50', 15_000);
    const row = page.getByTestId('app-server-status').getByRole('row').filter({ hasText: 'vm1' });
    assert.match((await row.textContent()) ?? '', /Uploading.*50%.*4\.00 MiB of 8\.00 MiB/);
    await page.getByTestId('replication-status').getByText('REPLICATION IN PROGRESS').waitFor();
    await screenshotBothSizes(page, '28-app-replication-progress');

    await env.connector.progress(runs[0]!.replicationRunId, 'Uploading', '75%', { bytesDone: (total / 4) * 3, bytesTotal: total, bytesPerSecond: 1024 * 1024 });
    await waitFor('vm0 at 75%', async () => (await bar('vm0').getAttribute('aria-valuenow').catch(() => null)) === '75', 15_000);
    const images = [];
    for (const run of runs) images.push(await env.connector.completeWithImage(run.replicationRunId));
    await page.getByTestId('replication-status').getByText('REPLICATED', { exact: true }).waitFor({ timeout: 15_000 });
    for (const [i, amiId] of images.entries()) {
      const done = page.getByTestId('app-server-status').getByRole('row').filter({ hasText: `vm${i}` });
      await done.getByText(amiId).waitFor({ timeout: 15_000 });
      // A one-time job ends COMPLETED with its run.
      assert.match((await done.textContent()) ?? '', /COMPLETED.*sms-job-.*COMPLETED.*ami-/);
    }
    assert.equal(await page.getByRole('progressbar').count(), 0, 'no bar once no run is active');
  });
});
