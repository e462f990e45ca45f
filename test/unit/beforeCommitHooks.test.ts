/**
 * Core.beforeCommit is a list of hooks run inside the transaction (core/context.ts): each sees every event once,
 * including events another hook emitted, in whatever order the hooks were added; what hooks emit is published after
 * the commit with the rest; a hook that throws rolls the whole change back and nothing is published.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../../src/store/openStore.ts';
import { inTransaction, type BeforeCommitHook, type Core } from '../../src/core/context.ts';
import { FerryEvents, type FerryEvent } from '../../src/core/events.ts';
import { defaultPolicy } from '../../src/domain/policy.ts';
import { createLogger } from '../../src/lib/logger.ts';

let dir: string;
let store: Awaited<ReturnType<typeof openSqliteStore>>;
let core: Core;
const tenant = { accountId: '123456789012', region: 'us-east-1' };

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-hooks-'));
  store = await openSqliteStore(dir, Date.now());
  core = { db: store.db, readRows: store.readRows, readArrays: store.readArrays, capabilities: store.capabilities, clock: { now: () => Date.now() }, policy: defaultPolicy, log: createLogger('silent'), events: new FerryEvents() };
});
after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const jobEvent: FerryEvent = { type: 'job.state', tenant, replicationJobId: 'sms-job-00000001', state: 'ACTIVE', previousState: 'PENDING' };

test('every hook sees every event once, including what other hooks emit, in either order', async () => {
  for (const order of ['deriving first', 'recording first'] as const) {
    const recorded: string[] = [];
    const derived: string[] = [];
    const deriving: BeforeCommitHook = async (_tx, events, emit) => {
      for (const e of events) {
        derived.push(e.type);
        if (e.type === 'job.state') emit({ type: 'catalog.state', tenant, status: 'AVAILABLE' });
      }
    };
    const recording: BeforeCommitHook = async (tx, events) => {
      for (const e of events) recorded.push(e.type);
      await tx.selectFrom('jobs').select('seq').limit(1).execute(); // in the transaction
    };
    core.beforeCommit = order === 'deriving first' ? [deriving, recording] : [recording, deriving];
    const published: string[] = [];
    const unsubscribe = core.events.subscribe((e) => published.push(e.type));
    await inTransaction(core, async (_tx, emit) => emit(jobEvent));
    unsubscribe();
    assert.deepEqual(recorded, ['job.state', 'catalog.state'], order);
    assert.deepEqual(derived, ['job.state', 'catalog.state'], order);
    assert.deepEqual(published, ['job.state', 'catalog.state'], order);
  }
});

test('a hook that throws rolls the change back; nothing is published', async () => {
  core.beforeCommit = [
    async () => {
      throw new Error('outbox full');
    },
  ];
  const published: FerryEvent[] = [];
  const unsubscribe = core.events.subscribe((e) => published.push(e));
  await assert.rejects(
    inTransaction(core, async (tx, emit) => {
      await tx.insertInto('catalogs').values({ account_id: tenant.accountId, region: tenant.region, status: 'AVAILABLE', last_modified_on: null, import_requested_at: null, status_before_import: null }).execute();
      emit(jobEvent);
    }),
    /outbox full/,
  );
  unsubscribe();
  assert.deepEqual(published, []);
  assert.equal((await core.db.selectFrom('catalogs').selectAll().execute()).length, 0);
});

test('transactions without events do not call the hooks', async () => {
  let calls = 0;
  core.beforeCommit = [async () => void calls++];
  await inTransaction(core, async () => {});
  assert.equal(calls, 0);
});
