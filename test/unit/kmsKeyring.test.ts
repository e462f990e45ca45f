import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { openSqliteStore, type Store } from '../../src/store/openStore.ts';
import { migrations } from '../../src/store/migrations/index.ts';
import { kmsMigration } from '../../src/store/migrations/003_kms.ts';
import { Keyring, KmsError } from '../../src/kms/keyring.ts';
import { DEFAULT_KEY_ALIAS, ensureDefaultKey, listKeys, resolveKey } from '../../src/kms/keys.ts';
import { loadMasterKey, type MasterKey } from '../../src/kms/masterKey.ts';
import { fingerprint, unwrap, aad } from '../../src/kms/envelope.ts';
import type { KmsDatabase } from '../../src/store/kms/index.ts';
import { ServiceError } from '../../src/lib/errors.ts';
import { ManualClock } from '../../src/lib/clock.ts';

// Until migration 3 is registered in src/store/migrations/index.ts (the lead wires it), add it here.
if (!migrations.some((m) => m.version === kmsMigration.version)) migrations.push(kmsMigration);

const alice = { accountId: '111111111111', region: 'us-east-1' };
const bob = { accountId: '222222222222', region: 'us-east-1' };
const sha = (data: Buffer) => createHash('sha256').update(data).digest();
const masterOf = (key = randomBytes(32)): MasterKey => ({ key, fingerprint: fingerprint(key), source: 'env' });

async function withStore(work: (store: Store, dir: string) => Promise<void>) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-kms-keyring-'));
  const store = await openSqliteStore(dir, Date.now());
  try {
    await work(store, dir);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const invalid = (pattern: RegExp) => (err: Error) => {
  assert.ok(err instanceof ServiceError, `a ServiceError, got ${err}`);
  assert.equal(err.code, 'InvalidParameterException');
  assert.match(err.message, pattern);
  return true;
};

test('createKey: UUID id, ARN, alias; resolves by key id, alias, key ARN and alias ARN', async () => {
  await withStore(async ({ db }) => {
    const clock = new ManualClock();
    const keyring = new Keyring(db, masterOf(), clock);
    const key = await keyring.createKey(alice, { alias: 'alias/ferry', description: 'test key' });
    assert.equal(key.createdAt, clock.now());
    assert.match(key.keyId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(key.arn, `arn:aws:kms:us-east-1:111111111111:key/${key.keyId}`);
    assert.deepEqual(key.aliases, ['alias/ferry']);
    assert.equal(key.keyManager, 'CUSTOMER');
    for (const ref of [key.keyId, 'alias/ferry', key.arn, 'arn:aws:kms:us-east-1:111111111111:alias/ferry']) {
      assert.equal((await keyring.resolveKey(alice, ref)).keyId, key.keyId, ref);
    }
    clock.advance(1);
    const plain = await keyring.createKey(alice);
    assert.deepEqual(plain.aliases, []);
    assert.notEqual(plain.keyId, key.keyId);
    assert.deepEqual((await keyring.listKeys(alice)).map((k) => k.keyId), [key.keyId, plain.keyId]);
  });
});

test('resolveKey: unknown id/alias/ARN, another account or region → InvalidParameterException naming the key', async () => {
  await withStore(async ({ db }) => {
    const keyring = new Keyring(db, masterOf());
    const bobs = await keyring.createKey(bob, { alias: 'alias/bob' });
    const west = await keyring.createKey({ ...alice, region: 'eu-west-1' }, { alias: 'alias/west' });
    await assert.rejects(keyring.resolveKey(alice, 'no-such-key'), invalid(/^kmsKeyId "no-such-key" does not identify a KMS key of account 111111111111 in us-east-1/));
    await assert.rejects(keyring.resolveKey(alice, 'alias/nope'), invalid(/"alias\/nope" does not identify/));
    await assert.rejects(keyring.resolveKey(alice, 'alias/bob'), invalid(/"alias\/bob" does not identify/), "bob's alias is not alice's");
    await assert.rejects(keyring.resolveKey(alice, bobs.keyId), invalid(/does not identify/), "bob's key id is not alice's");
    await assert.rejects(keyring.resolveKey(alice, bobs.arn), invalid(new RegExp(`^kmsKeyId ${bobs.arn} is a key of account 222222222222; this request can only use keys of account 111111111111`)));
    await assert.rejects(keyring.resolveKey(alice, west.arn), invalid(/is a key of region eu-west-1; this request can only use keys of us-east-1/));
    await assert.rejects(keyring.resolveKey(alice, west.keyId), invalid(/does not identify/));
    await assert.rejects(keyring.resolveKey(alice, 'arn:aws:kms:us-east-1:111111111111:key/00000000-0000-4000-8000-000000000000'), invalid(/does not identify/));
    await assert.rejects(keyring.resolveKey(alice, `arn:aws-cn:kms:us-east-1:111111111111:key/${west.keyId}`), invalid(/does not identify/));
    await assert.rejects(keyring.resolveKey(alice, ''), invalid(/must not be empty/));
    await assert.rejects(keyring.createKey(alice, { alias: 'alias/aws/mine' }), invalid(/reserved/));
    await assert.rejects(keyring.createKey(alice, { alias: 'bad alias' }), invalid(/is not valid/));
    await keyring.createKey(alice, { alias: 'alias/taken' });
    await assert.rejects(keyring.createKey(alice, { alias: 'alias/taken' }), invalid(/^Alias alias\/taken already exists/));
    await keyring.createKey(bob, { alias: 'alias/taken' }); // aliases are per account
  });
});

test('default key: created once per (account, region) on first use, alias alias/aws/ebs, also when concurrent', async () => {
  await withStore(async ({ db }) => {
    assert.deepEqual(await listKeys(db), []);
    const first = await Promise.all(Array.from({ length: 8 }, () => ensureDefaultKey(db, alice, 1)));
    assert.equal(new Set(first.map((k) => k.keyId)).size, 1);
    const key = first[0]!;
    assert.deepEqual([key.aliases, key.keyManager], [[DEFAULT_KEY_ALIAS], 'AWS']);
    assert.equal((await resolveKey(db, alice, undefined, 2)).keyId, key.keyId);
    assert.equal((await resolveKey(db, alice, 'alias/aws/ebs', 2)).keyId, key.keyId);
    assert.equal((await resolveKey(db, alice, `arn:aws:kms:us-east-1:111111111111:alias/aws/ebs`, 2)).keyId, key.keyId);
    const bobs = await resolveKey(db, bob, 'alias/aws/ebs', 3);
    assert.notEqual(bobs.keyId, key.keyId);
    assert.equal((await listKeys(db)).length, 2);
    // Created through the API (no master key): no material until a keyring first seals with it.
    const row = await (db as unknown as Kysely<KmsDatabase>).selectFrom('kms_keys').selectAll().where('key_id', '=', key.keyId).executeTakeFirstOrThrow();
    assert.equal(row.wrapped_material, null);
  });
});

test('sealers: material made once and stored wrapped under the master key; same key → same sealer; keys never share ids', async () => {
  await withStore(async ({ db }, dir) => {
    const master = loadMasterKey(dir, {});
    const keyring = new Keyring(db, master);
    const a = await keyring.createKey(alice, { alias: 'alias/a' });
    const sealerA = await keyring.sealerFor(alice, 'alias/a');
    assert.equal(sealerA.keyRef, a.arn);
    const sealerDefault = await keyring.sealerFor(alice); // creates the default key and its material
    assert.notEqual(sealerDefault.keyRef, a.arn);

    const block = randomBytes(64 * 1024);
    const digest = sha(block);
    assert.notDeepEqual(sealerA.storageId(digest), sealerDefault.storageId(digest));
    const id = sealerA.storageId(digest);
    const sealed = sealerA.seal(id, block);

    // A second process with the same master key derives the same ids and opens the block.
    const again = new Keyring(db, loadMasterKey(dir, {}));
    for (const sealer of [await again.sealerFor(alice, a.arn), await again.sealerForKeyRef(a.arn)]) {
      assert.deepEqual(sealer.storageId(digest), id);
      assert.deepEqual(sealer.open(id, sealed), block);
    }
    assert.throws(() => sealerDefault.open(id, sealed), /does not open/);

    const rows = await (db as unknown as Kysely<KmsDatabase>).selectFrom('kms_keys').selectAll().execute();
    assert.equal(rows.length, 2);
    for (const row of rows) {
      assert.equal(row.master_key_fingerprint, master.fingerprint);
      const material = unwrap(master.key, Buffer.from(row.wrapped_material!, 'base64'), aad('ferry-kms/key-material/v1', row.account_id, row.region, row.key_id));
      assert.equal(material.length, 32);
      assert.equal(Buffer.from(row.wrapped_material!, 'base64').indexOf(material), -1);
    }
    await assert.rejects(keyring.sealerForKeyRef('arn:aws:kms:us-east-1:111111111111:key/nope'), /No KMS key arn:aws:kms:us-east-1:111111111111:key\/nope/);
  });
});

test('a different master key cannot use existing keys and says so; altered stored material is reported', async () => {
  await withStore(async ({ db }) => {
    const original = masterOf();
    const key = await new Keyring(db, original).createKey(alice, { alias: 'alias/k' });
    const other = new Keyring(db, masterOf());
    await assert.rejects(other.sealerFor(alice, 'alias/k'), (err: Error) => {
      assert.ok(err instanceof KmsError);
      assert.match(err.message, new RegExp(`KMS key ${key.arn} is wrapped under another master key \\(fingerprint ${original.fingerprint}; this one is`));
      return true;
    });
    const kms = db as unknown as Kysely<KmsDatabase>;
    const row = await kms.selectFrom('kms_keys').select('wrapped_material').where('key_id', '=', key.keyId).executeTakeFirstOrThrow();
    const altered = Buffer.from(row.wrapped_material!, 'base64');
    altered[altered.length - 1]! ^= 1;
    await kms.updateTable('kms_keys').set({ wrapped_material: altered.toString('base64') }).where('key_id', '=', key.keyId).execute();
    await assert.rejects(new Keyring(db, original).sealerFor(alice, key.keyId), /stored material of KMS key .* does not unwrap \(authentication failed\): it was altered/);
  });
});
