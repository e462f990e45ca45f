/**
 * Launching an application from the console, on real libvirt (qemu:///system, software emulation, a private
 * instances dir as in test/helpers/launch.ts): the bootable sample KVM guest is replicated, launched with a boot
 * validation script uploaded from the browser, and the Instances section shows it running with its serial console
 * (refreshed while the page is open) reaching the boot marker, the validation SUCCEEDED with the script's output; a
 * changed instance type shows in the downloaded change set; after Terminate the app is TERMINATED with no domain left. Skipped where libvirt cannot launch (see launchSkipReason).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { GetAppCommand } from '@aws-sdk/client-sms';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { importCatalog } from '../helpers/replication.ts';
import { bootableDatastore, bootableVm, instancesDir, LAUNCH_URI, launchSkipReason, removeDomain, virshListAll } from '../helpers/launch.ts';
import { BOOT_MARKER } from '../../src/domain/instanceConsole.ts';
import { ensureConsoleBuilt, launchBrowser, screenshotBothSizes, signInToConsole, skipReason, unlabelledControls, waitFor, type Browser } from './helpers.ts';

const VALIDATION_SCRIPT = '#!/bin/sh\necho "shop answers on port 80"\nexit 0\n';

describe('launching an application from the console (libvirt)', { skip: skipReason || launchSkipReason(), timeout: 900_000 }, () => {
  let ferry: TestFerry;
  let datastore: { dir: string; cleanup: () => Promise<void> };
  let instances: { dir: string; cleanup: () => Promise<void> };
  let browser: Browser;
  let page: Page;
  let appId = '';
  let vmName = '';
  const domains = new Set<string>();

  before(async () => {
    ensureConsoleBuilt();
    datastore = await bootableDatastore(['kvm']);
    instances = await instancesDir();
    ferry = await startTestFerry({ datastore: datastore.dir, connectorPollMs: 200, launch: { uri: LAUNCH_URI, instancesDir: instances.dir } });
    const servers = await importCatalog(ferry.sms, [bootableVm('kvm').folder], 60_000);
    vmName = servers.get(bootableVm('kvm').folder)!.vmServer!.vmName!;
    browser = await launchBrowser();
    page = await browser.context.newPage();
    await signInToConsole(page, ferry.ferry.url, ferry.ferry.root);
  });

  after(async () => {
    await browser?.close();
    for (const name of domains) if (virshListAll().includes(name)) removeDomain(name);
    await ferry?.close();
    await datastore?.cleanup();
    await instances?.cleanup();
  });

  const section = (name: string) => page.getByRole('navigation', { name: 'Application sections' }).getByRole('link', { name });

  test('create, replicate and configure the app in the browser', { timeout: 300_000 }, async () => {
    await page.goto(`${ferry.ferry.url}/console/apps/new`);
    await page.getByRole('heading', { level: 1, name: 'Create application' }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('booting-shop');
    await page.getByLabel(`Group for ${vmName}`).selectOption({ label: 'group-1' });
    await page.getByRole('button', { name: 'Create application' }).click();
    await page.getByRole('heading', { level: 1, name: 'booting-shop' }).waitFor();
    appId = decodeURIComponent(new URL(page.url()).pathname.split('/').pop()!);

    await section('Replication').click();
    await page.getByLabel('Run once').check();
    await page.getByRole('button', { name: 'Save replication configuration' }).click();
    await page.getByText('The replication configuration was saved.').waitFor();
    await section('Overview').click();
    const start = page.getByRole('button', { name: 'Start replication' });
    await waitFor('Start replication to be enabled', async () => start.isEnabled());
    await start.click();
    await page.getByTestId('replication-status').getByText('REPLICATED', { exact: true }).waitFor({ timeout: 240_000 });

    await section('Launch').click();
    await page.locator('#launch-0-instanceType').fill('t3.nano');
    await page.getByRole('button', { name: 'Save launch configuration' }).click();
    await page.getByText('The launch configuration was saved.').waitFor();

    await section('Validation').click();
    await page.getByRole('button', { name: 'Add a server validation' }).click();
    await page.locator('#val-server-0-name').fill('port-80');
    await page.locator('#val-server-0-source-bucket').fill('shop-checks');
    await page.locator('#val-server-0-source-key').fill('port-80.sh');
    await page.locator('#val-server-0-source-file').setInputFiles({ name: 'port-80.sh', mimeType: 'text/x-sh', buffer: Buffer.from(VALIDATION_SCRIPT) });
    await page.getByText(/Uploaded port-80\.sh/).waitFor();
    await page.getByRole('button', { name: 'Save validation configuration' }).click();
    await page.getByText('The validation configuration was saved.').waitFor();
  });

  test('launch: the instance boots, its serial console shows the boot marker live, the validation succeeds', { timeout: 420_000 }, async () => {
    await section('Overview').click();
    const launch = page.getByRole('button', { name: 'Launch', exact: true });
    await waitFor('Launch to be enabled', async () => launch.isEnabled());
    await launch.click();
    await page.getByText('Launch started').waitFor();
    const row = page.getByTestId('app-server-status').getByRole('row').filter({ hasText: vmName });
    const instanceId = await waitFor(
      'the instance in the server row',
      async () => ((await row.getByTestId('instance-id').count()) > 0 ? await row.getByTestId('instance-id').textContent() : undefined) ?? undefined,
      60_000,
      500,
    ).catch(async (error: Error) => {
      const app = await ferry.sms.send(new GetAppCommand({ appId }));
      throw new Error(`${error.message}; the app: ${JSON.stringify(app.appSummary)}; the row: ${await row.textContent()}`);
    });
    assert.match(instanceId, /^i-[0-9a-f]{17}$/);
    domains.add(`ferry-${instanceId}`);

    await section('Instances').click();
    const card = page.getByTestId('instance').filter({ hasText: instanceId });
    await card.waitFor();
    const serial = card.getByTestId('serial-console');
    // The console fills while the guest boots: the page polls, nothing is reloaded.
    await serial.waitFor({ timeout: 60_000 });
    await serial.getByText(BOOT_MARKER, { exact: false }).waitFor({ timeout: 300_000 });
    await card.getByText('running', { exact: true }).waitFor({ timeout: 60_000 });
    // Refreshed while the page is open: each read is stamped with the time the API answered.
    const asOf = card.getByText(/^as of /);
    const first = await asOf.textContent();
    await waitFor('a newer console read', async () => (await asOf.textContent()) !== first, 15_000, 250);
    assert.ok(virshListAll().includes(`ferry-${instanceId}`), 'the instance is a libvirt domain');
    await page.getByTestId('app-status').getByText('LAUNCHED', { exact: true }).waitFor({ timeout: 120_000 });
    assert.deepEqual(await unlabelledControls(page), []);
    await screenshotBothSizes(page, '26-app-instance-console');

    await section('Validation').click();
    const result = page.getByTestId('validation-results').getByRole('row').filter({ hasText: 'port-80' });
    await result.getByText('SUCCEEDED').waitFor({ timeout: 180_000 });
    assert.match((await result.textContent()) ?? '', /shop answers on port 80/);
    await screenshotBothSizes(page, '27-app-validation-succeeded');
  });

  test('a change of the launched configuration: the change set downloaded from the S3 endpoint names it', { timeout: 120_000 }, async () => {
    await section('Launch').click();
    const type = page.locator('#launch-0-instanceType');
    await waitFor('the saved instance type', async () => (await type.inputValue()) === 't3.nano', 15_000);
    await type.fill('t3.micro');
    await page.getByRole('button', { name: 'Save launch configuration' }).click();
    await page.getByText('The launch configuration was saved.').waitFor();
    await section('Overview').click();
    const downloading = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Generate change set' }).click();
    const download = await downloading;
    const changeSet = JSON.parse(await readFile(await download.path(), 'utf8')) as {
      StackName: string;
      Changes: { ResourceChange: { Action: string; Replacement?: string; Details: { Target: { Name?: string } }[] } }[];
    };
    assert.equal(changeSet.StackName, `sms-app-${appId.slice(4)}`);
    assert.deepEqual(
      changeSet.Changes.map((c) => [c.ResourceChange.Action, c.ResourceChange.Details.map((d) => d.Target.Name)]),
      [['Modify', ['InstanceType']]],
    );
    await page.getByTestId('generated-location').getByText(/\/changesets\//).waitFor();
  });

  test('terminate: the app is TERMINATED and no domain is left', { timeout: 300_000 }, async () => {
    await section('Overview').click();
    await page.getByRole('button', { name: 'Terminate' }).click();
    await page.getByRole('button', { name: 'Yes, terminate' }).click();
    await page.getByTestId('app-status').getByText('TERMINATED', { exact: true }).waitFor({ timeout: 240_000 });
    const app = await ferry.sms.send(new GetAppCommand({ appId }));
    assert.equal(app.appSummary!.launchStatus, 'TERMINATED');
    await waitFor('the domain to be gone', async () => [...domains].every((d) => !virshListAll().includes(d)), 60_000, 1000);
    await section('Instances').click();
    await page.getByText('Terminated instances (1)').waitFor();
  });
});
