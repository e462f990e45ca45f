/**
 * Crash safety of launching, with a real Ferry process SIGKILLed at the worst moments (test/helpers/launchChild.ts):
 * in the middle of a launch (its boot step persisted, `virsh start` perhaps asked for), and in the middle of a
 * terminate. After each restart the operation completes, with exactly one domain (booted once), then none. Between
 * the two, Ferry is killed once the instance is hydrated: the guest keeps running and keeps re-reading its whole
 * disk (caches dropped first) with the image's SHA-256, with no Ferry and no NBD export behind it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { SMSClient } from '@aws-sdk/client-sms';
import { bootableDatastore, bootableVm, instancesDir, launchSkipReason, removeDomain, virsh, virshListAll } from '../helpers/launch.ts';
import { createJob, expectCompleted, importCatalog, waitFor } from '../helpers/replication.ts';
import { NODE, REPO_ROOT } from '../helpers/process.ts';
import { testServerPlace } from '../helpers/ferry.ts';
import { runTool } from '../../src/agent/sample/diskBuilder.ts';
import { BOOT_MARKER } from '../../src/domain/instanceConsole.ts';

const CHILD = join(REPO_ROOT, 'test', 'helpers', 'launchChild.ts');

/** Re-hashes the whole boot disk every 2 s, caches dropped first so the bytes really come from the disk. */
const HASH_LOOP = `#!/bin/sh
while :; do
  echo 3 > /proc/sys/vm/drop_caches
  echo "DISK-SHA256 $(sha256sum "$FERRY_ROOT_DISK" | cut -d' ' -f1)"
  sleep 2
done
`;

type Message = {
  ready?: { url: string; accountId: string; accessKeyId: string; secretAccessKey: string };
  event?: { instanceId: string; state: string; hydration: string; message: string | null };
  launched?: string;
  terminating?: string;
  error?: string;
};

class FerryChild {
  readonly process: ChildProcess;
  readonly messages: Message[] = [];
  stderr = '';
  readonly #exited: Promise<void>;

  constructor(args: string[], env: Record<string, string>) {
    this.process = spawn(NODE, [CHILD, ...args], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    createInterface({ input: this.process.stdout! }).on('line', (line) => {
      try {
        this.messages.push(JSON.parse(line) as Message);
      } catch {
        // not ours
      }
    });
    this.process.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.#exited = new Promise((resolve) => this.process.on('exit', () => resolve()));
  }

  /** `env`: the store and blocks of the data dir (testServerPlace), the same for every restart on it. */
  static async start(dataDir: string, datastore: string, instances: string, env: Record<string, string>): Promise<FerryChild> {
    const child = new FerryChild([dataDir, datastore, instances], env);
    await child.waitFor('ready', (m) => m.ready !== undefined, 60_000);
    return child;
  }

  waitFor(what: string, match: (m: Message) => boolean, timeoutMs = 240_000): Promise<Message> {
    return waitFor(
      `${what} (child stderr: ${this.stderr.slice(-2000)})`,
      () => {
        const error = this.messages.find((m) => m.error);
        if (error) throw new Error(`the child answered an error: ${error.error}`);
        return this.messages.find(match);
      },
      { timeoutMs, intervalMs: 20 },
    );
  }

  send(command: object): void {
    this.process.stdin!.write(`${JSON.stringify(command)}\n`);
  }

  /** SIGKILL: no shutdown, no cleanup — like a power cut for the process. */
  async kill(): Promise<void> {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill('SIGKILL');
    await this.#exited;
  }

  /** Ends stdin: the child closes Ferry and exits. */
  async stop(): Promise<void> {
    this.process.stdin!.end();
    await Promise.race([this.#exited, new Promise((resolve) => setTimeout(resolve, 30_000))]);
    await this.kill();
  }
}

function hashLines(log: string): string[] {
  return [...log.matchAll(/DISK-SHA256 ([0-9a-f]{64})/g)].map((m) => m[1]!);
}

test('SIGKILL mid-launch and mid-terminate: each completes after a restart, one domain then none; a hydrated instance outlives Ferry', { skip: launchSkipReason() }, async (t) => {
  const datastore = await bootableDatastore(['kvm']);
  const instances = await instancesDir();
  const dataDir = await mkdtemp(join(tmpdir(), 'ferry-launch-crash-'));
  const place = await testServerPlace(dataDir);
  const children: FerryChild[] = [];
  let instanceId: string | undefined;
  const start = async () => {
    const child = await FerryChild.start(dataDir, datastore.dir, instances.dir, place.env);
    children.push(child);
    return child;
  };
  try {
    const vm = bootableVm('kvm');
    const raw = join(dataDir, 'source.raw');
    await runTool('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', join(datastore.dir, vm.folder, `${vm.folder}.qcow2`), raw]);
    const diskSha = createHash('sha256').update(await readFile(raw)).digest('hex');
    await rm(raw);

    // 1. Replicate, launch, and kill Ferry once the boot step is persisted.
    const first = await start();
    const ready = first.messages[0]!.ready!;
    const sms = new SMSClient({ region: 'us-east-1', endpoint: ready.url, credentials: ready, maxAttempts: 1 });
    const serverId = (await importCatalog(sms, [vm.folder])).get(vm.folder)!.serverId!;
    const { jobId, seedRunId } = await createJob(sms, serverId);
    const { amiId } = await expectCompleted(sms, jobId, seedRunId);
    sms.destroy();
    first.send({ launch: { serverId, amiId, userData: Buffer.from(HASH_LOOP).toString('base64') } });
    instanceId = (await first.waitFor('the launch', (m) => m.launched !== undefined)).launched!;
    const domain = `ferry-${instanceId}`;
    await first.waitFor('state booting', (m) => m.event?.instanceId === instanceId && m.event?.state === 'booting');
    await first.kill();

    // 2. A restart finishes the launch: the instance boots once, in one domain, and hydrates.
    const second = await start();
    const running = await second.waitFor('state running', (m) => m.event?.instanceId === instanceId && (m.event?.state === 'running' || m.event?.state === 'failed'));
    assert.equal(running.event!.state, 'running', running.event!.message ?? '');
    const hydrated = await second.waitFor('hydration', (m) => m.event?.instanceId === instanceId && (m.event?.hydration === 'hydrated' || m.event?.hydration === 'failed'));
    assert.equal(hydrated.event!.hydration, 'hydrated', hydrated.event!.message ?? '');
    assert.deepEqual(virshListAll().filter((name) => name === domain), [domain], 'exactly one domain');
    const consoleLog = join(instances.dir, instanceId, 'console.log');
    assert.equal((await readFile(consoleLog, 'utf8')).split(BOOT_MARKER).length - 1, 1, 'the guest booted once');

    // 3. Ferry dies after hydration: the guest keeps running and reading its disk, with nothing behind it.
    await second.kill();
    const seenAtKill = hashLines(await readFile(consoleLog, 'utf8')).length;
    const hashes = await waitFor(
      'the guest to hash its disk twice more after Ferry died',
      async () => {
        const all = hashLines(await readFile(consoleLog, 'utf8'));
        return all.length >= seenAtKill + 2 ? all.slice(seenAtKill) : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    assert.deepEqual(new Set(hashes), new Set([diskSha]), 'the guest reads the image, bit for bit');
    assert.match(virsh('domstate', domain), /running/);
    t.diagnostic(`with Ferry dead, the guest re-read its disk ${hashes.length} times: sha256 ${diskSha.slice(0, 16)}…`);

    // 4. Terminate, killed as soon as it is persisted; the restart completes it.
    const third = await start();
    third.send({ terminate: instanceId });
    await third.waitFor('state terminating', (m) => m.event?.instanceId === instanceId && m.event?.state === 'terminating');
    await third.kill();
    const fourth = await start();
    await fourth.waitFor('state terminated', (m) => m.event?.instanceId === instanceId && m.event?.state === 'terminated');
    assert.ok(!virshListAll().includes(domain), 'no domain left');
    await assert.rejects(stat(join(instances.dir, instanceId)), { code: 'ENOENT' });
    await fourth.stop();
  } finally {
    for (const child of children) await child.kill();
    if (instanceId) removeDomain(`ferry-${instanceId}`);
    await rm(dataDir, { recursive: true, force: true });
    await place.dispose();
    await datastore.cleanup();
    await instances.cleanup();
  }
});
