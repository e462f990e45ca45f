/**
 * Crash safety of the real service process: a stream of CreateReplicationJob calls is cut by SIGKILL at
 * different moments; after a restart on the same data dir every acknowledged job is there, whole (its pending
 * run, its server pointing back at it), and requests whose answer was lost either committed whole or not at all.
 *
 * The creates run concurrently, so they commit through the group commit: those waiting together share one
 * transaction (store/batchedCommits.ts) and one WAL sync (store/sqlite/walSync.ts); the traces must show acknowledged
 * creates that shared a commit, so the kills do cut batches. A SIGKILL
 * cannot lose what is in the page cache, so surviving it does not prove a response waited for its fsync; strace
 * does: every round is traced, and each acknowledged job's response must leave after an fdatasync of the WAL that
 * started once that job's commit was written and had finished.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import {
  CreateReplicationJobCommand,
  GetReplicationJobsCommand,
  GetServersCommand,
  ImportServerCatalogCommand,
  SMSClient,
  type ReplicationJob,
  type Server,
} from '@aws-sdk/client-sms';
import { ferryCli, freePort, spawnFerry, type FerryProcess } from '../helpers/process.ts';
import { spawnSync } from 'node:child_process';
import { commitEndOf, commitFrameOf, traceSyscalls, type TracedCalls } from '../helpers/syscallTrace.ts';
import { TestConnector, vms } from '../helpers/testConnector.ts';
import { DAY } from '../../src/lib/clock.ts';

const SERVERS_PER_ACCOUNT = 48; // under the default limit of 50 non-terminal jobs per account
const CONCURRENCY = 6;
/** Kill after this many acknowledged creates, one round each: right at the start, early, and well into the stream. */
const KILL_AFTER_ACKS = [1, 9, 24];

interface Keys {
  accessKeyId: string;
  secretAccessKey: string;
}

interface Account {
  name: string;
  keys: Keys;
  connector: { connectorId: string; token: string };
  serverIds: string[];
}

type Outcome = { kind: 'ok'; jobId: string } | { kind: 'service-error'; code: string } | { kind: 'lost'; error: string };

const ROOT_KEYS: Keys = { accessKeyId: 'AKIAFERRYCRASHTEST01', secretAccessKey: 'crash/test/secret/key/0123456789abcdefghij' };

function smsClient(url: string, keys: Keys): SMSClient {
  // The SDK leaves a socket-usage timer behind for every request that fails on the network (3 s by default),
  // which would hold the test process open after the kills; a short one lets it exit promptly.
  return new SMSClient({ region: 'us-east-1', endpoint: url, credentials: keys, maxAttempts: 1, requestHandler: { socketAcquisitionWarningTimeout: 100 } });
}

async function listAll(sms: SMSClient): Promise<{ jobs: ReplicationJob[]; servers: Server[] }> {
  const jobs = (await sms.send(new GetReplicationJobsCommand({ maxResults: 1000 }))).replicationJobList ?? [];
  const servers = await sms.send(new GetServersCommand({ maxResults: 1000 }));
  assert.equal(servers.serverCatalogStatus, 'AVAILABLE');
  return { jobs, servers: servers.serverList ?? [] };
}

/** The API view of one account is whole: every job has its one pending run and its server points back at it. */
function assertConsistent(account: Account, jobs: ReplicationJob[], servers: Server[], seedById: Map<string, number>): void {
  const jobsById = new Map(jobs.map((j) => [j.replicationJobId!, j]));
  const serversById = new Map(servers.map((s) => [s.serverId!, s]));
  assert.equal(servers.length, SERVERS_PER_ACCOUNT, `${account.name}: the catalog survived`);
  for (const job of jobs) {
    assert.equal(job.state, 'PENDING', `${account.name} ${job.replicationJobId}`);
    assert.equal(job.replicationRunList?.length, 1, `${account.name} ${job.replicationJobId}: its pending run exists`);
    const run = job.replicationRunList![0]!;
    assert.equal(run.type, 'AUTOMATIC');
    assert.equal(run.state, 'PENDING');
    assert.equal(run.scheduledStartTime?.getTime(), job.seedReplicationTime?.getTime());
    const seed = seedById.get(job.serverId!);
    if (seed !== undefined) assert.equal(job.seedReplicationTime?.getTime(), seed);
    const server = serversById.get(job.serverId!);
    assert.ok(server, `${account.name}: the server of ${job.replicationJobId} is in the catalog`);
    assert.equal(server.replicationJobId, job.replicationJobId, `${account.name}: server ${server.serverId} points at its job`);
    assert.equal(server.replicationJobTerminated, false);
  }
  for (const server of servers) {
    if (server.replicationJobId === undefined) continue;
    assert.equal(jobsById.get(server.replicationJobId)?.serverId, server.serverId, `${account.name}: server ${server.serverId} points at an existing job`);
  }
  assert.equal(servers.filter((s) => s.replicationJobId !== undefined).length, jobs.length);
}

/** How many of `jobIds` were written by a commit that also wrote another of them. */
function sharingACommit(calls: TracedCalls, jobIds: readonly string[]): number {
  const perCommit = new Map<number, number>();
  for (const jobId of jobIds) {
    const frame = commitFrameOf(calls, jobId);
    if (frame !== undefined) perCommit.set(frame, (perCommit.get(frame) ?? 0) + 1);
  }
  return [...perCommit.values()].filter((n) => n > 1).reduce((a, b) => a + b, 0);
}

/** Each acknowledged job's response left after an fdatasync of the WAL that began after its commit, and ended. */
function assertAcknowledgedAfterSync(calls: TracedCalls, jobIds: readonly string[], round: number): void {
  for (const jobId of jobIds) {
    const committed = commitEndOf(calls, jobId);
    assert.ok(committed !== undefined, `round ${round}: the commit of ${jobId} is in the WAL`);
    const response = calls.socketWrites.find((w) => w.text.includes(jobId));
    assert.ok(response, `round ${round}: the response with ${jobId} was written`);
    assert.ok(
      calls.walSyncs.some((sync) => sync.start >= committed && sync.end <= response.at),
      `round ${round}: ${jobId} was acknowledged at ${response.at} after its commit at ${committed}, but no WAL sync ran between them`,
    );
  }
}

test('SIGKILL in the middle of a CreateReplicationJob stream loses no acknowledged job and leaves no half-written one', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-crash-'));
  // SQLite whatever FERRY_TEST_STORE says (an empty FERRY_STORE): each round straces the fsync of ferry.db-wal, and the
  // end reads ferry.db itself. The kill -9 cases on PostgreSQL are the cluster's (test/cluster).
  const env = { FERRY_ROOT_ACCESS_KEY_ID: ROOT_KEYS.accessKeyId, FERRY_ROOT_SECRET_ACCESS_KEY: ROOT_KEYS.secretAccessKey, FERRY_STORE: '' };
  let ferry: FerryProcess | undefined;
  try {
    // Accounts and connector tokens, issued with the CLI before the service first starts.
    const rootConnector = JSON.parse(await ferryCli(['connectors', 'register', '--data-dir', dataDir, '--json'], env)) as Account['connector'];
    const accounts: Account[] = [{ name: 'root', keys: ROOT_KEYS, connector: rootConnector, serverIds: [] }];
    // The store exists now, so two CLI processes may share it at once.
    const others = await Promise.all(
      ['crash-a', 'crash-b'].map(async (name): Promise<Account> => {
        const keys = JSON.parse(await ferryCli(['accounts', 'create', name, '--data-dir', dataDir, '--json'], env)) as Keys & { accountId: string };
        const connector = JSON.parse(
          await ferryCli(['connectors', 'register', '--account', name, '--data-dir', dataDir, '--json'], env),
        ) as Account['connector'] & { accountId: string };
        assert.equal(connector.accountId, keys.accountId);
        return { name, keys: { accessKeyId: keys.accessKeyId, secretAccessKey: keys.secretAccessKey }, connector, serverIds: [] };
      }),
    );
    accounts.push(...others);

    const port = await freePort();
    ferry = await spawnFerry({ dataDir, port, env });
    for (const account of accounts) {
      const connector: TestConnector = new TestConnector(ferry.url, account.connector.token, account.connector.connectorId);
      await connector.register();
      const sms = smsClient(ferry.url, account.keys);
      await sms.send(new ImportServerCatalogCommand({}));
      assert.equal((await connector.inventory(vms(SERVERS_PER_ACCOUNT))).status, 'AVAILABLE');
      account.serverIds = (await sms.send(new GetServersCommand({ maxResults: 100 }))).serverList!.map((s) => s.serverId!);
      assert.equal(account.serverIds.length, SERVERS_PER_ACCOUNT);
      sms.destroy();
    }

    // Servers in an order that interleaves the accounts, so every stream writes to all of them at once.
    const queue = Array.from({ length: SERVERS_PER_ACCOUNT }, (_, i) => accounts.map((account) => ({ account, serverId: account.serverIds[i]! }))).flat();
    const acknowledged = new Map<string, string>(); // serverId → jobId
    const seedById = new Map<string, number>(); // serverId → seed sent
    let used = 0;
    let batchedAcks = 0; // acknowledged creates whose commit carried another acknowledged create

    const straceAvailable = spawnSync('strace', ['-V']).status === 0;
    if (!straceAvailable) {
      t.diagnostic('strace is not installed (Debian: strace; .ci/run installs it): only the loss of acknowledged jobs is checked, not that each response waited for its sync');
    }
    for (const [round, killAfter] of KILL_AFTER_ACKS.entries()) {
      const running: FerryProcess = ferry;
      const clients = new Map(accounts.map((a) => [a.name, smsClient(running.url, a.keys)]));
      const outcomes = new Map<string, { account: Account; outcome: Outcome }>();
      const trace = straceAvailable ? await traceSyscalls(running.child.pid!, join(dataDir, `strace-${round}.txt`), join(dataDir, 'ferry.db-wal')) : undefined;
      const acknowledgedThisRound: string[] = [];
      let acks = 0;
      let killed = false;
      const worker = async () => {
        while (!killed && used < queue.length) {
          const { account, serverId } = queue[used++]!;
          const seed = new Date(Math.floor(Date.now() / 1000) * 1000 + DAY);
          seedById.set(serverId, seed.getTime());
          let outcome: Outcome;
          try {
            const out = await clients.get(account.name)!.send(new CreateReplicationJobCommand({ serverId, seedReplicationTime: seed, frequency: 24 }));
            outcome = { kind: 'ok', jobId: out.replicationJobId! };
            acknowledged.set(serverId, out.replicationJobId!);
            acknowledgedThisRound.push(out.replicationJobId!);
            if (++acks === killAfter) {
              killed = true;
              running.child.kill('SIGKILL'); // while the other workers' requests are in flight
            }
          } catch (error) {
            const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
            outcome = status === undefined ? { kind: 'lost', error: String(error) } : { kind: 'service-error', code: (error as Error).name };
          }
          outcomes.set(serverId, { account, outcome });
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      const exit = await running.exited;
      assert.equal(exit.signal, 'SIGKILL', `round ${round}: the service was killed, it did not exit on its own`);
      if (trace) {
        const calls = await trace.finished();
        assertAcknowledgedAfterSync(calls, acknowledgedThisRound, round);
        batchedAcks += sharingACommit(calls, acknowledgedThisRound);
      }
      for (const client of clients.values()) client.destroy();
      const results = [...outcomes.values()].map((o) => o.outcome);
      assert.deepEqual(results.filter((o) => o.kind === 'service-error'), [], `round ${round}: no request was refused`);
      assert.ok(acks >= killAfter, `round ${round}: ${acks} acknowledged`);
      const lost = [...outcomes.entries()].filter(([, o]) => o.outcome.kind === 'lost');

      // Restart on the same data dir (and port) and look at what survived.
      ferry = await spawnFerry({ dataDir, port, env });
      const url = ferry.url;
      // Keep the connectors HEALTHY however slow the machine is (CreateReplicationJob needs one).
      for (const account of accounts) await new TestConnector(url, account.connector.token, account.connector.connectorId).heartbeat();
      let recovered = 0;
      for (const account of accounts) {
        const sms = smsClient(url, account.keys);
        const { jobs, servers } = await listAll(sms);
        assertConsistent(account, jobs, servers, seedById);
        const jobIds = new Set(jobs.map((j) => j.replicationJobId));
        for (const serverId of account.serverIds) {
          const jobId = acknowledged.get(serverId);
          if (jobId) assert.ok(jobIds.has(jobId), `round ${round}: acknowledged job ${jobId} of ${account.name} survived`);
        }
        // A create whose answer was lost committed whole or not at all; asking again tells which.
        for (const [serverId] of lost.filter(([, o]) => o.account === account)) {
          const server = servers.find((s) => s.serverId === serverId)!;
          const retry = sms.send(new CreateReplicationJobCommand({ serverId, seedReplicationTime: new Date(Date.now() + DAY), frequency: 24 }));
          if (server.replicationJobId !== undefined) {
            recovered++;
            await assert.rejects(retry, { name: 'ReplicationJobAlreadyExistsException' });
            acknowledged.set(serverId, server.replicationJobId);
          } else {
            const { replicationJobId } = await retry;
            acknowledged.set(serverId, replicationJobId!);
            seedById.delete(serverId);
          }
        }
        // Every job the service holds is one we were told about (or found after a lost answer).
        const after = await listAll(sms);
        assertConsistent(account, after.jobs, after.servers, seedById);
        assert.deepEqual(
          after.jobs.map((j) => j.replicationJobId).sort(),
          account.serverIds.filter((id) => acknowledged.has(id)).map((id) => acknowledged.get(id)).sort(),
          `round ${round}: ${account.name} holds exactly the acknowledged jobs`,
        );
        sms.destroy();
      }
      t.diagnostic(`round ${round}: killed after ${acks} acknowledged creates; ${lost.length} answers lost, ${recovered} of those had committed`);
    }
    assert.ok(acknowledged.size >= KILL_AFTER_ACKS.reduce((a, b) => a + b, 0));
    if (straceAvailable) {
      assert.ok(batchedAcks >= 2, 'some acknowledged creates shared one commit: the kills cut the batched path');
      t.diagnostic(`${batchedAcks} acknowledged creates shared their commit with another`);
    }

    // A clean stop, then the store itself: intact, and no job without its run or its server's pointer.
    const stopping = ferry;
    stopping.child.kill('SIGTERM');
    const exit = await stopping.exited;
    assert.equal(exit.code, 0, `SIGTERM shuts down cleanly: ${stopping.stderr()}`);
    ferry = undefined;
    const db = new DatabaseSync(join(dataDir, 'ferry.db'));
    try {
      const value = (sql: string) => Object.values(db.prepare(sql).get()!)[0];
      assert.equal(value('PRAGMA integrity_check'), 'ok');
      assert.equal(value('SELECT count(*) FROM jobs'), acknowledged.size);
      assert.equal(value('SELECT count(*) FROM runs'), acknowledged.size, 'one run per job, no orphan runs');
      assert.equal(value('SELECT count(*) FROM jobs j WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.replication_job_id = j.replication_job_id)'), 0);
      assert.equal(value('SELECT count(*) FROM runs r WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.replication_job_id = r.replication_job_id)'), 0);
      assert.equal(
        value('SELECT count(*) FROM jobs j JOIN servers s ON s.server_id = j.server_id WHERE s.replication_job_id IS NOT j.replication_job_id'),
        0,
      );
      assert.equal(
        value('SELECT count(*) FROM servers s WHERE s.replication_job_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.replication_job_id = s.replication_job_id)'),
        0,
      );
    } finally {
      db.close();
    }
  } finally {
    await ferry?.kill();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
