/**
 * Helpers for the App operation tests: a Ferry whose catalog holds `n` servers reported by a scripted connector, the
 * SMS calls an app's life makes, waits on an app's statuses (polling with a deadline, never a fixed sleep), and a
 * check that a call fails with a given modelled exception.
 */
import assert from 'node:assert/strict';
import {
  CreateAppCommand,
  GetAppCommand,
  GetServersCommand,
  ImportServerCatalogCommand,
  PutAppLaunchConfigurationCommand,
  PutAppReplicationConfigurationCommand,
  type AppSummary,
  type CreateAppResponse,
  type ServerGroup,
  type SMSClient,
} from '@aws-sdk/client-sms';
import { startTestFerry, type TestFerry, type TestFerryOptions } from './ferry.ts';
import { vms, type TestConnector } from './testConnector.ts';
import { waitFor } from './replication.ts';

export interface CatalogFerry {
  t: TestFerry;
  connector: TestConnector;
  /** Server ids in inventory order. */
  servers: string[];
}

/** Imports `n` VMs (vm-0 …) into `sms`'s catalog through `connector`; returns their server ids in order. */
export async function importServers(sms: SMSClient, connector: TestConnector, n: number, prefix = 'vm'): Promise<string[]> {
  await sms.send(new ImportServerCatalogCommand({}));
  await connector.heartbeat();
  assert.equal((await connector.inventory(vms(n, prefix))).status, 'AVAILABLE');
  const list = (await sms.send(new GetServersCommand({ maxResults: 1000 }))).serverList ?? [];
  return vms(n, prefix).map((vm) => list.find((s) => s.vmServer?.vmServerAddress?.vmId === vm.vmId)!.serverId!);
}

export async function ferryWithServers(n: number, options: TestFerryOptions = {}): Promise<CatalogFerry> {
  const t = await startTestFerry(options);
  const connector = await t.connector();
  await connector.register();
  return { t, connector, servers: await importServers(t.sms, connector, n) };
}

/** serverGroups for CreateApp/UpdateApp: one group per list. */
export const groups = (...lists: string[][]): ServerGroup[] => lists.map((ids, i) => ({ name: `group-${i + 1}`, serverList: ids.map((serverId) => ({ serverId })) }));

export async function createApp(sms: SMSClient, name: string, ...lists: string[][]): Promise<CreateAppResponse & { appId: string }> {
  const created = await sms.send(new CreateAppCommand({ name, serverGroups: groups(...lists) }));
  return { ...created, appId: created.appSummary!.appId! };
}

/** Gives every server of the app the same replication parameters. */
export async function configureReplication(sms: SMSClient, app: CreateAppResponse, parameters: { frequency?: number; runOnce?: boolean; seedTime?: Date } = { frequency: 12 }): Promise<void> {
  await sms.send(
    new PutAppReplicationConfigurationCommand({
      appId: app.appSummary!.appId,
      serverGroupReplicationConfigurations: app.serverGroups!.map((g) => ({
        serverGroupId: g.serverGroupId,
        serverReplicationConfigurations: (g.serverList ?? []).map((s) => ({ server: { serverId: s.serverId }, serverReplicationParameters: { seedTime: new Date(Date.now() - 1000), ...parameters } })),
      })),
    }),
  );
}

/** Gives every server an instance type; group i gets launchOrder `orders[i]` (default i + 1). */
export async function configureLaunch(
  sms: SMSClient,
  app: CreateAppResponse,
  options: { orders?: (number | undefined)[]; autoLaunch?: boolean; instanceType?: string; perServer?: (serverId: string) => Record<string, unknown> } = {},
): Promise<void> {
  await sms.send(
    new PutAppLaunchConfigurationCommand({
      appId: app.appSummary!.appId,
      roleName: 'sms-launch',
      autoLaunch: options.autoLaunch,
      serverGroupLaunchConfigurations: app.serverGroups!.map((g, i) => ({
        serverGroupId: g.serverGroupId,
        launchOrder: options.orders ? options.orders[i] : i + 1,
        serverLaunchConfigurations: (g.serverList ?? []).map((s) => ({
          server: { serverId: s.serverId },
          instanceType: options.instanceType ?? 't3.micro',
          ...(options.perServer?.(s.serverId!) ?? {}),
        })),
      })),
    }),
  );
}

export async function summary(sms: SMSClient, appId: string): Promise<AppSummary> {
  return (await sms.send(new GetAppCommand({ appId }))).appSummary!;
}

/** Waits until the app's summary satisfies `until`; returns it. */
export function waitForApp(sms: SMSClient, appId: string, what: string, until: (s: AppSummary) => boolean, timeoutMs = 20_000): Promise<AppSummary> {
  let last: AppSummary | undefined;
  return waitFor(
    `app ${appId}: ${what}`,
    async () => {
      last = await summary(sms, appId);
      return until(last) ? last : undefined;
    },
    { timeoutMs, intervalMs: 20 },
  ).catch((error: Error) => {
    throw new Error(`${error.message}; last summary: ${JSON.stringify(last)}`);
  });
}

/** Stores an object in the Ferry's own artifact store (the account's bucket is created when missing). */
export async function putArtifact(t: TestFerry, bucket: string, key: string, body: string | Buffer, accountId = t.ferry.root.accountId): Promise<void> {
  await t.ferry.artifacts.ensureBucket(accountId, bucket, 'us-east-1');
  await t.ferry.artifacts.putObject(accountId, bucket, key, Buffer.from(body));
}

/** An object's bytes and metadata from the Ferry's artifact store (throws when it is missing). */
export async function getArtifact(t: TestFerry, location: { bucket?: string; key?: string }, accountId = t.ferry.root.accountId) {
  const object = await t.ferry.artifacts.getObject(accountId, location.bucket!, location.key!);
  if (!object) throw new Error(`no object s3://${location.bucket}/${location.key}`);
  return object;
}

/** The call fails with the modelled exception `name` (and a message matching `message`). */
export async function rejectsWith(call: Promise<unknown>, name: string, message?: RegExp): Promise<Error> {
  const error = await call.then(
    (value) => assert.fail(`expected ${name}, got success: ${JSON.stringify(value)}`),
    (e: unknown) => e as Error & { $metadata?: { httpStatusCode?: number } },
  );
  assert.equal(error.name, name, `${error.name}: ${error.message}`);
  assert.equal((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode, 400, error.message);
  if (message) assert.match(error.message, message);
  return error;
}
