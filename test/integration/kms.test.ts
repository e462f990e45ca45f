import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import {
  CreateReplicationJobCommand,
  DeleteReplicationJobCommand,
  GetReplicationJobsCommand,
  GetReplicationRunsCommand,
  GetServersCommand,
  ImportServerCatalogCommand,
  UpdateReplicationJobCommand,
  type SMSClient,
} from '@aws-sdk/client-sms';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { vms } from '../helpers/testConnector.ts';
import { migrations } from '../../src/store/migrations/index.ts';
import { kmsMigration } from '../../src/store/migrations/003_kms.ts';
import { Keyring } from '../../src/kms/keyring.ts';
import { loadMasterKey } from '../../src/kms/masterKey.ts';
import { addKmsCommands } from '../../src/cli/kms.ts';

// Until migration 3 is registered in src/store/migrations/index.ts (the lead wires it), add it here.
if (!migrations.some((m) => m.version === kmsMigration.version)) migrations.push(kmsMigration);

/** A Ferry with a healthy connector and an AVAILABLE catalog of `n` servers; returns their ids. */
async function withCatalog(n: number, work: (t: TestFerry, serverIds: string[], keyring: Keyring) => Promise<void>) {
  const t = await startTestFerry();
  try {
    const connector = await t.connector();
    await connector.register();
    await t.sms.send(new ImportServerCatalogCommand({}));
    await connector.inventory(vms(n));
    const { serverList } = await t.sms.send(new GetServersCommand({}));
    const keyring = new Keyring(t.ferry.core.db, loadMasterKey(t.dataDir, {}));
    await work(t, serverList!.map((s) => s.serverId!), keyring);
  } finally {
    await t.close();
  }
}

const createJob = (sms: SMSClient, serverId: string, extra: { encrypted?: boolean; kmsKeyId?: string }) =>
  sms.send(new CreateReplicationJobCommand({ serverId, seedReplicationTime: new Date(Date.now() + 3_600_000), frequency: 12, ...extra }));

const rejectsWith = async (promise: Promise<unknown>, name: string, pattern: RegExp) =>
  assert.rejects(promise, (err: Error) => {
    assert.equal(err.name, name);
    assert.match(err.message, pattern);
    return true;
  });

test('CreateReplicationJob accepts a key id, an alias, a key ARN and an alias ARN, and echoes kmsKeyId as given', async () => {
  await withCatalog(5, async (t, servers, keyring) => {
    const tenant = { accountId: t.ferry.root.accountId, region: 'us-east-1' };
    const key = await keyring.createKey(tenant, { alias: 'alias/ferry' });
    const forms = [key.keyId, 'alias/ferry', key.arn, `arn:aws:kms:us-east-1:${tenant.accountId}:alias/ferry`];
    for (const [i, kmsKeyId] of forms.entries()) {
      const { replicationJobId } = await createJob(t.sms, servers[i]!, { encrypted: true, kmsKeyId });
      const job = (await t.sms.send(new GetReplicationJobsCommand({ replicationJobId }))).replicationJobList![0]!;
      assert.deepEqual([job.encrypted, job.kmsKeyId], [true, kmsKeyId]);
      const run = (await t.sms.send(new GetReplicationRunsCommand({ replicationJobId }))).replicationRunList![0]!;
      assert.deepEqual([run.encrypted, run.kmsKeyId], [true, kmsKeyId]);
      // What the data plane will do with the run's kmsKeyId: every form yields the same key's sealer.
      assert.equal((await keyring.sealerFor(tenant, run.kmsKeyId)).keyRef, key.arn);
    }
    // A key given without encrypted is validated too (and stored; used only when encrypted).
    const { replicationJobId } = await createJob(t.sms, servers[4]!, { kmsKeyId: 'alias/ferry' });
    const job = (await t.sms.send(new GetReplicationJobsCommand({ replicationJobId }))).replicationJobList![0]!;
    assert.deepEqual([job.encrypted, job.kmsKeyId], [false, 'alias/ferry']);
  });
});

test('an unknown key or a key of another account → InvalidParameterException naming it, before state checks', async () => {
  await withCatalog(2, async (t, servers, keyring) => {
    const bob = await t.createAccount('bob');
    const bobsKey = await keyring.createKey({ accountId: bob.accountId, region: 'us-east-1' }, { alias: 'alias/bob' });
    await rejectsWith(createJob(t.sms, servers[0]!, { encrypted: true, kmsKeyId: 'alias/nope' }), 'InvalidParameterException', /kmsKeyId "alias\/nope" does not identify a KMS key of account \d{12} in us-east-1/);
    await rejectsWith(createJob(t.sms, servers[0]!, { encrypted: true, kmsKeyId: '0f0e0d0c-0b0a-4000-8000-000000000000' }), 'InvalidParameterException', /kmsKeyId "0f0e0d0c-0b0a-4000-8000-000000000000" does not identify/);
    await rejectsWith(createJob(t.sms, servers[0]!, { encrypted: true, kmsKeyId: bobsKey.arn }), 'InvalidParameterException', new RegExp(`kmsKeyId ${bobsKey.arn} is a key of account ${bob.accountId}`));
    await rejectsWith(createJob(t.sms, servers[0]!, { encrypted: true, kmsKeyId: bobsKey.keyId }), 'InvalidParameterException', /does not identify/);
    await rejectsWith(createJob(t.sms, servers[0]!, { encrypted: true, kmsKeyId: 'alias/bob' }), 'InvalidParameterException', /does not identify/);
    // Validation order (spec §3.4): an unknown server is still reported first; an unknown key comes before the
    // "already has a job" state check.
    await rejectsWith(createJob(t.sms, 's-00000000', { kmsKeyId: 'alias/nope' }), 'InvalidParameterException', /Server s-00000000 does not exist/);
    await createJob(t.sms, servers[1]!, {});
    await rejectsWith(createJob(t.sms, servers[1]!, { kmsKeyId: 'alias/nope' }), 'InvalidParameterException', /alias\/nope/);
    await rejectsWith(createJob(t.sms, servers[1]!, {}), 'ReplicationJobAlreadyExistsException', /already has replication job/);
    assert.equal((await t.sms.send(new GetReplicationJobsCommand({}))).replicationJobList!.length, 1, 'nothing created by the failures');
  });
});

test('encrypted without a key uses the default key, created on first use; UpdateReplicationJob validates kmsKeyId too', async () => {
  await withCatalog(3, async (t, servers, keyring) => {
    const tenant = { accountId: t.ferry.root.accountId, region: 'us-east-1' };
    assert.deepEqual(await keyring.listKeys(tenant), []);
    const { replicationJobId } = await createJob(t.sms, servers[0]!, { encrypted: true });
    const [defaultKey] = await keyring.listKeys(tenant);
    assert.deepEqual([defaultKey?.aliases, defaultKey?.keyManager], [['alias/aws/ebs'], 'AWS']);
    const job = (await t.sms.send(new GetReplicationJobsCommand({ replicationJobId }))).replicationJobList![0]!;
    assert.deepEqual([job.encrypted, job.kmsKeyId], [true, undefined]);
    const sealer = await keyring.sealerFor(tenant, job.kmsKeyId);
    assert.equal(sealer.keyRef, defaultKey!.arn);
    const block = Buffer.alloc(512 * 1024, 'ferry');
    const id = sealer.storageId(createHash('sha256').update(block).digest());
    assert.deepEqual(sealer.open(id, sealer.seal(id, block)), block);

    await createJob(t.sms, servers[1]!, { encrypted: true });
    assert.equal((await keyring.listKeys(tenant)).length, 1, 'one default key per account and region');

    // Update: unknown key rejected, nothing changed; a real key accepted and echoed.
    const custom = await keyring.createKey(tenant, { alias: 'alias/custom' });
    await rejectsWith(t.sms.send(new UpdateReplicationJobCommand({ replicationJobId, kmsKeyId: 'alias/missing' })), 'InvalidParameterException', /alias\/missing/);
    await rejectsWith(t.sms.send(new UpdateReplicationJobCommand({ replicationJobId, description: 'x', kmsKeyId: `arn:aws:kms:eu-west-1:${tenant.accountId}:alias/custom` })), 'InvalidParameterException', /is a key of region eu-west-1/);
    let updated = (await t.sms.send(new GetReplicationJobsCommand({ replicationJobId }))).replicationJobList![0]!;
    assert.deepEqual([updated.kmsKeyId, updated.description], [undefined, undefined]);
    await t.sms.send(new UpdateReplicationJobCommand({ replicationJobId, kmsKeyId: custom.arn }));
    updated = (await t.sms.send(new GetReplicationJobsCommand({ replicationJobId }))).replicationJobList![0]!;
    assert.equal(updated.kmsKeyId, custom.arn);

  });
});

test('UpdateReplicationJob turning encryption on for a job without a key creates the default key; a rejected update does not', async () => {
  await withCatalog(2, async (t, servers, keyring) => {
    const tenant = { accountId: t.ferry.root.accountId, region: 'us-east-1' };
    const deleted = (await createJob(t.sms, servers[0]!, {})).replicationJobId!;
    await t.sms.send(new DeleteReplicationJobCommand({ replicationJobId: deleted }));
    await rejectsWith(t.sms.send(new UpdateReplicationJobCommand({ replicationJobId: deleted, encrypted: true })), 'OperationNotPermittedException', /can no longer be updated/);
    assert.deepEqual(await keyring.listKeys(tenant), [], 'the default key made during the rejected update was rolled back');

    const { replicationJobId } = await createJob(t.sms, servers[1]!, {});
    assert.deepEqual(await keyring.listKeys(tenant), [], 'unencrypted job: no key');
    await t.sms.send(new UpdateReplicationJobCommand({ replicationJobId, encrypted: true }));
    assert.deepEqual((await keyring.listKeys(tenant)).map((k) => k.aliases), [['alias/aws/ebs']]);
    const job = (await t.sms.send(new GetReplicationJobsCommand({ replicationJobId }))).replicationJobList![0]!;
    assert.equal(job.encrypted, true);
  });
});

test('ferry kms create-key / list (commander program): prints id, ARN and alias; the alias then works through the SDK', async () => {
  await withCatalog(2, async (t, servers, keyring) => {
    const out: string[] = [];
    const err: string[] = [];
    const run = async (...args: string[]) => {
      out.length = 0;
      const program = new Command().name('ferry').exitOverride();
      // The store the server beside it uses (a PostgreSQL test server's, else the data dir's SQLite).
      addKmsCommands(program, { stdout: (s) => out.push(s), stderr: (s) => err.push(s), env: t.storeUrl ? { FERRY_STORE: t.storeUrl } : {} });
      await program.parseAsync(['kms', ...args, '--data-dir', t.dataDir], { from: 'user' });
      return out.join('');
    };

    const created = JSON.parse(await run('create-key', '--alias', 'alias/cli-key', '--description', 'from the CLI', '--json'));
    assert.match(created.keyId, /^[0-9a-f-]{36}$/);
    assert.equal(created.arn, `arn:aws:kms:us-east-1:${t.ferry.root.accountId}:key/${created.keyId}`);
    assert.deepEqual(created.aliases, [{ aliasName: 'alias/cli-key', aliasArn: `arn:aws:kms:us-east-1:${t.ferry.root.accountId}:alias/cli-key` }]);
    assert.equal(created.description, 'from the CLI');
    assert.deepEqual(err, [], 'the master key already in the data dir is used, not a new one');

    const text = await run('create-key', '--alias', 'alias/second');
    assert.match(text, /^Key [0-9a-f-]{36}\nARN arn:aws:kms:us-east-1:\d{12}:key\/[0-9a-f-]{36}\nAlias alias\/second \(arn:aws:kms:us-east-1:\d{12}:alias\/second\)\n$/);
    assert.match(await run('create-key'), /^Key [0-9a-f-]{36}\nARN arn:aws:kms:[^\n]+\n$/);

    await createJob(t.sms, servers[0]!, { encrypted: true, kmsKeyId: created.aliases[0].aliasArn });
    assert.equal((await keyring.sealerFor({ accountId: t.ferry.root.accountId, region: 'us-east-1' }, 'alias/cli-key')).keyRef, created.arn);
    await createJob(t.sms, servers[1]!, { encrypted: true, kmsKeyId: 'alias/second' });

    const listed = JSON.parse(await run('list', '--json')) as { keyId: string; aliases: { aliasName: string }[] }[];
    assert.deepEqual(listed.map((k) => k.aliases.map((a) => a.aliasName).join()).sort(), ['', 'alias/cli-key', 'alias/second']);
    assert.match(await run('list'), new RegExp(`^${created.keyId}  ${created.arn}  alias/cli-key  CUSTOMER  from the CLI$`, 'm'));
    assert.equal(await run('list', '--account', t.ferry.root.accountId, '--region', 'eu-west-1'), '');

    await assert.rejects(run('create-key', '--alias', 'alias/cli-key'), /Alias alias\/cli-key already exists/);
    await assert.rejects(run('create-key', '--alias', 'alias/aws/x'), /reserved/);
    await assert.rejects(run('create-key', '--account', 'nobody'), /No account named or numbered nobody/);
    await assert.rejects(run('create-key', '--region', 'us:east'), /--region must look like us-east-1/);
    // The API's region rule, not a looser one of its own: these look like regions to a pattern of letters and dashes.
    for (const region of ['us-east', 'useast1', 'aws-global', 'US-EAST-1']) await assert.rejects(run('create-key', '--region', region), /--region must look like us-east-1/, region);
    const program = new Command().name('ferry').exitOverride();
    addKmsCommands(program, { stdout: () => {}, env: { FERRY_MASTER_KEY: 'not-a-key' } });
    await assert.rejects(program.parseAsync(['kms', 'create-key', '--data-dir', t.dataDir], { from: 'user' }), /FERRY_MASTER_KEY must be 32 bytes/);
  });
});

test('ferry kms create-key on a fresh data dir generates master.key (0600) and says so', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-kms-cli-'));
  try {
    const out: string[] = [];
    const err: string[] = [];
    const program = new Command().name('ferry').exitOverride();
    addKmsCommands(program, { stdout: (s) => out.push(s), stderr: (s) => err.push(s), env: {} });
    await program.parseAsync(['kms', 'create-key', '--region', 'eu-west-1', '--json', '--data-dir', dataDir], { from: 'user' });
    const key = JSON.parse(out.join(''));
    assert.match(key.arn, /^arn:aws:kms:eu-west-1:\d{12}:key\/[0-9a-f-]{36}$/);
    const masterFile = join(dataDir, 'master.key');
    assert.equal(statSync(masterFile).mode & 0o777, 0o600);
    assert.equal(err.join(''), `Ferry generated the master key ${masterFile} (mode 0600). Back it up: without it, encrypted images cannot be read.\n`);
    // With the master key given in the environment instead, the file is neither needed nor written.
    const other = mkdtempSync(join(tmpdir(), 'ferry-kms-cli-'));
    try {
      const program2 = new Command().name('ferry').exitOverride();
      addKmsCommands(program2, { stdout: () => {}, stderr: (s) => err.push(s), env: { FERRY_MASTER_KEY: randomBytes(32).toString('base64') } });
      await program2.parseAsync(['kms', 'create-key', '--data-dir', other], { from: 'user' });
      assert.equal(existsSync(join(other, 'master.key')), false);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
