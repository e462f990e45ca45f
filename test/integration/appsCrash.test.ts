/**
 * Crash safety at app level, with `ferry serve` as a child process SIGKILLed at the worst moments (no shutdown, like
 * a power cut for the process): right after LaunchApp answered (rows being claimed, instances being asked for), and
 * again while the first launch group's guest boots; after each restart the launch goes on and ends LAUNCHED with one
 * instance per server, each in exactly one domain that booted once. Once the instances are hydrated Ferry is killed
 * and the KVM guest keeps running and re-reading its whole disk, bit for bit, with nothing behind it. Then
 * TerminateApp, killed as soon as it is under way: the restart finishes it and no domain of the app is left.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { GetAppCommand, LaunchAppCommand, SMSClient, StartAppReplicationCommand, TerminateAppCommand, type AppSummary } from '@aws-sdk/client-sms';
import { configureLaunch, configureReplication, createApp } from '../helpers/apps.ts';
import { spawnFerry, type FerryProcess } from '../helpers/process.ts';
import { disposeTestServer } from '../helpers/ferry.ts';
import { importCatalog, waitFor } from '../helpers/replication.ts';
import { bootableDatastore, bootableVm, ferryDomainsMentioning, instancesDir, launchSkipReason, removeLaunchedDomains, virsh } from '../helpers/launch.ts';
import { s3Fetch, type S3Keys } from '../helpers/s3Signer.ts';
import { runTool } from '../../src/agent/sample/diskBuilder.ts';
import { readRootCredentialsFile } from '../../src/core/rootCredentials.ts';
import { FerryClient } from '../../src/client/ferryClient.ts';
import { BOOT_MARKER } from '../../src/domain/instanceConsole.ts';
import { openSqliteStore } from '../../src/store/openStore.ts';

function domainRunning(name: string): boolean {
  try {
    return /running/.test(virsh('domstate', name));
  } catch {
    return false;
  }
}

/** The instance's state as the killed process left it in its store. */
function stateAtKill(dataDir: string, instanceId: string): string | undefined {
  const db = new DatabaseSync(join(dataDir, 'ferry.db'), { readOnly: true });
  try {
    return (db.prepare('SELECT state FROM instances WHERE instance_id = ?').get(instanceId) as { state: string } | undefined)?.state;
  } finally {
    db.close();
  }
}

/** Re-hashes the whole boot disk every 2 s, caches dropped first so the bytes really come from the disk. */
const HASH_LOOP = `#!/bin/sh
while :; do
  echo 3 > /proc/sys/vm/drop_caches
  echo "DISK-SHA256 $(sha256sum "$FERRY_ROOT_DISK" | cut -d' ' -f1)"
  sleep 2
done
`;

test('SIGKILL of ferry serve mid-LaunchApp and mid-TerminateApp: each completes after a restart, no domain leaked or doubled; hydrated instances outlive Ferry', { skip: launchSkipReason() }, async (t) => {
  const datastore = await bootableDatastore(['kvm', 'vmware']);
  const instances = await instancesDir();
  const dataDir = await mkdtemp(join(tmpdir(), 'ferry-apps-crash-'));
  const env = { FERRY_LAUNCH_URI: 'qemu:///system', FERRY_INSTANCES_DIR: instances.dir };
  let ferry: FerryProcess | undefined;
  const clients: SMSClient[] = [];
  const start = async () => {
    ferry = await spawnFerry({ dataDir, datastore: datastore.dir, env, timeoutMs: 60_000 });
    const keys = readRootCredentialsFile(dataDir)!;
    const sms = new SMSClient({ region: 'us-east-1', endpoint: ferry.url, credentials: keys, maxAttempts: 1 });
    clients.push(sms);
    return { sms, ferryApi: new FerryClient({ endpoint: ferry.url, region: 'us-east-1', credentials: keys }) };
  };
  try {
    const kvm = bootableVm('kvm');
    const raw = join(dataDir, 'source.raw');
    await runTool('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', join(datastore.dir, kvm.folder, `${kvm.folder}.qcow2`), raw]);
    const diskSha = createHash('sha256').update(await readFile(raw)).digest('hex');
    await rm(raw);

    let { sms, ferryApi } = await start();
    const servers = await importCatalog(sms, [kvm.folder, bootableVm('vmware').folder]);
    const [kvmServer, vmwareServer] = [servers.get(kvm.folder)!.serverId!, servers.get(bootableVm('vmware').folder)!.serverId!];
    const app = await createApp(sms, 'crashy', [kvmServer], [vmwareServer]);
    await configureReplication(sms, app, { runOnce: true });
    await sms.send(new StartAppReplicationCommand({ appId: app.appId }));
    const summary = async () => (await sms.send(new GetAppCommand({ appId: app.appId }))).appSummary!;
    const waitApp = (what: string, until: (s: AppSummary) => boolean, timeoutMs: number) =>
      waitFor(what, async () => {
        const s = await summary();
        return until(s) ? s : undefined;
      }, { timeoutMs, intervalMs: 250 });
    await waitApp('REPLICATED', (s) => s.replicationStatus === 'REPLICATED', 120_000);
    // The user data goes through the real artifact store of the running service: upload it over its S3 API.
    await putArtifactOver(ferry!.url, readRootCredentialsFile(dataDir)!, 'sms-app-crash', 'hash.sh', HASH_LOOP);
    await configureLaunch(sms, app, { instanceType: 't2.nano', perServer: (id) => (id === kvmServer ? { userData: { s3Location: { bucket: 'sms-app-crash', key: 'hash.sh' } } } : {}) });

    // 1. Killed right after LaunchApp answered.
    await sms.send(new LaunchAppCommand({ appId: app.appId }));
    await ferry!.kill();
    ({ sms, ferryApi } = await start());
    // 2. Killed again while the first group's guest runs its boot: its disk's export is gone until the restart, which
    // pauses the guest, looks at its console, resets it if it has not booted (its firmware tries again until QEMU has
    // reconnected to the new export) and lets it run.
    const booting = await waitFor(
      "the first group's guest running its boot",
      async () => (await ferryApi.listInstances(app.appId)).instances.find((i) => i.serverId === kvmServer && (i.state === 'running' || (i.state === 'booting' && domainRunning(i.domainName)))),
      { timeoutMs: 120_000, intervalMs: 100 },
    );
    await ferry!.kill();
    const stateThen = stateAtKill(dataDir, booting.instanceId);
    t.diagnostic(`killed with the first guest ${stateThen}`);
    ({ sms, ferryApi } = await start());
    const launched = await waitApp('LAUNCHED', (s) => s.launchStatus === 'LAUNCHED' || /FAILED$/.test(s.launchStatus ?? ''), 400_000);
    assert.equal(launched.launchStatus, 'LAUNCHED', launched.launchStatusMessage);
    const list = (await ferryApi.listInstances(app.appId)).instances;
    assert.deepEqual(list.map((i) => i.serverId).sort(), [kvmServer, vmwareServer].sort(), 'one instance per server: none launched twice');
    const domainsOfApp = () => ferryDomainsMentioning(app.appId);
    assert.deepEqual(domainsOfApp().sort(), list.map((i) => i.domainName).sort(), 'exactly their domains, none leaked');
    for (const i of list) {
      const consoleText = await readFile(join(instances.dir, i.instanceId, 'console.log'), 'utf8');
      assert.equal(consoleText.split(BOOT_MARKER).length - 1, 1, `${i.instanceId} booted once`);
    }
    const kvmInstance = list.find((i) => i.serverId === kvmServer)!;
    assert.ok(kvmInstance.launchedAt <= (list.find((i) => i.serverId === vmwareServer)!.launchedAt), 'launch order kept across the restarts');

    // 3. Hydrated, then Ferry dies: the guest keeps reading its disk with nothing behind it.
    await waitFor('both hydrated', async () => ((await ferryApi.listInstances(app.appId)).instances.every((i) => i.hydration === 'hydrated') ? true : undefined), { timeoutMs: 240_000, intervalMs: 500 });
    await ferry!.kill();
    const consoleLog = join(instances.dir, kvmInstance.instanceId, 'console.log');
    const hashes = async () => [...(await readFile(consoleLog, 'utf8')).matchAll(/DISK-SHA256 ([0-9a-f]{64})/g)].map((m) => m[1]!);
    const atKill = (await hashes()).length;
    const after = await waitFor('two more hashes with Ferry dead', async () => {
      const all = await hashes();
      return all.length >= atKill + 2 ? all.slice(atKill) : undefined;
    }, { timeoutMs: 120_000, intervalMs: 500 });
    assert.deepEqual(new Set(after), new Set([diskSha]), 'the guest reads the image, bit for bit');
    assert.match(virsh('domstate', kvmInstance.domainName), /running/);
    t.diagnostic(`with Ferry dead the guest re-read its disk ${after.length} times`);

    // 4. TerminateApp, killed as soon as it is under way; the restart finishes it.
    ({ sms, ferryApi } = await start());
    await sms.send(new TerminateAppCommand({ appId: app.appId }));
    await ferry!.kill();
    ({ sms, ferryApi } = await start());
    await waitApp('TERMINATED', (s) => s.launchStatus === 'TERMINATED', 180_000);
    assert.deepEqual(domainsOfApp(), [], 'no domain of the app is left');
    for (const i of list) await assert.rejects(stat(join(instances.dir, i.instanceId)), { code: 'ENOENT' });
  } finally {
    for (const sms of clients) sms.destroy();
    await ferry?.kill();
    // Whatever the store knows of, by exact name: a failed run leaves nothing running.
    const store = await openSqliteStore(dataDir, Date.now()).catch(() => undefined);
    if (store) {
      await removeLaunchedDomains(store).catch(() => undefined);
      await store.close();
    }
    await rm(dataDir, { recursive: true, force: true });
    await disposeTestServer(dataDir);
    await datastore.cleanup();
    await instances.cleanup();
  }
});

/** Creates the bucket and PUTs the object through the running service's S3 endpoint (SigV4, service s3). */
async function putArtifactOver(url: string, keys: S3Keys, bucket: string, key: string, body: string): Promise<void> {
  const made = await s3Fetch(url, keys, { method: 'PUT', path: `/${bucket}` });
  assert.equal(made.status, 200, made.text);
  const put = await s3Fetch(url, keys, { method: 'PUT', path: `/${bucket}/${key}`, body: Buffer.from(body) });
  assert.equal(put.status, 200, put.text);
}
